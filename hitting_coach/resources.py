"""Files the package ships beside its code: the Panel apps, the notebooks, the Mosquitto template.

In the repository they live at the top (``apps/``, ``notebooks/``, ``deploy/``), where the
design card puts them; the wheel carries copies under ``hitting_coach/_shipped/`` (see
``pyproject.toml``). Every reader asks here, so a checkout and an installed wheel behave alike.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hitting_coach.errors import StartupError

__all__ = ["app_path", "copy_notebooks", "mosquitto_template", "notebook_path", "shipped"]

_PACKAGE = Path(__file__).resolve().parent
_SHIPPED = _PACKAGE / "_shipped"
_CHECKOUT = _PACKAGE.parent


def shipped(relative: str) -> Path:
    """The path of a shipped file or folder, e.g. ``"apps/sensor.py"``: the wheel's copy when
    installed, the repository's when run from a checkout. Raises StartupError if neither."""
    for base in (_SHIPPED, _CHECKOUT):
        path = base / relative
        if path.exists():
            return path
    raise StartupError(f"{relative} is missing from this installation of hitting-coach")


def app_path(name: str) -> Path:
    """A Panel app or setup script from ``apps/``."""
    return shipped(f"apps/{name}")


def notebook_path(name: str) -> Path:
    """A notebook from ``notebooks/``, e.g. ``02-session-report.ipynb``."""
    return shipped(f"notebooks/{name}")


def mosquitto_template() -> Path:
    """The Mosquitto configuration template that ``hitting-coach broker`` renders."""
    return shipped("deploy/mosquitto/mosquitto.conf")


def copy_notebooks(target: str | Path) -> list[Path]:
    """Copy the shipped notebooks into ``target`` (created if needed), never overwriting a
    notebook already there; returns the notebooks written."""
    target = Path(target)
    written = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(shipped("notebooks").glob("*.ipynb")):
            dest = target / source.name
            if not dest.exists():
                shutil.copyfile(source, dest)
                written.append(dest)
    except OSError as e:
        raise StartupError(f"cannot copy the notebooks to {target}: {e.strerror}") from None
    return written

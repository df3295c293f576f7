"""Session reports: the analysis behind them, and one self-contained HTML file per session.

:func:`write_report` runs ``notebooks/02-session-report.ipynb`` from a clean kernel with the
session injected as parameters (the cell after the one tagged ``parameters``, as papermill
does), then exports it with nbconvert to ONE HTML file: BokehJS, Panel's JavaScript and every
stylesheet are inline (the notebook runs ``pn.extension(inline=True)``), and the template has
no require.js, MathJax or widget loader from a CDN, so the file opens with no network and its
plots stay interactive (zoom, pan, hover, the swing slider all run in the browser)::

    hitting-coach report latest -o report.html

What the notebook shows is :class:`hitting_coach.analysis.report_data.ReportData`.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hitting_coach.config import Settings
from hitting_coach.errors import ReportError, SessionError
from hitting_coach.resources import notebook_path
from hitting_coach.store.sessions import data_path, list_takes, resolve_session

__all__ = [
    "NOTEBOOK_ONLY",
    "REPORT_NOTEBOOK",
    "execute_notebook",
    "inject_parameters",
    "notebook_to_html",
    "report_command",
    "write_report",
]

log = logging.getLogger(__name__)

REPORT_NOTEBOOK = notebook_path("02-session-report.ipynb")
#: Cells with this tag are shown in JupyterLab and left out of the exported report.
NOTEBOOK_ONLY = "notebook-only"
Progress = Callable[[str], None]

_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""
#: A URL the browser would fetch: script/img/iframe src, link href, CSS @import or url(http...).
_FETCHED_URL = re.compile(
    rb"""<(?:script|img|iframe)\b[^>]*\bsrc=["']?(https?:)?//|<link\b[^>]*\bhref=["']?(https?:)?//"""
    rb"""|@import\s+(?:url\()?["']?https?://""",
    re.IGNORECASE,
)


# ---------------------------------------------------------------------------- notebooks
def inject_parameters(nb: Any, parameters: dict[str, Any]) -> Any:
    """Insert a cell assigning ``parameters`` after the cell tagged ``parameters`` (or first)."""
    import nbformat

    lines = ["# Parameters injected by hitting-coach"]
    lines += [f"{name} = {value!r}" for name, value in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    index = next(
        (i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), 0
    )
    nb.cells.insert(index, cell)
    return nb


def execute_notebook(
    path: str | Path,
    parameters: dict[str, Any] | None = None,
    *,
    progress: Progress | None = None,
    timeout_s: float = 600,
    cwd: str | Path | None = None,
) -> Any:
    """Run a notebook top to bottom in a fresh kernel of this environment; returns the
    executed notebook node. ``progress`` gets a line as each section starts. Raises
    :class:`ReportError` naming the failing cell's error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except OSError as e:
        raise ReportError(f"cannot read notebook {path}: {e.strerror}") from None
    if parameters:
        inject_parameters(nb, parameters)
    skip = {"parameters", "injected-parameters"}
    code = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and not skip & set(c.metadata.get("tags", []))
    ]
    sections = _sections(nb)
    started = time.monotonic()

    def on_cell_start(cell: Any, cell_index: int) -> None:
        if progress is None or cell_index not in code:
            return
        step = code.index(cell_index) + 1
        progress(
            f"[{step}/{len(code)}] {sections.get(cell_index, 'setup')}"
            f" ({time.monotonic() - started:.1f} s)"
        )

    quiet = logging.getLogger(f"{__name__}.nbclient")
    quiet.setLevel(logging.WARNING)
    client = NotebookClient(
        nb,
        timeout=int(timeout_s),
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd or path.parent)}},
        on_cell_start=on_cell_start,
        log=quiet,
    )
    try:
        # The kernel's own stderr is only start-up chatter; cell output arrives as messages.
        client.execute(stderr=subprocess.DEVNULL)
    except CellExecutionError as e:
        raise ReportError(f"{path.name}: {_last_line(e)}") from None
    except CellTimeoutError:
        raise ReportError(f"{path.name}: a cell ran longer than {timeout_s:.0f} s") from None
    return nb


def _sections(nb: Any) -> dict[int, str]:
    """The latest Markdown heading before each cell (for progress lines)."""
    out, heading = {}, "loading the session"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    heading = line.lstrip("#").strip()
                    break
        out[i] = heading
    return out


def _last_line(error: Exception) -> str:
    ename = getattr(error, "ename", "") or ""
    evalue = getattr(error, "evalue", "") or ""
    if ename or evalue:
        return f"{ename}: {evalue}".strip(": ")
    lines = [ln for ln in str(error).splitlines() if ln.strip()]
    return lines[-1] if lines else "a cell failed"


def notebook_to_html(nb: Any, title: str | None = None) -> str:
    """An executed notebook as one self-contained HTML page: code hidden, outputs only, and
    no cell tagged ``notebook-only`` (how to run the notebook: for Lab, not for the reader).

    Raises :class:`ReportError` if the page would fetch anything from the network."""
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"hitting-coach-report.html.j2": _TEMPLATE})],
        template_file="hitting-coach-report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    if title:
        nb.metadata["title"] = title
    nb.cells = [c for c in nb.cells if NOTEBOOK_ONLY not in c.metadata.get("tags", [])]
    for cell in nb.cells:  # Panel publishes empty display data as it sets up comms
        if cell.cell_type == "code":
            cell.outputs = [
                o for o in cell.outputs if o.get("output_type") != "display_data" or o.get("data")
            ]
    body, _ = exporter.from_notebook_node(nb)
    fetched = _FETCHED_URL.search(body.encode())
    if fetched:
        raise ReportError(
            "the report would load something from the network: "
            + fetched.group(0)[:120].decode(errors="replace")
        )
    return body


def write_report(
    session: Any,
    output: str | Path,
    *,
    data_dir: str | Path | None = None,
    take: str | None = None,
    placement: str | None = None,
    progress: Progress | None = None,
    notebook: str | Path = REPORT_NOTEBOOK,
    timeout_s: float = 600,
) -> Path:
    """Write the report of ``session`` (any reference :func:`resolve_session` takes) to
    ``output`` as one self-contained HTML file; returns its path.

    Raises :class:`SessionError` for an unknown session and :class:`ReportError` if the
    notebook fails or the file cannot be written."""
    say = progress or (lambda text: None)
    root = data_path(data_dir).resolve()
    device, session_id = resolve_session(session, root)
    if take is not None:
        takes = list_takes((device, session_id), root)
        if take not in set(takes["take_id"]) | set(takes["name"]):
            names = ", ".join(repr(n) for n in takes["name"]) or "none"
            raise SessionError(f"no take {take!r} in session {session_id} (takes: {names})")
    output = Path(output)
    if output.is_dir():
        raise ReportError(f"{output} is a directory; give a file name such as report.html")
    say(f"report of {device}/{session_id}" + (f", take {take}" if take else ""))
    parameters = {
        "SESSION": f"{device}/{session_id}",
        "DATA_DIR": str(root),
        "TAKE": take,
        "PLACEMENT": placement,
    }
    nb = execute_notebook(notebook, parameters, progress=say, timeout_s=timeout_s)
    say("exporting HTML")
    body = notebook_to_html(nb, title=f"Hitting Coach report: {session_id}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(body, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"cannot write {output}: {e.strerror}") from None
    say(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")
    return output


# ----------------------------------------------------------------------------------- CLI
def report_command(args: argparse.Namespace, settings: Settings) -> int:
    """``hitting-coach report`` (its parser is in :mod:`hitting_coach.cli`): progress lines on
    stderr unless ``--quiet``, the file written on stdout."""
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"report: {text}", file=sys.stderr, flush=True)

    path = write_report(
        args.session,
        args.output,
        data_dir=args.data_dir or settings.data_dir,
        take=args.take,
        placement=args.placement,
        progress=None if args.quiet else say,
    )
    print(f"{path} ({time.monotonic() - started:.1f} s)")
    return 0

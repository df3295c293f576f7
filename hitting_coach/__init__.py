"""Hitting Coach: phone motion sensors in, hitting feedback out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hitting-coach")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

#: The notebook API, imported on first use so ``hitting-coach --version`` stays quick.
_LAZY = {
    "list_sessions": "hitting_coach.store.sessions",
    "load_session": "hitting_coach.store.sessions",
    "list_takes": "hitting_coach.store.sessions",
    "mark_not_swing": "hitting_coach.store.marks",
    "add_swing": "hitting_coach.store.marks",
    "list_marks": "hitting_coach.store.marks",
    "unmark": "hitting_coach.store.marks",
    # frames of readings by sensor (and an optional placement) -> one row per swing
    "swings": "hitting_coach.analysis.swings",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hitting_coach' has no attribute {name!r}")

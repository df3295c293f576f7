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
    # a recorded session's linked views (HoloViews): timeline, swings scatter, sequence
    "explore": "hitting_coach.ui.explore",
    # the season table (docs/scaling.md): build it, then medians by player and week
    "build_season": "hitting_coach.analysis.season",
    "weekly_medians": "hitting_coach.analysis.season",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        func = getattr(importlib.import_module(_LAZY[name]), name)
        return _with_data_dir(func)
    raise AttributeError(f"module 'hitting_coach' has no attribute {name!r}")


def _with_data_dir(func):
    """``func`` with its ``data_dir`` argument, when not given, set to the
    ``HITTING_COACH_DATA_DIR`` setting (the store itself reads no settings); ``func`` itself
    when it takes no data directory."""
    import functools
    import inspect

    signature = inspect.signature(func)
    if "data_dir" not in signature.parameters:
        return func

    @functools.wraps(func)
    def call(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        if bound.arguments.get("data_dir") is None:
            from hitting_coach.config import Settings

            bound.arguments["data_dir"] = Settings.load().data_path
        return func(*bound.args, **bound.kwargs)

    return call

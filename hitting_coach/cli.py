"""The ``hitting-coach`` command: parse, call the core, print one clear line on error."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Callable, Sequence

from hitting_coach import __version__
from hitting_coach.config import FIND, PLACEMENTS, Settings
from hitting_coach.errors import HittingCoachError
from hitting_coach.text import SafeFormatter, printable

__all__ = ["main", "run"]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.worker:
        from hitting_coach.worker import run_worker

        return run_worker(settings, args.name, args.group)
    from hitting_coach.serve import run

    run(
        settings,
        demo=args.demo,
        basic_auth_file=args.basic_auth,
        use_xheaders=args.use_xheaders,
    )
    return 0


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="dashboard at /sensor/ and POST /data (and MQTT if set)")
    p.add_argument("--port", type=int, help="port (default 8000, HITTING_COACH_PORT)")
    p.add_argument("--address", help="address to bind (default 0.0.0.0, HITTING_COACH_ADDRESS)")
    p.add_argument("--demo", action="store_true", help="feed simulated swings, no phone needed")
    p.add_argument(
        "--basic-auth",
        metavar="FILE",
        help="dashboard login: a file holding the password, or a JSON file of users "
        "(default: HITTING_COACH_BASIC_AUTH; auto: a kept password off the loopback)",
    )
    p.add_argument("--use-xheaders", action="store_true", help="behind a proxy (nginx)")
    p.add_argument(
        "--worker",
        action="store_true",
        help="no pages: record MQTT into the store, sharing the topic with other workers "
        "($share/GROUP/topic; see docs/scaling.md)",
    )
    p.add_argument("--name", help="with --worker: this worker's name, unique and kept (host)")
    p.add_argument(
        "--group",
        default="hitting-coach-recorders",
        help="with --worker: the shared subscription's group (hitting-coach-recorders)",
    )
    p.set_defaults(func=_serve, overrides=("port", "address"))


def _add_broker(sub: argparse._SubParsersAction) -> None:
    from hitting_coach.dev_broker import add_parser

    add_parser(sub)


def _add_recording(sub: argparse._SubParsersAction) -> None:
    from hitting_coach.recording_cli import add_parsers

    add_parsers(sub)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.report import report_command

    return report_command(args, settings)


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write a session's report as one self-contained HTML file")
    p.add_argument("session", help="session id, unique prefix, name, device/session or 'latest'")
    p.add_argument("-o", "--output", default="report.html", help="HTML file (default report.html)")
    p.add_argument("--take", help="only this take of the session (id or name)")
    p.add_argument(
        "--placement",
        choices=PLACEMENTS,
        help="where the devices sat (default: guessed from the data)",
    )
    p.add_argument(
        "--data-dir",
        help="data directory, relative to the project directory (default HITTING_COACH_DATA_DIR)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_report, overrides=("data_dir",))


def _notebooks(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.resources import copy_notebooks

    written = copy_notebooks(args.directory)
    for path in written:
        print(path)
    if not written:
        print(f"the notebooks are already in {args.directory} (nothing overwritten)")
    return 0


def _add_notebooks(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notebooks", help="copy the live and report notebooks into a folder")
    p.add_argument(
        "directory", nargs="?", default="notebooks", help="where to (default ./notebooks)"
    )
    p.set_defaults(func=_notebooks)


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.evaluate import evaluate_command  # pandas: only for this command

    return evaluate_command(args, settings)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="recall, precision and errors of swing detection on recordings with known swings",
    )
    p.add_argument(
        "paths", nargs="*", help="labelled folder(s), set(s) with truth, or Sensor Logger export(s)"
    )
    p.add_argument("--truth", help="CSV of swing times for the exports (recording, time_s)")
    p.add_argument("--session", action="append", help="a recorded session judged by its marks")
    p.add_argument(
        "--data-dir",
        help="data directory of the sessions, relative to the project directory (default: the "
        "setting)",
    )
    p.add_argument("--simulate", type=int, default=0, metavar="N", help="N simulated sessions")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated sessions")
    p.add_argument("--placement", choices=PLACEMENTS, help="where the devices sit (default: guess)")
    p.add_argument("--tolerance-s", type=float, default=0.5, help="matching tolerance (s)")
    p.add_argument(
        "--summary",
        action="store_true",
        help="only the data sets, groups and the overall line, and the margins to each cut",
    )
    p.add_argument(
        "--mirror", action="store_true", help="as a hitter of the other hand (mirrored readings)"
    )
    p.set_defaults(func=_evaluate, overrides=("data_dir",))


def _season(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.analysis import season  # pandas, pyarrow: only for this command

    data_dir = settings.data_path
    if args.action == "build":
        done = season.build_season(data_dir)
        print(
            f"season table {season.season_root(data_dir)}: {done.built} sessions written "
            f"({done.swings} swings), {done.kept} unchanged, {done.removed} removed"
        )
        for name, problem in sorted(done.problems.items()):
            print(f"  {name}: {problem}")
        return 0
    try:
        table = season.weekly_medians(
            args.metric, data_dir=data_dir, device=args.device, engine=args.engine
        )
    except ValueError as e:
        raise HittingCoachError(str(e)) from None
    print(table.to_string(index=False) if len(table) else "no counted swings")
    return 0


def _add_season(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "season",
        help="a season's swings as one Parquet table: build it, ask it (DuckDB or Dask)",
    )
    p.add_argument(
        "action",
        choices=("build", "medians"),
        help="build: write what changed; medians: median per device and week",
    )
    p.add_argument("--metric", default="hand_peak_dps", help="headline number (hand_peak_dps)")
    p.add_argument("--device", help="only this device (a player's trend)")
    p.add_argument("--engine", choices=("duckdb", "dask"), default="duckdb")
    p.add_argument(
        "--data-dir",
        help="data directory, relative to the project directory (default HITTING_COACH_DATA_DIR)",
    )
    p.set_defaults(func=_season, overrides=("data_dir",))


#: Each subcommand module adds its parser here: (add_parser function).
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_serve,
    _add_broker,
    _add_recording,
    _add_report,
    _add_notebooks,
    _add_evaluate,
    _add_season,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hitting-coach", description="Phone motion sensors in, hitting feedback out."
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "--env-file",
        default=FIND,
        help="settings file (default: the .env of the project directory you are in)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides = {name: getattr(args, name) for name in getattr(args, "overrides", ())}
        settings = Settings.load(env_file=args.env_file, **overrides)
        handler = logging.StreamHandler()  # ids in log lines are escaped: one line each
        handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
        return args.func(args, settings)
    except HittingCoachError as e:
        print(f"hitting-coach: error: {printable(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The ``hitting-coach`` command: :func:`main`, then exit without walking the heap.

    A report's process holds pandas, nbconvert and Jupyter's client: tearing their objects
    down one by one takes a noticeable part of a second after the work is done (figure in
    docs/benchmarks.md). Frozen, the interpreter's last collection skips them (files are closed and written by then; the OS frees the rest)."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()

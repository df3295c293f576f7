"""The ``hitting-coach`` command: parse, call the core, print one clear line on error."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from hitting_coach import __version__
from hitting_coach.config import Settings
from hitting_coach.errors import HittingCoachError

__all__ = ["main"]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.serve import run

    run(
        settings,
        demo=args.demo,
        basic_auth=args.basic_auth,
        cookie_secret=args.cookie_secret,
        use_xheaders=args.use_xheaders,
    )
    return 0


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="dashboard at /sensor/ and POST /data (and MQTT if set)")
    p.add_argument("--port", type=int, help="port (default 8000, HITTING_COACH_PORT)")
    p.add_argument("--address", help="address to bind (default 0.0.0.0, HITTING_COACH_ADDRESS)")
    p.add_argument("--demo", action="store_true", help="feed simulated swings, no phone needed")
    p.add_argument("--basic-auth", help="dashboard login: a password, or a JSON file of users")
    p.add_argument("--cookie-secret", help="cookie secret for --basic-auth")
    p.add_argument("--use-xheaders", action="store_true", help="behind a proxy (nginx)")
    p.set_defaults(func=_serve, overrides=("port", "address"))


#: Each subcommand module adds its parser here: (add_parser function).
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_serve]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hitting-coach", description="Phone motion sensors in, hitting feedback out."
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--env-file", default=".env", help="settings file (default .env)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides = {name: getattr(args, name) for name in getattr(args, "overrides", ())}
        settings = Settings.load(env_file=args.env_file, **overrides)
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return args.func(args, settings)
    except HittingCoachError as e:
        print(f"hitting-coach: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

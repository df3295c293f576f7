"""``hitting-coach sessions | import | export | swings | replay``: parsing plus one call each."""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

from hitting_coach.config import Settings
from hitting_coach.text import printable

__all__ = ["add_parsers"]


def _sessions(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.store.sessions import sessions_report

    print(sessions_report(settings.data_path, takes=args.takes))  # escapes ids itself
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.ingest.parse import Limits
    from hitting_coach.replay import ProgressLine
    from hitting_coach.store.exports import import_export

    progress = ProgressLine()
    try:
        result = import_export(
            args.path,
            settings.data_path,
            name=args.name,
            progress=progress,
            max_bytes=settings.import_max_bytes,
            limits=Limits(  # the live limits: an import carries no more than a phone may
                max_name_bytes=settings.max_name_bytes,
                max_keys=settings.max_value_keys,
                max_sensors=settings.max_sensors,
            ),
        )
    finally:
        progress.close()
    print(printable(result.describe()))
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.store.exports import export_session

    out = export_session(
        args.session, args.out, format=args.format, data_dir=settings.data_path, take=args.take
    )
    print(printable(f"exported {args.session} ({args.format}) to {out}"))
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.replay import ProgressLine, replay

    # The broker credentials of the settings go only to that broker, never elsewhere.
    same_broker = bool(settings.mqtt_broker) and urlsplit(args.to).hostname == settings.mqtt_broker
    progress = ProgressLine()
    try:
        result = replay(
            args.source,
            args.to,
            speed=args.speed,
            data_dir=settings.data_path,
            take=args.take,
            keep_ids=args.keep_ids,
            ca_file=args.ca_file or (settings.mqtt_ca_file if same_broker else None),
            topic=args.topic or settings.mqtt_topic,
            username=settings.mqtt_username if same_broker else None,
            password=settings.mqtt_password if same_broker else None,
            qos=args.qos,
            progress=progress,
            max_bytes=settings.import_max_bytes,
        )
    finally:
        progress.close()
    print(printable(result.describe()))
    return 0


def _swings(args: argparse.Namespace, settings: Settings) -> int:
    from hitting_coach.analysis.corrections import session_swings, swings_text

    table = session_swings(
        args.session,
        settings.data_path,
        take=args.take,
        placement=args.placement,
        marks=not args.no_marks,
    )
    print(swings_text(table, args.format), end="")
    return 0


def _data_dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        help="data directory, relative to the project directory (default data, "
        "HITTING_COACH_DATA_DIR)",
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the recording subcommands on the ``hitting-coach`` parser."""
    p = sub.add_parser("sessions", help="list recorded and imported sessions")
    p.add_argument("--takes", action="store_true", help="also list each session's takes")
    _data_dir_option(p)
    p.set_defaults(func=_sessions, overrides=("data_dir",))

    p = sub.add_parser("import", help="import a Sensor Logger export (zip, folder or JSON)")
    p.add_argument("path", help="the export: a .zip, a folder of CSVs, or a .json file")
    p.add_argument("--name", help="session name (default: the export's file name)")
    _data_dir_option(p)
    p.set_defaults(func=_import, overrides=("data_dir",))

    p = sub.add_parser("export", help="write a session as Parquet or Sensor Logger CSVs")
    p.add_argument("session", help="session id, unique prefix, name, device/session or latest")
    p.add_argument(
        "--format",
        choices=("parquet", "csv"),
        default="parquet",
        help="parquet: one file per sensor (default); csv: Sensor Logger's CSV files",
    )
    p.add_argument("--out", help="output folder (default: the session's name)")
    p.add_argument("--take", help="only this take (name or id)")
    _data_dir_option(p)
    p.set_defaults(func=_export, overrides=("data_dir",))

    p = sub.add_parser(
        "swings", help="print a session's swings (one row each, the coach's marks applied)"
    )
    p.add_argument("session", help="session id, unique prefix, name, device/session or latest")
    p.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table: one readable line per swing (default); csv or json: every column, "
        "times in epoch ns, for a spreadsheet or a program",
    )
    p.add_argument("--take", help="only this take (name or id)")
    p.add_argument(
        "--placement",
        choices=("pelvis", "wrist", "pelvis+wrist", "bat"),
        help="where the devices sat (default: guessed from the data)",
    )
    p.add_argument("--no-marks", action="store_true", help="as detected, ignoring the marks")
    _data_dir_option(p)
    p.set_defaults(func=_swings, overrides=("data_dir",))

    p = sub.add_parser(
        "replay", help="publish a session or export as Sensor Logger messages (MQTT or HTTP)"
    )
    p.add_argument("source", metavar="SESSION_OR_PATH", help="a recorded session or an export")
    p.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="http(s)://host:port/data, mqtt(s)://host:port/topic or ws(s)://host:port/path",
    )
    p.add_argument(
        "--speed", type=float, default=1.0, help="time factor: 1 real time, 0 as fast as possible"
    )
    p.add_argument("--take", help="only this take (name or id)")
    p.add_argument("--keep-ids", action="store_true", help="send the original session id")
    p.add_argument("--ca-file", help="CA certificate to verify a TLS target against")
    p.add_argument("--topic", help="MQTT topic (default MQTT_TOPIC, sensor-logger)")
    p.add_argument("--qos", type=int, choices=(0, 1), default=1, help="MQTT QoS (default 1)")
    _data_dir_option(p)
    p.set_defaults(func=_replay, overrides=("data_dir",))

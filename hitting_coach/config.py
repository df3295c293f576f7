"""Settings: one table of name, default, type and help, read once and passed down.

Values come from the environment, then from an optional ``.env`` file, then the default.
The MQTT names are the ones the Flask/Dash server used (``MQTT_BROKER``, ...); ours carry the
``HITTING_COACH_`` prefix. A bad value stops start-up with a :class:`ConfigError` that names
the setting and what is allowed. Secrets are never part of ``repr`` or any printout.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitting_coach.errors import ConfigError, StartupError

__all__ = [
    "FIND",
    "PLACEMENTS",
    "Settings",
    "is_loopback",
    "kept_secret",
    "project_root",
    "read_env_file",
]

PREFIX = "HITTING_COACH_"

#: ``Settings.load(env_file=FIND)``: the ``.env`` of the project the working directory is in.
FIND = "find"
#: Settings renamed: start-up stops with a line naming the new name rather than ignore them.
RENAMED = {PREFIX + "ALLOWED_ORIGINS": PREFIX + "ALLOWED_HOSTS"}
#: Where the devices sit, as the swing detector knows them (and the settings and commands take).
PLACEMENTS = ("pelvis", "wrist", "pelvis+wrist", "bat")


def project_root(start: str | Path | None = None) -> Path:
    """The project directory: the nearest of ``start`` (default: the working directory) and
    its parents holding a ``.env`` or a ``pyproject.toml``, else ``start`` itself.

    The server, the CLI, a notebook's kernel (which runs in ``notebooks/``) and reports all
    start from here, so they find the same ``.env`` and the same data directory."""
    here = Path(start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / ".env").is_file() or (directory / "pyproject.toml").is_file():
            return directory
    return here


def _setting(
    env: str,
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    off: Any = None,
    secret: bool = False,
) -> Any:
    """A setting; ``off``, if given, is a value allowed below ``minimum`` (meaning "not used")."""
    meta = {
        "env": env,
        "help": help,
        "choices": choices,
        "minimum": minimum,
        "off": off,
        "secret": secret,
    }
    return field(default=default, metadata=meta, repr=not secret)


@dataclass(frozen=True)
class Settings:
    """Every setting of Hitting Coach. Build with :meth:`Settings.load`."""

    mqtt_broker: str = _setting(
        "MQTT_BROKER", "", "MQTT broker host name. Empty: no MQTT, HTTP push only."
    )
    mqtt_port: int = _setting(
        "MQTT_PORT", 8883, "MQTT broker port (8883 TLS TCP, 8884 TLS WebSockets).", minimum=1
    )
    mqtt_topic: str = _setting("MQTT_TOPIC", "sensor-logger", "Topic Sensor Logger publishes to.")
    mqtt_username: str = _setting("MQTT_USERNAME", "", "MQTT user name.")
    mqtt_password: str = _setting("MQTT_PASSWORD", "", "MQTT password.", secret=True)
    mqtt_transport: str = _setting(
        PREFIX + "MQTT_TRANSPORT",
        "tcp",
        "MQTT transport: tcp (best for the server) or websockets.",
        choices=("tcp", "websockets"),
    )
    mqtt_ws_path: str = _setting(
        PREFIX + "MQTT_WS_PATH", "/mqtt", "URL path of the broker's WebSocket listener."
    )
    mqtt_tls: bool = _setting(PREFIX + "MQTT_TLS", True, "Use TLS to the broker (true/false).")
    mqtt_ca_file: str = _setting(
        PREFIX + "MQTT_CA_FILE",
        "",
        "CA certificate file for a self-signed broker. Empty: the system's CAs.",
    )
    mqtt_tls_insecure: bool = _setting(
        PREFIX + "MQTT_TLS_INSECURE",
        False,
        "Skip broker certificate checks. Development only; logged loudly.",
    )
    mqtt_client_id: str = _setting(
        PREFIX + "MQTT_CLIENT_ID",
        "hitting-coach",
        "MQTT client id; fixed so the broker keeps our session across restarts.",
    )
    data_dir: str = _setting(
        PREFIX + "DATA_DIR", "./data", "Where recordings, sessions and the journal live."
    )
    ingest_token: str = _setting(
        PREFIX + "INGEST_TOKEN",
        "auto",
        "POST /data needs it (Authorization: Bearer, or ?token=). auto: none on a loopback "
        "address without --use-xheaders, else a random one kept in the data folder and "
        "printed in the push URL; empty: no token (warned).",
        secret=True,
    )
    max_message_bytes: int = _setting(
        PREFIX + "MAX_MESSAGE_BYTES", 1_048_576, "Largest accepted message, in bytes.", minimum=1
    )
    max_name_bytes: int = _setting(
        PREFIX + "MAX_NAME_BYTES",
        80,
        "Longest device id, session id, sensor name or value key, in UTF-8 bytes.",
        minimum=1,
    )
    max_value_keys: int = _setting(
        PREFIX + "MAX_VALUE_KEYS", 64, "Value keys per reading and per sensor.", minimum=1
    )
    max_sensors: int = _setting(
        PREFIX + "MAX_SENSORS", 32, "Sensors per message and per live device.", minimum=1
    )
    max_nesting: int = _setting(
        PREFIX + "MAX_NESTING",
        8,
        "Deepest nesting of lists/objects inside a value (at most 200).",
        minimum=1,
    )
    max_live_devices: int = _setting(
        PREFIX + "MAX_LIVE_DEVICES",
        100,
        "Devices kept in memory at once; a new one beyond it gets 503 until one goes idle.",
        minimum=1,
    )
    device_idle_s: float = _setting(
        PREFIX + "DEVICE_IDLE_S",
        600.0,
        "Seconds of silence after which a device leaves memory (its recording stays).",
        minimum=1,
    )
    max_reading_age_s: float = _setting(
        PREFIX + "MAX_READING_AGE_S",
        604_800.0,
        "Oldest live reading accepted, in seconds before receipt (7 days: a broker's queue "
        "after a server outage). Replay and import keep their own times.",
        minimum=0,
    )
    max_reading_ahead_s: float = _setting(
        PREFIX + "MAX_READING_AHEAD_S",
        3_600.0,
        "Furthest a reading may be ahead of the server's clock, in seconds.",
        minimum=0,
    )
    body_timeout_s: float = _setting(
        PREFIX + "BODY_TIMEOUT_S",
        30.0,
        "Seconds a client may take to send a request body.",
        minimum=0.1,
    )
    idle_timeout_s: float = _setting(
        PREFIX + "IDLE_TIMEOUT_S",
        60.0,
        "Seconds an HTTP connection may stay idle (or send its headers) before it is closed.",
        minimum=0.1,
    )
    basic_auth: str = _setting(
        PREFIX + "BASIC_AUTH",
        "auto",
        "Dashboard login (pages, sessions, files, readings): auto (or empty): none on a "
        "loopback address without --use-xheaders, else a password made at first start, printed "
        "once and kept in the data folder (secrets/dashboard-password); off: no login (warned "
        "on a network address); or a password (any user name), or the path of a JSON file of "
        "users.",
        secret=True,
    )
    cookie_secret: str = _setting(
        PREFIX + "COOKIE_SECRET",
        "",
        "Signs login cookies. Empty: a random one kept in the data folder.",
        secret=True,
    )
    buffer_readings: int = _setting(
        PREFIX + "BUFFER_READINGS",
        60_000,
        "Live ring buffer size per device and sensor, in readings (2 min at 500 Hz).",
        minimum=10,
    )
    window_s: float = _setting(
        PREFIX + "WINDOW_S",
        10.0,
        "Seconds of data on the live plots (the Flask/Dash server's 200 points: WINDOW_POINTS).",
        minimum=0.5,
    )
    window_points: int = _setting(
        PREFIX + "WINDOW_POINTS",
        0,
        "Points per line on the live plots instead of WINDOW_S when set (the Flask/Dash server: "
        "200); "
        "0: off, the window is WINDOW_S.",
        minimum=2,
        off=0,
    )
    update_ms: int = _setting(
        PREFIX + "UPDATE_MS", 500, "Live plot update period, in milliseconds.", minimum=20
    )
    fsync_interval_s: float = _setting(
        PREFIX + "FSYNC_INTERVAL_S",
        1.0,
        "Seconds between journal fsyncs; 0 fsyncs every message.",
        minimum=0,
    )
    parquet_interval_s: float = _setting(
        PREFIX + "PARQUET_INTERVAL_S",
        10.0,
        "Seconds between conversions of the journal into session Parquet files.",
        minimum=0.1,
    )
    journal_retention_s: float = _setting(
        PREFIX + "JOURNAL_RETENTION_S",
        3600.0,
        "Seconds a journal file is kept once all its readings are verified in Parquet (at "
        "least 600, the duplicate window); -1 keeps the journal forever.",
        minimum=-1,
    )
    import_max_bytes: int = _setting(
        PREFIX + "IMPORT_MAX_BYTES",
        1_000_000_000,
        "Largest export hitting-coach import reads: its files together, decompressed, in bytes.",
        minimum=1,
    )
    max_exports: int = _setting(
        PREFIX + "MAX_EXPORTS",
        2,
        "Session exports (zip downloads) made at once; one more is refused (503) until one ends.",
        minimum=1,
    )
    max_open_sessions_per_device: int = _setting(
        PREFIX + "MAX_OPEN_SESSIONS_PER_DEVICE",
        4,
        "Sessions of one device kept open for recording at once; a new one closes the oldest "
        "(its readings are kept, never deleted).",
        minimum=1,
    )
    report_queue_max: int = _setting(
        PREFIX + "REPORT_QUEUE_MAX",
        8,
        "Reports waiting to be made at once (one per session); more are refused until one is done.",
        minimum=1,
    )
    reports_kept: int = _setting(
        PREFIX + "REPORTS_KEPT",
        2,
        "Reports kept per session (the newest); older ones are removed when a new one is made.",
        minimum=1,
    )
    video_session_mb: int = _setting(
        PREFIX + "VIDEO_SESSION_MB",
        1000,
        "Camera video kept per session, in MB; past it the session's oldest video is removed "
        "first (sensor readings never), and a recording alone over it stops being accepted.",
        minimum=1,
    )
    video_total_mb: int = _setting(
        PREFIX + "VIDEO_TOTAL_MB",
        10000,
        "Camera video kept in the data directory, in MB; past it the oldest video anywhere is "
        "removed first (sensor readings never).",
        minimum=1,
    )
    video_chunk_bytes: int = _setting(
        PREFIX + "VIDEO_CHUNK_BYTES",
        8_000_000,
        "Largest chunk of video the camera page may upload at once (it sends one a second).",
        minimum=1000,
    )
    gyro_range_dps: float = _setting(
        PREFIX + "GYRO_RANGE_DPS",
        2000.0,
        "Gyroscope full scale in deg/s; readings at 98% of it are flagged as clipped.",
        minimum=1,
    )
    sweet_spot_m: float = _setting(
        PREFIX + "SWEET_SPOT_M",
        0.686,
        "Bat placement: distance from the sensor to the sweet spot, in metres.",
        minimum=0.01,
    )
    placement: str = _setting(
        PREFIX + "PLACEMENT",
        "auto",
        "Where the sensors are worn: auto (guess from the data), pelvis, wrist, pelvis+wrist, bat.",
        choices=("auto", *PLACEMENTS),
    )
    port: int = _setting(PREFIX + "PORT", 8000, "Port of hitting-coach serve.", minimum=0)
    address: str = _setting(
        PREFIX + "ADDRESS", "0.0.0.0", "Address to bind; 0.0.0.0 lets a phone on the LAN in."
    )
    allowed_hosts: str = _setting(
        PREFIX + "ALLOWED_HOSTS",
        "",
        "Extra names (host or host:port, comma separated) this server answers to, besides "
        "localhost, its host name and addresses: e.g. its public name behind nginx. A request "
        "or websocket for any other Host gets 403; web pages of these hosts may open the "
        "dashboard's websocket and post to /data (Origin).",
    )
    log_level: str = _setting(
        PREFIX + "LOG_LEVEL",
        "info",
        "Log level.",
        choices=("debug", "info", "warning", "error"),
    )

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | Path | None = FIND,
        **overrides: Any,
    ) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``), then ``env_file``.

        ``env_file`` is a path, None for no file, or :data:`FIND` (the default): the ``.env``
        of :func:`project_root`, with a relative data directory taken relative to that root,
        so any subfolder of the project finds the same settings and data.
        ``overrides`` (by attribute name) win over both; they come from CLI flags.
        Raises :class:`ConfigError` naming the setting for any bad value.
        """
        environ = os.environ if environ is None else environ
        root = None
        if isinstance(env_file, str) and env_file == FIND:
            root = project_root()
            env_file = root / ".env"
        from_file = read_env_file(Path(env_file)) if env_file else {}
        for old, new in RENAMED.items():
            if old in environ or old in from_file:
                raise ConfigError(f"{old} is now called {new}: rename it (same values)")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            env = f.metadata["env"]
            if f.name in overrides and overrides[f.name] is not None:
                raw: Any = overrides.pop(f.name)
            elif env in environ:
                raw = environ[env]
            elif env in from_file:
                raw = from_file[env]
            else:
                continue
            values[f.name] = _convert(f, raw)
        unknown = [k for k, v in overrides.items() if v is not None]
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls(**values)
        if root is not None and not settings.data_path.is_absolute():
            settings = dataclasses.replace(settings, data_dir=str(root / settings.data_path))
        return settings

    @classmethod
    def table(cls) -> list[dict[str, Any]]:
        """The settings table: env name, default, type and help of each setting."""
        return [
            {
                "name": f.metadata["env"],
                "attribute": f.name,
                "default": f.default,
                "type": f.type,
                "help": f.metadata["help"],
                "choices": f.metadata["choices"],
                "secret": f.metadata["secret"],
            }
            for f in dataclasses.fields(cls)
        ]

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (converted and checked like loaded ones)."""
        by_name = {f.name: f for f in dataclasses.fields(self)}
        for name in changes:
            if name not in by_name:
                raise ConfigError(f"unknown setting: {name}")
        checked = {k: _convert(by_name[k], v) for k, v in changes.items()}
        return dataclasses.replace(self, **checked)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    def resolved_ingest_token(self, behind_proxy: bool = False) -> str:
        """The ingest token in force: ``auto`` is none on a loopback address (unless a proxy
        forwards the network to it), else a random token made at first start and kept in the
        data folder (the same after a restart)."""
        if self.ingest_token != "auto":
            return self.ingest_token
        if is_loopback(self.address) and not behind_proxy:
            return ""
        return kept_secret(self.data_path, "ingest-token")

    @property
    def extra_hosts(self) -> list[str]:
        """``HITTING_COACH_ALLOWED_HOSTS`` as a list (``host`` or ``host:port`` each)."""
        return [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]


def is_loopback(address: str) -> bool:
    """True for an address only this machine can reach."""
    return address in ("localhost", "::1") or address.startswith("127.")


def kept_secret(data_path: Path, name: str) -> str:
    """A random secret kept in ``<data>/secrets/<name>``: made on first use, readable by this
    user only, the same after a restart. Raises :class:`StartupError` if it cannot be kept."""
    path = data_path / "secrets" / name
    try:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = secrets.token_urlsafe(24)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
        return value
    except OSError as e:
        raise StartupError(f"cannot keep the {name} in {path.parent}: {e.strerror}") from None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _convert(f: dataclasses.Field, raw: Any) -> Any:
    env = f.metadata["env"]
    kind = f.type
    try:
        if kind == "bool":
            value: Any = _to_bool(raw)
        elif kind == "int":
            value = int(str(raw).strip()) if not isinstance(raw, int) else raw
        elif kind == "float":
            value = float(str(raw).strip()) if not isinstance(raw, float | int) else float(raw)
        else:
            value = str(raw).strip()
    except ValueError:
        shown = "<hidden>" if f.metadata["secret"] else repr(raw)
        raise ConfigError(f"{env}={shown} is not a valid {kind}") from None
    choices = f.metadata["choices"]
    if choices and value not in choices:
        raise ConfigError(f"{env}={value!r} is not allowed; choose one of: {', '.join(choices)}")
    minimum = f.metadata["minimum"]
    off = f.metadata["off"]
    if minimum is not None and value < minimum and (off is None or value != off):
        also = "" if off is None else f" (or {off}: off)"
        raise ConfigError(f"{env}={value!r} is too small; it must be at least {minimum}{also}")
    return value


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(raw)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file; ``#`` comments, optional quotes. Missing: {}."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def markdown_table() -> str:
    """The settings as a Markdown table (the README's configuration section)."""
    rows = ["| Setting | Default | Meaning |", "|---|---|---|"]
    for s in Settings.table():
        default = s["default"]  # a default is never a secret
        default = f"`{default}`" if default != "" else "(empty)"
        rows.append(f"| `{s['name']}` | {default} | {s['help']} |")
    return "\n".join(rows)


def _update_readme(path: Path) -> None:
    start, end = "<!-- settings-table", "<!-- /settings-table -->"
    text = path.read_text()
    head, _, rest = text.partition(start)
    first_line, _, rest = rest.partition("\n")
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{start}{first_line}\n{markdown_table()}\n{end}{tail}")


if __name__ == "__main__":  # python -m hitting_coach.config README.md
    import sys

    _update_readme(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))

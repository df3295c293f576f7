"""Sensor Logger exports in and out: the zip (or folder) of CSVs, and the older JSON export.

What real exports look like (SENSOR_LOGGER.md): one CSV per sensor (``Accelerometer.csv``,
``Orientation.csv``, ...) with ``time`` (epoch ns), ``seconds_elapsed`` and value columns in
varying order, so columns are taken by name; files of one recording start at different times
(each sensor keeps its own axis, nothing is aligned); any sensor may be missing;
``Metadata.csv`` comes in an older and a newer layout and may lack its trailing newline. The
JSON export is one list of records, ``{"sensor": "Accelerometer", "time": "1698...", ...}``,
with every number as a string.

An import writes the session's Parquet directly (the export is its own source of truth, so
nothing goes through the journal) into ``sessions/device=<d>/session=<s>``, under names
derived from the content: importing the same export again changes nothing. It is safe while a
server records into the same data directory.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import logging
import os
import shutil
import threading
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hitting_coach.errors import ExportsBusy, SessionError
from hitting_coach.ingest.parse import SCHEMAS, Limits
from hitting_coach.sensors import SENSORS
from hitting_coach.store.layout import sensor_dir, session_dir, write_json
from hitting_coach.store.marks import (
    MARKS_FILE,
    marks_from_export,
    merge_marks,
    read_marks,
    write_marks_file,
)
from hitting_coach.store.parts import IMPORTING, frame_from_tables, write_table
from hitting_coach.store.players import clean_name
from hitting_coach.store.sessions import (
    Session,
    SessionRef,
    data_path,
    load_session,
    refresh_index,
    schema_problem,
)
from hitting_coach.store.takes import Take
from hitting_coach.store.video import read_videos
from hitting_coach.values import plural

__all__ = [
    "ExportStream",
    "export_session",
    "stream_export_zip",
    "safe_file_stem",
    "SENSOR_FILES",
    "ImportResult",
    "import_export",
    "read_export",
    "write_export",
]

log = logging.getLogger(__name__)

#: Push-message sensor name -> export file name (without ``.csv``), from the registry.
SENSOR_FILES = {s.name: s.export_file for s in SENSORS.values()}
_FILE_TO_SENSOR = {f.lower(): s for s, f in SENSOR_FILES.items()}
_NOT_VALUES = {"time", "seconds_elapsed", "sensor"}
#: Metadata.csv columns we write (the newer layout) plus two of ours.
_METADATA_COLUMNS = [
    "version",
    "device name",
    "recording epoch time",
    "recording time",
    "recording timezone",
    "platform",
    "appVersion",
    "device id",
    "sensors",
    "sampleRateMs",
    "session id",
    "name",
]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: the session's identity, name and readings per sensor."""

    device_id: str
    session_id: str
    name: str
    counts: dict[str, int]
    rates_hz: dict[str, float]
    source: Path
    marks: int = 0  # the coach's marks the export brought (new ones)

    def describe(self) -> str:
        sensors = ", ".join(
            f"{s} {n:,}" + (f" ({self.rates_hz[s]:.0f} Hz)" if s in self.rates_hz else "")
            for s, n in self.counts.items()
        )
        marks = "; " + plural(self.marks, "coach's mark") if self.marks else ""
        return (
            f"imported {self.source.name} as {self.device_id}/{self.session_id} "
            f"(name {self.name!r}): {sensors}{marks}"
        )


# ------------------------------------------------------------------------------- reading
def read_export(
    path: str | Path,
    progress: Progress | None = None,
    *,
    max_bytes: int | None = None,
    limits: Limits | None = None,
) -> Session:
    """Read a Sensor Logger export (zip, folder of CSVs, or JSON file) into a
    :class:`Session` without storing it. Raises :class:`SessionError` naming the file and
    the problem if it cannot be read.

    Files are read in pieces, never whole; ``max_bytes`` (default: the
    ``HITTING_COACH_IMPORT_MAX_BYTES`` setting's default; callers pass the setting) bounds what the export's files hold together,
    decompressed: a zip whose entries say they hold more is refused before any is read, naming
    the entry, and one that holds more than it says is cut off there. ``limits``: what a
    live message may carry (sensors, value keys, name bytes; default :data:`IMPORT_LIMITS`),
    which an import obeys too."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SessionError(f"{path} does not exist")
    with contextlib.ExitStack() as stack:  # the zip is closed however reading ends
        return _read_export(path, progress, max_bytes, limits or IMPORT_LIMITS, stack)


def _read_export(
    path: Path,
    progress: Progress | None,
    max_bytes: int | None,
    limits: Limits,
    stack: contextlib.ExitStack,
) -> Session:
    meta, chunks = _export_chunks(path, progress, max_bytes, limits, stack)
    pieces: dict[str, list[pd.DataFrame]] = {}
    files_of: dict[str, str] = {}  # sensor: the file its readings came from
    for sensor, source, chunk in chunks:
        pieces.setdefault(sensor, []).append(chunk)
        files_of[sensor] = source
    if not pieces:
        raise SessionError(f"{path}: no sensor readings found (expected Sensor Logger CSVs)")
    frames = {
        s: p[0] if len(p) == 1 else pd.concat(p, ignore_index=True) for s, p in pieces.items()
    }
    for sensor, frame in frames.items():
        _check_schema(sensor, frame, files_of[sensor])
    frames = {s: _normalize(s, f) for s, f in sorted(frames.items())}
    start = min(int(f["time_ns"].iloc[0]) for f in frames.values() if len(f))
    device_id, session_id, name = _identity(path, meta, start, limits)
    for sensor in frames:
        _check_name(f"{path.name}: the sensor name", sensor, limits.max_name_bytes)
    return Session(device_id, session_id, name, frames)


Chunk = tuple[str, str, pd.DataFrame]  # (sensor, the file it came from, readings)


def _export_chunks(
    path: Path,
    progress: Progress | None,
    max_bytes: int | None,
    limits: Limits,
    stack: contextlib.ExitStack,
) -> tuple[dict[str, str], Iterator[Chunk]]:
    """An export's metadata, and its readings as they are read: at most
    :data:`_CHUNK_ROWS` rows of one sensor at a time from a CSV export (the JSON export, one
    document, comes whole). Everything about the files that can be checked before reading
    them (sizes, how many sensors, the metadata) is checked before this returns."""
    say = progress or (lambda text: None)
    budget = _Budget(_import_max_bytes() if max_bytes is None else max_bytes)
    if path.is_file() and path.suffix.lower() == ".json":
        size = path.stat().st_size
        budget.check(path.name, size)
        say(f"reading {path.name} ({size / 1e6:.1f} MB)")
        frames, meta = _read_json_export(path)
        return meta, ((s, path.name, f) for s, f in frames.items())
    files = _csv_files(path, stack)
    for name, (size, _) in files.items():  # what they say they hold, before reading any
        budget.check(name, size)
    sensors = [n for n in files if n[: -len(".csv")].lower() != "metadata"]
    if len(sensors) > limits.max_sensors:
        raise SessionError(
            f"{path.name}: {len(sensors):,} sensor files; a recording has at most "
            f"{limits.max_sensors} sensors, as live (HITTING_COACH_MAX_SENSORS); "
            "nothing imported"
        )
    meta: dict[str, str] = {}
    for name in files.keys() - set(sensors):  # the metadata first: it names the session
        size, open_file = files[name]
        with _reading(name), open_file() as raw:
            stream = io.BufferedReader(_Counted(raw, name, budget), _PIECE_BYTES)
            meta = _read_metadata(_read_small(stream, name), name)

    def chunks() -> Iterator[Chunk]:
        for name in sensors:
            size, open_file = files[name]
            sensor = _FILE_TO_SENSOR.get(name[: -len(".csv")].lower(), name[: -len(".csv")].lower())
            _check_name(f"{path.name}: the sensor name", sensor, limits.max_name_bytes)
            with _reading(name), open_file() as raw:
                stream = io.BufferedReader(_Counted(raw, name, budget), _PIECE_BYTES)
                say(f"reading {name} ({size / 1e6:.1f} MB)")
                _check_header(stream, name, limits)
                for chunk in _read_sensor_csv(stream, name):
                    yield sensor, name, chunk

    return meta, chunks()


def _identity(path: Path, meta: dict[str, str], start: int, limits: Limits) -> tuple[str, str, str]:
    """The device id, session id and name an export is stored under, checked as live names."""
    device_id = meta.get("device id") or meta.get("device name") or "sensor-logger"
    session_id = meta.get("session id") or meta.get("recording time") or _stamp(meta, start)
    name = meta.get("name") or (path.stem if path.is_file() else path.name)
    for what, value in (("device id", device_id), ("session id", session_id)):
        _check_name(f"{path.name}: its {what}", value, limits.max_name_bytes)
    return device_id, session_id, clean_name(name, f"{path.name}: its session name")


#: What an import may carry unless its caller passes the live limits of its settings
#: (``runtime.limits(settings)``): the settings' defaults, as a live message.
IMPORT_LIMITS = Limits()


def _check_name(what: str, value: str, max_bytes: int) -> None:
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise SessionError(
            f"{what} is {size:,} bytes long; names are at most {max_bytes} "
            "(HITTING_COACH_MAX_NAME_BYTES); nothing imported"
        )
    if not value.isprintable():
        raise SessionError(f"{what} holds control characters; nothing imported")


#: A sensor CSV's header line may be this long (64 value keys of 80 bytes fit many times).
_MAX_HEADER_BYTES = 64 << 10


def _check_header(stream: io.BufferedReader, name: str, limits: Limits) -> None:
    """Refuse a CSV whose header names more value columns than a live reading may carry, or
    longer names, before anything of it is parsed (one row of 10^6 columns took 3.9 GB)."""
    head = stream.peek(_MAX_HEADER_BYTES + 1)[: _MAX_HEADER_BYTES + 1]
    end = head.find(b"\n")
    if end < 0 and len(head) > _MAX_HEADER_BYTES:
        raise SessionError(
            f"{name}: its header line is over {_MAX_HEADER_BYTES:,} bytes; nothing imported"
        )
    line = head if end < 0 else head[:end]
    try:
        columns = next(csv.reader([line.decode("utf-8-sig", errors="replace")]), [])
    except csv.Error as e:
        raise SessionError(f"{name}: not a readable CSV header ({e}); nothing imported") from None
    values = [c.strip() for c in columns if c.strip() not in _NOT_VALUES]
    if len(values) > limits.max_keys:
        raise SessionError(
            f"{name}: {len(values):,} value columns; a reading has at most {limits.max_keys}, "
            "as live (HITTING_COACH_MAX_VALUE_KEYS); nothing imported"
        )
    for column in values:
        _check_name(f"{name}: column {column[:40]!r}", column, limits.max_name_bytes)


def _check_schema(sensor: str, frame: pd.DataFrame, source: str) -> None:
    """Refuse a known sensor's readings without the value columns it must have (as numbers),
    as live ingest refuses such a reading: the swing detector needs them."""
    problem = schema_problem(sensor, frame)
    if problem:
        raise SessionError(f"{source}: {problem}; nothing imported")


def _stamp(meta: dict[str, str], first_ns: int) -> str:
    try:
        ms = int(Decimal(meta["recording epoch time"]))
        when = datetime.fromtimestamp(ms / 1e3, UTC)
    except (KeyError, InvalidOperation, ValueError, OverflowError):
        when = datetime.fromtimestamp(first_ns / 1e9, UTC)
    return when.strftime("%Y-%m-%d_%H-%M-%S")


_PIECE_BYTES = 1 << 20
_MAX_METADATA_BYTES = 1 << 20


def _import_max_bytes() -> int:
    """The setting's default (a caller holding the settings passes their value)."""
    from hitting_coach.config import Settings

    return next(f.default for f in dataclasses.fields(Settings) if f.name == "import_max_bytes")


class _Budget:
    """What an import may still read, decompressed (``HITTING_COACH_IMPORT_MAX_BYTES``)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.declared = 0
        self.read = 0

    def check(self, name: str, size: int) -> None:
        """Count what a file says it holds, before it is read."""
        self.declared += size
        if self.declared > self.max_bytes:
            raise self.over(name)

    def take(self, name: str, size: int) -> None:
        """Count what was read (a zip entry may hold more than it says)."""
        self.read += size
        if self.read > self.max_bytes:
            raise self.over(name)

    def over(self, name: str) -> SessionError:
        return SessionError(
            f"{name}: the export holds more than the import limit of {self.max_bytes:,} bytes "
            "(decompressed; HITTING_COACH_IMPORT_MAX_BYTES); nothing imported"
        )


class _Counted(io.RawIOBase):
    """A file read in pieces, each counted against the import's :class:`_Budget`."""

    def __init__(self, raw: IO[bytes], name: str, budget: _Budget) -> None:
        self._raw, self._name, self._budget = raw, name, budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        data = self._raw.read(len(buffer))
        self._budget.take(self._name, len(data))
        buffer[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def _reading(name: str) -> Iterator[None]:
    """A damaged zip entry (bad CRC, bad deflate data, more than it says) is an error naming it."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise SessionError(f"{name}: damaged in the zip ({e})") from None


def _read_small(stream: IO[bytes], name: str) -> bytes:
    data = stream.read(_MAX_METADATA_BYTES + 1)
    if len(data) > _MAX_METADATA_BYTES:
        raise SessionError(f"{name}: over {_MAX_METADATA_BYTES:,} bytes, not a Metadata.csv")
    return data


def _csv_files(
    path: Path, stack: contextlib.ExitStack | None = None
) -> dict[str, tuple[int, Callable[[], IO[bytes]]]]:
    """CSV files of an export by file name (wherever they sit inside it): the size each says
    it holds, and how to open it for reading."""
    found: dict[str, tuple[int, Callable[[], IO[bytes]]]] = {}

    def add(name: str, size: int, open_file: Callable[[], IO[bytes]]) -> None:
        if name in found:
            raise SessionError(f"{path}: two files named {name}; import one recording at a time")
        found[name] = (size, open_file)

    def wanted(parts: tuple[str, ...]) -> bool:
        return (
            parts[-1].lower().endswith(".csv")
            and not parts[-1].startswith("._")
            and "__MACOSX" not in parts
        )

    if path.is_dir():
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(path).parts
            if file.is_file() and wanted(rel):
                add(file.name, file.stat().st_size, partial(file.open, "rb"))
        return found
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise SessionError(f"{path}: not a zip file, folder or JSON export ({e})") from None
    if stack is not None:
        stack.enter_context(archive)
    for info in archive.infolist():
        parts = PurePosixPath(info.filename).parts
        if not info.is_dir() and parts and wanted(parts):
            add(parts[-1], info.file_size, lambda info=info: archive.open(info))
    return found


def _read_metadata(data: bytes, name: str) -> dict[str, str]:
    """Metadata.csv: a header row and one value row, older or newer layout."""
    text = data.decode("utf-8-sig", errors="replace")
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except csv.Error as e:  # e.g. a field over the csv module's 131,072 characters
        raise SessionError(f"{name}: not a readable Metadata.csv ({e}); nothing imported") from None
    if len(rows) < 2:
        log.warning("%s has no values; using defaults", name)
        return {}
    return {k.strip(): v.strip() for k, v in zip(rows[0], rows[1], strict=False) if v.strip()}


#: Rows of a sensor CSV parsed at a time: an import holds this many readings of one sensor in
#: memory, whatever the file's size (a one-hour 100 Hz file has 360,000).
_CHUNK_ROWS = 100_000


def _read_sensor_csv(stream: IO[bytes], name: str) -> Iterator[pd.DataFrame]:
    """A sensor CSV's readings, :data:`_CHUNK_ROWS` rows at a time: ``time_ns`` and its value
    columns. Raises :class:`SessionError` naming the file (and the row) if it cannot be read."""
    row = 0
    try:
        # pandas >= 3 parses floats exactly (round trip) by default.
        reader = pd.read_csv(stream, dtype={"time": str}, encoding="utf-8", chunksize=_CHUNK_ROWS)
        for frame in reader:
            frame.columns = [str(c).strip() for c in frame.columns]
            if "time" not in frame.columns:
                raise SessionError(
                    f"{name}: no 'time' column (columns: {', '.join(frame.columns)[:200]})"
                )
            if frame.empty:
                continue
            time_ns = _times(frame["time"].tolist(), name, row)
            row += len(frame)
            values = {c: _values(frame[c]) for c in frame.columns if c not in _NOT_VALUES}
            yield pd.DataFrame({"time_ns": time_ns, **values})
    except pd.errors.EmptyDataError:
        return
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise SessionError(f"{name}: not a readable CSV ({e})") from None


def _read_json_export(path: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    try:
        records = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise SessionError(f"{path.name}: not valid JSON ({e})") from None
    if not isinstance(records, list):
        raise SessionError(f"{path.name}: expected a list of records")
    grouped: dict[str, list[dict]] = {}
    meta: dict[str, str] = {}
    for i, record in enumerate(records):
        if not isinstance(record, dict) or "sensor" not in record:
            raise SessionError(f"{path.name}: record {i} has no 'sensor'")
        sensor = str(record["sensor"])
        if sensor.lower() == "metadata":
            meta = {k: str(v) for k, v in record.items() if k != "sensor" and v not in ("", None)}
            continue
        grouped.setdefault(sensor, []).append(record)
    frames = {}
    for sensor, rows in grouped.items():
        label = f"{path.name} ({sensor})"
        if any("time" not in r for r in rows):
            raise SessionError(f"{label}: a record has no 'time'")
        columns: dict[str, None] = {}
        for r in rows:
            columns.update(dict.fromkeys(k for k in r if k not in _NOT_VALUES))
        data = {"time_ns": _times([r["time"] for r in rows], label)}
        for c in columns:
            data[c] = _values(pd.Series([r.get(c) for r in rows], dtype=object))
        frames[_FILE_TO_SENSOR.get(sensor.lower().replace(" ", ""), sensor.lower())] = pd.DataFrame(
            data
        )
    return frames, meta


def _times(items: list, label: str, first_row: int = 0) -> np.ndarray:
    """Epoch nanoseconds, exactly (strings or numbers; ``1.6985e18`` is rounded); an error
    names the row (``first_row``: the rows of the file before ``items``)."""
    try:
        return np.array([int(v) for v in items], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        pass
    out = np.empty(len(items), dtype=np.int64)
    for i, v in enumerate(items):
        try:
            out[i] = int(Decimal(str(v).strip()).to_integral_value())
        except (InvalidOperation, ValueError, OverflowError):
            raise SessionError(
                f"{label}: row {first_row + i + 1}: time {v!r} is not epoch nanoseconds"
            ) from None
    return out


def _values(column: pd.Series) -> np.ndarray:
    """float64 when every non-empty value is a number (strings included), else text."""
    if column.dtype.kind == "b":  # as the live path stores JSON booleans
        return np.array(["true" if v else "false" for v in column], dtype=object)
    if column.dtype.kind in "fiu":
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    items = column.tolist()
    try:
        return np.array(
            [np.nan if v is None or v == "" or v != v else float(v) for v in items],
            dtype=np.float64,
        )
    except (TypeError, ValueError):
        return np.array(
            [None if v is None or v != v else str(v) for v in items],
            dtype=object,
        )


def _normalize(sensor: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Known value columns in their usual order, sorted by time, identical rows once."""
    known = [c for c in SCHEMAS.get(sensor, ()) if c in frame.columns]
    columns = ["time_ns", *known, *(c for c in frame.columns if c not in known and c != "time_ns")]
    arrays = {"time_ns": pa.array(frame["time_ns"].to_numpy(), pa.int64())}
    for c in columns[1:]:
        v = frame[c].to_numpy()
        if v.dtype.kind == "f":
            arrays[c] = pa.array(v, pa.float64())
        else:  # text (a column of numbers in one piece of the file and text in another, too)
            arrays[c] = pa.array(
                [None if x is None or x != x else str(x) for x in v.tolist()], pa.string()
            )
    return frame_from_tables([pa.table(arrays)])


# ------------------------------------------------------------------------------- storing
def import_export(
    path: str | Path,
    data_dir: str | Path | None = None,
    *,
    name: str | None = None,
    progress: Progress | None = None,
    max_bytes: int | None = None,
    limits: Limits | None = None,
) -> ImportResult:
    """Import a Sensor Logger export into ``data_dir`` (default: the data-dir setting);
    ``max_bytes`` as for :func:`read_export`.

    The readings are stored as they are read, :data:`_CHUNK_ROWS` rows at a time (one Parquet
    part each), so an import's memory does not grow with the export's size. They are written
    into a folder of their own under the data directory first and moved into the session only
    once the whole export has been read and checked: an export refused half-way (a text value
    in row 2,000,000) leaves nothing behind.

    Raises :class:`SessionError` if the export cannot be read or stored.
    """
    root = data_path(data_dir)
    path = Path(path).expanduser()
    if not path.exists():
        raise SessionError(f"{path} does not exist")
    limits = limits or IMPORT_LIMITS
    marks = marks_from_export(path)  # checked before anything is stored
    given = clean_name(name, "the session's name") if name else None
    say = progress or (lambda text: None)
    staging = root / f"{IMPORTING}{os.getpid()}-{uuid.uuid4().hex}"
    try:
        with contextlib.ExitStack() as stack:
            stack.callback(shutil.rmtree, staging, ignore_errors=True)
            meta, chunks = _export_chunks(path, progress, max_bytes, limits, stack)
            counts: dict[str, int] = {}
            spans: dict[str, tuple[int, int]] = {}
            for i, (sensor, source, chunk) in enumerate(chunks):
                _check_schema(sensor, chunk, source)
                frame = _normalize(sensor, chunk)
                if frame.empty:
                    continue
                times = frame["time_ns"].to_numpy()
                # named by place and content: importing the same export again changes nothing
                digest = hashlib.sha1(i.to_bytes(4, "big") + times.tobytes()).hexdigest()[:16]
                part = staging / sensor / f"part-import-{digest}.parquet"
                write_table(part, pa.Table.from_pandas(frame, preserve_index=False))
                counts[sensor] = counts.get(sensor, 0) + len(frame)
                low, high = spans.get(sensor, (int(times[0]), int(times[-1])))
                spans[sensor] = (min(low, int(times[0])), max(high, int(times[-1])))
                say(f"stored {sensor}: {counts[sensor]:,} readings")
            if not counts:
                raise SessionError(
                    f"{path}: no sensor readings found (expected Sensor Logger CSVs)"
                )
            start = min(low for low, _ in spans.values())
            device_id, session_id, session_name = _identity(path, meta, start, limits)
            session_name = given or session_name
            for sensor in counts:  # into the session, whole: only now
                target = sensor_dir(root, device_id, session_id, sensor)
                target.mkdir(parents=True, exist_ok=True)
                for part in sorted((staging / sensor).glob("part-import-*.parquet")):
                    os.replace(part, target / part.name)
        write_json(
            session_dir(root, device_id, session_id) / "meta.json",
            {"name": session_name, "imported_from": str(path.resolve())},
        )
        new_marks = merge_marks(root, device_id, session_id, marks)
        refresh_index(root)
    except OSError as e:
        raise SessionError(f"cannot store the import in {root}: {e.strerror}") from None
    rates = {
        s: (counts[s] - 1) * 1e9 / float(high - low)
        for s, (low, high) in spans.items()
        if counts[s] > 1 and high > low
    }
    return ImportResult(device_id, session_id, session_name, counts, rates, path, new_marks)


# ------------------------------------------------------------------------------- writing
_MAX_STEM = 100


def safe_file_stem(text: str, fallback: str = "sensor") -> str:
    """A file name stem made from a user string (a sensor or session name): letters, digits,
    ``-`` and ``_`` only, so no separator, ``..``, control character or leading dot gets
    through; at most 100 characters; ``fallback`` if nothing is left."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_")
    if len(stem) > _MAX_STEM:  # keep long names apart: a digest of the whole text
        stem = stem[: _MAX_STEM - 9] + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return stem or fallback


def export_file_name(sensor: str) -> str:
    """The CSV file name Sensor Logger uses for a sensor (``wrist motion`` -> WristMotion);
    other names are made safe with :func:`safe_file_stem`."""
    known = SENSOR_FILES.get(sensor)
    if known:
        return known
    return safe_file_stem("".join(w[:1].upper() + w[1:] for w in sensor.split()))


def _file_stems(
    sensors: list[str], stem_of: Callable[[str], str], reserved: tuple[str, ...] = ()
) -> dict[str, str]:
    """A distinct file stem per sensor: two names that clean up alike (``a/b``, ``a_b``), or
    differ only in case, or take a ``reserved`` name, get ``-2``, ``-3`` ... instead of one
    overwriting the other."""
    taken = {r.lower() for r in reserved}
    stems = {}
    for sensor in sensors:
        base = stem_of(sensor)
        stem, n = base, 1
        while stem.lower() in taken:
            n += 1
            stem = f"{base}-{n}"
        taken.add(stem.lower())
        stems[sensor] = stem
    return stems


def _inside(out: Path, file_name: str) -> Path:
    """``out / file_name``, refusing anything that would land outside ``out``."""
    path = out / file_name
    if path.resolve().parent != out.resolve():
        raise SessionError(f"refusing to write {file_name!r} outside {out}")
    return path


def _csv_frame(frame: pd.DataFrame, start: int) -> pd.DataFrame:
    """A sensor's readings as its CSV holds them: ``time``, ``seconds_elapsed``, values."""
    csv_frame = frame.rename(columns={"time_ns": "time"})
    csv_frame.insert(1, "seconds_elapsed", (frame["time_ns"] - start) / 1e9)
    return csv_frame


def _metadata_csv(device_id: str, session_id: str, name: str, start: int, stems: list[str]) -> str:
    meta = {
        "version": "3",
        "device name": device_id,
        "recording epoch time": str(start // 1_000_000),
        "recording time": datetime.fromtimestamp(start / 1e9, UTC).strftime("%Y-%m-%d_%H-%M-%S"),
        "recording timezone": "UTC",
        "platform": "",
        "appVersion": "",
        "device id": device_id,
        "sensors": "|".join(stems),
        "sampleRateMs": "",
        "session id": session_id,
        "name": name,
    }
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_METADATA_COLUMNS)
    writer.writerow([meta[c] for c in _METADATA_COLUMNS])
    return out.getvalue()


def write_export(session: Session, out_dir: str | Path) -> list[Path]:
    """Write ``session`` in Sensor Logger's CSV layout (what ``import`` reads back). File
    names come from sensor names made safe: every file lands inside ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = session.start_ns or 0
    stems = _file_stems(list(session.frames), export_file_name, reserved=("Metadata",))
    written = []
    for sensor, frame in session.frames.items():
        path = _inside(out, f"{stems[sensor]}.csv")
        _csv_frame(frame, start).to_csv(path, index=False)
        written.append(path)
    path = out / "Metadata.csv"
    text = _metadata_csv(
        session.device_id, session.session_id, session.name, start, list(stems.values())
    )
    with open(path, "w", newline="") as f:
        f.write(text)
    written.append(path)
    return written


# ------------------------------------------------------------------------ streamed export
#: Rows of a sensor's CSV turned into text at a time while streaming an export.
_CSV_ROWS = 10_000
_exports_lock = threading.Lock()
_exports_running = 0


class _Chunks(io.RawIOBase):
    """A write-only stream that keeps what was written until :meth:`take` hands it on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        chunk = bytes(data)
        self._parts.append(chunk)
        self._size += len(chunk)
        return len(chunk)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts, self._size = [], 0
        return out

    @property
    def waiting(self) -> int:
        return self._size


class ExportStream:
    """A session's CSV export zip, made while it is read: iterate for its bytes, chunk by
    chunk (at most about ``chunk_bytes`` each, plus one sensor's rows of CSV at a time). One
    sensor's readings are in memory at a time; nothing is written to disk.

    Holds one of the ``HITTING_COACH_MAX_EXPORTS`` slots from creation until it is iterated to
    the end or closed (use it as a context manager). ``name`` is the zip's file name."""

    def __init__(
        self,
        data_dir: Path,
        device_id: str,
        session_id: str,
        *,
        chunk_bytes: int = 1 << 16,
        limit: int | None = None,
        video: bool = True,
    ) -> None:
        global _exports_running
        self.video = video  # the camera's video of the session, under video/<id>/
        self._open = False
        self.data_dir = Path(data_dir)
        self.device_id, self.session_id = device_id, session_id
        self.chunk_bytes = chunk_bytes
        self.name = f"{safe_file_stem(session_id, 'session')}.zip"
        limit = _max_exports() if limit is None else limit
        if not session_dir(self.data_dir, device_id, session_id).is_dir():
            raise SessionError(f"no session {device_id}/{session_id}")
        with _exports_lock:
            if _exports_running >= limit:
                raise ExportsBusy(
                    f"{limit} export(s) are being made right now (HITTING_COACH_MAX_EXPORTS); "
                    "try again in a minute"
                )
            _exports_running += 1
        self._open = True

    def close(self) -> None:
        """Give back the export slot (safe to call twice)."""
        global _exports_running
        with _exports_lock:
            if self._open:
                self._open = False
                _exports_running -= 1

    def __enter__(self) -> ExportStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks()
        finally:
            self.close()

    def _chunks(self) -> Iterator[bytes]:
        from hitting_coach.store.sessions import sensor_frames, session_summary

        summary = session_summary(self.data_dir, self.device_id, self.session_id)
        sensors = sorted(summary.sensors)
        start = summary.start_ns or 0
        stems = _file_stems(sensors, export_file_name, reserved=("Metadata",))
        sink = _Chunks()
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
            for sensor, frame in sensor_frames(self.data_dir, self.device_id, self.session_id):
                with archive.open(f"{stems[sensor]}.csv", "w", force_zip64=True) as entry:
                    for lo in range(0, max(1, len(frame)), _CSV_ROWS):
                        piece = _csv_frame(frame.iloc[lo : lo + _CSV_ROWS], start)
                        entry.write(piece.to_csv(index=False, header=lo == 0).encode())
                        del piece
                        if sink.waiting >= self.chunk_bytes:
                            yield sink.take()
                    del frame
                if sink.waiting:
                    yield sink.take()
            marks = _marks_in_span(self.data_dir, summary)
            if marks:
                archive.writestr(
                    MARKS_FILE, b"".join(orjson.dumps(m.as_dict()) + b"\n" for m in marks)
                )
            if self.video:
                yield from self._videos(archive, sink)
            archive.writestr(
                "Metadata.csv",
                _metadata_csv(
                    self.device_id, self.session_id, summary.name, start, list(stems.values())
                ),
            )
        yield sink.take()

    def _videos(self, archive: zipfile.ZipFile, sink: _Chunks) -> Iterator[bytes]:
        """The session's videos, stored as recorded (no compression: it would not shrink),
        each as much as was acknowledged, read ``chunk_bytes`` at a time."""
        for video in read_videos(self.data_dir, self.device_id):
            if video.session_id != self.session_id:
                continue
            name = f"video/{video.video_id}"
            archive.writestr(f"{name}/meta.json", orjson.dumps(video.meta))
            with (
                open(video.file, "rb") as f,
                archive.open(
                    zipfile.ZipInfo(f"{name}/{video.file.name}"), "w", force_zip64=True
                ) as entry,
            ):
                left = video.size
                while left > 0:
                    piece = f.read(min(self.chunk_bytes, left))
                    if not piece:
                        break
                    entry.write(piece)
                    left -= len(piece)
                    if sink.waiting >= self.chunk_bytes:
                        yield sink.take()
            archive.writestr(f"{name}/chunks.jsonl", (video.path / "chunks.jsonl").read_bytes())
            if sink.waiting:
                yield sink.take()


def _marks_in_span(data_dir: Path, summary) -> list:  # type: ignore[no-untyped-def]
    start, end = summary.start_ns, summary.end_ns
    if start is None or end is None:
        return []
    return [
        m
        for m in read_marks(data_dir, summary.device_id, summary.session_id)
        if start - 5e9 <= m.time_ns <= end + 5e9
    ]


def stream_export_zip(
    data_dir: Path,
    device_id: str,
    session_id: str,
    *,
    chunk_bytes: int = 1 << 16,
    limit: int | None = None,
) -> ExportStream:
    """A session's CSV export as a zip, streamed (:class:`ExportStream`). Raises
    :class:`SessionError` for an unknown session and :class:`ExportsBusy` when
    ``limit`` (the ``HITTING_COACH_MAX_EXPORTS`` setting; its default if None) exports are
    being made already."""
    return ExportStream(data_dir, device_id, session_id, chunk_bytes=chunk_bytes, limit=limit)


def _max_exports() -> int:
    """``HITTING_COACH_MAX_EXPORTS``'s default (a caller holding the settings passes theirs)."""
    from hitting_coach.config import Settings

    return next(f.default for f in dataclasses.fields(Settings) if f.name == "max_exports")


# -------------------------------------------------------------------------------- export
def export_session(
    session: SessionRef,
    out_dir: str | Path | None = None,
    *,
    format: str = "parquet",
    data_dir: str | Path | None = None,
    take: str | Take | None = None,
) -> Path:
    """Write a session (or a take) to ``out_dir``: one Parquet file per sensor plus
    ``session.json``, or (``format="csv"``) Sensor Logger's CSV layout, which
    ``hitting-coach import`` reads back; the coach's marks go along as ``marks.jsonl``.
    Returns the directory written."""
    if format not in ("parquet", "csv"):
        raise SessionError(f"unknown export format {format!r}; use parquet or csv")
    loaded = session if isinstance(session, Session) and take is None else None
    loaded = loaded or load_session(session, data_dir, take=take)
    default = safe_file_stem(loaded.name or loaded.session_id, "session")
    out = Path(out_dir) if out_dir else Path(default)
    marks = []
    if loaded is not session or data_dir is not None:  # the coach's marks go with it
        start, end = loaded.start_ns, loaded.end_ns
        marks = [
            m
            for m in read_marks(data_path(data_dir), loaded.device_id, loaded.session_id)
            if start is not None and end is not None and start - 5e9 <= m.time_ns <= end + 5e9
        ]
    try:
        out.mkdir(parents=True, exist_ok=True)
        if marks:
            write_marks_file(_inside(out, MARKS_FILE), marks)
        if format == "csv":
            write_export(loaded, out)
            return out
        stems = _file_stems(list(loaded.frames), safe_file_stem)
        for sensor, frame in loaded.frames.items():
            pq.write_table(
                pa.Table.from_pandas(frame, preserve_index=False),
                _inside(out, f"{stems[sensor]}.parquet"),
                compression="zstd",
            )
        write_json(
            out / "session.json",
            {
                "device_id": loaded.device_id,
                "session_id": loaded.session_id,
                "name": loaded.name,
                "sensors": {s: len(f) for s, f in loaded.frames.items()},
                "files": {s: f"{stem}.parquet" for s, stem in stems.items()},
                "takes": [t.as_dict() for t in loaded.takes],
            },
        )
    except OSError as e:
        raise SessionError(f"cannot write the export to {out}: {e.strerror}") from None
    return out

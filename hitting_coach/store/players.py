"""Players: a name for a device, given once ("Maya — belt phone"), shown instead of its id.

Kept in ``DATA_DIR/players.json`` as ``{"version": 1, "players": {device_id: name}}``,
replaced atomically on every change, so a reader never sees half a file. Names are plain text:
control characters are refused, surrounding blanks dropped, at most :data:`MAX_NAME_CHARS`
characters. Whoever shows a name escapes it for where it goes (HTML, a terminal).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import orjson

from hitting_coach.errors import SessionError
from hitting_coach.store.layout import write_json

__all__ = [
    "PlayerNames",
    "MAX_NAME_CHARS",
    "PLAYERS_FILE",
    "clean_name",
    "display_name",
    "read_players",
    "set_player",
]

log = logging.getLogger(__name__)

PLAYERS_FILE = "players.json"
MAX_NAME_CHARS = 80
MAX_PLAYERS = 10_000
_VERSION = 1
_lock = threading.Lock()


def clean_name(name: str, what: str = "a player's name") -> str:
    """``name`` without surrounding blanks; raises :class:`SessionError` for a name with
    control characters or longer than :data:`MAX_NAME_CHARS` characters."""
    if not isinstance(name, str):
        raise SessionError(f"{what} must be text, not {type(name).__name__}")
    name = name.strip()
    if len(name) > MAX_NAME_CHARS:
        raise SessionError(f"{what} is {len(name)} characters long; at most {MAX_NAME_CHARS}")
    if not name.isprintable():
        raise SessionError(f"{what} may not hold control characters (line breaks, tabs, ...)")
    return name


def read_players(data_dir: Path) -> dict[str, str]:
    """``{device_id: name}``; empty if there is no players file. A damaged file is logged and
    read as empty (the ids show again), never raised at a page."""
    path = Path(data_dir) / PLAYERS_FILE
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as e:
        log.warning("cannot read %s (%s): devices show their ids", path, e)
        return {}
    players = doc.get("players") if isinstance(doc, dict) else None
    if not isinstance(players, dict):
        log.warning("%s holds no players object: devices show their ids", path)
        return {}
    return {str(k): str(v) for k, v in players.items() if isinstance(v, str) and v}


def set_player(data_dir: Path, device_id: str, name: str) -> dict[str, str]:
    """Name ``device_id`` (an empty name forgets it); returns the players after the change.
    Raises :class:`SessionError` for a bad name or device id."""
    if not isinstance(device_id, str) or not device_id:
        raise SessionError("name a device by its id (not empty)")
    name = clean_name(name)
    with _lock:
        players = read_players(data_dir)
        if name:
            if device_id not in players and len(players) >= MAX_PLAYERS:
                raise SessionError(f"{MAX_PLAYERS} players are named already; forget one first")
            players[device_id] = name
        else:
            players.pop(device_id, None)
        try:
            write_json(Path(data_dir) / PLAYERS_FILE, {"version": _VERSION, "players": players})
        except OSError as e:
            raise SessionError(f"cannot save the players in {data_dir}: {e.strerror}") from None
    return players


def display_name(device_id: str, players: dict[str, str]) -> str:
    """The player's name for ``device_id``, or the id itself if it has none."""
    return players.get(device_id) or device_id


class PlayerNames:
    """``read_players`` for a page that asks often: the file is read again only when it
    changed (one ``stat`` per call)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / PLAYERS_FILE
        self._seen: tuple[int, int] | None = None
        self._names: dict[str, str] = {}

    def __call__(self) -> dict[str, str]:
        try:
            st = self.path.stat()
            seen = (st.st_mtime_ns, st.st_size)
        except OSError:
            seen = None
        if seen != self._seen:
            self._seen = seen
            self._names = read_players(self.path.parent) if seen else {}
        return self._names

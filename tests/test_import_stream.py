"""An import streams: its readings are stored a piece at a time, and a refusal half-way
leaves nothing behind (issue 29, finding 10)."""

from __future__ import annotations

import os

import pytest

from hitting_coach.errors import SessionError
from hitting_coach.store import exports
from hitting_coach.store.exports import import_export, read_export
from hitting_coach.store.layout import sensor_dir
from hitting_coach.store.parts import IMPORTING, remove_dead_imports
from hitting_coach.store.sessions import list_sessions, load_session
from tests.test_import import T0, csv_text, xyz_rows

METADATA = csv_text(["device id", "session id", "name"], [["phoneA", "evening", "Cage 2"]])


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces of 1,000 rows, so that a 4,500-row file is read in five."""
    monkeypatch.setattr(exports, "_CHUNK_ROWS", 1_000)


def export_folder(path, rows: list[list]) -> None:
    path.mkdir()
    (path / "Metadata.csv").write_text(METADATA)
    (path / "Accelerometer.csv").write_text(
        csv_text(["time", "seconds_elapsed", "z", "y", "x"], rows)
    )


def test_a_long_file_is_stored_in_pieces_and_reads_back_whole(tmp_path, small_pieces):
    rows = xyz_rows(T0, 4_500, 100)
    export_folder(tmp_path / "export", rows)
    result = import_export(tmp_path / "export", tmp_path / "data")
    assert (result.device_id, result.session_id, result.name) == ("phoneA", "evening", "Cage 2")
    assert result.counts == {"accelerometer": 4_500}
    assert result.rates_hz["accelerometer"] == pytest.approx(100, rel=1e-6)
    parts = sorted(sensor_dir(tmp_path / "data", "phoneA", "evening", "accelerometer").iterdir())
    assert len(parts) == 5, [p.name for p in parts]
    stored = load_session(("phoneA", "evening"), tmp_path / "data").frames["accelerometer"]
    whole = read_export(tmp_path / "export").frames["accelerometer"]
    assert stored.equals(whole)
    assert stored["time_ns"].iloc[-1] == rows[-1][0]
    # Importing the same export again changes nothing.
    import_export(tmp_path / "export", tmp_path / "data")
    again = sorted(sensor_dir(tmp_path / "data", "phoneA", "evening", "accelerometer").iterdir())
    assert again == parts
    assert (
        load_session(("phoneA", "evening"), tmp_path / "data").frames["accelerometer"].equals(whole)
    )


def test_a_bad_row_in_a_late_piece_refuses_the_whole_import_and_leaves_nothing(
    tmp_path, small_pieces
):
    rows = xyz_rows(T0, 4_500, 100)
    rows[3_700][3] = "oops"  # a text value in the fourth piece
    export_folder(tmp_path / "export", rows)
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(SessionError, match="Accelerometer.csv: column y holds text"):
        import_export(tmp_path / "export", data)
    assert list_sessions(data).empty
    assert not list(data.rglob("*.parquet"))
    assert not list(data.glob(f"{IMPORTING}*"))


def test_a_bad_time_names_its_row_in_the_file_not_in_the_piece(tmp_path, small_pieces):
    rows = xyz_rows(T0, 2_500, 100)
    rows[2_200][0] = "later"
    export_folder(tmp_path / "export", rows)
    with pytest.raises(SessionError, match="row 2201: time 'later' is not epoch nanoseconds"):
        import_export(tmp_path / "export", tmp_path / "data")


def test_what_a_killed_import_left_is_removed_and_a_running_one_kept(tmp_path):
    dead = tmp_path / f"{IMPORTING}999999999-abc" / "accelerometer"
    dead.mkdir(parents=True)
    (dead / "part-import-00000-x.parquet").write_bytes(b"PAR1")
    running = tmp_path / f"{IMPORTING}{os.getpid()}-def"
    running.mkdir()
    assert remove_dead_imports(tmp_path) == 1
    assert not dead.parent.exists()
    assert running.exists()


def test_the_pieces_are_named_as_imported_parts(tmp_path, small_pieces):
    """The store tells an import's parts from a journal's by their names (``part-import-*``):
    they are settled at once, never waiting for a journal checkpoint."""
    from hitting_coach.store.layout import part_origin

    export_folder(tmp_path / "export", xyz_rows(T0, 2_500, 100))
    import_export(tmp_path / "export", tmp_path / "data")
    parts = list(sensor_dir(tmp_path / "data", "phoneA", "evening", "accelerometer").iterdir())
    assert len(parts) == 3
    assert {part_origin(p)[0] for p in parts} == {"import"}

"""Issue 29, finding 9: device and session are passed apart. A session id holding a "/" does
not make another device's session unreachable by its "device/session" reference, and the
report hands its notebook the pair, never a text looked up again."""

from __future__ import annotations

import time

import pytest

import hitting_coach.report as report
from hitting_coach.store.sessions import load_session, resolve_session
from support import motion_messages


def test_a_session_id_with_a_slash_does_not_hide_a_device_session_pair(tmp_path, record):
    data = tmp_path / "data"
    start = time.time_ns() - 60 * 10**9
    record(data, motion_messages(5, start, device="phoneA", session="evening"))
    record(data, motion_messages(3, start, device="x", session="phoneA/evening", first_id=50))
    assert resolve_session("phoneA/evening", data) == ("phoneA", "evening")
    assert load_session("phoneA/evening", data).readings == 5 * 40
    assert resolve_session(("x", "phoneA/evening"), data) == ("x", "phoneA/evening")
    assert load_session(("x", "phoneA/evening"), data).readings == 3 * 40
    assert resolve_session("x/phoneA/evening", data) == ("x", "phoneA/evening")


def test_the_report_gives_its_notebook_the_device_and_the_session_apart(
    tmp_path, record, monkeypatch
):
    data = tmp_path / "data"
    start = time.time_ns() - 60 * 10**9
    record(data, motion_messages(5, start, device="phoneA", session="evening"))
    record(data, motion_messages(3, start, device="x", session="phoneA/evening", first_id=50))
    seen = {}

    class Stop(Exception):
        pass

    def execute(notebook, parameters, **kw):
        seen.update(parameters)
        raise Stop

    class Kernel:
        def shutdown(self):
            pass

    monkeypatch.setattr(report, "execute_notebook", execute)
    with pytest.raises(Stop):
        report.write_report(
            ("x", "phoneA/evening"), tmp_path / "r.html", data_dir=data, kernel=Kernel()
        )
    assert seen["DEVICE"] == "x" and seen["SESSION"] == "phoneA/evening"
    # what the notebook does with them: the pair, loaded without a lookup by text
    from hitting_coach.compat import import_nbformat

    cells = import_nbformat().read(report.REPORT_NOTEBOOK, as_version=4).cells
    code = "\n".join(c.source for c in cells[:4] if c.cell_type == "code")
    assert "(DEVICE, SESSION)" in code

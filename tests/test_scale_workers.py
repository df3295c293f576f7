"""``hitting-coach serve --worker``: three real worker processes share one topic through a
real Mosquitto (``$share/<group>/<topic>``) and record into one store. One is killed with
SIGKILL mid-stream (and started again under its name, as systemd would), one joins late:
every message is on disk exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from hitting_coach.store.journal import iter_lines, segments
from services import Mosquitto
from support import motion_messages, wait_for

TOTAL = 400  # at least; more if the late worker takes long to start
RATE = 50  # messages a second: 8 s of stream


class WorkerProcess:
    def __init__(self, workdir: Path, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.log = workdir / f"worker-{name}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "HITTING_"))},
            "HITTING_COACH_LOG_LEVEL": "info",
            **env,
        }
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.pids: list[int] = []

    def start(self) -> WorkerProcess:
        self._out = open(self.log, "ab")
        cmd = [sys.executable, "-m", "hitting_coach.cli", "serve", "--worker", "--name", self.name]
        self.proc = subprocess.Popen(
            cmd, cwd=self.workdir, env=self.env, stdout=self._out, stderr=subprocess.STDOUT
        )
        self.pids.append(self.proc.pid)
        return self

    def wait_recording(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker {self.name} exited:\n{self.output()}")
            return f"worker {self.name}: recording $share/" in self.output()

        wait_for(ready, timeout, what=f"worker {self.name} to subscribe")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self._out.close()
        return self.proc.returncode


def _journal(data_dir: Path) -> tuple[Counter[int], Counter[int]]:
    """How often each messageId is in the store's journal, and lines per writer pid."""
    ids: Counter[int] = Counter()
    by_pid: Counter[int] = Counter()
    for segment in segments(data_dir):
        pid = int(segment.stem.split("-")[1])
        for _, line in iter_lines(segment):
            ids[orjson.loads(line)["message"]["messageId"]] += 1
            by_pid[pid] += 1
    return ids, by_pid


@pytest.mark.integration
def test_three_workers_one_killed_one_late_every_message_on_disk_once(tmp_path):
    broker = Mosquitto(tmp_path).start()
    data = tmp_path / "data"
    env = broker.server_env(HITTING_COACH_DATA_DIR=str(data))
    w1, w2, w3 = (WorkerProcess(tmp_path, f"w{i}", env) for i in (1, 2, 3))
    phone = broker.publisher().wait_connected()
    workers = [w1.start(), w2.start()]
    try:
        for w in workers:
            w.wait_recording()
        messages = motion_messages(20 * TOTAL, batch_s=0.2)  # as many as it takes
        stream = iter(messages)
        t0, sent = time.monotonic(), 0

        def publish(count: int | None = None, until=lambda: False) -> None:
            nonlocal sent
            for _ in range(count if count is not None else len(messages)):
                if count is None and until():
                    return
                phone.publish(next(stream), wait=False)
                sent += 1
                time.sleep(max(0.0, t0 + sent / RATE - time.monotonic()))

        publish(120)
        w1.stop(signal.SIGKILL)  # mid-stream: what it took and did not ack stays queued
        workers.append(w3.start())  # joins late, while the stream goes on
        publish(until=lambda: "recording $share/" in w3.output())
        publish(60)
        w1.start()  # back under its name: the broker hands its session over
        publish(max(60, TOTAL - sent))
        del messages[sent:]
        phone.flush()
        wait_for(
            lambda: len(_journal(data)[0]) == len(messages),
            timeout=30,
            what="every message on disk",
        )
        time.sleep(1.0)  # a duplicate would be written now
    finally:
        phone.close()
        codes = [w.stop() for w in workers]
        broker.stop()
    assert codes == [0, 0, 0]

    ids, by_pid = _journal(data)
    assert set(ids) == {m["messageId"] for m in messages}
    assert max(ids.values()) == 1, f"recorded twice: {[i for i, n in ids.items() if n > 1]}"
    # each took a share: the killed one before its death, the late one after it joined
    assert by_pid[w1.pids[0]] > 0 and by_pid[w2.pids[0]] > 0 and by_pid[w3.pids[0]] > 0


def test_worker_needs_a_broker_and_a_plain_name(tmp_path, capsys):
    from hitting_coach.cli import main

    env = tmp_path / "none.env"
    assert main(["--env-file", str(env), "serve", "--worker", "--name", "w1"]) == 1
    assert "set MQTT_BROKER" in capsys.readouterr().err
    os.environ["MQTT_BROKER"] = "127.0.0.1"
    try:
        assert main(["--env-file", str(env), "serve", "--worker", "--name", "a/b"]) == 1
    finally:
        del os.environ["MQTT_BROKER"]
    assert "letters, digits" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_a_message_another_worker_journaled_is_a_duplicate(tmp_path):
    """The broker hands a message a dead worker journaled (not acknowledged) to another one:
    the other drops it, by message id, from the first one's journal segment."""
    from hitting_coach.ingest.hub import Hub
    from hitting_coach.store.layout import JOURNAL
    from hitting_coach.store.peers import PeerKeys
    from hitting_coach.store.recorder import DUPLICATE_WINDOW_S, Recorder

    first, second = Recorder(tmp_path), Recorder(tmp_path)
    a = Hub(sink=first)
    b_peers = PeerKeys(tmp_path / JOURNAL, lambda: second.journal.segment, DUPLICATE_WINDOW_S)
    b = Hub(sink=second, peers=b_peers)
    first.open(), second.open()
    try:
        one, two, three = (orjson.dumps(m) for m in motion_messages(3))
        assert not a.ingest(one).duplicate and not a.ingest(two).duplicate
        assert b.ingest(two).duplicate  # journaled by the first: not written again
        assert not b.ingest(three).duplicate
    finally:
        first.close(), second.close(), b_peers.close()
    ids, _ = _journal(tmp_path)
    assert ids == Counter({0: 1, 1: 1, 2: 1})


def test_peer_keys_read_ids_in_any_order_and_skip_damaged_lines():
    from hitting_coach.store.peers import line_key

    assert line_key(
        b'{"received_ns":5,"source":"mqtt","message":{"messageId":7,"sessionId":"s\\"1",'
        b'"deviceId":42,"payload":[{"name":"x","values":{"deviceId":"no"},"time":1}]}}'
    ) == (5, ("42", 's"1', 7))
    assert line_key(
        b'{"received_ns":6,"source":"http","message":{"payload":[],"deviceId":"d",'
        b'"messageId":1,"sessionId":"s"}}'
    ) == (6, ("d", "s", 1))
    assert line_key(b'{"received_ns":6,"source":"http","message":{"payl') is None
    assert line_key(b"garbage") is None


@pytest.mark.integration
def test_workers_share_the_data_dir_a_server_does_not(tmp_path):
    """Workers take the data directory's lock shared: several at once; a server (exclusive)
    is refused beside them, and a worker beside a server."""
    hold = (
        "import sys, time; from pathlib import Path; from hitting_coach.runtime import "
        "hold_data_dir; from hitting_coach.errors import StartupError\n"
        "try:\n    hold_data_dir(Path(sys.argv[1]), shared=sys.argv[2] == 'worker')\n"
        "except StartupError as e:\n    print(e, flush=True); sys.exit(1)\n"
        "print('held', flush=True); time.sleep(30)"
    )

    def holder(kind: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", hold, str(tmp_path), kind], stdout=subprocess.PIPE, text=True
        )
        return proc

    def refused(kind: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", hold, str(tmp_path), kind], capture_output=True, text=True
        )
        assert done.returncode == 1
        return done.stdout

    held = [holder("worker"), holder("worker")]
    try:
        assert [p.stdout.readline().strip() for p in held] == ["held", "held"]
        assert "recorded into by hitting-coach serve --worker" in refused("server")
    finally:
        for p in held:
            p.kill(), p.wait(), p.stdout.close()
    server = holder("server")
    try:
        assert server.stdout.readline().strip() == "held"
        assert f"in use by another hitting-coach serve (pid {server.pid})" in refused("worker")
    finally:
        server.kill(), server.wait(), server.stdout.close()

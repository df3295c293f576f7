"""MQTT ingest: the highest sustained rate with nothing lost, a burst of 5,000 messages, or
(``--drain``) the rate at which a backlog queued in the broker is taken, recorder on.

A publisher process sends 40-reading Sensor Logger messages (QoS 0, as the app does) over
TLS to Mosquitto, started from deploy/mosquitto like the tests do. Two subscribers are
measured one after the other in the same run, each with the same persistent session and QoS 1
subscription over TLS:

* ``do-nothing``: a bare paho client whose on_message only counts;
* ``hitting-coach``: our consumer (paho thread -> Hub.ingest, acknowledged
  after ingest) feeding a Hub (parse, validate, de-duplicate, ring buffers; no recorder).

A rate is *sustained* when every message published over ``--seconds`` at that pace has been
received within ``--lag`` seconds of the last one: the subscriber keeps up, nothing piles up
and nothing is lost. The search doubles the rate until a failure, then bisects.

``--drain N`` measures instead what the publisher cannot cap: each subscriber subscribes,
goes offline, N messages are published and queued for its persistent session, and it comes
back; its rate is N-1 over the time from the first message it got to the last. Ours runs
here as ``hitting-coach serve`` does, with the recorder on (journal written before each
acknowledgement, Parquet conversion on its interval) and reading times checked.

    uv run python benchmarks/bench_mqtt.py [--seconds 3] [--lag 1]
    uv run python benchmarks/bench_mqtt.py --drain 20000 [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hitting_coach.ingest.hub import Hub  # noqa: E402
from hitting_coach.ingest.mqtt_clients import MqttOptions, mqtt_client  # noqa: E402
from hitting_coach.ingest.mqtt_consumer import MqttConsumer  # noqa: E402
from hitting_coach.store.recorder import Recorder  # noqa: E402
from services import PHONE, SERVER, Mosquitto  # noqa: E402
from support import motion_messages  # noqa: E402

READINGS = 40
TOPIC = "sensor-logger"


def _template() -> tuple[bytes, bytes]:
    """A 40-reading message split around its messageId, so ids cost nothing to vary."""
    doc = motion_messages(1, rate_hz=100, batch_s=0.2)[0]
    doc = {"messageId": 0, **{k: v for k, v in doc.items() if k != "messageId"}}
    text = json.dumps(doc).encode()
    head = b'{"messageId": 0'
    assert text.startswith(head)
    return b'{"messageId": ', text[len(head) :]


def _publish(host, port, ca_file, first_id, count, rate, ready, go, result) -> None:
    """Publisher process: ``count`` messages at ``rate`` per second (0: as fast as it can)."""
    head, tail = _template()
    user, password = PHONE
    options = MqttOptions(host, port, ca_file=ca_file, username=user, password=password)
    client = mqtt_client(options)
    client.max_queued_messages_set(0)
    # The machine may be busy and a handshake time out: paho tries again (1 s, 2 s, ...).
    if not client.start().wait_connected(60):
        raise RuntimeError(f"the publisher could not connect: {client.last_connect_error}")
    ready.set()
    go.wait()
    start = time.perf_counter()
    last = None
    for k in range(count):
        if rate:
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        last = client.publish(TOPIC, head + str(first_id + k).encode() + tail, qos=0)
    last.wait_for_publish(60)
    elapsed = time.perf_counter() - start
    client.close()
    result.put(elapsed)


class Subscriber:
    """Counts what arrives; :meth:`wait_received` wakes when a count is reached."""

    def __init__(self) -> None:
        self._target = math.inf
        self._reached = threading.Event()
        self.first_s = self.last_s = 0.0  # perf_counter of the first and the last arrival
        self.first_cpu_s = 0.0  # this process's CPU time at the first arrival

    def received(self) -> int:
        raise NotImplementedError

    def _arrived(self, *args) -> None:  # on the thread that receives
        self.last_s = time.perf_counter()
        if not self.first_s:
            self.first_s, self.first_cpu_s = self.last_s, time.process_time()
        if self.received() >= self._target:
            self._reached.set()

    def wait_received(self, count: int, timeout_s: float) -> int:
        """Block until ``count`` messages arrived, at most ``timeout_s``; how many did."""
        self._reached.clear()
        self._target = count
        if self.received() < count:
            self._reached.wait(timeout_s)
        self._target = math.inf
        return self.received()


class DoNothing(Subscriber):
    """A bare paho subscriber: same session settings and TLS, counts and nothing else."""

    def __init__(self, broker: Mosquitto, client_id: str) -> None:
        super().__init__()
        self.count = 0
        user, password = SERVER
        options = MqttOptions(
            broker.host,
            broker.port,
            ca_file=broker.ca_file,
            username=user,
            password=password,
            client_id=client_id,
            clean_session=False,
        )
        subscribed = threading.Event()
        self.client = mqtt_client(
            options,
            on_connect=lambda c, u, f, r, p: c.subscribe(TOPIC, qos=1),
            on_subscribe=lambda c, u, mid, reasons, p: subscribed.set(),
            on_message=self._on_message,
        ).start()
        if not subscribed.wait(60):
            raise RuntimeError(f"do-nothing could not subscribe: {self.client.last_connect_error}")

    def _on_message(self, client, userdata, msg) -> None:
        self.count += 1
        self._arrived()

    def received(self) -> int:
        return self.count

    def stop(self) -> None:
        self.client.close()


class Ours(Subscriber):
    """Our consumer and a Hub, as ``hitting-coach serve`` runs them (without the recorder)."""

    def __init__(self, broker: Mosquitto, client_id: str) -> None:
        super().__init__()
        self.hub = Hub()
        self.hub.subscribe(self._arrived)
        settings = broker.settings(HITTING_COACH_MQTT_CLIENT_ID=client_id)
        self.consumer = MqttConsumer(settings, self.hub).start()
        if not self.consumer.wait_subscribed(60):
            raise RuntimeError(f"our consumer could not subscribe: {self.hub.source_states()}")

    def received(self) -> int:
        return self.hub.counters["messages"]

    def stop(self) -> None:
        self.consumer.stop()
        assert self.hub.status()["rejected"] == 0


class Recorded(Ours):
    """Our consumer and a Hub as ``hitting-coach serve`` runs them: recorder on (default
    settings), reading times checked."""

    def __init__(self, broker: Mosquitto, client_id: str) -> None:
        Subscriber.__init__(self)
        self.recorder = Recorder(broker.workdir / "data" / client_id).start()
        self.hub = Hub(sink=self.recorder, check_time=True)
        self.hub.subscribe(self._arrived)
        settings = broker.settings(HITTING_COACH_MQTT_CLIENT_ID=client_id)
        self.consumer = MqttConsumer(settings, self.hub).start()
        if not self.consumer.wait_subscribed(60):
            raise RuntimeError(f"our consumer could not subscribe: {self.hub.source_states()}")

    def stop(self) -> None:
        super().stop()
        self.recorder.close()
        assert self.hub.status()["recording"]["failures"] == 0


class Run:
    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.runs = 0

    def once(self, kind: type, rate: float, count: int, lag_s: float, drain_s: float = 0):
        """Publish ``count`` at ``rate``; (published/s, received in time, received at all)."""
        self.runs += 1
        subscriber = kind(self.broker, f"bench-{kind.__name__}-{self.runs}")
        elapsed = self.publish(rate, count)
        in_time = subscriber.wait_received(count, lag_s)
        total = subscriber.wait_received(count, drain_s)
        subscriber.stop()
        return count / elapsed, in_time, total

    def drain(self, kind: type, count: int) -> tuple[float, float]:
        """Messages/s at which ``kind`` takes ``count`` messages queued while it was away, and
        the CPU µs this process spent per message meanwhile (steadier on a loaded machine)."""
        self.runs += 1
        client_id = f"bench-drain-{kind.__name__}-{self.runs}"
        kind(self.broker, client_id).stop()  # its session and subscription stay in the broker
        self.publish(0, count)
        time.sleep(1)  # the broker queues the last of them
        subscriber = kind(self.broker, client_id)
        received = subscriber.wait_received(count, 600)
        cpu_us = (time.process_time() - subscriber.first_cpu_s) / (count - 1) * 1e6
        subscriber.stop()
        assert received == count, f"{kind.__name__} got {received} of {count}"
        return (count - 1) / (subscriber.last_s - subscriber.first_s), cpu_us

    def publish(self, rate: float, count: int) -> float:
        """Publish ``count`` messages at ``rate`` (0: at once) from a process; seconds taken."""
        ctx = mp.get_context("spawn")
        ready, go, result = ctx.Event(), ctx.Event(), ctx.Queue()
        first_id = self.runs * 10_000_000
        proc = ctx.Process(
            target=_publish,
            args=(self.broker.host, self.broker.port, self.broker.ca_file, first_id, count, rate,
                  ready, go, result),
        )  # fmt: skip
        proc.start()
        if not ready.wait(60):
            proc.terminate()
            raise RuntimeError("the publisher could not connect")
        go.set()
        elapsed = result.get(timeout=600)
        proc.join()
        return elapsed


def sustained(run: Run, kind: type, seconds: float, lag_s: float) -> tuple[float, list]:
    """Highest message rate kept up with; and the trials, for the printout."""
    trials = []

    def ok(rate: float) -> bool:
        count = int(rate * seconds)
        achieved, in_time, total = run.once(kind, rate, count, lag_s, drain_s=30)
        passed = in_time == count and achieved >= 0.97 * rate
        trials.append((rate, achieved, in_time, count, total, passed))
        print(
            f"  {kind.__name__:9s} {rate:8.0f} msg/s asked, {achieved:8.0f} published, "
            f"{in_time}/{count} in time, {total} in all: {'ok' if passed else 'FAIL'}",
            flush=True,
        )
        return passed

    low, high = 0.0, 500.0
    while ok(high):
        low, high = high, high * 2
        if high > 64_000:
            break
    for _ in range(4):
        mid = (low + high) / 2
        low, high = (mid, high) if ok(mid) else (low, mid)
    return low, trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="publishing time per trial")
    parser.add_argument("--lag", type=float, default=1.0, help="allowed delay after the last")
    parser.add_argument("--burst", type=int, default=5000, help="messages in the burst case")
    parser.add_argument("--drain", type=int, default=0, help="measure draining this backlog")
    parser.add_argument("--rounds", type=int, default=3, help="turns each, with --drain")
    args = parser.parse_args()
    if args.drain:
        drain_backlog(args.drain, args.rounds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp)).start()
        try:
            run = Run(broker)
            print(f"sustained rate ({args.seconds:g} s per trial, {args.lag:g} s lag allowed):")
            rates = {kind: sustained(run, kind, args.seconds, args.lag)[0]
                     for kind in (DoNothing, Ours)}  # fmt: skip
            print(f"burst: {args.burst} messages published as fast as possible:")
            bursts = {}
            for kind in (DoNothing, Ours):
                achieved, _, total = run.once(kind, 0, args.burst, lag_s=0, drain_s=120)
                bursts[kind] = (achieved, total)
                print(f"  {kind.__name__:9s} published at {achieved:.0f} msg/s, "
                      f"received {total}, lost {args.burst - total}")  # fmt: skip
        finally:
            broker.stop()
    base, ours = rates[DoNothing], rates[Ours]
    print()
    print(f"| subscriber | messages/s | readings/s | burst of {args.burst}: lost |")
    print("|---|---|---|---|")
    for name, kind in (("do-nothing paho subscriber (baseline, same run)", DoNothing),
                       ("hitting-coach consumer + hub", Ours)):  # fmt: skip
        rate = rates[kind]
        lost = args.burst - bursts[kind][1]
        print(f"| {name} | {rate:,.0f} | {rate * READINGS:,.0f} | {lost} |")
    print(f"\nratio {ours / base:.2f} (target at least 0.5)")


def drain_backlog(count: int, rounds: int) -> None:
    """Both subscribers drain ``count`` messages, taking turns ``rounds`` times (a shared
    machine's load comes and goes); each round's ratio, then the median."""
    ratios, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp)).start()
        try:
            run = Run(broker)
            print(f"| round: draining a backlog of {count:,} | do-nothing paho subscriber "
                  "(messages/s, CPU µs/message) | hitting-coach consumer + hub + recorder "
                  "(messages/s, CPU µs/message) | readings/s (ours) | ratio | CPU ratio |")  # fmt: skip
            print("|---|---|---|---|---|---|")
            for r in range(rounds):
                (base, base_cpu), (ours, ours_cpu) = (run.drain(DoNothing, count),
                                                      run.drain(Recorded, count))  # fmt: skip
                ratios.append(ours / base)
                cpus.append(base_cpu / ours_cpu)
                print(f"| {r + 1} | {base:,.0f}, {base_cpu:.0f} | {ours:,.0f}, {ours_cpu:.0f} | "
                      f"{ours * READINGS:,.0f} | {ours / base:.2f} | {cpus[-1]:.2f} |",
                      flush=True)  # fmt: skip
        finally:
            broker.stop()
    print(f"\nmedian over {rounds} rounds: ratio {statistics.median(ratios):.2f} (target at "
          f"least 0.6), CPU per message ratio (do-nothing / ours) "
          f"{statistics.median(cpus):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()

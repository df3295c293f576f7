"""MQTT ingest: the highest sustained rate with nothing lost, and a burst of 5,000 messages.

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

    uv run python benchmarks/bench_mqtt.py [--seconds 3] [--lag 1]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hitting_coach.ingest.hub import Hub  # noqa: E402
from hitting_coach.ingest.mqtt_clients import MqttOptions, mqtt_client  # noqa: E402
from hitting_coach.ingest.mqtt_consumer import MqttConsumer  # noqa: E402
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

    def received(self) -> int:
        raise NotImplementedError

    def _arrived(self, *args) -> None:  # on the thread that receives
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


class Run:
    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.runs = 0

    def once(self, kind: type, rate: float, count: int, lag_s: float, drain_s: float = 0):
        """Publish ``count`` at ``rate``; (published/s, received in time, received at all)."""
        self.runs += 1
        subscriber = kind(self.broker, f"bench-{kind.__name__}-{self.runs}")
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
        in_time = subscriber.wait_received(count, lag_s)
        total = subscriber.wait_received(count, drain_s)
        subscriber.stop()
        return count / elapsed, in_time, total


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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()

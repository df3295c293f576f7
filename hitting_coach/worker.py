"""``hitting-coach serve --worker``: a recorder that shares the MQTT topic with other workers.

Several workers, on one machine or several, subscribe to ``$share/<group>/<topic>`` (MQTT's
shared subscription): the broker hands each message to one of them. Each records into the one
store (``HITTING_COACH_DATA_DIR``: a local disk, or a shared file system mounted on every
machine) into a journal segment of its own, and acknowledges a message only once it is
journaled. A worker that dies leaves its unacknowledged messages with the broker, which sends
them again; a message journaled but not acknowledged comes back as a duplicate and is dropped,
by message id, whichever worker gets it (:class:`~hitting_coach.store.peers.PeerKeys`: the
other workers' segments of the de-duplication window).

A worker serves no page: dashboards are ``hitting-coach serve`` processes with a subscription
of their own; they show what they receive, workers record.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import threading
from typing import Any

from hitting_coach.config import Settings
from hitting_coach.errors import StartupError
from hitting_coach.ingest.mqtt_consumer import MqttConsumer
from hitting_coach.runtime import hold_data_dir, hub_for, recorder_for, release_data_dir
from hitting_coach.store.layout import JOURNAL
from hitting_coach.store.peers import PeerKeys
from hitting_coach.store.recorder import DUPLICATE_WINDOW_S

__all__ = ["DEFAULT_GROUP", "Worker", "run_worker"]

log = logging.getLogger(__name__)

DEFAULT_GROUP = "hitting-coach-recorders"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Worker:
    """One recording worker: hub, recorder and a shared-subscription consumer.

    ``name`` makes the client id (``<MQTT_CLIENT_ID>-worker-<name>``): the broker keeps that
    session, with the messages handed to it and not acknowledged, until the same name connects
    again; give every worker its own, and the same one after a restart.
    """

    def __init__(self, settings: Settings, name: str, group: str = DEFAULT_GROUP) -> None:
        for what, value in (("--name", name), ("--group", group)):
            if not _NAME.match(value):
                raise StartupError(f"{what} {value!r}: letters, digits, '.', '_' and '-' only")
        if not settings.mqtt_broker:
            raise StartupError("serve --worker records from MQTT: set MQTT_BROKER")
        self.settings = settings
        self.name = name
        self.group = group
        self.client_id = f"{settings.mqtt_client_id}-worker-{name}"
        self.recorder = recorder_for(settings)
        self.peers = PeerKeys(
            settings.data_path / JOURNAL, lambda: self.recorder.journal.segment, DUPLICATE_WINDOW_S
        )
        # a worker shows nothing: a small ring per sensor
        self.hub = hub_for(settings, self.recorder, 1_000, peers=self.peers)
        self.consumer: MqttConsumer | None = None

    def start(self) -> Worker:
        hold_data_dir(self.settings.data_path, shared=True)
        try:
            keys = self.recorder.open()
        except BaseException:
            release_data_dir(self.settings.data_path)
            raise
        for key in keys:
            self.hub.remember(key)
        self.consumer = MqttConsumer(
            self.settings, self.hub, share_group=self.group, client_id=self.client_id
        ).start()
        return self

    def status(self) -> dict[str, Any]:
        return {
            "worker": self.name,
            "mqtt": self.hub.status()["sources"].get("mqtt", {}),
            "recording": self.recorder.status(),
            "duplicates": self.hub.counters["duplicates"],
        }

    def stop(self) -> None:
        """Stop taking messages (what was taken is acknowledged), then flush the recorder."""
        if self.consumer is not None:
            self.consumer.stop()
        self.recorder.close()
        log.info(
            "worker %s stopped: %d messages recorded, %d duplicates dropped",
            self.name,
            self.recorder.counters["messages"],
            self.hub.counters["duplicates"],
        )
        self.peers.close()
        release_data_dir(self.settings.data_path)


def run_worker(settings: Settings, name: str | None, group: str) -> int:
    """Run a worker until SIGTERM or Ctrl-C; prints one line once it is subscribed."""
    worker = Worker(settings, name or _default_name(), group).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        assert worker.consumer is not None
        while not worker.consumer.wait_subscribed(1.0):
            if stop.is_set():
                return 0
        print(
            f"worker {worker.name}: recording {worker.consumer.topic} from "
            f"{worker.consumer.broker} into {settings.data_path} (client id {worker.client_id})",
            flush=True,
        )
        while not stop.wait(60.0):
            status = worker.status()
            log.info(
                "worker %s: %s; %d messages recorded, %d duplicates dropped",
                worker.name,
                status["mqtt"].get("state"),
                status["recording"]["messages"],
                status["duplicates"],
            )
    finally:
        worker.stop()
    return 0


def _default_name() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:60]
    return host or "worker"

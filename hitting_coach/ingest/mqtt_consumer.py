"""The MQTT consumer: Mosquitto (TLS, TCP or WebSockets) into the hub, nothing lost.

* **Persistent session, QoS 1.** A fixed client id with ``clean_session=False`` and a QoS 1
  subscription: the broker keeps what arrives while we are away and hands it over when we
  come back (Sensor Logger publishes at QoS 0, so the broker must set ``queue_qos0_messages``;
  ours also sets ``upgrade_outgoing_qos`` so that deliveries to us are QoS 1, see below).
* **Acknowledged after ingest.** paho's ``on_message`` hands the bytes to ``hub.ingest`` and
  then acknowledges the delivery (``manual_ack``): a message is acknowledged only once the hub
  has it (recorded, when a recorder is attached). One still unacknowledged when we stop or
  crash is delivered again after the restart, and the hub drops it if it is a duplicate.
  One the recorder could not journal is not acknowledged either, and the consumer reconnects
  so that the broker sends it again.
* **The backlog waits in the broker.** The broker sends at most its in-flight window (100 in
  our config) unacknowledged messages; the rest of a burst waits in its queue (bounded by
  ``max_queued_messages``, persisted), not in our memory. No hand-off queue and worker thread
  (streamz' pattern): under the GIL the hand-off cost more than it gave back (measured in
  benchmarks/bench_mqtt.py), and it would acknowledge messages before they are ingested.
* **Unbreakable callbacks.** An exception in a paho callback ends its network thread, so every
  callback catches, counts and logs. The client comes from :mod:`.mqtt_clients` (TLS that
  verifies, WebSockets, credentials): paho itself retries a connection attempt that fails in
  any way, with backoff (1 s doubling to 30 s), forever; the subscription is renewed in
  ``on_connect``.
* **Visible state.** ``hub.set_source_state("mqtt", ...)``: ``state`` (one line for people),
  ``connected``, ``reconnects``, ``last_error``, ``received``, ``errors``, and how old the
  last message was when it arrived (``message_age_s``: receive time less its newest reading's
  time; ``late`` says so when over :data:`LATE_S`: a cage broker delivering what it queued
  while its uplink was down). The recording keeps the readings' own times either way.
* **Workers share.** With ``share_group`` the subscription is MQTT's shared subscription
  ``$share/<group>/<topic>``: the broker hands each message to one of the group's clients
  (``hitting-coach serve --worker``), each with its own client id and persistent session.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as paho

from hitting_coach.config import Settings
from hitting_coach.errors import Busy, ConfigError, MessageError, RecordingError
from hitting_coach.ingest.hub import Hub
from hitting_coach.ingest.mqtt_clients import MqttClient, MqttOptions, mqtt_client

__all__ = ["MqttConsumer"]

log = logging.getLogger(__name__)

SOURCE = "mqtt"
QOS = 1
_LOG_EVERY_S = 10.0
QUIET_S = 0.25  # at a stop, wait for this long a pause in deliveries ...
QUIET_MAX_S = 2.0  # ... but no longer than this
LATE_S = 5.0  # a message whose newest reading is older than this on arrival is late


class MqttConsumer:
    """Subscribe to ``settings.mqtt_topic`` and hand every message to ``hub.ingest``.

    ``start()`` returns at once; connecting, reconnecting and receiving happen in background
    threads. ``stop()`` finishes and acknowledges what was received, disconnects cleanly
    (the broker keeps our session) and is safe to call twice.
    """

    def __init__(
        self,
        settings: Settings,
        hub: Hub,
        *,
        share_group: str | None = None,
        client_id: str | None = None,
    ) -> None:
        if not settings.mqtt_broker:
            raise ConfigError("MQTT_BROKER is empty: nothing to connect to")
        self.settings = settings
        self.hub = hub
        self.client_id = client_id or settings.mqtt_client_id
        self.topic = settings.mqtt_topic
        if share_group is not None:
            if not share_group or any(c in share_group for c in "/+#") or share_group.isspace():
                raise ConfigError(f"share group {share_group!r}: one name, without / + #")
            self.topic = f"$share/{share_group}/{settings.mqtt_topic}"
        self.broker = f"{settings.mqtt_broker}:{settings.mqtt_port}"
        self._closing = threading.Event()
        self._subscribed = threading.Event()
        self._stopped = False
        self._lock = threading.Lock()
        self._in_callback = threading.Lock()
        self._connects = 0
        self._received = 0
        self._errors = 0
        self._rejected_since_log = 0
        self._last_reject_log = 0.0
        self._last_error_log = 0.0
        self._last_connect_error: str | None = None
        self._refused = False
        self._last_message = 0.0
        self._client: MqttClient | None = None
        self._unrecorded = 0  # messages left unacknowledged because recording failed
        self._redelivery: threading.Timer | None = None
        self._redelivery_delay_s = 1.0

    # --------------------------------------------------------------------------- control
    def _make_client(self, options: MqttOptions) -> MqttClient:
        return mqtt_client(
            options,
            on_connect=self._on_connect,
            on_connect_fail=self._on_connect_fail,
            on_disconnect=self._on_disconnect,
            on_subscribe=self._on_subscribe,
            on_message=self._on_message,
        )

    def start(self) -> MqttConsumer:
        s = self.settings
        options = MqttOptions.from_settings(s, manual_ack=True, client_id=self.client_id)
        try:
            client = self._make_client(options)
        except ConfigError as e:
            self._publish(state=f"not started: {e}", connected=False, last_error=str(e))
            log.error("MQTT not started: %s", e)
            return self
        self._client = client
        self._publish(
            state=f"connecting to {self.broker}",
            connected=False,
            reconnects=0,
            last_error=None,
            broker=self.broker,
            transport=s.mqtt_transport,
            tls=options.tls_state,
            topic=self.topic,
            client_id=self.client_id,
            received=0,
            errors=0,
        )
        client.start()
        log.info(
            "MQTT: connecting to %s over %s (TLS %s), topic %r",
            self.broker,
            s.mqtt_transport,
            options.tls_state,
            self.topic,
        )
        return self

    def wait_subscribed(self, timeout_s: float) -> bool:
        """Block until connected and subscribed (the broker's SUBACK granted), at most
        ``timeout_s``; True if so."""
        return self._subscribed.wait(timeout_s)

    def stop(self) -> None:
        """Finish the message in hand, disconnect (the broker keeps our session), stop."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._redelivery is not None:
                self._redelivery.cancel()
        with self._in_callback:  # the message in hand is ingested and acknowledged first
            self._closing.set()
        client = self._client
        if client is None:
            return
        # From now on nothing is acknowledged, so the broker stops sending once its in-flight
        # window is out. Wait for that: a socket closed with unread data in it is reset, not
        # closed, and the broker then drops our last acknowledgements (and sends those
        # messages again to the next server: duplicates).
        # Each sleep lasts until the quiet time would be over (not a poll): once, if nothing
        # arrives meanwhile.
        deadline = time.monotonic() + QUIET_MAX_S
        while (wait_s := min(deadline, self._last_message + QUIET_S) - time.monotonic()) > 0:
            time.sleep(wait_s)
        client.close()
        self._publish(state="stopped", connected=False, **self._counts())
        log.info("MQTT consumer stopped after %d messages", self._received)

    # ------------------------------------------------------------------ paho's callbacks
    # Each runs on paho's network thread: short, and never raises.
    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._in_callback:
            self._last_message = time.monotonic()
            if self._closing.is_set() and msg.qos > 0:
                return  # not acknowledged: the broker hands it over again after the restart
            age: dict[str, Any] = {}
            try:
                result = self.hub.ingest(msg.payload, source=SOURCE)
            except (MessageError, Busy) as e:  # counted by the hub, by reason
                self._log_rejection(e)
            except RecordingError as e:  # not on disk: not acknowledged, so sent again
                self._not_recorded(e)
                return
            except Exception as e:
                self._error("ingesting a message", e)
            else:
                self._redelivery_delay_s = 1.0
                age = _age(result.message.latest_ns)
            self._received += 1
            if msg.qos > 0:
                try:
                    client.ack(msg.mid, msg.qos)
                except Exception as e:
                    self._error("acknowledging a message", e)
            self._publish(received=self._received, **age)

    def _not_recorded(self, e: RecordingError) -> None:
        """A message the recorder could not journal stays unacknowledged. The broker sends
        such messages again only on a new connection, so reconnect (after a pause that
        doubles while recording keeps failing, up to a minute)."""
        self._unrecorded += 1
        self._publish(unrecorded=self._unrecorded, last_error=f"not recorded: {e}")
        with self._lock:
            if self._redelivery is not None or self._stopped:
                return
            delay = self._redelivery_delay_s
            self._redelivery_delay_s = min(60.0, delay * 2)
            self._redelivery = threading.Timer(delay, self._reconnect_for_redelivery)
            self._redelivery.daemon = True
            self._redelivery.start()
        log.warning("MQTT message not acknowledged (%s); reconnecting in %.0f s", e, delay)

    def _reconnect_for_redelivery(self) -> None:
        with self._lock:  # not held while closing: paho's thread may be waiting for it
            self._redelivery = None
            old, self._client = self._client, None
            if self._stopped or old is None:
                self._client = old
                return
        old.close()  # the broker keeps our session and what we did not acknowledge
        new = self._make_client(old.options)
        with self._lock:
            if self._stopped:
                return
            self._client = new.start()

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        try:
            self._refused = reason.is_failure
            if reason.is_failure:
                error = f"broker refused the connection: {reason}"
                self._publish(
                    state=f"refused by {self.broker}: {reason}; retrying",
                    connected=False,
                    last_error=error,
                )
                log.warning("MQTT %s (check MQTT_USERNAME / MQTT_PASSWORD)", error)
                return
            self._connects += 1
            client.subscribe(self.topic, qos=QOS)
            self._last_connect_error = None
            reconnects = self._connects - 1
            again = f" (reconnected {reconnects}x)" if reconnects else ""
            self._publish(
                state=f"connected to {self.broker}{again}",
                connected=True,
                reconnects=reconnects,
            )
            log.info(
                "MQTT connected to %s (session kept by the broker: %s)",
                self.broker,
                "yes" if flags.session_present else "no, new session",
            )
        except Exception as e:
            self._error("on connect", e)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        try:
            error = getattr(client, "last_connect_error", None)
            text = _describe(error) if error is not None else "connection failed"
            self._publish(
                state=f"cannot reach {self.broker}: {text}; retrying",
                connected=False,
                last_error=text,
            )
            if text != self._last_connect_error:
                log.warning("MQTT cannot connect to %s: %s (retrying)", self.broker, text)
            else:
                log.debug("MQTT cannot connect to %s: %s (retrying)", self.broker, text)
            self._last_connect_error = text
        except Exception as e:
            self._error("on connect failure", e)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        try:
            self._subscribed.clear()
            if self._closing.is_set():
                self._publish(state="disconnected (stopping)", connected=False)
                return
            if self._refused:  # the refusal says more than the disconnection that follows
                return
            text = f"connection lost: {reason}"
            self._publish(
                state=f"disconnected from {self.broker} ({reason}); reconnecting",
                connected=False,
                last_error=text,
            )
            log.warning("MQTT %s; reconnecting", text)
        except Exception as e:
            self._error("on disconnect", e)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        try:
            failed = [r for r in reasons if r.is_failure]
            if not failed:
                self._subscribed.set()
            else:
                text = f"subscription to {self.topic!r} refused: {failed[0]}"
                self._publish(state=text, last_error=text)
                log.error("MQTT %s (check the broker's ACL for this user)", text)
        except Exception as e:
            self._error("on subscribe", e)

    # ------------------------------------------------------------------------ reporting
    def _counts(self) -> dict[str, int]:
        return {"received": self._received, "errors": self._errors}

    def _publish(self, **state: Any) -> None:
        try:
            self.hub.set_source_state(SOURCE, **state)
        except Exception:
            log.exception("publishing the MQTT state failed")

    def _log_rejection(self, e: MessageError | Busy) -> None:
        now = time.monotonic()
        if now - self._last_reject_log < _LOG_EVERY_S:
            self._rejected_since_log += 1
            return
        more = self._rejected_since_log
        self._rejected_since_log = 0
        self._last_reject_log = now
        suffix = f" (and {more} more rejected in the last {_LOG_EVERY_S:.0f} s)" if more else ""
        log.warning("MQTT message rejected (%s): %s%s", e.reason, e, suffix)

    def _error(self, doing: str, e: BaseException) -> None:
        """Count and report an unexpected error; log it with its traceback, rate-limited."""
        try:
            self._errors += 1
            text = f"error {doing}: {type(e).__name__}: {e}"
            self._publish(last_error=text, errors=self._errors)
            now = time.monotonic()
            if now - self._last_error_log >= _LOG_EVERY_S:
                self._last_error_log = now
                log.error("MQTT %s", text, exc_info=e)
        except Exception:  # the last line of defence of paho's thread
            pass


def _age(latest_ns: int) -> dict[str, Any]:
    """``message_age_s`` of a message whose newest reading is ``latest_ns`` (the phone's
    clock), and ``late`` (a phrase for the status line, or None) when it is over LATE_S."""
    if not latest_ns:
        return {}
    age_s = (time.time_ns() - latest_ns) / 1e9
    late = f"messages arrive {age_s:.0f} s late" if age_s > LATE_S else None
    return {"message_age_s": round(age_s, 1), "late": late}


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, ssl.SSLCertVerificationError):
        text += " (set HITTING_COACH_MQTT_CA_FILE to the broker's CA certificate)"
    return text

"""One way to build a paho MQTT client: the server's consumer, the notebook client, replay and
the tests all get theirs from :func:`mqtt_client`.

* **Transport**: TCP or WebSockets (with the listener's URL path).
* **TLS that verifies**: the broker's certificate and host name are checked against the
  system's CAs, or only the CA file given. ``insecure=True`` is the one, explicit way out, and
  it is logged as a warning each time a client is built with it; so is a client without TLS.
* **Credentials and session**: user name and password, client id, clean or persistent session
  (the broker keeps a persistent one, and what arrives meanwhile, while the client is away).
* **Reconnecting is paho's job**: :meth:`MqttClient.start` is ``connect_async`` plus
  ``loop_start``; paho's network thread connects, and after a failure or a lost connection
  tries again after ``reconnect_min_s`` doubling up to ``reconnect_max_s``, forever.
* **Waiting is on events**: :attr:`MqttClient.connected` is set on a successful CONNACK and
  cleared on a disconnection; :attr:`MqttClient.answered` is set once the first attempt has
  an outcome (accepted, refused or failed), with the reason in :attr:`MqttClient.refusal` or
  :attr:`MqttClient.last_connect_error`. Nobody polls ``is_connected()`` in a sleep loop.

Callbacks are given to :func:`mqtt_client` (paho's version 2 signatures), which wraps the
connection callbacks to keep those events; paho's own ``suppress_exceptions`` is on, so a
callback that raises is logged by paho and does not end its network thread.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hitting_coach.compat import ClosingSocketClient
from hitting_coach.config import PREFIX, Settings
from hitting_coach.errors import ConfigError

__all__ = ["MqttClient", "MqttOptions", "mqtt_client", "tls_context"]

log = logging.getLogger(__name__)

Callback = Callable[..., Any]


@dataclass(frozen=True)
class MqttOptions:
    """Where and how to connect. ``ca_file`` None or empty: the system's CAs;
    ``ca_name`` is how errors name the CA file (a setting, a command-line option)."""

    host: str
    port: int
    transport: str = "tcp"
    ws_path: str = "/mqtt"
    tls: bool = True
    ca_file: str | None = None
    insecure: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str = ""
    clean_session: bool = True
    manual_ack: bool = False
    keepalive_s: int = 30
    reconnect_min_s: float = 1
    reconnect_max_s: float = 30
    ca_name: str = "CA file"

    def __post_init__(self) -> None:
        if self.transport not in ("tcp", "websockets"):
            raise ConfigError(f"MQTT transport {self.transport!r}: use tcp or websockets")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> MqttOptions:
        """The options of the ``MQTT_*`` settings (the server's: its fixed client id, a
        persistent session); ``overrides`` replace any of them."""
        options = {
            "host": settings.mqtt_broker,
            "port": settings.mqtt_port,
            "transport": settings.mqtt_transport,
            "ws_path": settings.mqtt_ws_path,
            "tls": settings.mqtt_tls,
            "ca_file": settings.mqtt_ca_file or None,
            "insecure": settings.mqtt_tls_insecure,
            "username": settings.mqtt_username or None,
            "password": settings.mqtt_password or None,
            "client_id": settings.mqtt_client_id,
            "clean_session": False,
            "ca_name": PREFIX + "MQTT_CA_FILE",
        }
        return cls(**{**options, **overrides})

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def tls_state(self) -> str:
        """One line for people: ``off``, ``verified`` or ``INSECURE (...)``."""
        if not self.tls:
            return "off"
        return "INSECURE (certificate not checked)" if self.insecure else "verified"


def tls_context(options: MqttOptions) -> ssl.SSLContext:
    """The TLS context for the broker: verifies its certificate and host name against the
    system's CAs, or only ``options.ca_file``; nothing with ``options.insecure``. Raises
    :class:`ConfigError` naming the CA file when it cannot be read."""
    try:
        context = ssl.create_default_context(cafile=options.ca_file or None)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"{options.ca_name}={options.ca_file}: cannot load it: {e}") from None
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class MqttClient(ClosingSocketClient):
    """paho's client as :func:`mqtt_client` builds it: it keeps why a connection attempt
    failed (paho drops the reason) and has events for the connection state; a failed
    handshake's socket is closed at once (:class:`hitting_coach.compat.ClosingSocketClient`)."""

    def __init__(self, options: MqttOptions) -> None:
        super().__init__(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            clean_session=options.clean_session,
            protocol=paho.MQTTv311,
            transport=options.transport,
            manual_ack=options.manual_ack,
        )
        self.options = options
        #: Set while connected (a CONNACK that accepted us); cleared on a disconnection.
        self.connected = threading.Event()
        #: Set once the first connection attempt has an outcome: accepted, refused or failed.
        self.answered = threading.Event()
        #: The broker's reason for refusing the last CONNECT, or None.
        self.refusal: Any = None
        #: Why the last attempt could not connect at all (socket, TLS, WebSocket), or None.
        self.last_connect_error: BaseException | None = None

    def reconnect(self) -> paho.MQTTErrorCode:
        # Any failure leaves as an OSError, which paho's loop retries after its delay;
        # anything else would end the loop thread for good.
        try:
            return super().reconnect()
        except OSError as e:
            self.last_connect_error = e
            raise
        except Exception as e:
            self.last_connect_error = e
            raise ConnectionError(str(e)) from e

    def start(self) -> MqttClient:
        """Connect in the background (paho's thread), reconnecting whenever needed."""
        o = self.options
        self.connect_async(o.host, o.port, keepalive=o.keepalive_s)
        self.loop_start()
        return self

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until connected (or ``timeout_s`` passes); True when connected."""
        return self.connected.wait(timeout_s)

    def close(self) -> None:
        """Disconnect cleanly and stop paho's thread."""
        self.disconnect()
        self.loop_stop()
        self.connected.clear()


def mqtt_client(
    options: MqttOptions,
    *,
    on_connect: Callback | None = None,
    on_connect_fail: Callback | None = None,
    on_disconnect: Callback | None = None,
    on_message: Callback | None = None,
    on_subscribe: Callback | None = None,
) -> MqttClient:
    """A paho client for ``options``, not yet connected (call :meth:`MqttClient.start`).

    Raises :class:`ConfigError` when the CA file cannot be read.
    """
    client = MqttClient(options)
    client.suppress_exceptions = True
    if options.transport == "websockets":
        client.ws_set_options(path=options.ws_path)
    if options.tls:
        client.tls_set_context(tls_context(options))
        if options.insecure:
            log.warning(
                "MQTT TLS certificate checks are OFF for %s: anyone on the network can pose "
                "as the broker and read the password. Development only; give the broker's "
                "CA file instead (%s).",
                options.address,
                options.ca_name,
            )
    else:
        log.warning(
            "MQTT without TLS to %s: the password and all data cross the network in clear",
            options.address,
        )
    if options.username:
        client.username_pw_set(options.username, options.password or None)
    client.reconnect_delay_set(options.reconnect_min_s, options.reconnect_max_s)

    def connected(c: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        try:
            if on_connect is not None:
                on_connect(c, userdata, flags, reason, properties)
        finally:
            client.refusal = reason if reason.is_failure else None
            if not reason.is_failure:
                client.last_connect_error = None
                client.connected.set()
            client.answered.set()

    def failed(c: Any, userdata: Any) -> None:
        try:
            if on_connect_fail is not None:
                on_connect_fail(c, userdata)
        finally:
            client.answered.set()

    def disconnected(c: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        client.connected.clear()
        if on_disconnect is not None:
            on_disconnect(c, userdata, flags, reason, properties)

    client.on_connect = connected
    client.on_connect_fail = failed
    client.on_disconnect = disconnected
    if on_message is not None:
        client.on_message = on_message
    if on_subscribe is not None:
        client.on_subscribe = on_subscribe
    return client

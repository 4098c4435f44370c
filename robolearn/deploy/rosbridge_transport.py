"""rosbridge v2 over websocket through roslibpy: reaches ROS 1 or ROS 2 robots that run
rosbridge_server, with rosauth's authentication when the server requires it, and over TLS
(wss://, `tls=True`) with the server's certificate checked against `ca_cert` (a PEM file,
for self-signed certificates) or the system's trust store. ROS 2's rosbridge_server has no
authentication: put it behind TLS, reachable only by those you trust."""
from __future__ import annotations

import hashlib
import logging
import secrets
import time
from pathlib import Path
from typing import Any, Callable

from robolearn.deploy.messages import Message

SESSION_SECONDS = 24 * 3600
AUTH_ANSWER_WAIT = 0.5  # s to wait for a refusal after authenticating
LOGGER = logging.getLogger(__name__)


def auth_mac(secret: str, client: str, dest: str, rand: str, t: float, level: str, end: float) -> str:
    """rosauth's MAC: SHA-512 of the shared secret and the request's fields (times in whole seconds)."""
    text = f"{secret}{client}{dest}{rand}{int(t)}{level}{int(end)}"
    return hashlib.sha512(text.encode()).hexdigest()


def auth_request(secret: str, client: str, dest: str, level: str = "user") -> dict[str, Any]:
    t = time.time()
    fields = {"client": client, "dest": dest, "rand": secrets.token_hex(16), "t": t, "level": level,
              "end": t + SESSION_SECONDS}
    return {"mac": auth_mac(secret, **fields), **fields}


def client_tls(host: str, ca_cert: str = "") -> Any:
    """Twisted's TLS options that check the server's certificate and name: against ca_cert
    (PEM) if given, else the system's trust store."""
    from OpenSSL.crypto import Error as OpenSSLError
    from twisted.internet import ssl

    try:
        trust = ssl.Certificate.loadPEM(Path(ca_cert).read_bytes()) if ca_cert else None
    except (OSError, OpenSSLError) as err:
        raise ValueError(f"ca_cert={ca_cert}: not a readable PEM certificate ({err})") from None
    return ssl.optionsForClientTLS(host, trustRoot=trust)  # trustRoot None: the platform's


def _ros(host: str, port: int, tls_options: Any) -> Any:
    """roslibpy.Ros, over wss:// with tls_options if given."""
    import roslibpy
    from autobahn.twisted.websocket import connectWS

    if tls_options is None:
        return roslibpy.Ros(host=host, port=port)

    class SecureRos(roslibpy.Ros):
        def connect(self) -> None:
            # roslibpy's factory calls connectWS(factory) without TLS options, and autobahn
            # then checks no certificate at all; Ros.__init__ connects at once, so the
            # factory's connect is replaced here, before the first call.
            factory = self.factory

            def connect_checked() -> None:
                factory.connector = connectWS(factory, tls_options)

            factory.connect = connect_checked
            super().connect()

    return SecureRos(host=host, port=port, is_secure=True)


class RosbridgeTransport:
    def __init__(self, host: str, port: int, secret: str = "", timeout: float = 10.0, tls: bool = False,
                 ca_cert: str = "", client: str = "robolearn"):
        import roslibpy

        if ca_cert and not tls:
            raise ValueError("ca_cert= is for TLS: give tls=true too")
        url = f"{'wss' if tls else 'ws'}://{host}:{port}"
        self.roslibpy = roslibpy
        self.ros = _ros(host, port, client_tls(host, ca_cert) if tls else None)
        self.errors: list[str] = []
        self.ros.factory.on_ready(self._on_ready)
        if secret:  # roslibpy sends it on the "ready" event, so before anything else
            self.ros.authenticate(**auth_request(secret, client=client, dest=host))
        try:
            self.ros.run(timeout=timeout)
        except Exception as err:  # roslibpy raises its own timeout or twisted's connection errors
            from twisted.internet import reactor

            reactor.callFromThread(self.ros.factory.stopTrying)  # else it reconnects forever in the background
            hint = f"; check that ca_cert (or the system) trusts its certificate, and that it names {host}"
            raise ConnectionError(f"no rosbridge server at {url} ({err}{hint if tls else ''})") from None
        if secret:  # the server answers a bad MAC with an error status and closes
            time.sleep(AUTH_ANSWER_WAIT)
            refusal = next((e for e in self.errors if "authentication" in e), "")
            if refusal:
                self.ros.close()
                raise PermissionError(f"rosbridge at {url}: {refusal} (check the secret and the clock)")
        self.topics: dict[str, Any] = {}

    def _on_ready(self, proto: Any) -> None:
        proto.register_message_handlers("status", self._on_status)
        # Twisted leaves Nagle on: small state messages then wait for the peer's delayed
        # ACK, up to 40 ms at a 20 Hz command rate (measured, docs/changelog.md).
        proto.transport.setTcpNoDelay(True)

    def _on_status(self, msg: Any) -> None:
        if msg.get("level") == "error":
            self.errors.append(str(msg.get("msg", "")))
            LOGGER.warning("rosbridge: %s", msg.get("msg"))

    def _topic(self, topic: str, msg_type: str) -> Any:
        if topic not in self.topics:
            self.topics[topic] = self.roslibpy.Topic(self.ros, topic, msg_type, queue_length=1)
        return self.topics[topic]

    def subscribe(self, topic: str, msg_type: str, callback: Callable[[Message], None]) -> None:
        self._topic(topic, msg_type).subscribe(lambda m: callback(dict(m)))

    def publish(self, topic: str, msg_type: str, message: Message) -> None:
        self._topic(topic, msg_type).publish(self.roslibpy.Message(message))

    def close(self) -> None:
        for topic in self.topics.values():
            if topic.is_subscribed:
                topic.unsubscribe()
            if topic.is_advertised:
                topic.unadvertise()
        # close, not terminate: the twisted reactor is shared by every client in the
        # process and cannot be restarted once stopped.
        self.ros.close()

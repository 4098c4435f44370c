"""A rosbridge v2 protocol server that relays topics between its websocket clients.

Debian has no rosbridge_server; this speaks the same protocol (advertise, unadvertise,
publish, subscribe, unsubscribe, auth, with `status` errors) so the rosbridge transport
is tested end to end, and the twin and a deploy loop can meet on a machine without ROS
(`robolearn rosbridge [host=localhost] port=9090 [secret=...] [allow=x.yaml] [cert=... key=...]`).
It relays only: services and actions are answered with an error status.

Security, since whoever reaches the relay can drive the arm:
- it listens on loopback unless given a secret (or `insecure=True`, said out loud);
- an auth message (rosauth's fields and MAC) is checked in full: the MAC in constant time,
  `dest` names this server (its host, "localhost", "127.0.0.1" or the Host header the client
  sent), a known `level`, `t` within AUTH_CLOCK_SKEW of our clock, `end` in the future and
  after `t`, and the same MAC is never accepted twice;
- `publish_allow` maps a topic to the client names (the auth message's `client`) that may
  advertise and publish on it; list the e-stop release/reset topics there;
- `cert` and `key` (PEM files) serve wss:// instead of ws://.
With `ros_version=2` it stands in for ROS 2's rosbridge_server in tests: ROS 1 type names
(`pkg/Type`) and stamps (`secs`, `nsecs`, `seq`) are refused with an error status.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import re
import ssl
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from robolearn.deploy.rosbridge_transport import auth_mac

AUTH_CLOCK_SKEW = 5.0  # s a request's time may differ from ours (as rosauth)
AUTH_LEVELS = ("user", "admin")  # rosauth's levels
AUTH_MEMORY = 4096  # MACs remembered against replay, each ~AUTH_CLOCK_SKEW s: the time check takes over
TOPIC_OPS = ("advertise", "subscribe", "publish", "unsubscribe", "unadvertise")
ROS2_TYPE = re.compile(r"\w+/msg/\w+")
ROS1_STAMP_FIELDS = ("secs", "nsecs", "seq")


def ros1_stamp_field(value: Any) -> str | None:
    """The first ROS 1-only stamp or header field anywhere in a message, if any."""
    if isinstance(value, list):
        return next((f for f in map(ros1_stamp_field, value) if f), None)
    if isinstance(value, dict):
        found = next((k for k in value if k in ROS1_STAMP_FIELDS), None)
        return found or next((f for f in map(ros1_stamp_field, value.values()) if f), None)
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback  # 127.0.0.0/8 and ::1
    except ValueError:
        return False  # a host name, or "" (every interface)


def _hostname(host_header: str) -> str | None:
    """The host of a Host header ("example:9090", "[::1]:9090"), lower case."""
    try:
        return urlsplit(f"//{host_header}").hostname
    except ValueError:
        return None


def check_publish_allow(allow: object, source: str = "publish_allow") -> dict[str, list[str]]:
    """A topic -> client names map, or a one-line ValueError naming `source` and the field."""
    if not isinstance(allow, dict):
        raise ValueError(f"{source}: expected a mapping of topic to client names, got {type(allow).__name__}")
    for topic, names in allow.items():
        if not isinstance(topic, str) or not topic.startswith("/"):
            raise ValueError(f"{source}: field {topic!r}: topic names are absolute (start with '/')")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{source}: field {topic!r}: expected a list of client names, got {names!r}")
    return {topic: list(names) for topic, names in allow.items()}


def load_publish_allow(path: str) -> dict[str, list[str]]:
    """The allow-list file (YAML or JSON): `{"/robolearn/estop_reset": ["operator"], ...}`."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"allow={path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"allow={path}: not YAML or JSON ({' '.join(str(err).split())})") from None
    return check_publish_allow(data, f"allow={path}")


def server_tls_context(cert: str, key: str) -> ssl.SSLContext | None:
    """TLS from a PEM certificate and its private key; neither: None (plain ws://)."""
    if not cert and not key:
        return None
    if not cert or not key:
        missing, given = ("key", "cert") if cert else ("cert", "key")
        raise ValueError(f"{given}= needs {missing}= too (TLS takes the certificate and its private key)")
    for name, path in (("cert", cert), ("key", key)):
        try:
            Path(path).read_bytes()
        except OSError as err:
            raise ValueError(f"{name}={path}: cannot read ({err.strerror})") from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as err:
        raise ValueError(f"cert={cert} key={key}: not a PEM certificate and its private key ({err})") from None
    return context


class RosbridgeServer:
    def __init__(self, host: str = "localhost", port: int = 9090, secret: str = "", insecure: bool = False,
                 publish_allow: dict[str, list[str]] | None = None, cert: str = "", key: str = "",
                 ros_version: int = 1):
        if not secret and not insecure and not is_loopback(host):
            raise ValueError(f"rosbridge relay on {host!r}: anyone on that network could drive the arm; "
                             "give secret=... (and cert=/key= for TLS), or insecure=true to serve it open")
        self.host, self.port, self.secret = host, port, secret
        self.publish_allow = check_publish_allow(publish_allow or {})
        self.tls = server_tls_context(cert, key)
        self.types: dict[str, str] = {}
        self.subscribers: dict[str, set[ServerConnection]] = defaultdict(set)
        self.relayed = 0
        if ros_version not in (1, 2):
            raise ValueError(f"ros_version={ros_version!r}; allowed: 1, 2")
        self.ros_version = ros_version  # 2: refuse ROS 1 type names and stamps, as ROS 2's rosbridge_server would
        self.refused: list[str] = []  # every error status sent, for tests and logs
        self._seen_macs: dict[str, float] = {}  # mac -> when the time check alone refuses it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- running
    async def serve(self, ready: threading.Event | None = None) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._client, self.host, self.port, ssl=self.tls) as server:
            self.port = server.sockets[0].getsockname()[1]  # port=0 picks a free one
            if ready:
                ready.set()
            await self._stop.wait()

    def start(self) -> int:
        """Serve from a background thread; returns the port."""
        ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self.serve(ready),), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"rosbridge server did not start on {self.host}:{self.port}")
        return self.port

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(5)

    # ---------------------------------------------------------------- protocol
    async def _client(self, ws: ServerConnection) -> None:
        authenticated = not self.secret
        client: str | None = None  # the auth message's name, for the allow-list
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                    op = msg["op"]
                except (ValueError, KeyError, TypeError):
                    await self._status(ws, "error", f"not a rosbridge message: {str(raw)[:80]}")
                    continue
                if op == "auth":
                    hosts = ws.request.headers.get_all("Host") if ws.request else []
                    refusal = self._check_auth(msg, hosts[0] if len(hosts) == 1 else "")
                    if refusal is not None:
                        await self._status(ws, "error", f"authentication failed{refusal}")
                        await ws.close(code=1008, reason="authentication failed")
                        return
                    authenticated, client = True, str(msg["client"])
                elif not authenticated:
                    await self._status(ws, "error", f"{op}: authenticate first (op 'auth')", msg.get("id"))
                    await ws.close(code=1008, reason="not authenticated")
                    return
                else:
                    await self._handle(ws, op, msg, client)
        except ConnectionClosed:
            pass
        finally:
            for subs in self.subscribers.values():
                subs.discard(ws)

    def _check_auth(self, msg: dict[str, Any], host_header: str) -> str | None:
        """None if the auth message is accepted, else the reason (appended to "authentication
        failed"). The MAC comes first, so only a holder of the secret learns more than that."""
        try:
            fields = {k: msg[k] for k in ("client", "dest", "rand", "t", "level", "end")}
            if not all(isinstance(msg[k], str) for k in ("mac", "client", "dest", "rand", "level")):
                raise TypeError
            mac, t, end = msg["mac"], float(fields["t"]), float(fields["end"])
            expected = auth_mac(self.secret, **fields)
        except (KeyError, TypeError, ValueError, OverflowError):
            return ": needs mac, client, dest, rand, level (strings), t and end (numbers)"
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return ""
        now = time.time()
        self._seen_macs = {m: until for m, until in self._seen_macs.items() if until >= now}
        dests = {self.host, "localhost", "127.0.0.1", _hostname(host_header) or self.host}
        if fields["dest"] not in dests:
            return f": dest {fields['dest']!r} does not name this server ({', '.join(sorted(dests))})"
        if fields["level"] not in AUTH_LEVELS:
            return f": level {fields['level']!r}; known levels: {', '.join(AUTH_LEVELS)}"
        if abs(t - now) > AUTH_CLOCK_SKEW:
            return f": t is {t - now:+.0f} s from this server's clock (at most {AUTH_CLOCK_SKEW:g} s)"
        if end <= now or end <= t:
            return ": end is in the past or before t"
        if mac in self._seen_macs:
            return ": replayed"
        if len(self._seen_macs) >= AUTH_MEMORY:
            return ": too many authentications at once, try again"
        # the MAC covers whole seconds of t: any t it fits is refused by the time check after this
        self._seen_macs[mac] = int(t) + 1 + AUTH_CLOCK_SKEW
        return None

    async def _handle(self, ws: ServerConnection, op: str, msg: dict[str, Any], client: str | None) -> None:
        topic = msg.get("topic")
        if op in TOPIC_OPS and not isinstance(topic, str):
            await self._status(ws, "error", f"{op}: field 'topic' (a string) is required", msg.get("id"))
            return
        if op in ("advertise", "publish") and topic in self.publish_allow and client not in self.publish_allow[topic]:
            # advertise too: a stranger's advertise would fix the topic's type before the operator's
            await self._status(ws, "error", f"{op} {topic}: client {client!r} may not publish on {topic} "
                                            "(the relay's allow-list)", msg.get("id"))
            return
        if op in ("advertise", "subscribe"):
            msg_type = msg.get("type") or self.types.get(topic)
            if not msg_type:
                await self._status(ws, "error", f"{op} {topic}: field 'type' is required", msg.get("id"))
                return
            if self.ros_version == 2 and not ROS2_TYPE.fullmatch(msg_type):
                await self._status(ws, "error", f"{op} {topic}: {msg_type} is not a ROS 2 type (pkg/msg/Type)",
                                   msg.get("id"))
                return
            if self.types.setdefault(topic, msg_type) != msg_type:
                await self._status(ws, "error", f"{op} {topic}: type {msg_type} does not match the topic's "
                                                f"{self.types[topic]}", msg.get("id"))
                return
            if op == "subscribe":
                self.subscribers[topic].add(ws)
        elif op == "unsubscribe":
            self.subscribers[topic].discard(ws)
        elif op == "publish":
            ros1 = self.ros_version == 2 and ros1_stamp_field(msg.get("msg", {}))
            if ros1:
                await self._status(ws, "error", f"publish {topic}: ROS 1 field {ros1!r} (ROS 2 stamps are "
                                                "{sec, nanosec}, headers have no seq)", msg.get("id"))
                return
            out = json.dumps({"op": "publish", "topic": topic, "msg": msg.get("msg", {})})
            for sub in list(self.subscribers[topic]):
                try:
                    await sub.send(out)
                    self.relayed += 1
                except ConnectionClosed:
                    self.subscribers[topic].discard(sub)
        elif op != "unadvertise":
            await self._status(ws, "error", f"op {op!r} is not supported by this relay (topics only)", msg.get("id"))

    async def _status(self, ws: ServerConnection, level: str, text: str, msg_id: str | None = None) -> None:
        if level == "error":
            self.refused.append(text)
        status = {"op": "status", "level": level, "msg": text}
        if msg_id:
            status["id"] = msg_id
        await ws.send(json.dumps(status))

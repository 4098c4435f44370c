"""A rosbridge v2 protocol server that relays topics between its websocket clients.

Debian has no rosbridge_server; this speaks the same protocol (advertise, unadvertise,
publish, subscribe, unsubscribe, auth, with `status` errors) so the rosbridge transport
is tested end to end, and the twin and a deploy loop can meet on a machine without ROS
(`robolearn rosbridge port=9090 [secret=...]`). It relays only: services and actions are
answered with an error status.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from robolearn.deploy.rosbridge_transport import auth_mac

AUTH_CLOCK_SKEW = 5.0  # s a request's time may differ from ours (as rosauth)


class RosbridgeServer:
    def __init__(self, host: str = "localhost", port: int = 9090, secret: str = ""):
        self.host, self.port, self.secret = host, port, secret
        self.types: dict[str, str] = {}
        self.subscribers: dict[str, set[ServerConnection]] = defaultdict(set)
        self.relayed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- running
    async def serve(self, ready: threading.Event | None = None) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._client, self.host, self.port) as server:
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
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                    op = msg["op"]
                except (ValueError, KeyError, TypeError):
                    await self._status(ws, "error", f"not a rosbridge message: {str(raw)[:80]}")
                    continue
                if op == "auth":
                    authenticated = self._check_auth(msg)
                    if not authenticated:
                        await self._status(ws, "error", "authentication failed")
                        await ws.close(code=1008, reason="authentication failed")
                        return
                elif not authenticated:
                    await self._status(ws, "error", f"{op}: authenticate first (op 'auth')", msg.get("id"))
                    await ws.close(code=1008, reason="not authenticated")
                    return
                else:
                    await self._handle(ws, op, msg)
        except ConnectionClosed:
            pass
        finally:
            for subs in self.subscribers.values():
                subs.discard(ws)

    def _check_auth(self, msg: dict[str, Any]) -> bool:
        try:
            fields = {k: msg[k] for k in ("client", "dest", "rand", "t", "level", "end")}
            expected = auth_mac(self.secret, **fields)
            now = time.time()
            return msg["mac"] == expected and abs(float(fields["t"]) - now) < AUTH_CLOCK_SKEW and float(fields["end"]) > now
        except (KeyError, TypeError, ValueError):
            return False

    async def _handle(self, ws: ServerConnection, op: str, msg: dict[str, Any]) -> None:
        topic = msg.get("topic")
        if op in ("advertise", "subscribe", "publish", "unsubscribe", "unadvertise") and not isinstance(topic, str):
            await self._status(ws, "error", f"{op}: field 'topic' (a string) is required", msg.get("id"))
            return
        if op in ("advertise", "subscribe"):
            msg_type = msg.get("type") or self.types.get(topic)
            if not msg_type:
                await self._status(ws, "error", f"{op} {topic}: field 'type' is required", msg.get("id"))
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
            out = json.dumps({"op": "publish", "topic": topic, "msg": msg.get("msg", {})})
            for sub in list(self.subscribers[topic]):
                try:
                    await sub.send(out)
                    self.relayed += 1
                except ConnectionClosed:
                    self.subscribers[topic].discard(sub)
        elif op != "unadvertise":
            await self._status(ws, "error", f"op {op!r} is not supported by this relay (topics only)", msg.get("id"))

    @staticmethod
    async def _status(ws: ServerConnection, level: str, text: str, msg_id: str | None = None) -> None:
        status = {"op": "status", "level": level, "msg": text}
        if msg_id:
            status["id"] = msg_id
        await ws.send(json.dumps(status))

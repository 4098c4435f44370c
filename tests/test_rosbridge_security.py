"""The rosbridge relay and transport on a network: loopback unless given a secret, auth
messages checked in full (MAC, dest, level, times, replay), the per-topic publish
allow-list, and TLS (wss://) with the certificate checked. Real sockets, real processes.
"""
from __future__ import annotations

import datetime
import json
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.sync.client import ClientConnection, connect

from robolearn.deploy.rosbridge_server import RosbridgeServer, is_loopback
from robolearn.deploy.rosbridge_transport import RosbridgeTransport, auth_mac, auth_request

CLI = str(Path(sys.executable).parent / "robolearn")
SECRET = "lab-secret"
BOOL = "std_msgs/Bool"


@pytest.fixture
def relay(request: pytest.FixtureRequest) -> Iterator[tuple[RosbridgeServer, int]]:
    """A relay on 127.0.0.1 with SECRET; parametrize indirectly with extra keyword arguments."""
    server = RosbridgeServer(host="127.0.0.1", port=0, secret=SECRET, **getattr(request, "param", {}))
    port = server.start()
    yield server, port
    server.stop()


def signed(secret: str = SECRET, client: str = "robolearn", dest: str = "localhost", **changes: Any) -> dict:
    """An auth message, its fields changed as given and the MAC computed over them."""
    msg = {"op": "auth", **auth_request(secret, client, dest), **changes}
    msg["mac"] = auth_mac(secret, *(msg[k] for k in ("client", "dest", "rand", "t", "level", "end")))
    return msg


def answer(ws: ClientConnection, message: dict) -> str:
    """What the relay says after `message`: its error, or "ok" once it serves this client."""
    ws.send(json.dumps(message))
    try:
        ws.send(json.dumps({"op": "call_service", "service": "/probe"}))  # answered only when authenticated
    except ConnectionClosed:
        pass  # refused and closed already; its error is still to be read
    errors: list[str] = []
    try:
        while "not supported" not in (text := json.loads(ws.recv(timeout=5))["msg"]):  # up to the probe's answer
            errors.append(text)
    except ConnectionClosed:
        assert errors, "closed without an error status"
    return errors[0] if errors else "ok"


def authenticate(url: str, message: dict, **connect_args: Any) -> str:
    with connect(url, **connect_args) as ws:
        return answer(ws, message)


# ---------------------------------------------------------------- where it listens
def test_relay_refuses_an_open_non_loopback_address() -> None:
    for host in ("0.0.0.0", "", "192.168.1.5", "robot.lab"):
        with pytest.raises(ValueError, match="secret=.*insecure=true"):
            RosbridgeServer(host=host, port=0)
    assert all(is_loopback(h) for h in ("localhost", "127.0.0.1", "127.3.2.1", "::1"))
    done = subprocess.run([CLI, "rosbridge", "host=0.0.0.0", "port=19392"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "secret" in done.stderr and "insecure" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for opened in ({"insecure": True}, {"secret": SECRET}):  # said out loud, or with a secret: every interface
        server = RosbridgeServer(host="0.0.0.0", port=0, **opened)
        port = server.start()
        try:
            with connect(f"ws://127.0.0.2:{port}") as ws:
                message = signed(dest="127.0.0.2") if server.secret else {"op": "advertise", "topic": "/x", "type": BOOL}
                assert answer(ws, message) == "ok"  # dest 127.0.0.2: the Host header the client sent
        finally:
            server.stop()


def test_the_relays_options_are_checked_with_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="field 'estop_reset': topic names are absolute"):
        RosbridgeServer(port=0, publish_allow={"estop_reset": ["operator"]})
    with pytest.raises(ValueError, match="cert= needs key="):
        RosbridgeServer(port=0, cert="cert.pem")
    with pytest.raises(ValueError, match="key=/nope.pem: cannot read"):
        RosbridgeServer(port=0, cert=__file__, key="/nope.pem")
    with pytest.raises(ValueError, match="not a PEM certificate"):
        RosbridgeServer(port=0, cert=__file__, key=__file__)
    (tmp_path / "allow.yaml").write_text("/robolearn/estop_reset: operator\n")
    done = subprocess.run([CLI, "rosbridge", f"allow={tmp_path / 'allow.yaml'}"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1, done.stdout
    assert done.stderr.strip() == (f"error: allow={tmp_path / 'allow.yaml'}: field '/robolearn/estop_reset': "
                                   "expected a list of client names, got 'operator'")


# ---------------------------------------------------------------- authentication
def test_auth_messages_are_checked_in_full(relay: tuple[RosbridgeServer, int]) -> None:
    url = f"ws://localhost:{relay[1]}"
    good = signed()
    assert authenticate(url, good) == "ok"
    assert authenticate(url, good) == "authentication failed: replayed"  # same MAC, another connection
    assert authenticate(url, signed("wrong")) == "authentication failed"
    assert authenticate(url, {**signed(), "client": "someone-else"}) == "authentication failed"  # MAC no longer fits
    assert "dest 'robot.lab' does not name this server" in authenticate(url, signed(dest="robot.lab"))
    assert "level 'root'; known levels: user, admin" in authenticate(url, signed(level="root"))
    now = time.time()
    assert "end is in the past" in authenticate(url, signed(end=now - 1))
    assert "t is -60 s from this server's clock" in authenticate(url, signed(t=now - 60, end=now + 60))
    assert "needs mac" in authenticate(url, {"op": "auth", "mac": "x"})
    with connect(url) as ws:  # refused: the relay closes the connection
        assert answer(ws, good) == "authentication failed: replayed"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


def test_a_replay_with_a_shifted_time_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from robolearn.deploy import rosbridge_server

    server = RosbridgeServer(port=0, secret=SECRET)
    clock = [1000.0]
    monkeypatch.setattr(rosbridge_server.time, "time", lambda: clock[0])
    captured = signed(t=1000.0, end=2000.0)
    assert server._check_auth(captured, "") is None
    clock[0] += rosbridge_server.AUTH_CLOCK_SKEW + 0.5  # past t's window, not past 1000.99's, same MAC
    assert server._check_auth({**captured, "t": 1000.99}, "") == ": replayed"
    clock[0] += 1
    assert "from this server's clock" in server._check_auth({**captured, "t": 1000.99}, "")


# ---------------------------------------------------------------- publish allow-list
@pytest.mark.parametrize("relay", [{"publish_allow": {"/robolearn/estop_reset": ["operator"]}}], indirect=True)
def test_publish_allow_list_relays_only_the_listed_clients(relay: tuple[RosbridgeServer, int]) -> None:
    url = f"ws://localhost:{relay[1]}"
    with connect(url) as watcher, connect(url) as operator, connect(url) as intruder:
        for ws, name in ((watcher, "watcher"), (operator, "operator"), (intruder, "intruder")):
            assert answer(ws, signed(client=name)) == "ok"
        for topic in ("/robolearn/estop_reset", "/robolearn/other"):
            assert answer(watcher, {"op": "subscribe", "topic": topic, "type": BOOL}) == "ok"
        refused = answer(intruder, {"op": "publish", "topic": "/robolearn/estop_reset", "msg": {"data": False}})
        assert "client 'intruder' may not publish on /robolearn/estop_reset" in refused
        assert "may not publish" in answer(intruder, {"op": "advertise", "topic": "/robolearn/estop_reset",
                                                      "type": BOOL})
        assert answer(operator, {"op": "publish", "topic": "/robolearn/estop_reset", "msg": {"data": True}}) == "ok"
        assert answer(intruder, {"op": "publish", "topic": "/robolearn/other", "msg": {"data": True}}) == "ok"
        arrived = [json.loads(watcher.recv(timeout=5)) for _ in range(2)]
    assert [(m["topic"], m["msg"]) for m in arrived] == [("/robolearn/estop_reset", {"data": True}),
                                                        ("/robolearn/other", {"data": True})]


# ---------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for the name localhost (not 127.0.0.1), and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return str(folder / "cert.pem"), str(folder / "key.pem")


def test_tls_relay_round_trips_through_the_transport(certificate: tuple[str, str]) -> None:
    cert, key = certificate
    server = RosbridgeServer(host="127.0.0.1", port=0, secret=SECRET, cert=cert, key=key)
    port = server.start()
    try:
        trusting = ssl.create_default_context(cafile=cert)
        assert authenticate(f"wss://localhost:{port}", signed(), ssl=trusting) == "ok"
        with pytest.raises(InvalidMessage):  # plain ws:// to a wss:// relay: no HTTP answer
            authenticate(f"ws://localhost:{port}", signed(), open_timeout=5)
        with pytest.raises(ssl.SSLCertVerificationError):  # the system's trust store knows no such certificate
            authenticate(f"wss://localhost:{port}", signed(), ssl=ssl.create_default_context(), open_timeout=5)
        with pytest.raises(ConnectionError, match="wss://localhost.*ca_cert"):  # trusted by no one here
            RosbridgeTransport("localhost", port, SECRET, timeout=2, tls=True)
        with pytest.raises(ConnectionError, match="names 127.0.0.1"):  # trusted, but for another name
            RosbridgeTransport("127.0.0.1", port, SECRET, timeout=2, tls=True, ca_cert=cert)
        with pytest.raises(ValueError, match="ca_cert=/nope.pem"):
            RosbridgeTransport("localhost", port, SECRET, tls=True, ca_cert="/nope.pem")

        receiver = RosbridgeTransport("localhost", port, SECRET, tls=True, ca_cert=cert, client="twin")
        sender = RosbridgeTransport("localhost", port, SECRET, tls=True, ca_cert=cert, client="deploy")
        arrived: list[dict] = []
        receiver.subscribe("/robolearn/tls", BOOL, arrived.append)
        deadline = time.monotonic() + 10
        while not arrived and time.monotonic() < deadline:  # until the subscription is in place
            sender.publish("/robolearn/tls", BOOL, {"data": True})
            time.sleep(0.1)
        sender.close()
        receiver.close()
    finally:
        server.stop()
    assert arrived and arrived[0] == {"data": True}
    assert not receiver.errors and not sender.errors

"""The fleet past one machine: a two-node Ray cluster started here (`ray start --head` and a
second `ray start --address=...` with its own resources, token authentication on), actors
pinned to both nodes, one node's actor killed mid-run, and every sample accounted for."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from robolearn.checkpoint import load_checkpoint
from test_fleet import assert_consistent

RAY = str(Path(sys.executable).parent / "ray")
ROBOLEARN = str(Path(sys.executable).parent / "robolearn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def two_node_cluster(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """(address, environment) of a head and a worker node on this machine."""
    token = tmp_path / "ray_token"
    token.write_text(secrets.token_hex(32))
    env = os.environ | {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    address = f"127.0.0.1:{free_port()}"
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    try:
        subprocess.run([RAY, "start", "--head", f"--port={address.split(':')[1]}", "--include-dashboard=false",
                        "--resources={\"head_node\": 1}", *common], env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([RAY, "start", f"--address={address}", "--resources={\"second_node\": 1}", *common], env=env,
                       check=True, capture_output=True, timeout=120)
        yield address, env
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_fleet_actors_on_two_nodes_survive_a_killed_actor(two_node_cluster: tuple[str, dict[str, str]],
                                                          tmp_path: Path) -> None:
    address, env = two_node_cluster
    out = tmp_path / "run"
    done = subprocess.run([ROBOLEARN, "fleet", f"address={address}", "actors=2", "tasks=[reach]", "robots=[panda,kuka]",
                           "total_steps=3000", "eval_every=3000", "eval_episodes=1", "logger=none", "chunk_steps=50",
                           "policy.hidden=64", "algo.warmup_steps=500", "algo.batch_size=64", "kill_actor_at=600",
                           f"out={out}"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    fleet = load_checkpoint(out / "checkpoint.pt")["fleet"]
    counters = fleet["counters"]
    assert len(set(fleet["actor_nodes"].values())) == 2, fleet["actor_nodes"]  # one actor per node
    assert counters["actor_restarts"] == 1 and "killing actor 0" in done.stdout
    assert_consistent(counters)
    assert counters["samples_received"] >= 3000
    assert counters["samples_lost_in_flight"] > 0  # the killed actor's call in flight

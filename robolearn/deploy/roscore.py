"""Start a private roscore (tests, benchmarks, a laptop demo) and point ROS_MASTER_URI at it."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start_roscore(port: int | None = None, timeout: float = 30.0) -> subprocess.Popen:
    """roscore on `port` (a free one by default); ROS_MASTER_URI is set for this process and its children."""
    if shutil.which("roscore") is None:
        raise FileNotFoundError("roscore not found: install ROS 1 with `make sysdeps` (Debian ros-core, python3-rospy, ...)")
    port = port or free_port()
    os.environ["ROS_MASTER_URI"] = f"http://localhost:{port}"
    proc = subprocess.Popen(["roscore", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("localhost", port)) == 0:
                return proc
        time.sleep(0.2)
    proc.terminate()
    raise TimeoutError(f"roscore did not come up on port {port} within {timeout:.0f} s")

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


import shutil
import socket
import subprocess
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ros_master(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A roscore of the tests' own on a free port; ROS_MASTER_URI points every process there.
    ROS comes from `make sysdeps` (Debian's ROS 1); without it the test fails, it never skips."""
    if shutil.which("roscore") is None:
        pytest.fail("roscore not found: ROS 1 is installed by `make sysdeps` (Debian ros-core, python3-rospy, ...)")
    port = free_port()
    uri = f"http://localhost:{port}"
    os.environ["ROS_MASTER_URI"] = uri
    os.environ["ROS_HOME"] = str(tmp_path_factory.mktemp("ros_home"))
    proc = subprocess.Popen(["roscore", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("localhost", port)) == 0:
                break
        time.sleep(0.2)
    else:
        proc.terminate()
        pytest.fail(f"roscore did not come up on port {port} within 30 s")
    yield uri
    proc.terminate()
    proc.wait(10)

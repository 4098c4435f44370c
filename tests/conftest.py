import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


@pytest.fixture(scope="session")
def ros_master(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A roscore of the tests' own on a free port; ROS_MASTER_URI points every process there.
    ROS comes from `make sysdeps` (Debian's ROS 1); without it the test fails, it never skips."""
    from robolearn.deploy.roscore import start_roscore

    os.environ["ROS_HOME"] = str(tmp_path_factory.mktemp("ros_home"))
    try:
        proc = start_roscore()
    except (FileNotFoundError, TimeoutError) as err:
        pytest.fail(str(err))
    yield os.environ["ROS_MASTER_URI"]
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def start_twin(tmp_path: Path) -> Callable[..., subprocess.Popen]:
    """`start_twin(robot, task, *overrides)` runs `robolearn twin` as a process, stopped after the test."""
    procs = []

    def start(robot: str, task: str, *overrides: str) -> subprocess.Popen:
        path = tmp_path / f"twin{len(procs)}.log"
        log = open(path, "w")
        cli = str(Path(sys.executable).parent / "robolearn")
        proc = subprocess.Popen([cli, "twin", f"robot={robot}", f"task={task}", *overrides], stdout=log,
                                stderr=subprocess.STDOUT)
        procs.append((proc, log))
        wait_until_ready(proc, path)
        return proc

    yield start
    for proc, log in procs:
        proc.send_signal(signal.SIGCONT)  # a test may have frozen it
        proc.terminate()
        proc.wait(10)
        log.close()


def wait_until_ready(twin: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    """The twin prints its banner once connected, just before it publishes. Importing torch and
    MuJoCo on a busy 2-core machine can take longer than a deploy's wait for the first state,
    so a test waits for the banner instead of racing the start-up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if twin.poll() is not None:
            pytest.fail(f"the twin exited with {twin.returncode}:\n{log.read_text()}")
        if any(line.startswith("twin:") for line in log.read_text().splitlines()):
            return
        time.sleep(0.05)
    pytest.fail(f"the twin was not up within {timeout:.0f} s:\n{log.read_text()}")

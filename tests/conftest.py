import os
import signal
import subprocess
import sys
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
        log = open(tmp_path / f"twin{len(procs)}.log", "w")
        cli = str(Path(sys.executable).parent / "robolearn")
        procs.append((subprocess.Popen([cli, "twin", f"robot={robot}", f"task={task}", *overrides], stdout=log,
                                       stderr=subprocess.STDOUT), log))
        return procs[-1][0]

    yield start
    for proc, log in procs:
        proc.send_signal(signal.SIGCONT)  # a test may have frozen it
        proc.terminate()
        proc.wait(10)
        log.close()

import os

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

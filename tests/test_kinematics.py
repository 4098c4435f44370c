"""Both backends load the same generated URDF: same joints give the same hand pose."""
from __future__ import annotations

import numpy as np
import pytest

from robolearn.sims.backend import make_backend
from robolearn.sims.geometry import mat_to_axis_angle, quat_to_mat
from robolearn.sims.robots import ROBOTS, robot_spec


@pytest.mark.parametrize("robot", ROBOTS)
def test_backends_agree_on_hand_pose(robot: str) -> None:
    spec = robot_spec(robot)
    mj = make_backend("mujoco", spec, [])
    pb = make_backend("pybullet", spec, [])
    lo, hi = mj.arm_limits()
    np.testing.assert_allclose(lo, pb.arm_limits()[0])
    rng = np.random.default_rng(0)
    for _ in range(25):
        q = rng.uniform(np.maximum(lo, -2.5), np.minimum(hi, 2.5))
        mj.reset_robot(q, 0.02)
        pb.reset_robot(q, 0.02)
        (p1, q1), (p2, q2) = mj.tcp_pose(), pb.tcp_pose()
        assert np.linalg.norm(p1 - p2) < 1e-3
        assert np.linalg.norm(mat_to_axis_angle(quat_to_mat(q1) @ quat_to_mat(q2).T)) < 1e-3
        np.testing.assert_allclose(mj.tcp_jacobian(), pb.tcp_jacobian(), atol=1e-4)
    mj.close()
    pb.close()


@pytest.mark.parametrize("robot", ROBOTS)
def test_home_pose_points_down_at_table_centre(robot: str) -> None:
    spec = robot_spec(robot)
    sim = make_backend("mujoco", spec, [])
    sim.reset_robot(np.array(spec.home_q), 0.04)
    pos, quat = sim.tcp_pose()
    np.testing.assert_allclose(pos, [0.45, 0.0, 0.25], atol=1e-3)
    np.testing.assert_allclose(quat_to_mat(quat), np.diag([1.0, -1.0, -1.0]), atol=1e-3)

"""Import robomimic / robosuite HDF5 files into the suite's episode format.

robosuite's OSC_POSE controller already uses this suite's action convention (delta
position, delta axis-angle, gripper -1 open / +1 closed, all in [-1, 1]), so actions
copy over. Observations map onto the state layout: `robot0_eef_pos` -> tcp_pos,
`robot0_eef_quat` (x, y, z, w) -> tcp_quat (w, x, y, z), the finger joint positions
-> gripper opening, `robot0_joint_pos` -> joint_pos, and `object` (robosuite's object
state: position, quaternion, ...) -> obj0 pose. Positions stay in robosuite's world
frame; simulator states are kept but cannot be replayed here (backend "robosuite").
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from robolearn.demos.episodes import EpisodeWriter, file_metadata, imported_episode
from robolearn.spec import ACTION_DIM, STATE_DIM, STATE_SLICES, canonical_tcp_quat
from robolearn.sims.tasks import TASKS

# robosuite env names -> suite tasks (names with no counterpart are kept as they are).
TASK_NAMES = {"Lift": "lift", "Stack": "stack", "PickPlaceCan": "pick_place", "PickPlace": "pick_place",
              "Door": "door_open", "NutAssemblySquare": "pick_place"}


def robosuite_state(obs: h5py.Group, where: str) -> np.ndarray:
    """robosuite observation keys -> (T, STATE_DIM) in this suite's layout."""
    if "robot0_eef_pos" not in obs:
        raise ValueError(f"{where}: obs has no robot0_eef_pos; keys: {', '.join(obs.keys())}")
    pos = obs["robot0_eef_pos"][()]
    state = np.zeros((len(pos), STATE_DIM), np.float32)
    state[:, STATE_SLICES["tcp_pos"]] = pos
    if "robot0_eef_quat" in obs:
        xyzw = obs["robot0_eef_quat"][()]
        wxyz = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=1)
        state[:, STATE_SLICES["tcp_quat"]] = canonical_tcp_quat(wxyz)
    if "robot0_gripper_qpos" in obs:
        state[:, STATE_SLICES["gripper"]] = np.abs(obs["robot0_gripper_qpos"][()]).sum(axis=1, keepdims=True)
    if "robot0_joint_pos" in obs:
        joints = obs["robot0_joint_pos"][()][:, :7]
        start = STATE_SLICES["joint_pos"].start
        state[:, start:start + joints.shape[1]] = joints
    if "object" in obs and obs["object"].shape[1] >= 7:
        obj = obs["object"][()]
        state[:, STATE_SLICES["obj0_pos"]] = obj[:, :3]
        state[:, STATE_SLICES["obj0_quat"]] = np.concatenate([obj[:, 6:7], obj[:, 3:6]], axis=1)
    return state


def import_robomimic(src: str | Path, out: str | Path) -> int:
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such robomimic file")
    try:
        f = h5py.File(src, "r")
    except OSError as err:
        raise ValueError(f"{src}: not a readable HDF5 file ({err})") from None
    with f:
        if "data" not in f:
            raise ValueError(f"{src}: no 'data' group; not a robomimic file")
        env_args = json.loads(f["data"].attrs.get("env_args", "{}"))
        env_name = env_args.get("env_name", "unknown")
        task = TASK_NAMES.get(env_name, env_name.lower())
        robots = env_args.get("env_kwargs", {}).get("robots", ["unknown"])
        robot = (robots[0] if isinstance(robots, list) else robots).lower()
        meta = file_metadata(task if task in TASKS else env_name, robot, "robosuite", "sim", imported_from=str(src),
                             robomimic_env_args=env_args)
        with EpisodeWriter(out, meta) as writer:
            names = sorted(f["data"].keys(), key=lambda n: int(n.rpartition("_")[2]) if n.rpartition("_")[2].isdigit() else 0)
            for name in names:
                g, where = f["data"][name], f"{src}: data/{name}"
                actions = g["actions"][()]
                if actions.ndim != 2 or actions.shape[1] != ACTION_DIM:
                    raise ValueError(f"{where}: actions have shape {actions.shape}; only 7-d OSC_POSE actions "
                                     f"(single arm) map onto this suite's action")
                rewards = g["rewards"][()] if "rewards" in g else None
                writer.append(imported_episode(
                    robosuite_state(g["obs"], where), actions,
                    {"robomimic_demo": name, "success": bool(rewards is not None and np.any(rewards > 0))},
                    robosuite_state(g["next_obs"], where) if "next_obs" in g else None, rewards,
                    g["dones"][()] if "dones" in g else None, g["states"][()] if "states" in g else None))
        return len(names)

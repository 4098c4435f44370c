"""What a policy network sees of the state: chosen slots plus object-relative vectors.

Relative vectors are what robosuite's observations offer (e.g. cube_to_eef_pos): a
policy learns "move along goal - hand" far more easily than the same from two absolute
positions. Measured (docs/benchmarks.md): in BC from few demos, and in multitask SAC,
where reach learned slowly next to drawer_close from absolute positions alone (`make
train`: reach 0.63 -> 1.00 over the three arms).
"""
from __future__ import annotations

import torch

from robolearn.spec import STATE_DIM, STATE_SLICES

RELATIVE = (("obj0_pos", "tcp_pos"), ("obj1_pos", "tcp_pos"), ("goal_pos", "tcp_pos"), ("goal_pos", "obj0_pos"))
POSITIONS = ("tcp_pos", "obj0_pos", "obj1_pos", "goal_pos")
PROPRIO = ("tcp_pos", "tcp_quat", "tcp_vel", "gripper", "joint_pos")  # what the arm knows of itself


class PolicyInputs:
    """The state without the `drop` slots, followed by the RELATIVE differences (zero where a
    task leaves either slot unused). With `planar_invariant`, only the heights of the
    POSITIONS are kept, so the policy cannot tie a grasp to where on the table it happened.
    Inputs past the suite's state layout (padded external tasks) are kept. With
    `proprio_only` (a policy that sees the scene through cameras), only the PROPRIO slots
    not dropped, whole, and nothing derived from object or goal poses."""

    def __init__(self, drop: list[str], planar_invariant: bool, obs_dim: int, proprio_only: bool = False):
        unknown = sorted(set(drop) - set(STATE_SLICES))
        if unknown:
            raise ValueError(f"algo.drop: unknown state slots {unknown}; allowed: {', '.join(STATE_SLICES)}")
        keep: list[int] = []
        for name, part in STATE_SLICES.items():
            if name in drop or (proprio_only and name not in PROPRIO):
                continue
            whole = proprio_only or not planar_invariant or name not in POSITIONS
            keep += range(part.start, part.stop) if whole else [part.stop - 1]
        keep += [] if proprio_only else range(STATE_DIM, obs_dim)
        self.keep = torch.tensor(keep, dtype=torch.long)
        self.relative = () if proprio_only else RELATIVE
        self.dim = len(keep) + 3 * len(self.relative)

    def __call__(self, state: torch.Tensor) -> torch.Tensor:
        parts = [state[..., self.keep]]
        for a, b in self.relative:
            first, second = state[..., STATE_SLICES[a]], state[..., STATE_SLICES[b]]
            used = (first.abs().sum(-1, keepdim=True) > 0) & (second.abs().sum(-1, keepdim=True) > 0)
            parts.append((first - second) * used)
        return torch.cat(parts, dim=-1)

"""Compound skills: primitives stitched in sequence, with retries and fallbacks (configs/skill/).

Every primitive starts from the current state. The commanded action changes by at most
`max_action_change` per step and per component, so the hand's commanded velocity never
jumps at a transition. A primitive whose precondition does not hold, or whose
postcondition fails when it ends, runs the step's fallback primitives and is retried,
up to `retries` times. The skill succeeds when the task's own success test passes at
any step (as `robolearn eval` counts it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from robolearn.primitives.library import Library
from robolearn.config import CONFIG_DIR
from robolearn.spec import STATE_SLICES
from robolearn.sims.env import RobolearnEnv
from robolearn.sims.tasks import TASKS


@dataclass
class SkillStep:
    primitive: str
    retries: int = 0
    fallback: list[str] = field(default_factory=list)
    optional: bool = False  # skipped when the library has no such primitive


@dataclass
class SkillSpec:
    name: str
    task: str
    steps: list[SkillStep]
    max_action_change: float = 0.5  # per step and action component
    max_steps: int = 0  # 0: twice the task's horizon
    settle_steps: int = 10  # holding still after the last primitive, for the task's success test


@dataclass
class SkillResult:
    success: bool
    steps: int
    trace: list[tuple[str, int, bool]]  # (primitive, steps it ran, postcondition held)
    max_jump: float  # largest change of the commanded action between consecutive steps


def load_skill(name: str) -> SkillSpec:
    path = Path(name) if name.endswith(".yaml") else CONFIG_DIR / "skill" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (CONFIG_DIR / "skill").glob("*.yaml"))
        raise FileNotFoundError(f"skill={name!r}: no {path}; known skills: {', '.join(known)}")
    try:
        spec: SkillSpec = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SkillSpec), OmegaConf.load(path)))
    except OmegaConfBaseException as err:
        raise ValueError(f"{path}: {' '.join(str(err).split())}") from None
    if spec.task not in TASKS:
        raise ValueError(f"{path}: task={spec.task!r}; allowed: {', '.join(TASKS)}")
    return spec


class SkillRunner:
    def __init__(self, spec: SkillSpec, library: Library, robot: str):
        for step in spec.steps:
            for name in [step.primitive, *step.fallback]:
                if name not in library and not (step.optional and name == step.primitive):
                    raise ValueError(f"skill {spec.name}: the library has no primitive {name!r}; "
                                     f"it has: {', '.join(library.primitives)}")
        self.spec, self.library, self.robot = spec, library, robot
        self.max_steps = spec.max_steps or 2 * TASKS[spec.task].horizon

    def run(self, env: RobolearnEnv, seed: int) -> SkillResult:
        obs, info = env.reset(seed=seed)
        self.state, self.success, self.steps = obs["state"], bool(info["success"]), 0
        self.last = np.zeros(7)
        self.last[6] = -1.0
        self.home = self.state[STATE_SLICES["tcp_quat"]].copy()
        self.trace: list[tuple[str, int, bool]] = []
        self.max_jump = 0.0
        completed = True
        for step in self.spec.steps:
            if step.optional and step.primitive not in self.library:
                continue
            attempts = 0
            while not self._execute(env, step.primitive):
                if attempts >= step.retries or self.steps >= self.max_steps:
                    completed = False
                    break
                attempts += 1
                for name in step.fallback:
                    self._execute(env, name)
            if not completed:
                break
        hold = self.last.copy()
        hold[:6] = 0.0
        for _ in range(self.spec.settle_steps):
            self._step(env, hold)
        return SkillResult(self.success, self.steps, self.trace, self.max_jump)

    def _execute(self, env: RobolearnEnv, name: str) -> bool:
        primitive = self.library.get(name)
        primitive.reset(self.state, robot=self.robot, home=self.home, gripper=self.last[6])
        if not primitive.precondition(self.state):
            self.trace.append((name, 0, False))
            return False
        ran = 0
        while not primitive.done(self.state) and self.steps < self.max_steps:
            self._step(env, primitive.act(self.state))
            ran += 1
        ok = primitive.postcondition(self.state)
        self.trace.append((name, ran, ok))
        return ok

    def _step(self, env: RobolearnEnv, action: np.ndarray) -> None:
        bound = self.spec.max_action_change
        action = np.clip(action, self.last - bound, self.last + bound)
        self.max_jump = max(self.max_jump, float(np.abs(action - self.last).max()))
        obs, _, _, _, info = env.step(action)
        self.state, self.last = obs["state"], action
        self.success |= bool(info["success"])
        self.steps += 1


def run_skill(spec: SkillSpec, library: Library, robot: str, backend: str, episodes: int, seed: int = 0
              ) -> list[SkillResult]:
    runner = SkillRunner(spec, library, robot)
    env = RobolearnEnv(spec.task, robot, backend)
    try:
        return [runner.run(env, seed + i) for i in range(episodes)]
    finally:
        env.close()

"""Domain randomization: named parameters shared by both backends, and three randomizers.

    gymnasium.make("robolearn/Push-v0", robot="kuka", backend="pybullet", dr="uniform")

Each `DRParam` is one scalar with a nominal value, hard bounds, a default range for
`uniform` and a boundary step for `adr`. Physical ones map onto the backend's named
parameters (sims.scene_params) as a scale of the nominal value or as an absolute
value; `action_latency`, `action_noise` and `obs_noise` act in the env. A randomizer
samples every reset: `none` nothing, `uniform` fixed ranges, `adr` the automatic
domain randomization of OpenAI et al. 2019 (arXiv 1910.07113, section 5), whose state
(`ADR`) is a plain object owned by the learner and merged from worker copies.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from robolearn.sims.backend import FINGERS_GROUP, ROBOT_GROUP, TABLE_GROUP

_NOT_OBJECTS = {ROBOT_GROUP, FINGERS_GROUP, TABLE_GROUP}
OBJECTS = "*"  # target wildcard: every task object the backend names


@dataclass(frozen=True)
class DRParam:
    nominal: float
    low: float  # hard bounds: no randomizer goes past them
    high: float
    uniform: tuple[float, float]  # default range of `uniform`
    step: float  # how far `adr` moves a boundary
    kind: str | None = None  # backend parameter kind it drives; None: applied by the env
    target: str = ""  # backend target (group or OBJECTS)
    scale: bool = False  # True: the value multiplies the backend's nominal value
    integer: bool = False
    image: bool = False  # changes only rendered images
    doc: str = ""


DR_PARAMS: dict[str, DRParam] = {
    "object_mass": DRParam(1.0, 0.25, 4.0, (0.5, 2.0), 0.1, "mass", OBJECTS, True, doc="scale of every free object's mass"),
    "object_friction": DRParam(1.0, 0.3, 2.0, (0.6, 1.5), 0.05, "friction", OBJECTS, True, doc="scale of object friction"),
    "finger_friction": DRParam(1.0, 0.3, 2.0, (0.6, 1.5), 0.05, "friction", FINGERS_GROUP, True, doc="scale of finger-pad friction"),
    "table_friction": DRParam(1.0, 0.3, 2.0, (0.6, 1.5), 0.05, "friction", TABLE_GROUP, True, doc="scale of table friction"),
    "joint_damping": DRParam(1.0, 0.1, 100.0, (0.5, 5.0), 0.5, "damping", ROBOT_GROUP, True, doc="scale of arm joint damping"),
    "actuator_gain": DRParam(1.0, 0.3, 2.0, (0.7, 1.3), 0.05, "gain", ROBOT_GROUP, doc="scale of arm position-servo gain"),
    "object_size": DRParam(1.0, 0.85, 1.15, (0.93, 1.07), 0.01, "size", OBJECTS, doc="scale of free objects' size"),
    "table_height": DRParam(0.0, -0.02, 0.02, (-0.01, 0.01), 0.002, "table_height", doc="table top offset, m"),
    "gravity": DRParam(-9.81, -12.0, -8.0, (-10.5, -9.0), 0.1, "gravity", doc="vertical gravity, m/s^2"),
    "action_latency": DRParam(0.0, 0.0, 3.0, (0.0, 1.0), 0.25, integer=True, doc="control steps between action and effect"),
    "action_noise": DRParam(0.0, 0.0, 0.3, (0.0, 0.1), 0.01, doc="std of Gaussian noise on the 7-d action"),
    "obs_noise": DRParam(0.0, 0.0, 0.02, (0.0, 0.005), 0.0005, doc="std of Gaussian noise on the used state slots"),
    "camera_dx": DRParam(0.0, -0.1, 0.1, (-0.03, 0.03), 0.005, "camera", "dx", image=True, doc="camera shift along x, m"),
    "camera_dy": DRParam(0.0, -0.1, 0.1, (-0.03, 0.03), 0.005, "camera", "dy", image=True, doc="camera shift along y, m"),
    "camera_dz": DRParam(0.0, -0.1, 0.1, (-0.03, 0.03), 0.005, "camera", "dz", image=True, doc="camera shift along z, m"),
    "light": DRParam(1.0, 0.3, 1.5, (0.7, 1.2), 0.05, "light", image=True, doc="scale of scene lighting"),
    "object_hue": DRParam(0.0, -0.5, 0.5, (-0.1, 0.1), 0.02, "hue", OBJECTS, image=True, doc="hue rotation of objects, turns"),
    "table_hue": DRParam(0.0, -0.5, 0.5, (-0.1, 0.1), 0.02, "hue", TABLE_GROUP, image=True, doc="hue rotation of the table, turns"),
}
ENV_PARAMS = ("action_latency", "action_noise", "obs_noise")
RANDOMIZERS = ("none", "uniform", "adr")


def check_param_names(names: list[str] | dict, field_name: str) -> None:
    bad = [n for n in names if n not in DR_PARAMS]
    if bad:
        raise ValueError(f"{field_name}: unknown randomization parameters {bad}; allowed: {', '.join(DR_PARAMS)}")


def backend_values(values: dict[str, float], nominal: dict[str, float]) -> dict[str, float]:
    """The backend parameter values that DR values stand for. `nominal` maps every backend
    parameter name to its nominal value; parameters not in `values` get theirs back."""
    out = dict(nominal)
    for name, value in values.items():
        p = DR_PARAMS[name]
        if p.kind is None:
            continue
        for key in nominal:
            kind, _, target = key.partition(":")
            if kind == p.kind and (target == p.target or (p.target == OBJECTS and target not in _NOT_OBJECTS)):
                out[key] = nominal[key] * value if p.scale else value
    return out


def quantize(name: str, value: float) -> float:
    return float(math.floor(value + 0.5)) if DR_PARAMS[name].integer else float(value)


class Randomizer(Protocol):
    def sample(self, rng: np.random.Generator) -> tuple[dict[str, float], str | None]:
        """DR values for one episode, and the ADR boundary pinned in it (or None)."""
        ...

    def record(self, boundary: str, success: bool) -> None: ...


class NoRandomizer:
    def sample(self, rng: np.random.Generator) -> tuple[dict[str, float], str | None]:
        return {}, None

    def record(self, boundary: str, success: bool) -> None:
        pass


class UniformRandomizer:
    """Every parameter uniform in a fixed range: the defaults of DR_PARAMS, or `ranges`."""

    def __init__(self, ranges: dict[str, Any] | None = None, params: list[str] | None = None):
        ranges = dict(ranges or {})
        check_param_names(ranges, "dr ranges")
        names = list(params) if params else list(DR_PARAMS)
        check_param_names(names, "dr params")
        self.ranges: dict[str, tuple[float, float]] = {}
        for name in dict.fromkeys(names + list(ranges)):
            p = DR_PARAMS[name]
            lo, hi = map(float, ranges.get(name, p.uniform))
            if not p.low <= lo <= hi <= p.high:
                raise ValueError(f"dr ranges.{name}: [{lo}, {hi}] must satisfy {p.low} <= low <= high <= {p.high}")
            self.ranges[name] = (lo, hi)

    def sample(self, rng: np.random.Generator) -> tuple[dict[str, float], str | None]:
        return {n: quantize(n, rng.uniform(lo, hi)) for n, (lo, hi) in self.ranges.items()}, None

    def record(self, boundary: str, success: bool) -> None:
        pass


@dataclass
class ADRConfig:
    """Defaults follow the paper: p_b = 0.5, queue length 240; thresholds on episode success."""
    params: list[str] = field(default_factory=lambda: [n for n, p in DR_PARAMS.items() if not p.image])
    p_boundary: float = 0.5
    queue: int = 240
    t_high: float = 0.8  # mean success at a boundary >= t_high: widen it
    t_low: float = 0.4  # <= t_low: narrow it
    steps: dict[str, float] = field(default_factory=dict)  # per-parameter step overrides

    def check(self) -> None:
        check_param_names(self.params, "adr params")
        check_param_names(self.steps, "adr steps")
        if not 0.0 <= self.p_boundary <= 1.0:
            raise ValueError(f"adr p_boundary={self.p_boundary}: must be in [0, 1]")
        if self.queue < 1:
            raise ValueError(f"adr queue={self.queue}: must be >= 1")
        if not 0.0 <= self.t_low < self.t_high <= 1.0:
            raise ValueError(f"adr thresholds t_low={self.t_low}, t_high={self.t_high}: need 0 <= t_low < t_high <= 1")


ENTROPY_FLOOR = 1e-3  # a zero-width range counts as this wide, so the entropy stays finite


class ADR:
    """Automatic domain randomization state: a range per parameter and a result queue per boundary.

    Ranges start at the nominal value. Each episode, with probability `p_boundary`, one
    boundary of one parameter is pinned (the parameter takes the boundary's value, the
    others are uniform in their ranges) and the episode's success goes into that
    boundary's queue. A full queue with mean >= t_high moves the boundary outward by its
    step, <= t_low inward (never past the nominal value); the hard bounds clip it. A
    worker copy (`worker_copy`) only collects results; the owner `merge`s them in and the
    worker takes the owner's ranges back, so any number of envs or processes share one state.
    """

    def __init__(self, config: ADRConfig | None = None, collect_only: bool = False):
        self.config = config or ADRConfig()
        self.config.check()
        self.collect_only = collect_only
        self.ranges: dict[str, list[float]] = {n: [DR_PARAMS[n].nominal] * 2 for n in self.config.params}
        self.queues: dict[str, list[bool]] = {f"{n}:{side}": [] for n in self.config.params for side in ("low", "high")}

    def step_of(self, name: str) -> float:
        return float(self.config.steps.get(name, DR_PARAMS[name].step))

    def sample(self, rng: np.random.Generator) -> tuple[dict[str, float], str | None]:
        values = {n: rng.uniform(lo, hi) if hi > lo else lo for n, (lo, hi) in self.ranges.items()}
        boundary = None
        if self.ranges and rng.random() < self.config.p_boundary:
            names = list(self.ranges)
            name, side = names[rng.integers(len(names))], ("low", "high")[rng.integers(2)]
            values[name] = self.ranges[name][0 if side == "low" else 1]
            boundary = f"{name}:{side}"
        return {n: quantize(n, v) for n, v in values.items()}, boundary

    def record(self, boundary: str, success: bool) -> None:
        if boundary not in self.queues:
            raise ValueError(f"adr boundary {boundary!r}: allowed: {', '.join(self.queues)}")
        queue = self.queues[boundary]
        queue.append(bool(success))
        if self.collect_only or len(queue) < self.config.queue:
            return
        mean = float(np.mean(queue))
        queue.clear()
        name, _, side = boundary.rpartition(":")
        if mean >= self.config.t_high:
            self._move(name, side, outward=True)
        elif mean <= self.config.t_low:
            self._move(name, side, outward=False)

    def _move(self, name: str, side: str, outward: bool) -> None:
        p, (lo, hi), step = DR_PARAMS[name], self.ranges[name], self.step_of(name)
        if side == "low":
            lo = max(lo - step, p.low) if outward else min(lo + step, p.nominal)
        else:
            hi = min(hi + step, p.high) if outward else max(hi - step, p.nominal)
        self.ranges[name] = [lo, hi]

    def entropy(self) -> float:
        """Mean log range width per dimension, nats (the paper's ADR entropy)."""
        widths = [max(hi - lo, ENTROPY_FLOOR) for lo, hi in self.ranges.values()]
        return float(np.mean(np.log(widths))) if widths else 0.0

    def worker_copy(self) -> ADR:
        worker = ADR(copy.deepcopy(self.config), collect_only=True)
        worker.ranges = copy.deepcopy(self.ranges)
        return worker

    def take_results(self) -> dict[str, list[bool]]:
        """A worker copy's collected results per boundary, handed over once (its queues empty)."""
        results = {boundary: list(queue) for boundary, queue in self.queues.items() if queue}
        for queue in self.queues.values():
            queue.clear()
        return results

    def record_results(self, results: dict[str, list[bool]]) -> None:
        for boundary, successes in results.items():
            for success in successes:
                self.record(boundary, success)

    def merge(self, worker: ADR) -> None:
        """Fold a worker's collected results into this state; the worker takes the new ranges."""
        self.record_results(worker.take_results())
        worker.ranges = copy.deepcopy(self.ranges)

    def state_dict(self) -> dict[str, Any]:
        return {"config": copy.deepcopy(vars(self.config)), "ranges": copy.deepcopy(self.ranges),
                "queues": copy.deepcopy(self.queues)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> ADR:
        adr = cls(ADRConfig(**state["config"]))
        adr.ranges = {n: list(map(float, r)) for n, r in state["ranges"].items()}
        adr.queues = {b: list(map(bool, q)) for b, q in state["queues"].items()}
        return adr


@dataclass
class DRConfig:
    """The Hydra `adr` group (configs/adr/): which randomizer, and its settings."""
    kind: str = "none"  # none | uniform | adr
    ranges: dict[str, Any] = field(default_factory=dict)  # uniform: per-parameter [low, high] overrides
    params: list[str] = field(default_factory=list)  # parameters to randomize; empty: the kind's default
    p_boundary: float = 0.5
    queue: int = 240
    t_high: float = 0.8
    t_low: float = 0.4
    steps: dict[str, float] = field(default_factory=dict)


def training_randomizer(dr: DRConfig, checkpoint: dict | None = None) -> Randomizer:
    """The learner's one randomizer (shared by its envs, or fed by its workers' results);
    ADR continues from a checkpoint's state."""
    randomizer = make_randomizer(dr)
    if isinstance(randomizer, ADR) and checkpoint is not None and checkpoint.get("adr"):
        randomizer = ADR.from_state_dict(checkpoint["adr"])
    return randomizer


def make_randomizer(dr: str | DRConfig | Randomizer | None) -> Randomizer:
    """`dr=` of the env: a name, a DRConfig, or a randomizer object (shared, e.g. the learner's ADR)."""
    if dr is None:
        return NoRandomizer()
    if isinstance(dr, str):
        if dr not in RANDOMIZERS:
            raise ValueError(f"dr={dr!r}; allowed: {', '.join(RANDOMIZERS)} or a randomizer object")
        dr = DRConfig(kind=dr)
    if not isinstance(dr, DRConfig):
        if not all(hasattr(dr, m) for m in ("sample", "record")):
            raise ValueError(f"dr={dr!r}: not a randomizer (needs sample() and record())")
        return dr
    if dr.kind == "none":
        return NoRandomizer()
    if dr.kind == "uniform":
        return UniformRandomizer(dr.ranges, dr.params or None)
    if dr.kind == "adr":
        kwargs = {"params": list(dr.params)} if dr.params else {}
        return ADR(ADRConfig(p_boundary=dr.p_boundary, queue=dr.queue, t_high=dr.t_high, t_low=dr.t_low,
                             steps=dict(dr.steps), **kwargs))
    raise ValueError(f"adr kind={dr.kind!r}; allowed: {', '.join(RANDOMIZERS)}")

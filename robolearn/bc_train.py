"""`robolearn bc`: behaviour cloning from episode files into a checkpoint that `robolearn eval` reads.

    robolearn bc data=[demos.hdf5] policy=mlp|moe algo.model=mlp|chunk algo.steps=4000 out=runs/bc
    robolearn bc data=[demos.hdf5] inputs=image+proprio cameras=[front,wrist]   (from camera frames)

Config: `configs/bc.yaml` (Hydra; `policy` group shared with training, `algo` is BCConfig).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from tqdm import tqdm

from robolearn.agents import CHECKPOINT_NAME, checkpoint_payload, make_agent
from robolearn.bc_data import DemoChunks, DemoRef, Frames, index_demos
from robolearn.checkpoint import save_checkpoint
from robolearn.demos.episodes import demo_cameras
from robolearn.config import LoggerConfig, compose_config
from robolearn.device import resolve_device
from robolearn.envs import suite_vocabulary
from robolearn.evaluate import evaluate, format_success
from robolearn.learners.bc import BC, BCConfig
from robolearn.logger import Logger
from robolearn.policies import PolicyConfig
from robolearn.policies.vision import check_inputs
from robolearn.sims.backend import BACKENDS
from robolearn.sims.cameras import check_cameras


@dataclass
class BCRunConfig:
    data: list[str] = field(default_factory=list)  # episode files
    split: str | None = None  # a robomimic filter key (mask/<split>), e.g. train
    max_demos: int = 0  # per file, the first N demos (0: all)
    skip_bad: bool = False  # leave out demos that fail validation (listed in a warning) instead of refusing the file
    # Memory for the training data: a larger dataset is read from disk in chunks (bc_data.py).
    max_memory_gb: float = 4.0
    labels: str = "executed"  # executed: the recorded actions | expert: a scripted expert's noise-free ones (DART)
    inputs: str = "state"  # state (poses of objects and goals) | image | image+proprio (camera frames instead)
    cameras: list[str] = field(default_factory=list)  # with images: the cameras to see (default: all the data has)
    out: str | None = None  # default: runs/bc-<date-time>
    seed: int = 0
    threads: int = 2
    device: str = "auto"  # auto (a GPU when there is one) | cpu | cuda | cuda:<index>
    eval_episodes: int = 20  # after training, on each task x robot of the data (0: skip)
    eval_backend: str | None = None  # default: the data's backend
    policy: PolicyConfig = field(default_factory=lambda: PolicyConfig(kind="mlp"))
    algo: BCConfig = field(default_factory=BCConfig)
    logger: LoggerConfig = field(default_factory=lambda: LoggerConfig(kind="none"))


ConfigStore.instance().store(name="bc_schema", node=BCRunConfig)
# Each visit to a chunk reads it from disk: fewer updates than this per visit would spend
# the run reading.
MIN_UPDATES_PER_CHUNK = 50


def compose_bc(overrides: list[str]) -> BCRunConfig:
    return OmegaConf.to_object(compose_config("bc", BCRunConfig, overrides))  # type: ignore[return-value]


def frames_for(cfg: BCRunConfig, refs: list[DemoRef]) -> Frames:
    """The cameras the policy sees and their size, from `inputs`, `cameras` and the first demo's frames."""
    check_inputs(cfg.inputs)
    if cfg.inputs == "state":
        if cfg.cameras:
            raise ValueError(f"cameras={cfg.cameras}: only with inputs=image or inputs=image+proprio")
        return Frames()
    recorded = demo_cameras(refs[0].path, refs[0].name)
    cameras = check_cameras(cfg.cameras) or tuple(recorded)
    if not cameras:
        raise ValueError(f"inputs={cfg.inputs}: {refs[0].path} recorded no camera frames; record with "
                         "cameras=[front,wrist]")
    missing = [c for c in cameras if c not in recorded]
    if missing:
        raise ValueError(f"cameras: {refs[0].path} {refs[0].name} has no frames of {', '.join(missing)} "
                         f"(recorded: {', '.join(recorded) or 'none'})")
    sizes = {recorded[c] for c in cameras}
    if len(sizes) > 1 or recorded[cameras[0]][0] != recorded[cameras[0]][1]:
        raise ValueError(f"cameras: {refs[0].path} has frames of shapes {sorted(sizes)}; "
                         "the policy takes one square size")
    return Frames(cameras, recorded[cameras[0]][0])


def updates_per_pass(cfg: BCRunConfig, demos: DemoChunks) -> list[int]:
    """How the `algo.steps` updates spread over passes through the data. Data that fits is
    one pass. Chunked data takes as many passes as one epoch per pass would need, but no
    more than leaves each chunk `MIN_UPDATES_PER_CHUNK` updates per visit (each visit reads
    the chunk from disk)."""
    steps, batch = cfg.algo.steps, cfg.algo.batch_size
    passes = 1
    if not demos.fits:
        epochs = -(-steps * batch // demos.steps)
        passes = max(1, min(epochs, steps // (demos.chunks_per_pass * MIN_UPDATES_PER_CHUNK)))
    return [steps * (p + 1) // passes - steps * p // passes for p in range(passes)]


def fit(agent: BC, demos: DemoChunks, plan: list[int], batch_size: int, rng: np.random.Generator,
        device: torch.device, logger: Logger, bar: tqdm) -> None:
    """`plan[p]` updates in pass `p`, spread over its chunks by their sizes."""
    step = 0
    for updates in plan:
        done_in_pass, seen = 0, 0
        for chunk in demos.chunks(rng):
            seen += len(chunk)
            share = updates * seen // demos.steps - done_in_pass
            data = chunk.to(device)  # the whole chunk on the device: no copy per batch
            for _ in range(share):
                index = torch.from_numpy(rng.integers(0, len(data), min(batch_size, len(data)))).to(device)
                metrics = agent.update(data.take(index))
                if step % 200 == 0:
                    bar.set_postfix_str(f"loss={metrics['loss/bc']:.4f}", refresh=False)
                    logger.log({f"train/{k}": v for k, v in metrics.items()}, step)
                step += 1
                bar.update()
            done_in_pass += share
            del data, chunk  # before the next chunk is read


def train_bc(cfg: BCRunConfig) -> Path:
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    refs = index_demos(cfg.data, cfg.split, cfg.max_demos)
    frames = frames_for(cfg, refs)
    cfg.algo = replace(cfg.algo, inputs=cfg.inputs, cameras=list(frames.cameras),
                       image_size=frames.size or cfg.algo.image_size)
    agent = make_agent(cfg.policy, cfg.algo, suite_vocabulary(), device)
    demos = DemoChunks(refs, agent.horizon, cfg.labels, cfg.max_memory_gb, cfg.skip_bad, frames)
    demos.scan(agent.input_features)
    obs, act = demos.obs_moments, demos.action_moments
    agent.set_normalizers(obs.mean, obs.var, obs.count, act.mean, act.std)
    plan = updates_per_pass(cfg, demos)
    out = Path(cfg.out or f"runs/bc-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    config = OmegaConf.to_container(OmegaConf.structured(cfg))
    logger = Logger(cfg.logger.kind, out, cfg.logger.project, config)
    rng = np.random.default_rng(cfg.seed)
    layout = "in memory" if demos.fits else f"{demos.chunks_per_pass} chunks of <= {demos.capacity} steps, {len(plan)} passes"
    bar = tqdm(total=cfg.algo.steps, desc=f"bc ({len(demos.refs)} demos, {demos.steps} steps, {layout})", unit="update",
               mininterval=1.0)
    fit(agent, demos, plan, cfg.algo.batch_size, rng, device, logger, bar)
    bar.close()
    tasks = list(dict.fromkeys(source["task"] for source in demos.sources))
    robots = list(dict.fromkeys(source["robot"] for source in demos.sources))
    backends = list(dict.fromkeys(source["backend"] for source in demos.sources))
    backend = cfg.eval_backend or (backends[0] if backends[0] in BACKENDS else "mujoco")
    table = {}
    if cfg.eval_episodes > 0:
        table = evaluate(agent, tasks, robots, backend, cfg.eval_episodes)
        logger.log({f"eval/{t}/{r}/success": s for (t, r), s in table.items()}, cfg.algo.steps)
        print(format_success(table, f"bc eval success ({backend}, {cfg.eval_episodes} episodes)"))
    logger.close()
    path = save_checkpoint(out / CHECKPOINT_NAME, checkpoint_payload(
        config, agent, tasks, robots, backend, 0, table,
        bc={"data": list(cfg.data),
            "demos": [f"{src['task']}/{src['robot']}:{ref.name}" for ref, src in zip(demos.refs, demos.sources)]}))
    print(f"checkpoint: {path}")
    return path

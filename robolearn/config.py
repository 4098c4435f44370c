"""Typed training config: dataclasses registered in Hydra's ConfigStore, values in `configs/`.

`compose_train(["tasks=[reach,push]", "policy=mlp"])` returns a validated config; an
unknown key or a wrong type raises a ValueError naming the field.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from robolearn.cli_help import HELP_FLAGS, HelpRequested, wants_help
from robolearn.learners.ppo import PPOConfig
from robolearn.learners.sac import SACConfig
from robolearn.policies import PolicyConfig
from robolearn.sims.randomization import DRConfig

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class LoggerConfig:
    kind: str = "wandb"  # wandb (offline) | none
    project: str = "robolearn"


@dataclass
class TrainConfig:
    tasks: list[str] = field(default_factory=lambda: ["reach", "drawer_close"])
    robots: list[str] = field(default_factory=lambda: ["panda", "kuka", "xarm6"])
    backend: str = "mujoco"
    total_steps: int = 50_000
    seed: int = 0
    out: str | None = None  # default: runs/<date-time>
    eval_every: int = 25_000
    eval_episodes: int = 20
    resume: str | None = None  # a checkpoint to continue from
    adapt_from: str | None = None  # a MoE checkpoint to extend with the new tasks in `tasks` and robots in `robots`
    add_experts: int = 2  # experts added per layer for the new tasks and robots when adapting
    threads: int = 2
    num_envs: int = 2  # envs per task x robot
    env_workers: Optional[bool] = None  # step the envs in worker processes; null: yes
    device: str = "auto"  # auto (a GPU when there is one) | cpu | cuda | cuda:<index>
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # per task: extra gym.make keyword arguments
    deploy_limits: str = "shipped"  # "" | shipped (configs/deploy/<robot>.yaml) | a deploy YAML: its safety layer in the loop
    inputs: str = "state"  # state (object and goal poses) | image | image+proprio (camera frames instead; algo=sac)
    cameras: list[str] = field(default_factory=list)  # with images: e.g. [front] or [front,wrist]
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    algo: Any = MISSING  # SACConfig or PPOConfig: set by the `algo` group (configs/algo/)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    adr: DRConfig = field(default_factory=DRConfig)  # domain randomization of the training envs (configs/adr/)


_store = ConfigStore.instance()
_store.store(name="train_schema", node=TrainConfig)
_store.store(group="policy", name="policy_schema", node=PolicyConfig)
_store.store(group="algo", name="sac_schema", node=SACConfig)
_store.store(group="algo", name="ppo_schema", node=PPOConfig)
_store.store(group="logger", name="logger_schema", node=LoggerConfig)
_store.store(group="adr", name="adr_schema", node=DRConfig)


LIST_KEYS = ("tasks", "robots")  # `tasks=mt10` is read as `tasks=[mt10]`
TASK_DICT_KEYS = ("env_kwargs",)  # dicts keyed by task name


def as_list(override: str) -> str:
    key, sep, value = override.partition("=")
    if sep and key.lstrip("+") in LIST_KEYS and value and not value.startswith("["):
        return f"{key}=[{value}]"
    return override


def as_task_dict(override: str) -> str:
    """`env_kwargs={gym:Pendulum-v1@heavy: {g: 15}}` in a form Hydra reads: its keys are task
    names, whose colons Hydra's grammar only takes escaped, and the dict starts empty, so a
    new key needs `++` (add or override)."""
    key, sep, value = override.partition("=")
    if not sep or key.lstrip("+") not in TASK_DICT_KEYS:
        return override
    # A key's colons; ": " separates key and value, and quoted strings are left as written.
    escaped = re.sub(r"(\"[^\"]*\"|'[^']*')|(?<!\\):(?!\s)", lambda m: m.group(1) or "\\:", value)
    return f"++{key.lstrip('+')}={escaped}"


def compose_config(name: str, schema: type, overrides: list[str]) -> DictConfig:
    """Compose `configs/<name>.yaml` with overrides; a bad key or value is a ValueError naming it.
    With `--help` among them, raises HelpRequested carrying the config the others compose."""
    overrides = [as_task_dict(as_list(o)) for o in overrides]
    if wants_help(overrides):
        rest = [o for o in overrides if o not in HELP_FLAGS]
        raise HelpRequested(OmegaConf.to_object(compose_config(name, schema, rest)))
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose(config_name=name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        allowed = ", ".join(schema.__dataclass_fields__)
        detail = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        raise ValueError(f"bad {name} option: {detail} (top-level keys: {allowed})") from None


def compose_train(overrides: list[str]) -> DictConfig:
    return compose_config("train", TrainConfig, overrides)


def to_dataclass(cfg: DictConfig) -> TrainConfig:
    return OmegaConf.to_object(cfg)  # type: ignore[return-value]

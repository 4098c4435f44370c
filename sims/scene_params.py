"""Physical parameters that both backends expose by the same name.

`set_param("mass:cube", 0.2)`; `get_param("gravity")`. Names are built from these
prefixes so tasks, ADR and tests never spell a backend's own field.
"""
from __future__ import annotations

import numpy as np

from sims.backend import FINGERS_GROUP, TABLE_GROUP, param_name_error
from sims.objects import ObjectSpec


def param_names(objects: list[ObjectSpec]) -> list[str]:
    names = ["gravity", "damping:robot", f"friction:{FINGERS_GROUP}", f"friction:{TABLE_GROUP}"]
    for obj in objects:
        if obj.collide:
            names.append(f"friction:{obj.name}")
        if obj.free:
            names.append(f"mass:{obj.name}")
    return names


def split_param(name: str, objects: list[ObjectSpec]) -> tuple[str, str]:
    """'mass:cube' -> ('mass', 'cube'); an unknown name raises, listing the allowed ones."""
    allowed = param_names(objects)
    if name not in allowed:
        raise param_name_error(name, allowed)
    kind, _, target = name.partition(":")
    return kind, target


def check_value(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"physical parameter {name!r} must be finite, got {value}")
    if not name.startswith("gravity") and value < 0:
        raise ValueError(f"physical parameter {name!r} must be >= 0, got {value}")
    return value

"""Physical and visual parameters that both backends expose by the same name.

`set_param("mass:cube", 0.2)`; `get_param("gravity")`. Names are built from these
prefixes so tasks, ADR and tests never spell a backend's own field. Absolute values
(mass kg, friction coefficient, damping N m s/rad, gravity m/s^2, table_height and
camera offsets m, hue turns) or scales of the nominal (gain, size, light).
"""
from __future__ import annotations

import colorsys
from typing import Callable

import numpy as np

from robolearn.sims.backend import FINGERS_GROUP, ROBOT_GROUP, TABLE_GROUP, param_name_error
from robolearn.sims.objects import ObjectSpec

CAMERA_AXES = ("dx", "dy", "dz")
OFFSETS = ("table_height", "camera", "hue")  # added to the nominal scene: nominal 0
POSITIVE = ("gain", "size", "light")  # scales of the nominal scene: nominal 1; a zero would be degenerate
SIGNED = ("gravity", *OFFSETS)  # kinds that may be negative


def param_names(objects: list[ObjectSpec]) -> list[str]:
    names = ["gravity", f"damping:{ROBOT_GROUP}", f"gain:{ROBOT_GROUP}", f"friction:{FINGERS_GROUP}",
             f"friction:{TABLE_GROUP}", "table_height", "light", *(f"camera:{a}" for a in CAMERA_AXES),
             f"hue:{TABLE_GROUP}"]
    for obj in objects:
        if obj.collide:
            names += [f"friction:{obj.name}", f"hue:{obj.name}"]
        if obj.free:
            names.append(f"mass:{obj.name}")
            if obj.collide:
                names.append(f"size:{obj.name}")
    return names


def derived_nominals(names: list[str]) -> dict[str, float]:
    """Nominal values of the scale and offset parameters, which a backend keeps itself
    (its model holds only their effect)."""
    return {n: 1.0 if n.partition(":")[0] in POSITIVE else 0.0
            for n in names if n.partition(":")[0] in POSITIVE + OFFSETS}


def split_param(name: str, objects: list[ObjectSpec]) -> tuple[str, str]:
    """'mass:cube' -> ('mass', 'cube'); an unknown name raises, listing the allowed ones."""
    allowed = param_names(objects)
    if name not in allowed:
        raise param_name_error(name, allowed)
    kind, _, target = name.partition(":")
    return kind, target


def check_value(name: str, value: float) -> float:
    value = float(value)
    kind = name.partition(":")[0]
    if not np.isfinite(value):
        raise ValueError(f"physical parameter {name!r} must be finite, got {value}")
    if kind in POSITIVE and value <= 0:
        raise ValueError(f"physical parameter {name!r} is a scale and must be > 0, got {value}")
    if kind not in SIGNED and value < 0:
        raise ValueError(f"physical parameter {name!r} must be >= 0, got {value}")
    return value


def shift_hue(rgba: np.ndarray, turns: float) -> np.ndarray:
    """Rotate the hue of RGBA rows by `turns` (1 = full circle); 0 returns them unchanged."""
    rgba = np.array(rgba, dtype=np.float64, copy=True)
    if turns == 0.0:
        return rgba
    for row in rgba.reshape(-1, 4):
        h, s, v = colorsys.rgb_to_hsv(*row[:3])
        row[:3] = colorsys.hsv_to_rgb((h + turns) % 1.0, s, v)
    return rgba


Getter = Callable[[str], float]  # target -> value
Setter = Callable[[str, float], None]  # target, checked value -> applied to the model


class SceneParameters:
    """`get_param`/`set_param` for both backends, one dispatch: the name is checked against the
    scene's parameters, the value validated, and the scale and offset kinds (whose value a
    backend keeps itself, in `_derived`) recorded here. A backend registers, per kind, how
    to apply a value to its model (`param_setters`) and how to read one back (`param_getters`,
    for the kinds its model holds)."""
    objects: dict[str, ObjectSpec]
    _derived: dict[str, float]

    def param_getters(self) -> dict[str, Getter]:
        raise NotImplementedError

    def param_setters(self) -> dict[str, Setter]:
        raise NotImplementedError

    def param_names(self) -> list[str]:
        return param_names(list(self.objects.values()))

    def get_param(self, name: str) -> float:
        kind, target = split_param(name, list(self.objects.values()))
        if name in self._derived:
            return self._derived[name]
        return self.param_getters()[kind](target)

    def set_param(self, name: str, value: float) -> None:
        kind, target = split_param(name, list(self.objects.values()))
        value = check_value(name, value)
        if name in self._derived:
            if self._derived[name] == value:
                return  # its effect on the model follows from the value alone: already applied
            self._derived[name] = value
        self.param_setters()[kind](target, value)

    def set_params(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.set_param(name, value)

"""Simulator-independent descriptions of scene objects.

An object is a base body made of primitive geoms, either free (mass > 0) or fixed in
the world (mass == 0; placed at reset), optionally with one articulated link on a
slide or hinge joint (drawer, door, button). Both backends build exactly these, so a
task written against them runs on either simulator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

RGBA = tuple[float, float, float, float]
RED: RGBA = (0.85, 0.2, 0.2, 1.0)
BLUE: RGBA = (0.2, 0.35, 0.85, 1.0)
GREEN: RGBA = (0.2, 0.75, 0.3, 1.0)
WOOD: RGBA = (0.6, 0.45, 0.3, 1.0)
GREY: RGBA = (0.55, 0.55, 0.58, 1.0)
YELLOW: RGBA = (0.95, 0.8, 0.2, 1.0)


@dataclass(frozen=True)
class Geom:
    kind: Literal["box", "cylinder", "sphere"]
    size: tuple[float, ...]  # box: half extents; cylinder: (radius, half height); sphere: (radius,)
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    rgba: RGBA = GREY


@dataclass(frozen=True)
class Joint:
    kind: Literal["slide", "hinge"]
    axis: tuple[float, float, float]
    anchor: tuple[float, float, float]  # link origin in the base frame (hinge axis passes through it)
    range: tuple[float, float]
    damping: float = 1.0
    spring: float = 0.0  # stiffness toward range[0] (N/m or N m/rad); 0: none


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    geoms: tuple[Geom, ...]
    mass: float  # 0: fixed to the world
    friction: float = 1.0
    collide: bool = True  # False for goal markers, which are only drawn
    joint: Joint | None = None
    link_geoms: tuple[Geom, ...] = ()
    link_mass: float = 0.0

    @property
    def free(self) -> bool:
        return self.mass > 0

    @property
    def articulated(self) -> bool:
        return self.joint is not None


def box(name: str, half: tuple[float, float, float], mass: float = 0.1, rgba: RGBA = RED, friction: float = 1.0) -> ObjectSpec:
    return ObjectSpec(name, (Geom("box", half, rgba=rgba),), mass, friction)


def cylinder(name: str, radius: float, half_height: float, mass: float = 0.1, rgba: RGBA = RED) -> ObjectSpec:
    return ObjectSpec(name, (Geom("cylinder", (radius, half_height), rgba=rgba),), mass)


def sphere(name: str, radius: float, mass: float = 0.005, rgba: RGBA = YELLOW, friction: float = 0.5) -> ObjectSpec:
    return ObjectSpec(name, (Geom("sphere", (radius,), rgba=rgba),), mass, friction)


def marker(name: str, radius: float = 0.02, rgba: RGBA = (0.2, 0.9, 0.2, 0.5)) -> ObjectSpec:
    return ObjectSpec(name, (Geom("sphere", (radius,), rgba=rgba),), 0.0, collide=False)


def _walls(half_w: float, half_h: float, wall: float, sides: int, rgba: RGBA, z0: float = 0.0) -> list[Geom]:
    """Thin boxes on a regular polygon: the side walls of a cup or bowl (origin at the floor centre)."""
    geoms = []
    apothem = half_w - wall
    side_half = apothem * np.tan(np.pi / sides) + wall
    for i in range(sides):
        a = 2 * np.pi * i / sides
        pos = ((apothem + wall / 2) * np.cos(a), (apothem + wall / 2) * np.sin(a), z0 + half_h)
        quat = (float(np.cos(a / 2)), 0.0, 0.0, float(np.sin(a / 2)))
        geoms.append(Geom("box", (wall / 2, side_half, half_h), pos, quat, rgba))
    return geoms


def cup(name: str, radius: float = 0.03, height: float = 0.07, mass: float = 0.1, rgba: RGBA = BLUE,
        handle_offset: float = 0.06) -> ObjectSpec:
    """An open cup (octagonal walls, origin at the floor centre) with a vertical bar
    handle at -y, so a top-down grasp leaves the opening free for pouring."""
    assert handle_offset > radius
    wall = 0.005
    geoms = [Geom("box", (radius, radius, wall / 2), (0, 0, wall / 2), rgba=rgba)]
    # Walls stand on the floor plate, not on the table: 4 table contacts instead of 36.
    geoms += _walls(radius, (height - wall) / 2, wall, 8, rgba, z0=wall)
    bridge = handle_offset - radius
    geoms.append(Geom("box", (0.006, bridge / 2 + 0.004, 0.006), (0, -(radius + bridge / 2), height - 0.015), rgba=rgba))
    geoms.append(Geom("box", (0.008, 0.008, 0.03), (0, -handle_offset, height - 0.03), rgba=rgba))
    return ObjectSpec(name, tuple(geoms), mass, friction=1.0)


def bowl(name: str, half_width: float = 0.08, height: float = 0.04, rgba: RGBA = GREEN) -> ObjectSpec:
    """A fixed open container (square tray) that catches poured spheres."""
    wall = 0.01
    geoms = [Geom("box", (half_width, half_width, wall / 2), (0, 0, wall / 2), rgba=rgba)]
    geoms += _walls(half_width, height / 2, wall, 4, rgba)
    return ObjectSpec(name, tuple(geoms), 0.0)


# Articulated fixtures face the robot (-x) and are placed by the pose of their base.
def drawer(name: str) -> ObjectSpec:
    """A cabinet with a drawer sliding along -x; a vertical bar handle on its front."""
    cab = [
        Geom("box", (0.12, 0.12, 0.01), (0, 0, 0.01), rgba=WOOD),  # bottom
        Geom("box", (0.12, 0.12, 0.01), (0, 0, 0.15), rgba=WOOD),  # top
        Geom("box", (0.12, 0.01, 0.08), (0, 0.11, 0.08), rgba=WOOD),
        Geom("box", (0.12, 0.01, 0.08), (0, -0.11, 0.08), rgba=WOOD),
        Geom("box", (0.01, 0.12, 0.08), (0.11, 0, 0.08), rgba=WOOD),  # back
    ]
    tray = [
        Geom("box", (0.10, 0.095, 0.005), (0, 0, -0.045), rgba=GREY),
        Geom("box", (0.005, 0.095, 0.05), (-0.10, 0, 0.0), rgba=GREY),  # front panel
        Geom("box", (0.005, 0.095, 0.03), (0.095, 0, -0.02), rgba=GREY),
        Geom("box", (0.10, 0.005, 0.03), (0, 0.09, -0.02), rgba=GREY),
        Geom("box", (0.10, 0.005, 0.03), (0, -0.09, -0.02), rgba=GREY),
        Geom("box", (0.03, 0.006, 0.006), (-0.13, 0, 0.035), rgba=RED),  # handle standoff
        Geom("box", (0.008, 0.008, 0.03), (-0.16, 0, 0.035), rgba=RED),  # handle bar
    ]
    joint = Joint("slide", (-1.0, 0.0, 0.0), (-0.01, 0.0, 0.075), (0.0, 0.18), damping=2.0)
    return ObjectSpec(name, tuple(cab), 0.0, joint=joint, link_geoms=tuple(tray), link_mass=0.5)


DRAWER_HANDLE = np.array([-0.16, 0.0, 0.035])  # in the drawer link frame


def door(name: str) -> ObjectSpec:
    """A door hinged at +y between two posts, opening toward the robot; a vertical bar
    handle near -y. No lintel, so the hand can come down onto the handle."""
    frame = [
        Geom("box", (0.02, 0.01, 0.14), (0, 0.14, 0.14), rgba=WOOD),
        Geom("box", (0.02, 0.01, 0.14), (0, -0.14, 0.14), rgba=WOOD),
    ]
    panel = [
        Geom("box", (0.008, 0.125, 0.12), (0, -0.13, 0.0), rgba=GREY),
        # A long standoff leaves room for a bulky wrist (the iiwa's) beside the panel.
        Geom("box", (0.04, 0.006, 0.006), (-0.048, -0.22, 0.02), rgba=RED),
        Geom("box", (0.008, 0.008, 0.035), (-0.09, -0.22, 0.02), rgba=RED),  # handle bar
    ]
    # Hinge axis -z: positive angles swing the free edge toward the robot.
    joint = Joint("hinge", (0.0, 0.0, -1.0), (0.0, 0.125, 0.14), (0.0, 1.6), damping=0.5)
    return ObjectSpec(name, tuple(frame), 0.0, joint=joint, link_geoms=tuple(panel), link_mass=0.5)


DOOR_HANDLE = np.array([-0.09, -0.22, 0.02])  # in the door link frame


def button(name: str) -> ObjectSpec:
    """A housing with a sprung cap on a vertical slide; pressing moves it down by up to 2 cm."""
    housing = [Geom("box", (0.05, 0.05, 0.03), (0, 0, 0.03), rgba=GREY)]
    cap = [Geom("cylinder", (0.02, 0.015), (0, 0, 0.0), rgba=RED)]
    joint = Joint("slide", (0.0, 0.0, -1.0), (0.0, 0.0, 0.075), (0.0, 0.02), damping=2.0, spring=300.0)
    return ObjectSpec(name, tuple(housing), 0.0, joint=joint, link_geoms=tuple(cap), link_mass=0.05)

"""Splitting demonstrations into labelled segments.

Cuts come from gripper events (the commanded gripper changes sign), the fingers settling
after such an event, and minima of the hand's speed while it holds something. Labels:

    reach    the approach before the first grasp (or before contact, for pushes)
    grasp    closing the fingers, until they stop
    lift     holding, mostly upward          place    holding, mostly downward
    move     holding, mostly sideways        tilt     holding, mostly turning away
    return   holding, turning back           release  opening the fingers, until they stop
    push     open hand moving an object it touches
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robolearn.primitives.conditions import FINGERS_STOPPED
from robolearn.primitives.dmp import hand_rotation
from robolearn.spec import STATE_SLICES
from robolearn.sims.backend import CONTROL_DT

S = STATE_SLICES
LABELS = ("reach", "grasp", "lift", "move", "place", "tilt", "return", "release", "push")
SLOW = 0.05  # m/s: a hand slower than this at a local minimum of speed ends a movement
MIN_STEPS = 4  # shorter movements merge into their neighbour
TURN_PER_METRE = 0.1  # a rotation of 1 rad counts like 10 cm of travel when judging what dominates
CONTACT = 1e-3  # m per step the main object moves when pushed


@dataclass
class Segment:
    label: str
    start: int  # first action index
    end: int  # one past the last action index

    @property
    def length(self) -> int:
        return self.end - self.start


def _settle(opening: np.ndarray, start: int, stop: int) -> int:
    """First index after `start` (at least 2 steps on) where the fingers have stopped, or `stop`."""
    for i in range(start + 2, stop):
        if abs(opening[i] - opening[i - 1]) < FINGERS_STOPPED:
            return i
    return stop


def _speed_minima(states: np.ndarray, start: int, stop: int) -> list[int]:
    pos = states[:, S["tcp_pos"]]
    speed = np.linalg.norm(np.diff(pos, axis=0), axis=1) / CONTROL_DT
    cuts = []
    for i in range(start + MIN_STEPS, stop - MIN_STEPS):
        if speed[i] < SLOW and speed[i] <= speed[i - 1] and speed[i] <= speed[i + 1] and (not cuts or i - cuts[-1] >= MIN_STEPS):
            cuts.append(i)
    return cuts


def _holding_label(states: np.ndarray, start: int, end: int, upright: int) -> str:
    """`upright`: where the holding began; turning away from its orientation is a tilt,
    turning back toward it a return."""
    d = states[end, S["tcp_pos"]] - states[start, S["tcp_pos"]]
    turn = (hand_rotation(states[end]) * hand_rotation(states[start]).inv()).magnitude()
    if turn * TURN_PER_METRE > np.linalg.norm(d):
        away = [(hand_rotation(states[i]) * hand_rotation(states[upright]).inv()).magnitude() for i in (start, end)]
        return "tilt" if away[1] > away[0] else "return"
    if abs(d[2]) > np.linalg.norm(d[:2]):
        return "lift" if d[2] > 0 else "place"
    return "move"


def segment_episode(states: np.ndarray, actions: np.ndarray) -> list[Segment]:
    """`states`: (T+1, STATE_DIM), the observation before each action and after the last."""
    closed = actions[:, 6] > 0
    opening = states[:, S["gripper"]][:, 0]
    events = [i for i in range(1, len(actions)) if closed[i] != closed[i - 1]]
    segments: list[Segment] = []
    cursor = 0
    for event in events + [len(actions)]:
        if event > cursor:  # the stretch before this event: approach, holding or after release
            if not segments:
                moved = np.linalg.norm(np.diff(states[cursor:event + 1, S["obj0_pos"]], axis=0), axis=1) > CONTACT
                touch = int(np.argmax(moved)) + cursor if moved.any() and not closed[cursor] else event
                segments.append(Segment("reach", cursor, touch))
                if touch < event:
                    segments.append(Segment("push", touch, event))
            elif closed[cursor]:
                cuts = [cursor, *_speed_minima(states, cursor, event), event]
                segments.extend(Segment(_holding_label(states, a, b, cursor), a, b) for a, b in zip(cuts[:-1], cuts[1:]))
        if event == len(actions):
            break
        settled = _settle(opening, event, len(actions))
        segments.append(Segment("grasp" if closed[event] else "release", event, settled))
        cursor = settled
    return _merge([s for s in segments if s.length > 0])


def _merge(segments: list[Segment]) -> list[Segment]:
    """Join neighbours with one label, absorb movements shorter than MIN_STEPS, and close
    short gaps (under 2 x MIN_STEPS) between two stretches of one label (a pause mid-tilt)."""
    out: list[Segment] = []
    for seg in segments:
        if len(out) >= 2 and out[-2].label == seg.label and out[-1].length < 2 * MIN_STEPS \
                and out[-1].label not in ("grasp", "release"):
            out.pop()
        if out and (out[-1].label == seg.label or (seg.length < MIN_STEPS and seg.label not in ("grasp", "release"))):
            out[-1] = Segment(out[-1].label, out[-1].start, seg.end)
        else:
            out.append(seg)
    return out

"""Teleoperation devices: each turns its input into the shared 7-d action.

    device = make_device("keyboard")          # or spacemouse, gamepad, scripted
    device.reset(env); action = device.action(obs); events = device.events()

Events tell the recorder what the operator wants: "save" (keep the episode and end it),
"discard" (drop it and end it), "quit" (stop recording; the episode in progress is
dropped). The key, axis and button maps are pure functions, so they are tested without
the hardware.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

import gymnasium as gym
import numpy as np

from robolearn.spec import ACTION_DIM, GRIPPER_CLOSED, GRIPPER_OPEN
from robolearn.sims.experts import expert_for

DEVICES = ("keyboard", "spacemouse", "gamepad", "scripted")
EVENTS = ("save", "discard", "quit")


class Device(Protocol):
    name: str
    needs_window: bool  # the recorder shows a live OpenCV window and feeds it the keys
    label: np.ndarray | None  # after action(): the noise-free action a scripted expert wanted, else None

    def reset(self, env: gym.Env) -> None: ...
    def action(self, obs: dict) -> np.ndarray: ...
    def events(self) -> set[str]: ...


class GripperToggle:
    """One button opens and closes the gripper; it starts open."""

    def __init__(self) -> None:
        self.closed = False

    def press(self) -> None:
        self.closed = not self.closed

    @property
    def value(self) -> float:
        return GRIPPER_CLOSED if self.closed else GRIPPER_OPEN


class OperatorDevice:
    """What the human-operated devices share: a gripper toggle, the operator's pending
    events, and no expert label."""
    label = None

    def __init__(self) -> None:
        self.gripper, self._events = GripperToggle(), set()

    def reset(self, env: gym.Env) -> None:
        self.gripper, self._events = GripperToggle(), set()

    def events(self) -> set[str]:
        events, self._events = self._events, set()
        return events

    def _with_gripper(self, motion: np.ndarray) -> np.ndarray:
        return np.append(motion, self.gripper.value).astype(np.float32)


# ---------------------------------------------------------------------------- keyboard
# Motion keys: one step of motion per key event (hold a key to auto-repeat), in the
# world frame as seen from the default camera (x away from the robot is "up" on screen).
KEY_MOTION: dict[str, tuple[int, float]] = {
    "w": (0, 1.0), "s": (0, -1.0), "a": (1, 1.0), "d": (1, -1.0), "r": (2, 1.0), "f": (2, -1.0),
    "y": (3, 1.0), "h": (3, -1.0), "t": (4, 1.0), "g": (4, -1.0), "z": (5, 1.0), "c": (5, -1.0),
}
KEY_GRIPPER = " "
KEY_EVENTS = {13: "save", 10: "save", 8: "discard", 127: "discard", 27: "quit"}  # Enter, Backspace, Esc
KEY_HELP = ("w/s x, a/d y, r/f z, y/h roll, t/g pitch, z/c yaw, space gripper, "
            "Enter save, Backspace discard, Esc quit")


def key_to_motion(key: int, speed: float = 1.0) -> np.ndarray:
    motion = np.zeros(6)
    if 0 <= key < 256 and chr(key).lower() in KEY_MOTION:
        axis, sign = KEY_MOTION[chr(key).lower()]
        motion[axis] = sign * speed
    return motion


class KeyboardDevice(OperatorDevice):
    """Keys read from the recorder's live OpenCV window (`on_key` gets cv2.waitKey's code)."""
    name, needs_window = "keyboard", True

    def __init__(self, speed: float = 1.0):
        super().__init__()
        self.speed, self._key = speed, -1

    def reset(self, env: gym.Env) -> None:
        super().reset(env)
        self._key = -1

    def on_key(self, key: int) -> None:
        if key in KEY_EVENTS:
            self._events.add(KEY_EVENTS[key])
        elif key == ord(KEY_GRIPPER):
            self.gripper.press()
        else:
            self._key = key

    def action(self, obs: dict) -> np.ndarray:
        motion, self._key = key_to_motion(self._key, self.speed), -1
        return self._with_gripper(motion)


# ---------------------------------------------------------------------------- 6-DoF mice and pads
def axes_to_motion(axes: np.ndarray, deadzone: float = 0.1, gain: float = 1.0) -> np.ndarray:
    """Six axes in [-1, 1] -> motion: values inside the dead zone are zero, the rest rescaled."""
    axes = np.clip(np.asarray(axes, dtype=np.float64), -1.0, 1.0)
    live = np.abs(axes) > deadzone
    out = np.zeros(6)
    out[live] = np.sign(axes[live]) * (np.abs(axes[live]) - deadzone) / (1.0 - deadzone)
    return np.clip(out * gain, -1.0, 1.0)


class ButtonEdges:
    """Rising edges of buttons, so a held button fires once."""

    def __init__(self) -> None:
        self.previous: tuple[int, ...] = ()

    def pressed(self, buttons: list[int] | tuple[int, ...]) -> list[int]:
        previous = self.previous + (0,) * (len(buttons) - len(self.previous))
        self.previous = tuple(buttons)
        return [i for i, (now, before) in enumerate(zip(buttons, previous)) if now and not before]


class SpaceMouseDevice(OperatorDevice):
    """3Dconnexion SpaceMouse through pyspacemouse (HID): translation and rotation axes map
    straight onto the action; left button toggles the gripper, right button saves."""
    name, needs_window = "spacemouse", False

    def __init__(self, deadzone: float = 0.1, gain: float = 1.0, reader: Callable[[], Any] | None = None):
        super().__init__()
        self.deadzone, self.gain = deadzone, gain
        if reader is None:
            try:
                import pyspacemouse
            except ImportError:
                raise ValueError("device=spacemouse needs pyspacemouse (pip install 'robolearn[teleop]')") from None
            if not pyspacemouse.open():
                raise ValueError("device=spacemouse: no SpaceMouse found (is it plugged in, with HID access?)")
            reader = pyspacemouse.read
        self.read, self.edges = reader, ButtonEdges()

    def action(self, obs: dict) -> np.ndarray:
        s = self.read()
        motion = axes_to_motion([s.y, -s.x, s.z, -s.roll, s.pitch, -s.yaw], self.deadzone, self.gain)
        for button in self.edges.pressed(list(s.buttons)):
            if button == 0:
                self.gripper.press()
            elif button == 1:
                self._events.add("save")
        return self._with_gripper(motion)


# Xbox-style layout as pygame reports it: left stick x/y, right stick x/y, triggers.
PAD_AXES = {"lx": 0, "ly": 1, "rx": 3, "ry": 4}
PAD_BUTTONS = {"gripper": 0, "discard": 1, "save": 7}  # A, B, Start


class GamepadDevice(OperatorDevice):
    """A gamepad through pygame: left stick moves in x/y, right stick in z and yaw,
    A toggles the gripper, B discards, Start saves."""
    name, needs_window = "gamepad", False

    def __init__(self, deadzone: float = 0.15, gain: float = 1.0, joystick: Any = None):
        super().__init__()
        self.deadzone, self.gain = deadzone, gain
        if joystick is None:
            try:
                import pygame
            except ImportError:
                raise ValueError("device=gamepad needs pygame (pip install 'robolearn[teleop]')") from None
            pygame.init()
            pygame.joystick.init()
            if pygame.joystick.get_count() == 0:
                raise ValueError("device=gamepad: no gamepad found")
            joystick = pygame.joystick.Joystick(0)
            self._pump = pygame.event.pump
        else:
            self._pump = lambda: None
        self.pad, self.edges = joystick, ButtonEdges()

    def action(self, obs: dict) -> np.ndarray:
        self._pump()
        axis = self.pad.get_axis
        raw = [-axis(PAD_AXES["ly"]), -axis(PAD_AXES["lx"]), -axis(PAD_AXES["ry"]), 0.0, 0.0, -axis(PAD_AXES["rx"])]
        motion = axes_to_motion(raw, self.deadzone, self.gain)
        buttons = [self.pad.get_button(i) for i in range(self.pad.get_numbuttons())]
        for button in self.edges.pressed(buttons):
            if button == PAD_BUTTONS["gripper"]:
                self.gripper.press()
            elif button == PAD_BUTTONS["discard"]:
                self._events.add("discard")
            elif button == PAD_BUTTONS["save"]:
                self._events.add("save")
        return self._with_gripper(motion)


# ---------------------------------------------------------------------------- scripted
class ScriptedDevice:
    """The task's scripted expert plus Gaussian action noise: for tests and bulk data. The
    noisy action is executed and recorded; the expert's own action is kept as `label`."""
    name, needs_window = "scripted", False

    def __init__(self, noise: float = 0.0, seed: int = 0):
        if noise < 0:
            raise ValueError(f"noise={noise}: must be >= 0")
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.policy: Callable[[dict], np.ndarray] | None = None
        self.label: np.ndarray | None = None

    def reset(self, env: gym.Env) -> None:
        self.policy = expert_for(env)

    def action(self, obs: dict) -> np.ndarray:
        if self.policy is None:
            raise RuntimeError("ScriptedDevice.reset(env) must come before action()")
        action = np.asarray(self.policy(obs), dtype=np.float64)
        self.label = np.clip(action, -1.0, 1.0).astype(np.float32)
        if self.noise > 0:
            action = action + self.rng.normal(0.0, self.noise, ACTION_DIM)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def events(self) -> set[str]:
        return set()


def make_device(name: str, noise: float = 0.0, seed: int = 0) -> Device:
    if name == "keyboard":
        return KeyboardDevice()
    if name == "spacemouse":
        return SpaceMouseDevice()
    if name == "gamepad":
        return GamepadDevice()
    if name == "scripted":
        return ScriptedDevice(noise, seed)
    raise ValueError(f"device={name!r}; allowed: {', '.join(DEVICES)}")

"""Recording episodes from a teleoperation device into an episode file.

Each episode runs until the operator saves or discards it, the task has been solved
for `hold` more steps, or the horizon. Devices that need a window (the keyboard) get a
live OpenCV view with the status (episode, steps, success, saved count); the scripted
device runs headless with a progress bar. Every kept episode is committed to the file
as soon as it ends (see demos.episodes), so stopping or killing the recorder never
loses a saved one.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

import robolearn.sims as sims
from robolearn.demos.devices import KEY_HELP, Device
from robolearn.demos.episodes import EpisodeBuffer, EpisodeWriter, file_metadata
from robolearn.evaluate import write_video
from robolearn.sims.backend import CONTROL_DT
from robolearn.sims.cameras import check_cameras
from robolearn.sims.randomization import DRConfig
from robolearn.sims.tasks import TASKS

WINDOW = "robolearn record"
KEEP = ("success", "all", "ask")


@dataclass
class RecordResult:
    saved: int
    discarded: int
    path: Path


def _status_frame(frame: np.ndarray, lines: list[str], scale: int = 4) -> np.ndarray:
    import cv2

    big = cv2.resize(frame[..., ::-1], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for i, line in enumerate(lines):
        cv2.putText(big, line, (8, 22 + 20 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return big


class LiveView:
    """The OpenCV window: shows frames with status lines and hands pressed keys to the device."""

    def __init__(self, device: Device):
        import cv2

        self.cv2, self.device = cv2, device
        cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE)

    def show(self, frame: np.ndarray, lines: list[str], wait_ms: int = 1) -> int:
        self.cv2.imshow(WINDOW, _status_frame(frame, lines))
        key = self.cv2.waitKey(wait_ms)
        if key != -1 and hasattr(self.device, "on_key"):
            self.device.on_key(key & 0xFF)
        return key

    def close(self) -> None:
        self.cv2.destroyWindow(WINDOW)


def record(task: str, robot: str, backend: str, device: Device, out: str | Path, episodes: int, seed: int = 0,
           hold: int = 10, keep: str = "success", window: bool | None = None, video: bool = False,
           dr: str | DRConfig = "none", source: str = "human", cameras: tuple[str, ...] = (), image_size: int = 84
           ) -> RecordResult:
    """Record up to `episodes` kept episodes (or until the operator quits), with the frames of
    `cameras` (sims.cameras) at image_size x image_size in every step."""
    if keep not in KEEP:
        raise ValueError(f"keep={keep!r}; allowed: {', '.join(KEEP)}")
    if episodes < 1:
        raise ValueError(f"episodes={episodes}: must be >= 1")
    window = device.needs_window if window is None else window
    if window and not os.environ.get("DISPLAY"):
        raise ValueError(f"device={device.name} shows a live window and needs a display (DISPLAY is unset); "
                         f"run it on a desktop or under xvfb-run")
    if task not in TASKS:
        raise ValueError(f"task={task!r}; allowed: {', '.join(TASKS)}")
    env = gym.make(sims.env_id(task), robot=robot, backend=backend, render_mode="rgb_array", dr=dr,
                   cameras=check_cameras(cameras), image_size=image_size)
    writer = EpisodeWriter(out, file_metadata(task, robot, backend, source, device=device.name))
    view = LiveView(device) if window else None
    saved = discarded = attempt = 0
    bar = tqdm(total=episodes, desc=f"record {task}/{robot}/{backend}", unit="ep", disable=window)
    try:
        while saved < episodes:
            episode_seed = seed + attempt
            attempt += 1
            outcome = _one_episode(env, device, episode_seed, hold, view, video, (saved, discarded, episodes), keep)
            if outcome is None:  # quit
                break
            buffer, success, decision = outcome
            if decision == "save":
                episode = buffer.finish(success=success)
                name = writer.append(episode)
                saved += 1
                bar.update(1)
                if video:
                    write_video(Path(out).with_suffix("") / f"{name}.mp4", buffer.frames, int(1 / CONTROL_DT))
            else:
                discarded += 1
            bar.set_postfix_str(f"saved={saved} discarded={discarded} last={'success' if success else 'fail'}")
    finally:
        bar.close()
        writer.close()
        if view is not None:
            view.close()
        env.close()
    return RecordResult(saved, discarded, Path(out))


def _one_episode(env: gym.Env, device: Device, seed: int, hold: int, view: LiveView | None, video: bool,
                 counts: tuple[int, int, int], keep: str) -> tuple[EpisodeBuffer, bool, str] | None:
    """Run one episode; returns (buffer, success, "save" | "discard"), or None if the operator quit."""
    saved, discarded, wanted = counts
    obs, info = env.reset(seed=seed)
    device.reset(env)
    sim = env.unwrapped.sim
    buffer = EpisodeBuffer({"seed": seed, "dr_params": info.get("dr_params", {}), "device": device.name})
    success, since_success, decision = False, 0, None
    done, tick = False, time.perf_counter()
    while not done:
        frame = env.render() if view is not None or video else None
        if video:
            buffer.frames.append(frame)
        if view is not None:
            # Paced at the control rate, so a person teleoperates in real time.
            wait_ms = max(1, int(1000 * (tick + CONTROL_DT - time.perf_counter())))
            tick = time.perf_counter() + wait_ms / 1000
            view.show(frame, [f"episode {saved + discarded + 1}  saved {saved}/{wanted}  steps {len(buffer.actions)}",
                              f"success {'YES' if success else 'no'}", KEY_HELP[:60], KEY_HELP[60:]], wait_ms)
        events = device.events()
        if "quit" in events:
            return None
        if events & {"save", "discard"}:
            decision = "save" if "save" in events else "discard"
            break
        state = sim.get_state()
        action = device.action(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        buffer.add(obs, action, reward, next_obs, state, device.label)
        obs = next_obs
        success |= bool(info["success"])
        since_success += success
        done = terminated or truncated or since_success > hold
    if not buffer.actions:
        return buffer, success, "discard"
    if decision is None:
        decision = _decide(keep, success, view, device)
        if decision == "quit":
            return None
    return buffer, success, decision


def _decide(keep: str, success: bool, view: LiveView | None, device: Device) -> str:
    """At the end of an episode: keep it by the rule, or ask the operator in the window."""
    if keep == "all" or (keep == "success" and success):
        return "save"
    if keep == "success" or view is None:
        return "discard"
    blank = np.zeros((128, 128, 3), np.uint8)
    while True:
        view.show(blank, [f"episode ended ({'success' if success else 'no success'})", "Enter: save",
                          "Backspace: discard", "Esc: quit"], wait_ms=50)
        events = device.events()
        for choice in ("quit", "save", "discard"):
            if choice in events:
                return choice

"""The task suite. Adding a task: one file with a `Task` subclass, one line below."""
from __future__ import annotations

from robolearn.sims.tasks.base import Task
from robolearn.sims.tasks.button_press import ButtonPress
from robolearn.sims.tasks.door_open import DoorOpen
from robolearn.sims.tasks.drawer import DrawerClose, DrawerOpen
from robolearn.sims.tasks.lift import Lift
from robolearn.sims.tasks.pick_place import PickPlace
from robolearn.sims.tasks.pour import Pour
from robolearn.sims.tasks.push import Push
from robolearn.sims.tasks.reach import Reach
from robolearn.sims.tasks.stack import Stack

# Order fixes each task's `task_id`; append new tasks at the end.
TASKS: dict[str, type[Task]] = {t.name: t for t in (Reach, Push, Lift, PickPlace, Stack, DrawerOpen, DrawerClose, ButtonPress, DoorOpen, Pour)}


def make_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; allowed tasks: {', '.join(TASKS)}")
    return TASKS[name]()


def env_id(name: str) -> str:
    """'pick_place' -> 'robolearn/PickPlace-v0'."""
    return "robolearn/" + "".join(part.capitalize() for part in name.split("_")) + "-v0"

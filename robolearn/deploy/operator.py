"""The operator at the terminal: single keys for the e-stop, Enter to confirm a scene reset.

On a terminal the keys are read one at a time (no Enter needed for the e-stop): space or
`e` engages, `r` releases, `q` ends the run, Enter confirms that the scene was reset.
Without a terminal (stdin a pipe, as in tests and scripts) each line on stdin confirms
one reset and there are no single keys.
"""
from __future__ import annotations

import sys
import threading
from typing import Callable

ESTOP_KEYS, RELEASE_KEYS, QUIT_KEYS, CONFIRM_KEYS = " e", "r", "q", "\r\n"


class OperatorConsole:
    def __init__(self, on_key: Callable[[str], None]):
        self.on_key = on_key
        self.confirmed = threading.Event()
        self.interactive = sys.stdin is not None and sys.stdin.isatty()
        self.closed = False

    def key(self, key: str) -> None:
        if key in CONFIRM_KEYS:
            self.confirmed.set()
        else:
            self.on_key(key)

    def start(self) -> None:
        if not self.interactive:
            return
        import termios
        import tty

        def read() -> None:
            fd = sys.stdin.fileno()
            saved = termios.tcgetattr(fd)
            try:
                tty.setcbreak(fd)
                while not self.closed:
                    self.key(sys.stdin.read(1))
            finally:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)

        threading.Thread(target=read, daemon=True).start()

    def confirm(self, prompt: str, stopped: Callable[[], bool]) -> bool:
        """Ask and wait for the operator; False when the run was stopped meanwhile.
        Raises RuntimeError when nobody can answer (stdin closed)."""
        print(prompt, flush=True)
        if not self.interactive:
            if sys.stdin is None or not sys.stdin.readline():
                raise RuntimeError("reset=operator: nobody to confirm the reset (stdin is closed); "
                                   "use reset=topic (a cell that resets on request) or reset=none")
            return True
        self.confirmed.clear()
        while not self.confirmed.wait(0.1):
            if stopped():
                return False
        return True

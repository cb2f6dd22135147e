"""Which process owns shared state (a running job), and whether that process still runs.

Several processes may open one library at once: ComfyUI, ``model-library serve`` for the standalone
panel, the CLI. A job left ``running`` in the catalog is interrupted only if the process that ran it is
gone; one still running elsewhere is not ours to mark failed, nor to resume (two processes would write
one partial download).
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from typing import Any

# Two start times of one pid closer than this are the same process (psutil's create_time is rounded).
SAME_START_S = 1.0


@dataclass(frozen=True)
class ProcessOwner:
    host: str
    pid: int
    started: float

    @classmethod
    def current(cls) -> ProcessOwner:
        # Rounded as stored, so the owner read back from JSON compares equal.
        return cls(socket.gethostname(), os.getpid(), round(_start_time(os.getpid()) or 0.0, 2))

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "started": self.started}

    @classmethod
    def from_json(cls, data: object) -> ProcessOwner | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(str(data["host"]), int(data["pid"]), float(data["started"]))
        except (KeyError, TypeError, ValueError):
            return None

    def alive(self) -> bool:
        """The owner still runs. A process on another machine (a shared catalog) is taken as running:
        this machine cannot tell."""
        if self.host != socket.gethostname():
            return True
        started = _start_time(self.pid)
        return started is not None and abs(started - self.started) < SAME_START_S


def _start_time(pid: int) -> float | None:
    """When process ``pid`` started, as an identity stable for its whole life (so a reused pid is not
    taken for the owner); None if it is gone.

    On Linux the start in clock ticks since boot, from ``/proc/<pid>/stat``: psutil's ``create_time``
    adds a boot time recomputed from the wall clock at each call, so an NTP or VM clock step would make a
    live owner look like another process. Elsewhere psutil's ``create_time`` (fixed at creation)."""
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                data = fh.read()
            # Field 22, counted after the command name, which may itself hold spaces and parentheses.
            return float(data[data.rindex(b")") + 2 :].split()[19])
        except (OSError, ValueError, IndexError):
            return None
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None

"""Which process owns a job, and whether it still runs: real processes, real pids."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from comfyui_model_library.core.owner import ProcessOwner, _start_time


def test_this_process_is_alive_and_round_trips_through_json() -> None:
    me = ProcessOwner.current()
    assert me.pid == os.getpid() and me.host == socket.gethostname()
    assert me.alive()
    assert ProcessOwner.from_json(me.to_json()) == me


def test_a_process_that_ended_is_not_alive_even_with_odd_characters_in_its_name(tmp_path: Path) -> None:
    odd = tmp_path / "py) (x 1"  # the kernel's name of a process may hold spaces and parentheses
    odd.symlink_to(sys.executable)
    proc = subprocess.Popen([str(odd), "-c", "import time; time.sleep(60)"])
    try:
        started = _start_time(proc.pid)
        assert started is not None
        owner = ProcessOwner(socket.gethostname(), proc.pid, started)
        assert owner.alive()
        assert not ProcessOwner(owner.host, proc.pid, started + 5).alive(), "another process on that pid"
    finally:
        proc.kill()
        proc.wait()
    assert not owner.alive()


def test_another_machine_s_process_is_taken_as_running() -> None:
    assert ProcessOwner("some-other-host.invalid", 1, 0.0).alive()


def test_unreadable_owners_are_none() -> None:
    for bad in (None, "x", {"host": "h"}, {"host": "h", "pid": "not a pid", "started": 1}):
        assert ProcessOwner.from_json(bad) is None

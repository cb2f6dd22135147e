"""The proof of issue 18 with three processes acting as three machines (their own XDG folders and local
caches) on one PostgreSQL server and one shared folder: concurrent imports of the same file give one
model; a model imported on A reaches B's events within a second, remote-marked; B's cache fills once and
serves from its local disk afterwards. (kill -9 of a machine mid-import: test_machine_killed.py.)"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import synth

REPO = Path(__file__).resolve().parents[3]
CHILD = Path(__file__).with_name("machine_child.py")


@dataclass
class Machine:
    process: subprocess.Popen[str]
    name: str = ""
    answers: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)

    def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def answer(self, timeout: float = 60.0) -> dict[str, Any]:
        return self.answers.get(timeout=timeout)


def _start(tmp_path: Path, name: str, share: Path, dsn: str) -> Machine:
    home = tmp_path / f"{name}-home"
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    env.pop("MODEL_LIBRARY_MACHINE", None)
    process = subprocess.Popen(
        [sys.executable, str(CHILD), str(share), dsn, str(home / "fast-disk")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    machine = Machine(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            doc = json.loads(line)
            (machine.events if "event" in doc else machine.answers).put(doc)

    threading.Thread(target=read, daemon=True).start()
    machine.name = str(machine.answer()["ready"])
    return machine


@pytest.fixture
def machines(tmp_path: Path, postgres_dsn: str) -> Iterator[tuple[Machine, Machine, Machine]]:
    share = tmp_path / "share"
    started: list[Machine] = []
    try:
        started.append(_start(tmp_path, "a", share, postgres_dsn))  # the first creates the library
        started += [_start(tmp_path, name, share, postgres_dsn) for name in ("b", "c")]
        yield started[0], started[1], started[2]
    finally:
        for machine in started:
            if machine.process.poll() is None:
                machine.send(op="quit")
        for machine in started:
            try:
                machine.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                machine.process.kill()


def test_three_machines_share_one_library(machines: tuple[Machine, Machine, Machine], tmp_path: Path) -> None:
    a, b, c = machines
    assert len({a.name, b.name, c.name}) == 3, "each machine has a name of its own (same host here)"
    # The same bytes imported on all three at once: one model.
    original = synth.write_family(tmp_path / "in-a" / "same.safetensors", "sdxl_lora_kohya")
    copies = [original]
    for name in ("b", "c"):
        copy = tmp_path / f"in-{name}" / "same.safetensors"
        copy.parent.mkdir(parents=True)
        copy.write_bytes(original.read_bytes())
        copies.append(copy)
    for machine, path in zip((a, b, c), copies, strict=True):
        machine.send(op="import", paths=[str(path)])
    items = [m.answer()["items"][0] for m in (a, b, c)]
    assert len({item["id"] for item in items}) == 1, items
    assert sorted(item["status"] for item in items) == ["duplicate", "duplicate", "imported"]
    a.send(op="count")
    assert a.answer()["count"] == 1
    assert len(list((tmp_path / "share" / "models").rglob("metadata.json"))) == 1
    # A imports another model: B hears it within a second, marked remote, from A.
    while not b.events.empty():
        b.events.get()
    fresh = synth.write_family(tmp_path / "in-a" / "fresh.safetensors", "sd15_lora_kohya")
    a.send(op="import", paths=[str(fresh)])
    [imported] = a.answer()["items"]
    assert imported["status"] == "imported"
    committed = time.monotonic()
    heard = None
    while heard is None and time.monotonic() - committed < 1.0:
        try:
            doc = b.events.get(timeout=max(0.01, 1.0 - (time.monotonic() - committed)))
        except queue.Empty:
            break
        data = doc["data"]
        if doc["event"] == "changed" and data.get("remote") and imported["id"] in data.get("ids", []):
            heard = data
    assert heard is not None and heard["machine"] == a.name, "B did not hear A's import within a second"
    # B's cache fills once from the share, then serves from its local disk.
    on_share = next((tmp_path / "share" / "models").rglob("fresh.safetensors"))
    b.send(op="route", path=str(on_share))
    first = Path(b.answer()["path"])
    assert first.is_relative_to(tmp_path / "b-home" / "fast-disk")
    inode = first.stat().st_ino
    b.send(op="route", path=str(on_share))
    assert Path(b.answer()["path"]) == first and first.stat().st_ino == inode  # not copied again
    assert first.read_bytes() == on_share.read_bytes()

"""kill -9 at random points of an adoption and of an undo: every original name keeps resolving to its
bytes, and running again finishes the job (THREATS.md faults; invariants 1, 2, 6)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from tests.invariants import check_library_invariants
from tests.synth import write_sharded_set

from .support import (
    adopt_links,
    hashes_of,
    make_install,
    points_into,
    records_match_table,
    service,
    sha256_of,
    write_model,
)

CHILD = Path(__file__).with_name("adopt_child.py")
PROJECT = Path(__file__).resolve().parents[3]


def _install(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """~20 files: distinct models, duplicates in other folders, a sharded set (several files, one model)."""
    install = make_install(tmp_path / "ComfyUI")
    for i in range(10):
        write_model(install / f"models/loras/l{i:02d}.safetensors", f"lora-{i}")
    for i in range(5):
        write_model(install / f"models/checkpoints/dup{i:02d}.safetensors", f"lora-{i * 2}")
    write_model(install / "models/vae/v.safetensors", "vae")
    write_sharded_set(install / "models/diffusion_models", stem="big", n=3)
    files = sorted(p for p in (install / "models").rglob("*") if p.is_file())
    return install, hashes_of(files)


def _kill_at(root: Path, install: Path, mode: str, seed: int, after_lines: int) -> list[str]:
    """Start the child, SIGKILL it once it has printed ``after_lines`` stages; return what it printed."""
    # The parent's path first: the child runs the code under test, not another installed copy.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"), str(PROJECT)))),
    }
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(root), str(install), mode, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    seen: list[str] = []
    assert child.stdout is not None
    try:
        for line in child.stdout:
            seen.append(line.strip())
            if len(seen) >= after_lines:
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.wait(timeout=60)
        child.stdout.close()
    # Killed where we meant to, or done before the chosen point: never died of its own error.
    assert child.returncode == -signal.SIGKILL or seen[-1:] == ["FINISHED"], (child.returncode, seen)
    return seen


def _every_name_resolves(hashes: dict[str, str]) -> None:
    for path, digest in hashes.items():
        assert os.path.exists(path), f"{path} no longer resolves"
        assert sha256_of(path) == digest, f"{path} resolves to other bytes"


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_kill_9_during_adoption_then_run_again(tmp_path: Path, seed: int) -> None:
    install, hashes = _install(tmp_path)
    root = tmp_path / "library"
    Library.open(load_config(root)).close()
    after = random.Random(seed).randint(1, 45)
    _kill_at(root, install, "adopt", seed, after)
    _every_name_resolves(hashes)  # before any recovery

    with Library.open(load_config(root)) as library:  # recovers interrupted imports
        _every_name_resolves(hashes)
        check_library_invariants(root)
        report = service(library).adopt(install)
        assert not report.failed, report.to_dict()
        _every_name_resolves(hashes)
        for path in hashes:
            assert os.path.islink(path) and points_into(Path(path), library.config.models_dir), path
        assert len(adopt_links(library)) == len(hashes)
        assert not library.db.execute_read("SELECT 1 FROM journal")
        for f in library.config.models_dir.rglob("*.safetensors"):
            assert f.stat().st_nlink == 1, f  # stored once, nothing shared with an old original
        assert not list(install.rglob("*.mlib-tmp"))
        records_match_table(library)
        check_library_invariants(root)


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_kill_9_during_undo_then_run_again(tmp_path: Path, seed: int) -> None:
    install, hashes = _install(tmp_path)
    root = tmp_path / "library"
    with Library.open(load_config(root)) as library:
        assert not service(library).adopt(install).failed
    after = random.Random(seed).randint(1, 2 * len(hashes))
    _kill_at(root, install, "undo", seed, after)
    _every_name_resolves(hashes)

    with Library.open(load_config(root)) as library:
        report = service(library).undo(install)
        assert not report.failed, report.to_dict()
        for path in hashes:
            assert not os.path.islink(path), path
        _every_name_resolves(hashes)
        assert not adopt_links(library)
        assert not library.db.execute_read("SELECT 1 FROM journal")
        assert not list(install.rglob("*.mlib-tmp"))
        check_library_invariants(root)

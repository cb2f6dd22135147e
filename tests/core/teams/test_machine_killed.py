"""kill -9 of one machine in the middle of an import into a shared library (issue 18): nothing is lost,
the other machines never touch its half-done import, and its own restart finishes or undoes it.

The import moves the user's file (their only copy) so that a loss would show."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth

REPO = Path(__file__).resolve().parents[3]

DIES = r"""
import os, sys
from pathlib import Path
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.importer import commit as commit_mod
from comfyui_model_library.core.library import Library

share, dsn, src, point = sys.argv[1:5]
models = str(Path(share) / "models")

def die():
    os._exit(137)  # as kill -9: no cleanup, no atexit

if point == "sidecar":  # the model's files and record are staged on the share, nothing placed
    real = commit_mod.write_sidecar
    def write_sidecar(*a, **k):
        real(*a, **k)
        die()
    commit_mod.write_sidecar = write_sidecar
elif point == "renamed":  # placed in models/, not yet in the shared catalog
    real_rename = os.rename
    def rename(a, b, *args, **k):
        real_rename(a, b, *args, **k)
        if os.fspath(b).startswith(models):
            die()
    os.rename = rename
elif point == "row":  # in the shared catalog, the stage not yet cleaned up
    real_rmtree = commit_mod.shutil.rmtree
    def rmtree(path, *a, **k):
        if ".tmp" in os.fspath(path):
            die()
        real_rmtree(path, *a, **k)
    commit_mod.shutil.rmtree = rmtree

config = load_config(share, catalog=dsn, state_root=Path(share).parent / "a-state", machine="a")
with Library.open(config) as lib:
    lib.imports.import_paths([src], move=True, lookup=False)
print("finished without reaching the crash point")
"""


def _machine(share: Path, dsn: str, name: str) -> Library:
    return Library.open(
        load_config(share, catalog=dsn, state_root=share.parent / f"{name}-state", machine=name)
    )


@pytest.mark.parametrize("point", ["sidecar", "renamed", "row"])
def test_a_machine_killed_mid_import_loses_nothing(tmp_path: Path, postgres_dsn: str, point: str) -> None:
    share = tmp_path / "share"
    src = synth.write_family(tmp_path / "in" / "only-copy.safetensors", "sdxl_lora_kohya")
    original = hashlib.sha256(src.read_bytes()).hexdigest()
    with _machine(share, postgres_dsn, "b"):
        pass  # the library exists, B has joined
    died = subprocess.run(
        [sys.executable, "-c", DIES, str(share), postgres_dsn, str(src), point],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert died.returncode == 137, (died.stdout, died.stderr[-2000:])
    a_stages = share / ".tmp" / "machines" / "a"
    staged_before = sorted(p.name for p in a_stages.iterdir())
    # B starts while A is down: it never touches A's stages, and never lists half a model.
    with _machine(share, postgres_dsn, "b") as b:
        assert sorted(p.name for p in a_stages.iterdir()) == staged_before
        for model in b.repo.list(ModelQuery()).items:
            assert (share / model.rel_dir / "only-copy.safetensors").is_file()
    # A comes back: its recovery finishes or undoes the import.
    with _machine(share, postgres_dsn, "a") as a:
        models = a.repo.list(ModelQuery()).items
        library_copies = [share / m.rel_dir / "only-copy.safetensors" for m in models]
        copies = [p for p in [src, *library_copies] if p.is_file()]
        assert copies, "the user's only copy is gone"
        assert all(hashlib.sha256(p.read_bytes()).hexdigest() == original for p in copies)
        assert len(models) <= 1 and len(list((share / "models").rglob("metadata.json"))) == len(models)
        assert not [p for p in a_stages.iterdir() if not p.name.endswith(".lock")], list(a_stages.iterdir())
        # And the import can be done (again) to the end.
        if src.is_file():
            [item] = a.imports.import_paths([src], move=True, lookup=False)
            assert item.status in ("imported", "duplicate"), item
        assert a.repo.count() == 1

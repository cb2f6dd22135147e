"""A deterministic crash at each step of an import's commit (and of a move's staging): the process stops
with os._exit right after the step, then the library is opened again (recovery) and THREATS.md's
invariants hold, the user's bytes exist somewhere, and importing again makes no second copy.

The steps, in order (core/importer/stage.py and commit.py):
  moved        a move: the source is linked into the stage and unlinked (after its moves.json entry)
  sidecar      metadata.json written into the staged folder
  journal      the 'placing' journal row committed (just before the rename into models/)
  renamed      the staged folder renamed into models/ (no catalog row yet)
  row          the catalog row inserted and the journal row deleted (the stage not yet cleaned)
"""

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
from tests.invariants import check_library_invariants

REPO = Path(__file__).resolve().parents[3]

CRASH = r"""
import os, shutil, sys
from pathlib import Path
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.importer import commit as commit_mod
from comfyui_model_library.core.library import Library

root, src, move, point = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
models = str(Path(root) / "models")

def stop():
    os._exit(137)

if point == "moved":
    real_unlink = os.unlink
    def unlink(path, *a, **k):
        real_unlink(path, *a, **k)
        if os.fspath(path) == src:
            stop()
    os.unlink = unlink
elif point == "sidecar":
    real_sidecar = commit_mod.write_sidecar
    def write_sidecar(*a, **k):
        real_sidecar(*a, **k)
        stop()
    commit_mod.write_sidecar = write_sidecar
elif point in ("journal", "renamed"):
    real_rename = os.rename
    def rename(a, b, *args, **k):
        into_models = os.fspath(b).startswith(models)
        if into_models and point == "journal":
            stop()
        real_rename(a, b, *args, **k)
        if into_models:
            stop()
    os.rename = rename
elif point == "row":
    real_rmtree = commit_mod.shutil.rmtree
    def rmtree(path, *a, **k):
        if ".tmp" in os.fspath(path):
            stop()
        real_rmtree(path, *a, **k)
    commit_mod.shutil.rmtree = rmtree

with Library.open(load_config(root)) as lib:
    lib.import_paths([src], move=move, lookup=False)
print("finished without reaching the crash point")
"""

POINTS = ["sidecar", "journal", "renamed", "row"]


@pytest.mark.parametrize(
    ("move", "point"),
    [(False, p) for p in POINTS] + [(True, p) for p in ["moved", *POINTS]],
    ids=lambda v: {False: "copy", True: "move"}.get(v, v) if isinstance(v, bool) else v,
)
def test_a_crash_right_after_each_commit_step_loses_nothing(tmp_path: Path, move: bool, point: str) -> None:
    root = tmp_path / "lib"
    incoming = tmp_path / "in"
    src = synth.write_family(incoming / "epic.safetensors", "sdxl_lora_kohya")
    original = hashlib.sha256(src.read_bytes()).hexdigest()
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(root), str(src), "1" if move else "0", point],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 137, (point, done.stdout, done.stderr[-2000:])

    config = load_config(root, import_roots=(incoming,))
    with Library.open(config) as library:  # recovery runs here
        models = library.list_models(ModelQuery()).items
        placed = point in ("renamed", "row")
        assert len(models) == (1 if placed else 0), (point, library.recovered)
        assert library.db.execute_read("PRAGMA quick_check")[0][0] == "ok"
        assert library.db.execute_read("SELECT count(*) FROM journal")[0][0] == 0
        # The user's bytes exist in at least one place: the source, or the library's copy.
        places = [src] if src.exists() else []
        places += [library.model_file_path(m.id) for m in models]
        assert places and all(hashlib.sha256(p.read_bytes()).hexdigest() == original for p in places)
        if not move or point in ("sidecar", "journal", "moved"):
            assert src.exists(), "a move that was not committed put the source back"
        # Importing again (the source if it is still there) makes no second copy.
        if src.exists():
            [again] = library.import_paths([src], lookup=False)
            assert again.status in ("imported", "duplicate"), again.error
        assert library.list_models(ModelQuery()).total == 1
        assert len(list((root / "models").rglob("metadata.json"))) == 1
        leftovers = [p for p in (root / ".tmp").iterdir() if p.name.startswith("stage-")]
        assert leftovers == [], leftovers
    check_library_invariants(root, full_hash=True)


def test_a_duplicate_imported_with_move_lands_in_the_trash(tmp_path: Path) -> None:
    """The user asked to move bytes the library holds already: they are kept in the trash (recoverable),
    never deleted, and the source is gone from its folder as a move promises."""
    incoming = tmp_path / "in"
    first = synth.write_family(incoming / "epic.safetensors", "sdxl_lora_kohya")
    again = incoming / "epic copy.safetensors"
    again.write_bytes(first.read_bytes())
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    with Library.open(load_config(tmp_path / "lib", import_roots=(incoming,))) as library:
        [kept] = library.import_paths([first], lookup=False)
        [dup] = library.import_paths([again], move=True, lookup=False)
        assert (kept.status, dup.status) == ("imported", "duplicate")
        assert not again.exists()
        trashed = [p for p in library.config.trash_dir.rglob("*") if p.is_file()]
        assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in trashed] == [digest]

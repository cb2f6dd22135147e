"""A deterministic crash at each step of an import's commit (and of a move's staging): the process stops
with os._exit right after the step, then the library is opened again (recovery) and THREATS.md's
invariants hold, the user's bytes exist somewhere, and importing again makes no second copy.

The steps, in order (core/importer/stage.py, commit.py and pipeline.py):
  journalled   a move: the source's entry written to the stage's moves.json (nothing moved yet)
  linked       a move: the source hard-linked into the stage (both names hold the bytes)
  moved        a move: the source unlinked (the stage holds the only name)
  sidecar      metadata.json written into the staged folder
  journal      the 'placing' journal row committed (just before the rename into models/)
  renamed      the staged folder renamed into models/ (no catalog row yet)
  row          the catalog row inserted and the journal row deleted (the stage not yet cleaned)
  unlinked     a move across drives (copied, not renamed): the source removed after the commit
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
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
from comfyui_model_library.core.importer import stage as stage_mod
from comfyui_model_library.core.library import Library

root, src, move, point = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
models = str(Path(root) / "models")

def stop():
    os._exit(137)

if point == "journalled":
    real_record = stage_mod.record_move
    def record_move(*a, **k):
        real_record(*a, **k)
        stop()
    stage_mod.record_move = record_move
elif point == "linked":
    real_link = os.link
    def link(a, b, *args, **k):
        real_link(a, b, *args, **k)
        if os.fspath(a) == src:
            stop()
    os.link = link
elif point in ("moved", "unlinked"):
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
    lib.imports.import_paths([src], move=move, lookup=False)
print("finished without reaching the crash point")
"""

POINTS = ["sidecar", "journal", "renamed", "row"]
CASES = (
    [("copy", p) for p in POINTS]
    + [("move", p) for p in ["journalled", "linked", "moved", *POINTS]]
    + [("move-across", p) for p in [*POINTS, "unlinked"]]
)


@pytest.fixture
def other_drive(tmp_path: Path) -> Iterator[Path]:
    """A folder on another filesystem (a small tmpfs): a move from there is a copy, then a removal."""
    folder = tmp_path / "other-drive"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode(errors='replace')}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize(("mode", "point"), CASES, ids=[f"{m}-{p}" for m, p in CASES])
def test_a_crash_right_after_each_commit_step_loses_nothing(
    tmp_path: Path, request: pytest.FixtureRequest, mode: str, point: str
) -> None:
    root = tmp_path / "lib"
    incoming = request.getfixturevalue("other_drive") if mode == "move-across" else tmp_path / "in"
    move = mode != "copy"
    src = synth.write_family(incoming / "epic.safetensors", "sdxl_lora_kohya")
    if mode == "move-across":
        assert src.stat().st_dev != tmp_path.stat().st_dev
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
        models = library.catalog.list_models(ModelQuery()).items
        placed = point in ("renamed", "row", "unlinked")
        assert len(models) == (1 if placed else 0), (point, library.recovered)
        assert library.db.execute_read("PRAGMA quick_check")[0][0] == "ok"
        assert library.db.execute_read("SELECT count(*) FROM journal")[0][0] == 0
        # The user's bytes exist in at least one place: the source, or the library's copy.
        places = [src] if src.exists() else []
        places += [library.catalog.model_file_path(m.id) for m in models]
        assert places and all(hashlib.sha256(p.read_bytes()).hexdigest() == original for p in places)
        if not placed:
            assert src.exists(), "a move that was not committed put the source back"
        if mode == "move" and placed:
            assert not src.exists(), "a committed move (a rename) left a second name behind"
        # Importing again (the source if it is still there) makes no second copy.
        if src.exists():
            [again] = library.imports.import_paths([src], lookup=False)
            assert again.status in ("imported", "duplicate"), again.error
        assert library.catalog.list_models(ModelQuery()).total == 1
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
        [kept] = library.imports.import_paths([first], lookup=False)
        [dup] = library.imports.import_paths([again], move=True, lookup=False)
        assert (kept.status, dup.status) == ("imported", "duplicate")
        assert not again.exists()
        trashed = [p for p in library.config.trash_dir.rglob("*") if p.is_file()]
        assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in trashed] == [digest]

"""The write half of issue 13's fault matrix: every command against a library disk that refuses the
catalog's writes. Nothing the user had may be lost, nothing set aside, nothing left half-done; the same
command works once the disk does. (The damage half, the catalog lost between two commands, is
test_fault_matrix.py.)

Write faults are real, on a 16 MiB tmpfs holding the library (the ``small_disk`` fixture):
- ``enospc-N``: the disk filled until only N bytes are free, so the first write that needs more fails
  with ENOSPC wherever it falls (the model copy, metadata.json, the WAL frames, the -shm index at open).
  The ladder of N moves the failing write along each command.
- ``eio``: the disk remounted read-only, which is what the kernel does to a disk after I/O errors
  (``errors=remount-ro``); SQLite then fails its writes with SQLITE_READONLY / SQLITE_IOERR_*. A
  file-size limit (EFBIG) would also do, but it would hit pytest's own capture files in-process.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.sidecar import files_present, iter_sidecar_dirs
from comfyui_model_library.core.config import LibraryConfig, load_config
from comfyui_model_library.core.errors import CatalogError, InsufficientSpace, StorageError
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth


class SmallDisk:
    """A real 16 MiB tmpfs: ``fill()`` makes every write on it fail with ENOSPC, ``free()`` undoes it;
    ``read_only()`` remounts it read-only, ``writable()`` undoes that."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / "filler"

    def fill(self) -> None:
        with open(self._filler, "ab", buffering=0) as fh:
            for size in (1 << 20, 1 << 12, 1):  # down to the last byte
                try:
                    while True:
                        fh.write(b"\0" * size)
                except OSError:
                    pass

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)

    def writable(self) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A real small tmpfs (skipped where mounting is not permitted, e.g. CI without root)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "small-disk", str(mount_point)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode(errors='replace').strip()})")
    try:
        yield SmallDisk(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@dataclass
class Session:
    config: LibraryConfig
    incoming: Path
    comfy: Path
    share: Path
    ids: dict[str, str] = field(default_factory=dict)  # name -> model id


def _session(root: Path, tmp_path: Path) -> Session:
    incoming, comfy, share = tmp_path / "incoming", tmp_path / "ComfyUI", tmp_path / "share"
    for name, family in (("a", "sdxl_lora_kohya"), ("b", "sd15_lora_kohya"), ("c", "sdxl_checkpoint")):
        synth.write_family(incoming / f"{name}.safetensors", family)
    synth.write_family(share / "s.safetensors", "sd15_lora_kohya")
    synth.comfyui_install(comfy, "loras")
    config = load_config(root, free_space_margin=0, lookup_after_import=False, import_roots=(incoming,))
    return Session(config, incoming, comfy, share)


def _import(s: Session, lib: Library, name: str) -> None:
    [item] = lib.imports.import_paths([s.incoming / f"{name}.safetensors"], lookup=False)
    if item.status == "failed":
        raise StorageError(item.error or "import failed")
    assert item.model is not None
    s.ids[name] = item.model.id


Step = Callable[[Session, Library], None]
STEPS: dict[str, Step] = {
    "import": lambda s, lib: _import(s, lib, "c"),
    "edit": lambda s, lib: lib.catalog.edit_model(s.ids["a"], notes="kept", add_tags=["mine"]) and None,
    "remove": lambda s, lib: lib.catalog.remove_model(s.ids["b"]) and None,
    "sources add": lambda s, lib: lib.sources.add(s.share) and None,
    "map apply": lambda s, lib: lib.mapping.apply(s.comfy) and None,
}


def _stocked(s: Session) -> None:
    with Library.open(s.config) as lib:
        _import(s, lib, "a")
        _import(s, lib, "b")


def _check_library(s: Session, *, removed: set[str], damaged: bool = False) -> Library:
    """Reopen; assert every model kept, files and rows agreeing, the catalog sound and never set aside."""
    lib = Library.open(s.config)
    assert not lib.db.read_only
    if not damaged:  # a refused write never sets the catalog aside (damage is kept aside, never deleted)
        assert [p.name for p in s.config.root.iterdir() if ".corrupt-" in p.name] == []
    assert sqlite3.connect(s.config.catalog_path).execute("PRAGMA quick_check").fetchone() == ("ok",)
    models = {
        m.id: m for m in lib.catalog.list_models(ModelQuery(limit=500)).items if m.location == "library"
    }
    expected = {i for n, i in s.ids.items() if n not in removed}
    assert set(models) == expected
    for model in models.values():
        assert files_present(lib.catalog.model_dir(model), model)
    folders = list(iter_sidecar_dirs(s.config.models_dir))
    assert len(folders) == len(models)  # a row for every model folder, never a second copy
    return lib


def _assert_records(lib: Library, s: Session, *, sources: bool) -> None:
    """Records (sources, links, installs) kept beside the catalog survive too: extend here."""
    if sources:
        assert str(s.share) in [src["path"] for src in lib.sources.list_sources()]


def _leave_free(disk: SmallDisk, left: int) -> None:
    disk.fill()
    disk.free()
    free = os.statvfs(disk.path).f_bavail * os.statvfs(disk.path).f_frsize
    with open(disk.path / "filler", "wb", buffering=0) as fh:
        fh.truncate(0)
        try:
            fh.write(b"\0" * max(free - left, 0))
        except OSError:
            pass


WRITE_FAULTS = ("enospc-0", "enospc-16k", "enospc-96k", "eio")


@pytest.mark.parametrize("fault", WRITE_FAULTS)
@pytest.mark.parametrize("command", list(STEPS))
def test_a_refused_catalog_write_loses_nothing(
    small_disk: SmallDisk, tmp_path: Path, command: str, fault: str
) -> None:
    s = _session(small_disk.path / "library", tmp_path)
    _stocked(s)
    if fault == "eio":
        small_disk.read_only()
    else:
        _leave_free(small_disk, int(fault.split("-")[1].rstrip("k") or 0) * 1024)
    done = False
    try:
        with Library.open(s.config) as lib:  # opening needs no write
            assert lib.catalog.list_models(ModelQuery()).total >= 2
            try:
                STEPS[command](s, lib)
                done = True
            except StorageError as exc:
                assert not isinstance(exc, CatalogError)
                if fault != "eio":
                    assert isinstance(exc, InsufficientSpace) or "No space" in str(exc), exc
    finally:
        if fault == "eio":
            small_disk.writable()
        small_disk.free()
    assert not (fault == "eio" and done and command != "map apply")  # a read-only disk took a write?
    removed = {"b"} if command == "remove" and done else set()
    with _check_library(s, removed=removed) as lib:
        STEPS[command](s, lib)  # once the disk is back, the same command simply works
    removed = {"b"} if command == "remove" else set()
    with _check_library(s, removed=removed) as lib:
        _assert_records(lib, s, sources=command == "sources add")


@pytest.mark.parametrize("fault", ["enospc-0", "eio"])
def test_a_library_opened_read_only_writes_again_once_the_disk_does(
    small_disk: SmallDisk, tmp_path: Path, fault: str
) -> None:
    """A host started on a full (or read-only) disk must not stay read-only until it is restarted."""
    s = _session(small_disk.path / "library", tmp_path)
    _stocked(s)
    small_disk.fill() if fault != "eio" else small_disk.read_only()
    with Library.open(s.config) as lib:
        assert lib.db.read_only
        with pytest.raises(StorageError):
            lib.catalog.edit_model(s.ids["a"], notes="refused")
        small_disk.free() if fault != "eio" else small_disk.writable()
        assert lib.catalog.edit_model(s.ids["a"], notes="accepted").notes == "accepted"
        assert not lib.db.read_only
        assert lib.catalog.get_model(s.ids["a"]).notes == "accepted"
    with _check_library(s, removed=set()) as lib:
        assert lib.catalog.get_model(s.ids["a"]).notes == "accepted"

"""Group commit: small files adopted (and imported) in batches stay crash-safe at every point, and a batch
commits once: one catalog transaction per step, each folder fsynced once, every file durable first.

The crash tests kill -9 a child just before the N-th rename, link or swap of a batch (or between two of
its steps); every original must still resolve to its bytes, and after recovery the library must hold
each model once and adoption must finish. The counting tests watch the catalog through SQLite's own
trace hook and the fsyncs through ``os.fsync``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from tests.invariants import check_library_invariants

from .support import (
    adopt_links,
    hashes_of,
    make_install,
    model_count,
    points_into,
    service,
    sha256_of,
    write_model,
)

CHILD = Path(__file__).with_name("group_child.py")
PROJECT = Path(__file__).resolve().parents[3]
FILES = 24  # one batch: every file is small


def _install(tmp_path: Path, files: int = FILES) -> tuple[Path, dict[str, str]]:
    install = make_install(tmp_path / "ComfyUI")
    for i in range(files):
        folder = "loras" if i % 3 else "checkpoints"
        write_model(install / "models" / folder / f"m{i:03d}.safetensors", f"model-{i}", size=4096)
    # A duplicate inside the batch (the one-model commit after the group's) and a name clash.
    write_model(install / "models/loras/again.safetensors", "model-1", size=4096)
    write_model(install / "models/checkpoints/m001.safetensors", "other-1", size=4096)
    paths = sorted(p for p in (install / "models").rglob("*") if p.is_file())
    return install, hashes_of(paths)


def _kill_child(
    root: Path, path: Path, mode: str, point: str, n: int, group: int = 0, batch: int = 0
) -> bool:
    """Run the child; True if it was killed at the point (False: it finished before reaching it).
    ``group``: the models per importer group (several groups in flight), or the default; ``batch``: the
    units per adoption batch (several batches in one importer run), or the default."""
    # The parent's path first: the child runs the code under test, not another installed copy.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"), str(PROJECT)))),
    }
    extra = [str(group), str(batch)] if batch else [str(group)] if group else []
    done = subprocess.run(
        [sys.executable, str(CHILD), str(root), str(path), mode, point, str(n), *extra],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.returncode == -signal.SIGKILL


def _library_with_a_model(tmp_path: Path, root: Path) -> None:
    """A library that holds a model already: recovery must come from the journal, not from the rebuild
    an empty catalog beside model folders gets."""
    seed = write_model(tmp_path / "elsewhere" / "seed.safetensors", "seed", size=4096)
    with Library.open(load_config(root)) as library:
        assert library.importer.run([seed])[0].status == "imported"


def _opened_without_rebuild(library: Library) -> None:
    assert not any("rebuilt" in note for note in library.recovered), library.recovered


def _every_name_resolves(hashes: dict[str, str]) -> None:
    for path, digest in hashes.items():
        assert os.path.exists(path), f"{path} no longer resolves"
        assert sha256_of(path) == digest, f"{path} resolves to other bytes"


def _distinct(hashes: dict[str, str]) -> int:
    return len(set(hashes.values()))


@pytest.mark.parametrize(
    ("point", "n"),
    [("rename", 1), ("rename", 12), ("symlink", 1), ("symlink", 13), ("replace", 5), ("replace", 30)]
    + [("fsync_many", n) for n in range(1, 4)],
)
def test_kill_9_inside_an_adoption_batch_then_run_again(tmp_path: Path, point: str, n: int) -> None:
    install, hashes = _install(tmp_path)
    root = tmp_path / "library"
    _library_with_a_model(tmp_path, root)
    assert _kill_child(root, install, "adopt", point, n), "the batch never reached the kill point"
    _every_name_resolves(hashes)  # before any recovery

    with Library.open(load_config(root)) as library:  # recovers the interrupted imports
        _opened_without_rebuild(library)
        _every_name_resolves(hashes)
        check_library_invariants(root)
        report = service(library).adopt(install)
        assert not report.failed, report.to_dict()
        _every_name_resolves(hashes)
        for path in hashes:
            assert os.path.islink(path) and points_into(Path(path), library.config.models_dir), path
        assert len(adopt_links(library)) == len(hashes)
        assert model_count(library) == _distinct(hashes) + 1  # each model stored once (and the seed)
        assert not library.db.execute_read("SELECT 1 FROM journal")
        assert not list(install.rglob("*.mlib-tmp"))
        assert not any(library.config.tmp_dir.glob("stage-*")), "a group's stage was left behind"
        check_library_invariants(root)


# Groups of 8: a batch of 26 units is 4 importer groups, each staged while the one before it commits and
# its originals are linked; the kill lands in the 2nd or 3rd group (a later group half staged).
@pytest.mark.parametrize(
    ("point", "n"),
    [("rename", 9), ("rename", 19), ("symlink", 8), ("symlink", 17), ("replace", 12), ("replace", 20)]
    + [("fsync_many", n) for n in (4, 5, 6, 8)],
)
def test_kill_9_while_the_next_group_stages_then_run_again(tmp_path: Path, point: str, n: int) -> None:
    install, hashes = _install(tmp_path)
    root = tmp_path / "library"
    _library_with_a_model(tmp_path, root)
    assert _kill_child(root, install, "adopt", point, n, group=8), "the batch never reached the kill point"
    _every_name_resolves(hashes)  # before any recovery

    with Library.open(load_config(root)) as library:
        _opened_without_rebuild(library)
        _every_name_resolves(hashes)
        check_library_invariants(root)
        report = service(library).adopt(install)
        assert not report.failed, report.to_dict()
        _every_name_resolves(hashes)
        for path in hashes:
            assert os.path.islink(path) and points_into(Path(path), library.config.models_dir), path
        assert len(adopt_links(library)) == len(hashes)
        assert model_count(library) == _distinct(hashes) + 1
        assert not library.db.execute_read("SELECT 1 FROM journal")
        assert not list(install.rglob("*.mlib-tmp"))
        assert not any(library.config.tmp_dir.glob("stage-*")), "a group's stage was left behind"
        check_library_invariants(root)


# Groups of 8 and batches of 10: 26 units are 3 batches in one importer run, a batch's links registered
# (the link records rewritten: the 19th-28th, 37th-46th and 49th-54th os.replace) while the next group
# stages; the kill lands inside a registration, in a swap of a later batch or between two steps.
@pytest.mark.parametrize(
    ("point", "n"),
    [("rename", 17), ("symlink", 17), ("replace", 19), ("replace", 24), ("replace", 29), ("replace", 40)]
    + [("replace", 50)]
    + [("fsync_many", n) for n in (7, 9, 10)],
)
def test_kill_9_between_batches_of_one_run_then_run_again(tmp_path: Path, point: str, n: int) -> None:
    install, hashes = _install(tmp_path)
    root = tmp_path / "library"
    _library_with_a_model(tmp_path, root)
    assert _kill_child(root, install, "adopt", point, n, group=8, batch=10), "never reached the kill point"
    _every_name_resolves(hashes)  # before any recovery

    with Library.open(load_config(root)) as library:
        _opened_without_rebuild(library)
        _every_name_resolves(hashes)
        check_library_invariants(root)
        report = service(library).adopt(install)
        assert not report.failed, report.to_dict()
        _every_name_resolves(hashes)
        for path in hashes:
            assert os.path.islink(path) and points_into(Path(path), library.config.models_dir), path
        assert len(adopt_links(library)) == len(hashes)
        assert model_count(library) == _distinct(hashes) + 1
        assert not library.db.execute_read("SELECT 1 FROM journal")
        assert not list(install.rglob("*.mlib-tmp"))
        assert not any(library.config.tmp_dir.glob("stage-*")), "a group's stage was left behind"
        check_library_invariants(root)


@pytest.mark.parametrize(
    ("point", "n"), [("rename", 1), ("rename", 10), ("fsync_many", 1), ("fsync_many", 2)]
)
def test_kill_9_inside_an_import_group_then_import_again(tmp_path: Path, point: str, n: int) -> None:
    install, hashes = _install(tmp_path)
    models = install / "models"
    root = tmp_path / "library"
    _library_with_a_model(tmp_path, root)
    assert _kill_child(root, models, "import", point, n)
    before = dict(hashes)
    _every_name_resolves(before)  # a copy never touches its sources

    with Library.open(load_config(root)) as library:
        _opened_without_rebuild(library)
        check_library_invariants(root)
        recovered = model_count(library) - 1
        assert recovered <= _distinct(hashes)
        items = library.importer.run([models])
        assert not [i for i in items if i.status == "failed"], items
        assert model_count(library) == _distinct(hashes) + 1
        assert not library.db.execute_read("SELECT 1 FROM journal")
        assert not any(library.config.tmp_dir.glob("stage-*"))
        check_library_invariants(root)


# -- one commit per batch ----------------------------------------------------------------------------------
@contextmanager
def _watched(library: Library) -> Iterator[list[tuple[str, str]]]:
    """Events in order: ("commit", what the transaction wrote) from SQLite's trace hook on the catalog's
    writer, and ("fsync", path) for every fsync (Linux names an fd's path in /proc)."""
    events: list[tuple[str, str]] = []
    wrote: list[str] = []

    def trace(sql: str) -> None:
        head = " ".join(sql.split()[:3]).upper()
        if head.startswith("COMMIT"):
            events.append(("commit", ",".join(sorted(set(wrote)))))
            wrote.clear()
        elif head.startswith(("INSERT", "DELETE", "UPDATE")):
            wrote.append(head.split()[2].split("(")[0] if head.startswith("INSERT") else head.split()[2])

    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    writer = library.db._writer  # the one connection every write goes through
    writer.set_trace_callback(trace)
    os.fsync = fsync
    try:
        yield events
    finally:
        os.fsync = real_fsync
        writer.set_trace_callback(None)


pytestmark_linux = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names fds through /proc")


def _adopt_watched(tmp_path: Path, files: int) -> tuple[list[tuple[str, str]], Path, Library]:
    install = make_install(tmp_path / "ComfyUI")
    for i in range(files):
        write_model(install / "models/loras" / f"m{i:03d}.safetensors", f"model-{i}", size=4096)
    library = Library.open(load_config(tmp_path / "library"))
    with _watched(library) as events:
        report = service(library).adopt(install)
    assert report.adopted == files and not report.failed, report.to_dict()
    return events, install, library


@pytestmark_linux
def test_a_batch_commits_once_whatever_its_size(tmp_path: Path) -> None:
    few, _, lib1 = _adopt_watched(tmp_path / "few", 5)
    many, install, lib2 = _adopt_watched(tmp_path / "many", 60)
    try:
        commits = [what for kind, what in many if kind == "commit"]
        assert len(commits) == len([1 for kind, _ in few if kind == "commit"]), commits
        assert sum("MODELS" in w for w in commits) == 1, commits  # one catalog transaction adds all 60
        assert sum("LINKS" in w for w in commits) == 1, commits  # one registers every link
        journal_commits = [w for w in commits if "JOURNAL" in w]
        assert len(journal_commits) <= 6, journal_commits  # per step of the batch, not per file
        originals = str(install / "models" / "loras")
        assert [p for kind, p in many if kind == "fsync" and p == originals] == [originals]
    finally:
        lib1.close()
        lib2.close()


@pytestmark_linux
def test_every_file_is_durable_before_the_catalog_names_it(tmp_path: Path) -> None:
    events, install, library = _adopt_watched(tmp_path, 30)
    try:
        first_models = next(
            i for i, (kind, what) in enumerate(events) if kind == "commit" and "MODELS" in what
        )
        links = next(i for i, (kind, what) in enumerate(events) if kind == "commit" and "LINKS" in what)
        synced_before = {p for kind, p in events[:first_models] if kind == "fsync"}
        models = list(library.repo.iter_all())
        assert len(models) == 30
        # Each model's metadata.json (synced in its stage, before the folder is renamed into models/).
        assert len({p for p in synced_before if p.endswith("/metadata.json")}) == len(models)
        for model in models:
            folder = library.config.root.joinpath(*model.rel_dir.split("/"))
            # The rename into models/ is durable: the folder's parent was synced before the commit.
            assert str(folder.parent) in synced_before, folder
        # Every swap over an original is durable before the links are registered.
        assert str(install / "models" / "loras") in {
            p for kind, p in events[first_models:links] if kind == "fsync"
        }
    finally:
        library.close()


@pytestmark_linux
def test_a_syncfs_in_place_of_the_fsyncs_comes_after_every_file_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enough files for one syncfs (``io/syncfs.py``) to sync a step's sidecars and folders: it runs once
    every metadata.json of the group is written, on the library's filesystem, before the catalog names
    any of them; the swaps over the originals are still durable before the links are registered."""
    from comfyui_model_library.core.io import syncfs

    count = syncfs.SYNCFS_MIN_PATHS  # a sidecar and a folder each: twice the least syncfs takes
    install = make_install(tmp_path / "ComfyUI")
    for i in range(count):
        write_model(install / "models/loras" / f"m{i:03d}.safetensors", f"model-{i}", size=4096)
    library = Library.open(load_config(tmp_path / "library"))
    synced: list[tuple[int, int]] = []
    real = syncfs._syncfs()

    def recorded(fd: int) -> int:
        written = len(list(library.config.tmp_dir.glob("*/stage-*/metadata.json")))
        synced.append((os.fstat(fd).st_dev, written))
        return real(fd) if real is not None else (os.sync() or 0)

    monkeypatch.setattr(syncfs, "_loaded", recorded)
    monkeypatch.setattr(syncfs, "dirty_bytes", lambda: 0)
    try:
        with _watched(library) as events:
            report = service(library).adopt(install)
        assert report.adopted == count and not report.failed, report.to_dict()
        first_models = next(i for i, (k, what) in enumerate(events) if k == "commit" and "MODELS" in what)
        assert synced, "a group this large is synced by syncfs"
        device, written = synced[0]
        assert written == count, "every metadata.json of the group was written before the sync"
        assert device == os.stat(library.config.root).st_dev
        assert not any(p.endswith("/metadata.json") for k, p in events[:first_models] if k == "fsync")
        links = next(i for i, (k, what) in enumerate(events) if k == "commit" and "LINKS" in what)
        assert str(install / "models" / "loras") in {p for k, p in events[first_models:links] if k == "fsync"}
    finally:
        library.close()


def test_links_in_a_symlinked_category_folder_resolve_from_its_real_folder(tmp_path: Path) -> None:
    """models/loras is a symlink to a folder on another disk: a relative link is resolved by the kernel
    from the real folder, so a batch's links must be written from there, in a real category folder beside
    it too."""
    install = make_install(tmp_path / "ComfyUI")
    elsewhere = tmp_path / "big-disk" / "loras"  # not as deep as models/loras: a link text from there misses
    elsewhere.mkdir(parents=True)
    (install / "models/loras").rmdir()
    os.symlink(elsewhere, install / "models/loras")
    models = install / "models"
    originals = [write_model(models / "loras" / f"l{i}.safetensors", f"l{i}") for i in range(6)]
    originals += [write_model(models / "checkpoints" / f"c{i}.safetensors", f"c{i}") for i in range(4)]
    before = hashes_of(originals)
    with Library.open(load_config(tmp_path / "library")) as library:
        report = service(library).adopt(install)
        assert report.adopted == len(originals) and not report.failed, report.to_dict()
        for path in originals:
            assert path.is_symlink() and not os.path.isabs(os.readlink(path)), path
            assert points_into(path, library.config.root), (path, os.readlink(path))
        assert hashes_of(originals) == before

"""Adopting real install folders: a link at every original path, duplicates stored once, nothing else."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.errors import Busy, InvalidInput
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.links.platform import LinkMaker, OsOps
from tests.invariants import check_library_invariants
from tests.synth import write_diffusers_folder, write_sharded_set

from .support import (
    MODEL_DATA,
    adopt_links,
    hashes_of,
    make_install,
    model_count,
    points_into,
    service,
    sha256_of,
    snapshot,
    write_model,
)


@pytest.fixture
def installs(tmp_path: Path) -> tuple[Path, Path]:
    """Install A: a checkpoint, a lora and a copy of that lora; install B: a copy of A's checkpoint."""
    a = make_install(tmp_path / "ComfyUI-A")
    b = make_install(tmp_path / "ComfyUI-B")
    write_model(a / "models/checkpoints/base.safetensors", "base")
    write_model(a / "models/loras/style.safetensors", "style")
    write_model(a / "models/loras/old/style-copy.safetensors", "style")
    write_model(b / "models/checkpoints/base-again.safetensors", "base")
    write_model(b / "models/loras/other.safetensors", "other")
    return a, b


def model_files(install: Path) -> list[Path]:
    return sorted(p for p in (install / "models").rglob("*.safetensors"))


def test_two_installs_duplicates_stored_once_every_name_resolves(
    library: Library, installs: tuple[Path, Path]
) -> None:
    a, b = installs
    before = hashes_of(model_files(a) + model_files(b))
    adopt = service(library)

    report_a = adopt.adopt(a)
    assert (report_a.planned, report_a.adopted, report_a.duplicates) == (3, 3, 1)
    assert report_a.links_created == 3 and not report_a.failed and not report_a.skipped
    assert report_a.bytes_copied == 0  # one filesystem: every model a hardlink of its original
    report_b = adopt.adopt(b)
    assert (report_b.adopted, report_b.duplicates) == (2, 1)

    head = 8 + 128  # the header grows with the seed; the data section is the bulk
    assert report_a.bytes_freed >= MODEL_DATA and report_a.bytes_freed < MODEL_DATA + head + 64
    assert report_b.bytes_freed == (a / "models/checkpoints/base.safetensors").stat().st_size
    assert model_count(library) == 3
    for path, digest in before.items():
        assert os.path.islink(path), path
        assert points_into(Path(path), library.config.models_dir)
        assert sha256_of(path) == digest
    # Stored once: every library file has exactly one name (the originals' inodes moved in or were freed).
    for f in library.config.models_dir.rglob("*.safetensors"):
        assert f.stat().st_nlink == 1, f
    assert len(adopt_links(library)) == 5
    check_library_invariants(library.config.root)

    again = adopt.adopt(a)
    assert (again.planned, again.adopted, again.already_adopted) == (0, 0, 3)


def test_extra_model_paths_folder_adopted_and_our_view_section_left_out(
    library: Library, tmp_path: Path
) -> None:
    install = make_install(tmp_path / "ComfyUI")
    shared = tmp_path / "shared-models"
    write_model(shared / "loras/extra.safetensors", "extra")
    view = library.config.views_dir / "x" / "loras"
    write_model(view / "in-view.safetensors", "view")  # a stand-in for a view file: must not be adopted
    (install / "extra_model_paths.yaml").write_text(
        f"mine:\n  base_path: {shared}\n  loras: loras\n"
        f"comfyui_model_library:\n  base_path: {view.parent}\n  loras: loras\n"
    )
    report = service(library).adopt(install)
    assert report.adopted == 1
    assert str(shared / "loras") in report.folders
    assert os.path.islink(shared / "loras/extra.safetensors")
    assert not os.path.islink(view / "in-view.safetensors")
    assert adopt_links(library)[0]["link_root"] == str(shared / "loras")


@pytest.fixture
def other_fs_dir() -> Iterator[Path]:
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm here")
    folder = Path(tempfile.mkdtemp(prefix="adopt-test-", dir="/dev/shm"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_folder_on_another_filesystem_is_copied_then_linked(
    library: Library, tmp_path: Path, other_fs_dir: Path
) -> None:
    if os.stat(other_fs_dir).st_dev == os.stat(library.config.root).st_dev:
        pytest.skip("/dev/shm is on the library's filesystem here")
    install = make_install(tmp_path / "ComfyUI")
    far = write_model(other_fs_dir / "loras/far.safetensors", "far")
    write_model(install / "models/loras/far-dup.safetensors", "far")
    digest = sha256_of(far)
    (install / "extra_model_paths.yaml").write_text(f"shm:\n  base_path: {other_fs_dir}\n  loras: loras\n")
    report = service(library).adopt(install)
    assert report.adopted == 2 and report.duplicates == 1 and not report.failed
    assert os.path.islink(far) and sha256_of(far) == digest
    assert points_into(far, library.config.models_dir)
    # /dev/shm sorts first: its file was copied across filesystems; the copy in the install was then freed.
    size = os.stat(far).st_size
    assert (report.bytes_copied, report.bytes_freed) == (size, size)
    check_library_invariants(library.config.root)


def test_files_that_are_not_models_and_foreign_symlinks_are_left_alone(
    library: Library, tmp_path: Path
) -> None:
    install = make_install(tmp_path / "ComfyUI")
    write_model(install / "models/checkpoints/real.safetensors", "real")
    (install / "models/checkpoints/notes.txt").write_text("my notes")
    (install / "models/checkpoints/put_checkpoints_here").write_text("")
    (install / "models/vae/config.yaml").write_text("a: 1\n")
    outside = write_model(tmp_path / "elsewhere/linked.safetensors", "linked")
    os.symlink(outside, install / "models/loras/linked.safetensors")
    junk = install / "models/loras/junk.safetensors"
    junk.write_bytes(b"this is not a model at all" * 10)
    models = install / "models"
    keep = [models / "checkpoints/notes.txt", models / "checkpoints/put_checkpoints_here",
            models / "vae/config.yaml", models / "loras/linked.safetensors", junk]  # fmt: skip
    before = snapshot(*[p for p in keep])
    lstats = {p: os.lstat(p) for p in keep}

    report = service(library).adopt(install)
    assert report.adopted == 1
    assert any("symbolic link" in c["reason"] for c in report.conflicts)
    assert [s["path"] for s in report.skipped] == [str(junk)]
    assert not report.failed
    for p in keep:
        now = os.lstat(p)
        assert (now.st_ino, now.st_mtime_ns, now.st_mode) == (
            lstats[p].st_ino,
            lstats[p].st_mtime_ns,
            lstats[p].st_mode,
        )
    assert snapshot(*[p for p in keep]) == before
    assert os.readlink(install / "models/loras/linked.safetensors") == str(outside)


def test_dry_run_changes_nothing_and_predicts_the_run(library: Library, installs: tuple[Path, Path]) -> None:
    a, b = installs
    adopt = service(library)
    adopt.adopt(a)
    before = snapshot(a, b, library.config.root)
    rows = model_count(library)

    dry = adopt.adopt(b, dry_run=True)
    assert dry.dry_run and dry.planned == 2 and dry.duplicates == 1
    assert dry.bytes_freed == (b / "models/checkpoints/base-again.safetensors").stat().st_size
    assert dry.hashed_bytes > 0  # it says it read bytes to find the duplicates
    assert snapshot(a, b, library.config.root) == before
    assert model_count(library) == rows
    assert not library.db.execute_read("SELECT 1 FROM journal")

    real = adopt.adopt(b)
    assert (real.planned, real.duplicates, real.bytes_freed) == (dry.planned, dry.duplicates, dry.bytes_freed)


def test_dry_run_of_a_fresh_install_counts_duplicates_within_it(
    library: Library, installs: tuple[Path, Path]
) -> None:
    a, _ = installs
    dry = service(library).adopt(a, dry_run=True)
    assert (dry.planned, dry.duplicates) == (3, 1)
    assert dry.bytes_freed == (a / "models/loras/style.safetensors").stat().st_size
    assert model_count(library) == 0


def test_diffusers_folder_and_sharded_set_every_file_linked(library: Library, tmp_path: Path) -> None:
    install = make_install(tmp_path / "ComfyUI")
    write_diffusers_folder(install / "models/diffusers/sdxl")
    write_sharded_set(install / "models/diffusion_models", stem="flux", n=3)
    files = sorted(p for p in (install / "models").rglob("*") if p.is_file())
    before = hashes_of(files)
    report = service(library).adopt(install)
    assert report.adopted == 2 and not report.failed, report.to_dict()
    assert report.bytes_copied == 0  # models adopted one at a time: hardlinks too
    for path, digest in before.items():
        assert os.path.islink(path) and sha256_of(path) == digest, path
    check_library_invariants(library.config.root)


class ChangingOnStage:
    """A progress callback that rewrites files when the run reaches a stage (a user saving a file)."""

    def __init__(self, when: str, paths: list[Path], *, replace: bool = False) -> None:
        self.when, self.paths, self.replace, self.fired = when, paths, replace, False

    def __call__(self, done: int, total: int, stage: str) -> None:
        if self.fired or not stage.startswith(self.when):
            return
        self.fired = True
        for p in self.paths:
            if self.replace:
                tmp = p.with_name(p.name + ".new")
                write_model(tmp, "replaced-" + p.name)
                os.replace(tmp, p)
            else:  # rewritten in place: the same inode, other bytes
                write_model(p, "rewritten", size=MODEL_DATA + 8)


@pytest.mark.parametrize(("when", "replace"), [("importing", False), ("linking", False), ("linking", True)])
def test_files_changing_during_adoption_are_left_alone(
    library: Library, tmp_path: Path, when: str, replace: bool
) -> None:
    install = make_install(tmp_path / "ComfyUI")
    target = write_model(install / "models/checkpoints/a.safetensors", "a")
    other = write_model(install / "models/loras/b.safetensors", "b")
    change = ChangingOnStage(when, [target], replace=replace)
    report = service(library).adopt(install, progress=change)
    assert change.fired
    assert [s["path"] for s in report.skipped] == [str(target)]
    assert "changed" in report.skipped[0]["reason"]
    assert not os.path.islink(target)
    assert os.path.islink(other)
    assert {r["link_path"] for r in adopt_links(library)} == {str(other)}
    # Rewritten in place, the library's hardlinked copy changed too: it was dropped, never kept with a
    # wrong hash. Replaced by a new file, the library's copy still holds the old bytes: it stays.
    assert model_count(library) == (2 if replace else 1)
    check_library_invariants(library.config.root)
    # Adopted on the next run, with its new bytes.
    now = sha256_of(target)
    again = service(library).adopt(install)
    assert again.adopted == 1 and sha256_of(target) == now and os.path.islink(target)
    check_library_invariants(library.config.root)


class NoSymlinks(OsOps):
    """A filesystem (or Windows without Developer Mode) that refuses symlinks."""

    def symlink(self, target: str, link: str) -> None:
        raise OSError(errno.EPERM, "symlinks refused", link)


def test_where_symlinks_are_refused_hardlinks_keep_the_names(
    library: Library, installs: tuple[Path, Path]
) -> None:
    a, _ = installs
    before = hashes_of(model_files(a))
    adopt = service(library, LinkMaker(NoSymlinks()))
    report = adopt.adopt(a)
    assert report.adopted == 3 and not report.failed
    rows = adopt_links(library)
    assert {r["kind"] for r in rows} == {"hardlink"}
    for row in rows:
        assert os.stat(row["link_path"]).st_ino == os.stat(row["target"]).st_ino
    for path, digest in before.items():
        assert not os.path.islink(path) and sha256_of(path) == digest
    again = adopt.adopt(a)
    assert (again.planned, again.already_adopted) == (0, 3)
    undo = adopt.undo(a)
    assert undo.restored == 3 and not undo.failed
    assert not adopt_links(library)
    for path, digest in before.items():
        assert sha256_of(path) == digest


def test_not_comfyui_folder_is_refused_and_a_concurrent_run_is_busy(library: Library, tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InvalidInput, match="does not look like a ComfyUI folder"):
        service(library).adopt(tmp_path / "nothing")
    install = make_install(tmp_path / "ComfyUI")
    write_model(install / "models/loras/a.safetensors", "a")
    adopt = service(library)
    with adopt._locked(adopt.plan(install).install):
        with pytest.raises(Busy, match="Another adoption"):
            adopt.adopt(install)
    assert not os.path.islink(install / "models/loras/a.safetensors")


@pytest.mark.parametrize("replace", [False, True])
def test_a_file_changing_between_planning_and_staging_is_left_alone(
    library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replace: bool
) -> None:
    """The first batch is not checked again after planning (it was stat'd a moment before): a file
    changed in that moment is still left alone, by the check before its link replaces it."""
    install = make_install(tmp_path / "ComfyUI")
    target = write_model(install / "models/checkpoints/a.safetensors", "a")
    other = write_model(install / "models/loras/b.safetensors", "b")
    svc = service(library)
    planned = svc.plan
    change = ChangingOnStage("", [target], replace=replace)

    def plan_then_change(root: Path) -> Any:
        plan = planned(root)
        change(0, 0, "")
        return plan

    monkeypatch.setattr(svc, "plan", plan_then_change)
    report = svc.adopt(install)
    assert change.fired
    assert [s["path"] for s in report.skipped] == [str(target)]
    assert not os.path.islink(target) and os.path.islink(other)
    assert {r["link_path"] for r in adopt_links(library)} == {str(other)}
    # Its new bytes were imported, then forgotten with it (they share its inode): only b's model stays.
    assert model_count(library) == 1
    check_library_invariants(library.config.root)
    now = sha256_of(target)
    monkeypatch.undo()
    again = svc.adopt(install)
    assert again.adopted == 1 and sha256_of(target) == now and os.path.islink(target)
    check_library_invariants(library.config.root)


class ChangingAfterFirstSwap(LinkMaker):
    """Rewrites ``victim`` in place right after the first original of a unit is swapped for its link."""

    def __init__(self, victim: Path) -> None:
        super().__init__()
        self.victim, self.swaps = victim, 0

    def commit(self, temp: Any, final: Any) -> None:  # type: ignore[override]
        super().commit(temp, final)
        self.swaps += 1
        if self.swaps == 1:
            write_model(self.victim, "rewritten", size=MODEL_DATA + 8)


def test_a_shard_changing_after_another_was_linked_keeps_the_model_the_link_points_at(
    library: Library, tmp_path: Path
) -> None:
    install = make_install(tmp_path / "ComfyUI")
    shards = sorted(write_sharded_set(install / "models/diffusion_models", stem="flux", n=3))
    victim = shards[1]
    report = service(library, ChangingAfterFirstSwap(victim)).adopt(install)
    assert [s["path"] for s in report.skipped] == [str(victim)], report.to_dict()
    # The first shard is our link and its model stays (it is the bytes the link resolves to).
    assert os.path.islink(shards[0]) and os.path.exists(shards[0])
    assert not os.path.islink(victim) and not os.path.islink(shards[2])
    assert model_count(library) == 1
    # (Rewritten in place, the victim's bytes changed in the library's hardlinked copy too: `health`
    # reports that model; the first shard's link must still resolve, which it does.)
    assert sha256_of(shards[0]) == sha256_of(library.config.models_dir.rglob(shards[0].name).__next__())

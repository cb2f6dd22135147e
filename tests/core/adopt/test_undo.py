"""Undo for one install: real files with the same bytes back at every original path; others keep working."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from comfyui_model_library.core.library import Library
from tests.invariants import check_library_invariants

from .support import adopt_links, hashes_of, make_install, model_count, service, sha256_of, write_model


def _two_adopted(library: Library, tmp_path: Path) -> tuple[Path, Path, dict[str, str], dict[str, str]]:
    a = make_install(tmp_path / "A")
    b = make_install(tmp_path / "B")
    write_model(a / "models/checkpoints/shared.safetensors", "shared")
    write_model(a / "models/loras/only-a.safetensors", "only-a")
    write_model(b / "models/checkpoints/shared-copy.safetensors", "shared")
    write_model(b / "models/loras/only-b.safetensors", "only-b")
    hashes_a = hashes_of(sorted((a / "models").rglob("*.safetensors")))
    hashes_b = hashes_of(sorted((b / "models").rglob("*.safetensors")))
    adopt = service(library)
    assert adopt.adopt(a).adopted == 2
    assert adopt.adopt(b).adopted == 2
    return a, b, hashes_a, hashes_b


def test_undo_one_install_restores_real_files_and_keeps_the_other_working(
    library: Library, tmp_path: Path
) -> None:
    a, b, hashes_a, hashes_b = _two_adopted(library, tmp_path)
    adopt = service(library)
    report = adopt.undo(a)
    assert report.restored == 2 and report.restored_by_hardlink == 2 and not report.failed
    for path, digest in hashes_a.items():
        assert os.path.isfile(path) and not os.path.islink(path)
        assert sha256_of(path) == digest
    for path, digest in hashes_b.items():
        assert os.path.islink(path) and sha256_of(path) == digest
    # The library keeps every model; the one only A used is reported as unreferenced.
    assert model_count(library) == 3
    assert [u["name"] for u in report.unreferenced] == ["only-a"]
    assert {r["app_id"] for r in adopt_links(library)} == {adopt.plan(b).install.id}
    assert not library.db.execute_read("SELECT 1 FROM apps WHERE id = ?", (report.install_id,))
    check_library_invariants(library.config.root)

    again = adopt.undo(a)
    assert again.restored == 0 and not again.failed
    # B undone too: every name is a real file again, with its original bytes.
    assert adopt.undo(b).restored == 2
    for path, digest in {**hashes_a, **hashes_b}.items():
        assert not os.path.islink(path) and sha256_of(path) == digest
    assert not adopt_links(library)


def test_undo_leaves_a_link_the_user_replaced_and_forgets_a_removed_one(
    library: Library, tmp_path: Path
) -> None:
    a, _b, hashes_a, _ = _two_adopted(library, tmp_path)
    replaced, removed = sorted(hashes_a)
    os.unlink(replaced)
    Path(replaced).write_bytes(b"the user's own file")
    os.unlink(removed)
    report = service(library).undo(a)
    assert report.restored == 0 and not report.failed
    assert sorted(s["path"] for s in report.skipped) == sorted([replaced, removed])
    assert Path(replaced).read_bytes() == b"the user's own file"
    assert not os.path.lexists(removed)
    assert not adopt_links(library, service(library).plan(a).install.id)


def test_undo_across_filesystems_copies_back(library: Library, tmp_path: Path) -> None:
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm here")
    far_dir = Path(tempfile.mkdtemp(prefix="adopt-undo-", dir="/dev/shm"))
    try:
        if os.stat(far_dir).st_dev == os.stat(library.config.root).st_dev:
            pytest.skip("/dev/shm is on the library's filesystem here")
        install = make_install(tmp_path / "ComfyUI")
        far = write_model(far_dir / "loras/far.safetensors", "far")
        digest = sha256_of(far)
        (install / "extra_model_paths.yaml").write_text(f"shm:\n  base_path: {far_dir}\n  loras: loras\n")
        adopt = service(library)
        assert adopt.adopt(install).adopted == 1 and os.path.islink(far)
        report = adopt.undo(install)
        assert (report.restored, report.restored_by_copy) == (1, 1)
        assert not os.path.islink(far) and sha256_of(far) == digest
        assert not list(far_dir.rglob("*.mlib-tmp"))
    finally:
        shutil.rmtree(far_dir, ignore_errors=True)


def test_release_model_gives_real_files_back_before_a_removal(library: Library, tmp_path: Path) -> None:
    a, b, hashes_a, hashes_b = _two_adopted(library, tmp_path)
    shared = library.repo.resolve("shared")
    report = service(library).release_model(shared.id)
    assert report.restored == 2 and not report.failed
    for path in (
        str(a / "models/checkpoints/shared.safetensors"),
        str(b / "models/checkpoints/shared-copy.safetensors"),
    ):
        assert not os.path.islink(path) and sha256_of(path) == hashes_a.get(path, hashes_b.get(path))
    assert not library.db.execute_read("SELECT 1 FROM links WHERE model_id = ?", (shared.id,))

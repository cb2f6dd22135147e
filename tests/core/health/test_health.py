"""Health checks and repair on a real library: broken, orphaned, missing, metadata, yaml, relocation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from comfyui_model_library.core import health
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.errors import LibraryRelocated
from comfyui_model_library.core.identity import (
    check_identity,
    ensure_identity,
    read_identity,
    require_writable,
    rewrite_prefix,
)
from comfyui_model_library.core.links.registry import LinkRegistry
from comfyui_model_library.core.mapping import service
from comfyui_model_library.core.mapping.config import MappingConfig
from comfyui_model_library.core.mapping.extra_paths import read_section
from comfyui_model_library.core.mapping.service import section_name
from tests.core.mapping.support import Env

DEFAULT = MappingConfig()


def mapped(env: Env, *names: str) -> Path:
    for name in names:
        env.add(name)
    service.apply(env.db, env.repo, env.root, env.comfy, DEFAULT)
    ensure_identity(env.root)
    return Path(LinkRegistry(env.db).all()[0].link_root) / "loras"


def test_a_fresh_mapping_is_healthy(env: Env) -> None:
    mapped(env, "a", "b")
    report = health.check(env.db, env.repo, env.root, DEFAULT)
    assert report.status == "healthy"
    assert set(report.to_dict()) >= {"status", "broken", "orphaned", "missing"}


def test_problems_are_found_and_repaired(env: Env, tmp_path: Path) -> None:
    loras = mapped(env, "deleted_link", "replaced", "moved_file", "dup", "fine")
    (loras / "deleted_link.safetensors").unlink()
    os.unlink(loras / "replaced.safetensors")
    (loras / "replaced.safetensors").write_bytes(b"user")
    dup = env.repo.find(next(m.id for m in env.repo.iter_all() if m.name == "dup"))
    assert dup is not None
    (env.root / dup.rel_dir / dup.files[0].path).write_bytes(b"different size now")
    moved = next(m for m in env.repo.iter_all() if m.name == "moved_file")
    (env.root / moved.rel_dir / moved.files[0].path).unlink()
    fine = next(m for m in env.repo.iter_all() if m.name == "fine")
    os.symlink(env.root / fine.rel_dir / fine.files[0].path, loras / "orphan.safetensors")
    stray = env.root / "models" / "lora" / "sdxl" / "stray"
    stray.mkdir(parents=True)
    (stray / "metadata.json").write_text("{}")
    (env.comfy / "extra_model_paths.yaml").write_text("# the user reset it\n")

    report = health.check(env.db, env.repo, env.root, DEFAULT)
    assert report.status == "errors"
    reasons = {Path(b["path"]).name: b["reason"] for b in report.broken}
    assert reasons == {
        "deleted_link.safetensors": "missing",
        "replaced.safetensors": "replaced",
        "moved_file.safetensors": "dangling",
    }
    assert {(m["model_id"], m["reason"]) for m in report.missing} == {
        (dup.id, "size_changed"),
        (moved.id, "missing"),
    }
    assert [Path(o["path"]).name for o in report.orphaned] == ["orphan.safetensors"]
    assert report.metadata_without_row == (str(stray / "metadata.json"),)
    assert len(report.extra_model_paths) == 1

    result = health.repair(env.db, env.repo, env.root, DEFAULT)
    actions = {Path(r["path"]).name: r.get("action") for r in result.repaired if r["kind"] != "yaml_section"}
    assert actions == {
        "deleted_link.safetensors": "relinked",
        "replaced.safetensors": "dropped_entry",
        "moved_file.safetensors": "dropped_entry",
        "orphan.safetensors": "registered",
    }
    assert (loras / "replaced.safetensors").read_bytes() == b"user"  # not ours: untouched
    assert (loras / "deleted_link.safetensors").is_file()
    assert read_section(env.comfy / "extra_model_paths.yaml", section_name(env.root)) is not None
    after = health.check(env.db, env.repo, env.root, DEFAULT)
    assert after.broken == () and after.orphaned == () and after.extra_model_paths == ()


def test_relink_by_hash_to_the_same_bytes_elsewhere(env: Env) -> None:
    loras = mapped(env, "original")
    twin = env.add("twin", payload=b"same bytes", type="vae")
    original = next(m for m in env.repo.iter_all() if m.name == "original")
    # Make the original's file record carry the twin's hash, then lose the original's bytes.
    with env.db.transaction() as conn:
        conn.execute(
            "UPDATE model_files SET blake3 = ? WHERE model_id = ?", (twin.files[0].blake3, original.id)
        )
    (env.root / original.rel_dir / original.files[0].path).unlink()
    result = health.repair(env.db, env.repo, env.root, DEFAULT)
    assert [r["model_id"] for r in result.repaired if r.get("action") == "relinked"] == [twin.id]
    assert (loras / "original.safetensors").read_bytes() == b"same bytes"


def test_a_moved_library_refuses_writes_until_repaired(env: Env, tmp_path: Path) -> None:
    mapped(env, "m1", "m2")
    identity = read_identity(env.root)
    env.db.close()
    new_root = tmp_path / "elsewhere" / "lib"
    new_root.parent.mkdir()
    shutil.move(str(env.root), str(new_root))
    db = Database(new_root / "catalog.sqlite")
    repo = ModelRepository(db)
    try:
        status = check_identity(new_root)
        assert status.relocated and status.identity.id == identity.id  # not mistaken for a new library
        with pytest.raises(LibraryRelocated, match="health --repair"):
            require_writable(new_root)
        report = health.check(db, repo, new_root, DEFAULT)
        assert report.status == "errors" and report.relocation["relocated"]
        result = health.repair(db, repo, new_root, DEFAULT)
        assert result.repaired[0]["kind"] == "relocated" and not result.failed
        require_writable(new_root)
        after = health.check(db, repo, new_root, DEFAULT)
        assert after.status == "healthy", after.to_dict()
        assert all(r.link_path.startswith(str(new_root)) for r in LinkRegistry(db).all())
        assert read_section(env.comfy / "extra_model_paths.yaml", section_name(new_root))[
            "base_path"
        ].startswith(str(new_root))
    finally:
        db.close()
    env.db = Database(new_root / "catalog.sqlite")


def test_an_empty_folder_gets_a_new_identity(tmp_path: Path) -> None:
    a = ensure_identity(tmp_path / "")
    assert not check_identity(tmp_path).relocated and read_identity(tmp_path) == a
    (tmp_path / "library.json").write_text("garbage")
    with pytest.raises(Exception, match="health --repair"):
        read_identity(tmp_path)


def test_source_paths_move_with_a_drive(env: Env) -> None:
    with env.db.transaction() as conn:
        conn.execute("INSERT INTO sources(path, added_at) VALUES ('/media/old/models', 'now')")
        conn.execute("INSERT INTO sources(path, added_at) VALUES ('/media/older', 'now')")
    counts = rewrite_prefix(env.db, "/media/old", "/mnt/new")
    assert counts["sources.path"] == 1
    paths = sorted(r[0] for r in env.db.execute_read("SELECT path FROM sources"))
    assert paths == ["/media/older", "/mnt/new/models"]

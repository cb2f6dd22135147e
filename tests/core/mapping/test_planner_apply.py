"""Preview and apply against real folders: conflicts, resolutions, rule changes, direct mode, auto-sync."""

from __future__ import annotations

import os
from pathlib import Path

from comfyui_model_library.core.links.registry import LinkRegistry
from comfyui_model_library.core.mapping import service
from comfyui_model_library.core.mapping.comfyui import read_install
from comfyui_model_library.core.mapping.config import MappingConfig, mapping_from_dict
from comfyui_model_library.core.mapping.planner import (
    DiskEntry,
    LinkTarget,
    model_file_path,
    plan_links,
)

from .support import Env

DEFAULT = MappingConfig()


def view(env: Env) -> Path:
    plan = service.preview(env.db, env.repo, env.root, env.comfy, DEFAULT)
    return Path(plan.link_root)


def test_preview_apply_then_everything_is_ok(env: Env) -> None:
    lora = env.add("detail")
    env.add("base", type="checkpoint")
    plan = service.preview(env.db, env.repo, env.root, env.comfy, DEFAULT)
    assert {a.category for a in plan.create} == {"loras", "checkpoints"}
    assert set(plan.to_dict()) >= {"create", "ok", "conflicts", "remove"}
    report = service.apply(env.db, env.repo, env.root, env.comfy, DEFAULT)
    assert len(report.created) == 2 and not report.failed
    link = Path(plan.link_root) / "loras" / "detail.safetensors"
    assert link.read_bytes() == model_file_path(lora, lora.files[0], env.root).read_bytes()
    again = service.preview(env.db, env.repo, env.root, env.comfy, DEFAULT)
    assert (len(again.create), len(again.ok), len(again.conflicts), len(again.remove)) == (0, 2, 0, 0)
    assert not list(Path(plan.link_root).rglob("*.mlib-tmp"))


def test_user_file_in_the_way_skip_overwrite_rename(env: Env) -> None:
    env.add("a")
    env.add("b")
    env.add("c")
    loras = view(env) / "loras"
    loras.mkdir(parents=True)
    for name in ("a", "b", "c"):
        (loras / f"{name}.safetensors").write_bytes(b"the user's " + name.encode())
    plan = service.preview(env.db, env.repo, env.root, env.comfy, DEFAULT)
    assert {c.conflict for c in plan.conflicts} == {"file_exists"}
    resolutions = {str(loras / "a.safetensors"): "overwrite", str(loras / "b.safetensors"): "rename"}
    report = service.apply(env.db, env.repo, env.root, env.comfy, DEFAULT, resolutions=resolutions)
    assert (loras / "a.safetensors.old").read_bytes() == b"the user's a"  # moved aside, never deleted
    assert os.path.islink(loras / "a.safetensors")
    assert (loras / "b.safetensors").read_bytes() == b"the user's b"
    assert next(p for p in report.created if "b." in p).endswith(".safetensors")
    assert (loras / "c.safetensors").read_bytes() == b"the user's c"  # default: skip
    assert {s["path"] for s in report.skipped} == {str(loras / "c.safetensors")}


def test_two_models_with_one_name_and_foreign_symlinks(env: Env, tmp_path: Path) -> None:
    env.add("same", base="sdxl")
    env.add("same", base="sd15")
    elsewhere = tmp_path / "elsewhere.safetensors"
    elsewhere.write_bytes(b"x")
    env.add("foreign")
    loras = view(env) / "loras"
    loras.mkdir(parents=True)
    os.symlink(elsewhere, loras / "foreign.safetensors")
    plan = service.preview(env.db, env.repo, env.root, env.comfy, DEFAULT)
    kinds = sorted(c.conflict for c in plan.conflicts)
    assert kinds == ["already_linked", "linked_to_different_source"]
    report = service.apply(env.db, env.repo, env.root, env.comfy, DEFAULT, on_conflict="rename")
    assert len(report.created) == 3
    assert os.readlink(loras / "foreign.safetensors") == str(elsewhere)  # the user's link is left alone
    renamed = [p for p in report.created if p.endswith(".safetensors") and p.count(".") == 2]
    assert len(renamed) == 2


def test_rule_change_removes_links_that_no_longer_match(env: Env) -> None:
    env.add("styled", tags=("style",))
    env.add("plain")
    service.apply(env.db, env.repo, env.root, env.comfy, DEFAULT)
    rules = mapping_from_dict(
        {
            "rules": [
                {
                    "match": {"type": "lora", "tags": {"any": ["style"]}},
                    "category": "loras",
                    "subfolder": "{base_model}/styles/",
                },
                {"match": {"type": "lora", "name": ["plain"]}, "category": ""},
            ]
        }
    )
    plan = service.preview(env.db, env.repo, env.root, env.comfy, rules)
    assert sorted(a.reason for a in plan.remove) == ["unmatched", "unmatched"]
    report = service.apply(env.db, env.repo, env.root, env.comfy, rules)
    loras = Path(plan.link_root) / "loras"
    assert (loras / "sdxl" / "styles" / "styled.safetensors").is_file()
    assert not os.path.lexists(loras / "plain.safetensors") and not os.path.lexists(
        loras / "styled.safetensors"
    )
    assert len(report.removed) == 2 and len(LinkRegistry(env.db).all()) == 1


def test_a_replaced_link_is_not_removed(env: Env) -> None:
    env.add("gone")
    service.apply(env.db, env.repo, env.root, env.comfy, DEFAULT)
    link = view(env) / "loras" / "gone.safetensors"
    os.unlink(link)
    link.write_bytes(b"user replaced it")
    plan = service.preview(env.db, env.repo, env.root, env.comfy, DEFAULT)
    assert [c.conflict for c in plan.conflicts] == ["file_exists"]
    empty = mapping_from_dict({"rules": [{"match": {"type": "lora"}, "category": ""}]})
    report = service.apply(env.db, env.repo, env.root, env.comfy, empty)
    assert link.read_bytes() == b"user replaced it"
    assert [s["reason"] for s in report.skipped] == ["not_ours"] and LinkRegistry(env.db).all() == []


def test_direct_mode_links_into_models_and_writes_no_yaml(env: Env) -> None:
    env.add("d")
    direct = mapping_from_dict({"mode": "direct"})
    service.apply(env.db, env.repo, env.root, env.comfy, direct)
    assert os.path.islink(env.comfy / "models" / "loras" / "d.safetensors")
    assert not (env.comfy / "extra_model_paths.yaml").exists()
    (env.comfy / "models" / "loras" / "mine.safetensors").write_bytes(b"user")
    app_id = read_install(env.comfy).id
    service.unmap(env.db, env.root, app_id)
    assert not os.path.lexists(env.comfy / "models" / "loras" / "d.safetensors")
    assert (env.comfy / "models" / "loras" / "mine.safetensors").read_bytes() == b"user"
    assert (env.comfy / "models" / "loras").is_dir()


def test_view_mode_unmap_gives_back_the_yaml(env: Env) -> None:
    (env.comfy / "extra_model_paths.yaml").write_text("# mine\nx:\n  base_path: /x\n")
    before = (env.comfy / "extra_model_paths.yaml").read_bytes()
    env.add("v")
    service.apply(env.db, env.repo, env.root, env.comfy, DEFAULT)
    assert b"comfyui_model_library" in (env.comfy / "extra_model_paths.yaml").read_bytes()
    service.unmap(env.db, env.root, read_install(env.comfy).id)
    assert (env.comfy / "extra_model_paths.yaml").read_bytes() == before
    assert LinkRegistry(env.db).all() == []


def test_sync_model_touches_one_model_only(env: Env) -> None:
    env.add("first")
    service.apply(env.db, env.repo, env.root, env.comfy, DEFAULT)
    loras = view(env) / "loras"
    (loras / "first.safetensors").unlink()  # someone else's damage: sync of another model leaves it
    new = env.add("second")
    report = service.sync_model(env.db, env.repo, env.root, new.id, DEFAULT)  # bench/links times it
    assert report.created == (str(loras / "second.safetensors"),)
    assert not os.path.lexists(loras / "first.safetensors")
    env.repo.delete(new.id)
    report = service.sync_model(env.db, env.repo, env.root, new.id, DEFAULT)
    assert report.removed == (str(loras / "second.safetensors"),)


def test_planner_is_pure_over_a_snapshot(env: Env) -> None:
    m = env.add("pure")
    target = LinkTarget("app", Path("/views/app"), "0.3.64")
    on_disk = {"/views/app/loras/pure.safetensors": DiskEntry("dir")}
    plan = plan_links([m], DEFAULT, target, env.root, [], lambda p: on_disk.get(str(p)))
    assert [c.conflict for c in plan.conflicts] == ["file_exists"]
    assert not Path("/views").exists()

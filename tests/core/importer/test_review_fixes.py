"""Regressions found in review: each reproduces an attack or a data-loss path, now closed."""

from __future__ import annotations

import os
from pathlib import Path

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.importer.commit import recover
from comfyui_model_library.core.library import Library
from tests import synth


def test_confined_folder_import_refuses_symlinks_found_in_the_walk(
    library: Library, incoming: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "home" / ".ssh"
    secret.mkdir(parents=True)
    (secret / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----")
    synth.write_family(secret / "outside.safetensors", "vae_sd15")
    pack = incoming / "pack"
    pack.mkdir()
    (pack / "x.safetensors").symlink_to(secret / "outside.safetensors")
    pipe = synth.write_diffusers_folder(incoming / "pipe", "StableDiffusionXLPipeline")
    (pipe / "secret.txt").symlink_to(secret / "id_ed25519")
    items = library.imports.import_paths([pack, pipe], confine=True)
    assert [i.status for i in items] == ["failed", "failed"]
    assert all(i.error_code == "unsafe_path" for i in items)
    assert not list(library.config.models_dir.rglob("*"))


def test_importing_the_librarys_own_file_is_refused(library: Library, incoming: Path) -> None:
    [item] = library.imports.import_paths([synth.write_family(incoming / "m.safetensors", "clip_l")])
    own = library.catalog.model_file_path(item.model.id)
    [again] = library.imports.import_paths([own], move=True)
    assert again.status == "failed" and "already in the library" in (again.error or "")
    assert own.exists()


def test_cli_options_before_the_command_are_kept(tmp_path: Path) -> None:
    import subprocess
    import sys

    src = synth.write_family(tmp_path / "a.safetensors", "vae_sdxl")
    lib = tmp_path / "L"
    out = subprocess.run(
        [sys.executable, "-m", "comfyui_model_library", "--library", str(lib), "--json", "import", str(src)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        timeout=60,
        env={**os.environ, "MODEL_LIBRARY_ROOT": str(tmp_path / "DEFAULT")},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.lstrip().startswith("{")
    assert (lib / "models").is_dir() and not (tmp_path / "DEFAULT").exists()


def test_recovery_keeps_bytes_of_a_stage_that_lost_the_folder_name_race(
    library_config, incoming: Path
) -> None:
    import json

    from comfyui_model_library.core.importer.plan import plan_paths
    from comfyui_model_library.core.importer.stage import stage_model
    from comfyui_model_library.core.models import utcnow

    with Library.open(library_config) as lib:
        [winner] = lib.imports.import_paths(
            [synth.write_family(incoming / "w" / "model.safetensors", "vae_sdxl")]
        )
        loser_src = synth.write_family(incoming / "l" / "model.safetensors", "clip_l")
        [plan], _ = plan_paths([loser_src])
        staged = stage_model(plan, library_config.tmp_dir, move=True)
        staged.release()  # as if the process died before its rename
        with lib.db.transaction() as conn:
            conn.execute(
                "INSERT INTO journal(op, key, step, data_json, created_at) "
                "VALUES ('import', ?, 'placing', ?, ?)",
                (
                    staged.stage_dir.name,
                    json.dumps({"stage": str(staged.stage_dir), "final_rel": winner.model.rel_dir}),
                    utcnow(),
                ),
            )
        assert not loser_src.exists()
        recover(library_config.root, library_config.tmp_dir, lib.db, lib.repo)
        assert loser_src.exists(), "the moved bytes went back to the user"
    assert load_config(library_config.root)


def test_move_of_bytes_known_only_in_place_gives_them_a_library_copy(
    library: Library, tmp_path: Path
) -> None:
    comfy = tmp_path / "ComfyUI" / "models" / "loras"
    comfy.mkdir(parents=True)
    src = synth.write_family(comfy / "style.safetensors", "sdxl_lora_kohya")
    data = src.read_bytes()
    library.sources.add(comfy.parent, read_only=False)  # a move out of a read-only source is refused
    library.sources.hash_pending()
    [known] = library.catalog.list_models(
        __import__("comfyui_model_library.core.models", fromlist=["ModelQuery"]).ModelQuery()
    ).items
    assert known.location == "source"
    [item] = library.imports.import_paths([src], move=True)
    assert item.status == "imported", item.error
    assert item.model is not None and item.model.id == known.id, "the same model, now with a library copy"
    assert item.model.location == "library"
    assert library.catalog.model_file_path(known.id).read_bytes() == data
    assert not src.exists()


def test_library_copy_lost_behind_our_back_is_restored_by_a_new_import(
    library: Library, incoming: Path
) -> None:
    src = synth.write_family(incoming / "m.safetensors", "vae_sdxl")
    data = src.read_bytes()
    [first] = library.imports.import_paths([src])
    library.catalog.model_file_path(first.model.id).unlink()
    [again] = library.imports.import_paths([src], move=True)
    assert again.status == "imported" and again.model.id == first.model.id
    assert library.catalog.model_file_path(first.model.id).read_bytes() == data

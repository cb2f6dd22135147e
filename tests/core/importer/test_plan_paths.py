"""``plan_paths``: each file of what the user named is planned once, however the paths overlap."""

from __future__ import annotations

from pathlib import Path

from comfyui_model_library.core.importer.plan import is_model_file, plan_paths
from tests.synth import write_safetensors


def _tree(root: Path) -> list[Path]:
    files = [
        write_safetensors(root / "loras" / f"l{i}.safetensors", {"w": ("F16", (2,))}) for i in range(3)
    ] + [
        write_safetensors(root / "unet" / f"big-0000{i}-of-00002.safetensors", {f"w{i}": ("F16", (2,))})
        for i in (1, 2)
    ]
    (root / "loras" / "notes.txt").write_text("not a model")
    return files


def test_one_folder_plans_each_model_once(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    planned, failures = plan_paths([tmp_path])
    assert not failures
    assert sorted(f for p in planned for f in p.files) == sorted(files)
    assert sorted(p.format for p in planned) == ["sharded-set", "single-file", "single-file", "single-file"]


def test_overlapping_paths_plan_a_file_once(tmp_path: Path) -> None:
    files = _tree(tmp_path)
    shard = tmp_path / "unet" / "big-00002-of-00002.safetensors"
    planned, failures = plan_paths(
        [tmp_path / "loras" / "l1.safetensors", tmp_path, tmp_path / "loras", shard]
    )
    assert not failures
    named = [f for p in planned for f in p.files]
    assert sorted(named) == sorted(files)  # each once: the file named first, the folders' others, one set
    assert planned[0].files == (tmp_path / "loras" / "l1.safetensors",)


def test_model_names() -> None:
    assert (
        is_model_file("a.safetensors") and is_model_file("A.CKPT") and is_model_file("x-00001-of-00003.gguf")
    )
    assert not is_model_file("notes.txt") and not is_model_file("model_index.json")

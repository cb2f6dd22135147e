"""Files named like shards are one model only when they really are one set (importer/shards.py): the
importer and the sources use the same rule, and nothing ComfyUI lists is hidden inside a set."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.importer.shards import group_shards
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from comfyui_model_library.core.sources.walk import walk_models
from tests import synth

LORA = {
    f"lora_unet_down_blocks_0_attentions_0_proj_in.{k}": ("F16", (4, 4))
    for k in ("lora_down.weight", "lora_up.weight")
}


def _lora(path: Path, tag: str) -> Path:
    """A small LoRA; every one has the same tensor names (one architecture), the metadata tells them apart."""
    return synth.write_safetensors(path, LORA, {"ss_output_name": tag})


def _part(path: Path, i: int) -> Path:
    """Shard ``i`` of one model: its own tensors (the shards of a model split them)."""
    return synth.write_safetensors(path, {f"model.layers.{i}.{k}": ("F16", (8, 8)) for k in ("q", "k", "v")})


def _counted(tmp_path: Path, folder: Path) -> tuple[int, int]:
    """(models after importing ``folder``, models after cataloguing it in place) in two fresh libraries."""
    with Library.open(load_config(tmp_path / "lib-import", import_roots=(folder,))) as library:
        items = library.imports.import_paths([folder], lookup=False)
        assert all(i.status == "imported" for i in items), [i.error for i in items]
        imported = library.catalog.list_models(ModelQuery(limit=500)).total
    with Library.open(load_config(tmp_path / "lib-source")) as library:
        library.sources.add(folder)
        catalogued = library.catalog.list_models(ModelQuery(limit=500)).total
    return imported, catalogued


def test_fifty_models_ending_in_five_random_digits_are_fifty_models(tmp_path: Path) -> None:
    folder = tmp_path / "loras"
    for suffix in random.Random(7).sample(range(2, 99999), 50):
        _lora(folder / f"name_{suffix:05d}.safetensors", str(suffix))
    assert _counted(tmp_path, folder) == (50, 50)


def test_a_training_runs_numbered_checkpoints_are_each_a_model(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    for epoch in range(1, 5):
        _lora(folder / f"mylora_{epoch:05d}.safetensors", f"epoch {epoch}")
    assert _counted(tmp_path, folder) == (4, 4)


def test_underscore_shards_that_split_one_models_tensors_are_one_model(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    for i in range(1, 4):
        _part(folder / f"model_{i:05d}.safetensors", i)
    assert _counted(tmp_path, folder) == (1, 1)


def test_an_index_file_makes_underscore_files_one_model(tmp_path: Path) -> None:
    folder = tmp_path / "indexed"
    names = [f"model_{i:05d}.safetensors" for i in (1, 2)]
    for i, name in enumerate(names):
        _lora(folder / name, str(i))  # same tensor names: only the index says they are one model
    weight_map = {f"t{i}": name for i, name in enumerate(names)}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert _counted(tmp_path, folder) == (1, 1)


@pytest.mark.parametrize(
    ("indices", "models"),
    [((1, 2, 3), 1), ((0, 1, 2), 1), ((1, 3), 2), ((2, 3), 2), ((1,), 1)],
)
def test_underscore_sets_must_run_without_a_gap_from_zero_or_one(
    tmp_path: Path, indices: tuple[int, ...], models: int
) -> None:
    folder = tmp_path / "set"
    for i in indices:
        _part(folder / f"model_{i:05d}.safetensors", i)
    assert _counted(tmp_path, folder) == (models, models)


def test_hf_style_sets_must_agree_on_their_total(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    for i in (1, 2, 3):
        _part(whole / f"model-{i:05d}-of-00003.safetensors", i)
    assert _counted(tmp_path / "a", whole) == (1, 1)
    mixed = tmp_path / "mixed"
    _part(mixed / "model-00001-of-00002.safetensors", 1)
    _part(mixed / "model-00002-of-00003.safetensors", 2)
    assert _counted(tmp_path / "b", mixed) == (2, 2)


def test_part_files_must_run_without_a_gap(tmp_path: Path) -> None:
    assert group_shards(tmp_path, ["m.safetensors.part1", "m.safetensors.part2"]) == (
        ["m.safetensors.part1", "m.safetensors.part2"],
        [],
    )
    assert group_shards(tmp_path, ["m.safetensors.part2", "m.safetensors.part3"]) == (
        [],
        ["m.safetensors.part2", "m.safetensors.part3"],
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.integers(min_value=0, max_value=99999), min_size=1, max_size=12))
def test_files_of_one_architecture_are_never_grouped(tmp_path: Path, indices: set[int]) -> None:
    folder = tmp_path / f"case-{min(indices)}-{len(indices)}-{max(indices)}"
    names = []
    for i in indices:
        names.append(_lora(folder / f"x_{i:05d}.safetensors", str(i)).name)
    in_set, singles = group_shards(folder, names)
    assert in_set == [] and sorted(singles) == sorted(names)


def test_a_shard_named_link_to_a_key_is_never_read_to_group_a_set(tmp_path: Path) -> None:
    """Telling shards apart reads headers; a link out of the folder is read only when its target is named
    like a model (the sources' link rule), so a key behind ``model_00001.safetensors`` stays unread and
    the two files are listed one by one."""
    outside = tmp_path / "outside"
    _part(outside / "id_ed25519", 1)  # would split the tensors with the real shard if it were read
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "model_00001.safetensors").symlink_to(outside / "id_ed25519")
    _part(folder / "model_00002.safetensors", 2)
    names = ["model_00001.safetensors", "model_00002.safetensors"]
    assert group_shards(folder, names) == ([], names)
    found = walk_models(str(folder))
    assert sorted((f.format, len(f.entries)) for f in found) == [("single-file", 1)] * 2

"""Every synthetic family is detected as the model it imitates; unknowns stay unknown."""

from __future__ import annotations

import json

import pytest

from comfyui_model_library.core.errors import InvalidModelFile
from comfyui_model_library.core.formats import (
    Detection,
    TensorInfo,
    detect,
    detect_diffusers_folder,
    detect_many,
    inspect_path,
)
from comfyui_model_library.core.taxonomy import BaseModelType, ModelType
from tests import synth


def _tensors(family: str) -> dict[str, TensorInfo]:
    return {k: TensorInfo(d, tuple(s)) for k, (d, s) in synth.FAMILIES[family]["tensors"].items()}


@pytest.mark.parametrize("family", sorted(synth.FAMILIES))
def test_family_detected_from_file(tmp_path, family):
    fam = synth.FAMILIES[family]
    path = synth.write_family(tmp_path, family)
    info = inspect_path(path)
    found = info.detection
    assert (found.type, found.base_model) == (fam["type"], fam["base_model"]), found.reason
    assert found.subtype == fam["subtype"]
    assert found.variant == fam["variant"]
    assert found.reason
    assert ModelType.has(found.type) and BaseModelType.has(found.base_model)
    assert info.file_format == "safetensors" and info.security == "safe"


def test_empty_file_of_tensors_is_unknown():
    found = detect({}, {})
    assert (found.type, found.base_model) == ("unknown", "unknown")
    assert "no tensors" in found.reason


def test_unrecognised_layout_stays_unknown():
    found = detect({"foo.bar.weight": TensorInfo("F16", (3, 3))}, {})
    assert (found.type, found.base_model) == ("unknown", "unknown")


def test_metadata_fills_base_the_tensors_leave_open():
    tensors = _tensors("double_blocks_lora_ambiguous")
    assert detect(tensors, {}).base_model == "unknown"
    hinted = detect(tensors, {"modelspec.architecture": "flux-1-dev/lora"})
    assert hinted.base_model == "flux1"
    assert "modelspec.architecture" in hinted.reason


def test_tensors_win_over_contradicting_metadata():
    found = detect(_tensors("sd15_lora_kohya"), {"ss_base_model_version": "sdxl_base_v1-0"})
    assert found.base_model == "sd15"


def test_kohya_metadata_for_sd2():
    found = detect({"lora_unet_foo.lora_down.weight": TensorInfo("F16", (4, 5))}, {"ss_v2": "True"})
    assert (found.type, found.base_model) == ("lora", "sd2")


def test_vae_base_needs_a_name():
    tensors = _tensors("vae_sd15")
    assert detect(tensors, {}, "vae.safetensors").base_model == "unknown"
    assert detect(tensors, {}, "sdxl_vae.safetensors").base_model == "sdxl"
    assert detect(tensors, {}, "sdxl_vae.safetensors").type == "vae"


def test_fp8_variant_and_unknown_dtype_names():
    assert detect(_tensors("flux1_dev_fp8_diffusion"), {}).variant == "fp8_e4m3fn"
    gguf_like = {"img_in.weight": TensorInfo("Q4_K", (3072, 64))}
    assert detect(gguf_like, {}).variant == "q4_k"


def test_detect_many_unions_the_shards(tmp_path):
    paths = synth.write_sharded_set(tmp_path, n=3, family="flux1_dev_diffusion")
    infos = [inspect_path(p) for p in paths]
    alone = [i.detection for i in infos]
    assert any(d.base_model != "flux1" or d.subtype != "dev" for d in alone)  # no one shard tells it all
    found = detect_many(infos, [p.name for p in paths])
    assert (found.type, found.base_model, found.subtype) == ("diffusion_model", "flux1", "dev")


@pytest.mark.parametrize("style", ["hf", "part", "underscore"])
def test_sharded_set_names(tmp_path, style):
    paths = synth.write_sharded_set(tmp_path, stem="t5", n=2, style=style, family="t5xxl")
    assert len(paths) == 2 and all(p.exists() for p in paths)
    assert detect_many([inspect_path(p) for p in paths]).subtype == "t5xxl"
    if style == "hf":
        index = json.loads((tmp_path / "t5.safetensors.index.json").read_text())
        assert set(index["weight_map"].values()) == {p.name for p in paths}


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        ("StableDiffusionXLPipeline", ("checkpoint", "sdxl", None)),
        ("StableDiffusionPipeline", ("checkpoint", "sd15", None)),
        ("FluxPipeline", ("checkpoint", "flux1", None)),
        ("StableDiffusion3Pipeline", ("checkpoint", "sd3", None)),
    ],
)
def test_diffusers_folder(tmp_path, pipeline, expected):
    root = synth.write_diffusers_folder(tmp_path / "m", pipeline)
    found = detect_diffusers_folder(root)
    assert (found.type, found.base_model, found.subtype) == expected
    assert pipeline in found.reason


def test_diffusers_folder_configs_split_shared_pipelines(tmp_path):
    root = synth.write_diffusers_folder(tmp_path / "sd2", "StableDiffusionPipeline")
    (root / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 1024}))
    assert detect_diffusers_folder(root).base_model == "sd2"
    flux = synth.write_diffusers_folder(tmp_path / "flux", "FluxPipeline")
    (flux / "transformer" / "config.json").write_text(json.dumps({"guidance_embeds": False}))
    assert detect_diffusers_folder(flux).subtype == "schnell"
    sd35 = synth.write_diffusers_folder(tmp_path / "sd35", "StableDiffusion3Pipeline")
    (sd35 / "transformer" / "config.json").write_text(json.dumps({"num_layers": 38}))
    assert detect_diffusers_folder(sd35).base_model == "sd35"


def test_diffusers_component_folder(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"_class_name": "ControlNetModel", "cross_attention_dim": 2048})
    )
    found = detect_diffusers_folder(tmp_path)
    assert (found.type, found.base_model) == ("controlnet", "sdxl")


def test_unknown_pipeline_stays_unknown(tmp_path):
    (tmp_path / "model_index.json").write_text(
        json.dumps({"_class_name": "SomeNewPipeline", "vae": ["d", "A"]})
    )
    assert detect_diffusers_folder(tmp_path).base_model == "unknown"


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[1, 2]", b'{"_class_name": 5}', b"[" * 100_000, b"{" + b" " * (2 << 20) + b"}"],
    ids=["empty", "broken", "list", "class-not-str", "deep", "oversized"],
)
def test_diffusers_folder_bad_index_rejected(tmp_path, content):
    (tmp_path / "model_index.json").write_bytes(content)
    with pytest.raises(InvalidModelFile):
        detect_diffusers_folder(tmp_path)


def test_folder_without_index_rejected(tmp_path):
    with pytest.raises(InvalidModelFile, match=r"neither model_index\.json nor config\.json"):
        detect_diffusers_folder(tmp_path)


def test_detection_is_frozen():
    found = Detection("lora", "sd15", "r")
    with pytest.raises(AttributeError):
        found.type = "vae"  # type: ignore[misc]

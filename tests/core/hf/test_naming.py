from __future__ import annotations

import pytest

from comfyui_model_library.core.hf.naming import parse_name, precision_of, search_queries, similarity


@pytest.mark.parametrize(
    ("filename", "base", "variant"),
    [
        ("flux1-dev-fp8_e4m3fn.safetensors", "flux1-dev", "fp8_e4m3fn"),
        ("v1-5-pruned-emaonly.ckpt", "v1-5", "pruned-emaonly"),
        ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Qwen2.5-7B-Instruct", "q4_k_m"),
        ("wan2.1_t2v_14B_bf16.safetensors", "wan2.1_t2v_14B", "bf16"),
        ("t5xxl_fp8_e4m3fn_scaled.safetensors", "t5xxl", "fp8_e4m3fn-scaled"),
        ("clip_l.safetensors", "clip_l", None),
        ("sd_xl_base_1.0.safetensors", "sd_xl_base_1.0", None),
        ("flux1-dev-Q8_0.gguf", "flux1-dev", "q8_0"),
    ],
)
def test_parse_name_strips_precision_and_markers(filename, base, variant):
    parts = parse_name(filename)
    assert parts.base == base
    assert parts.variant == variant


def test_precision_of():
    assert precision_of("model.fp16.safetensors") == "fp16"
    assert precision_of("x_e5m2.safetensors") == "fp8_e5m2"
    assert precision_of("plain.safetensors") is None


def test_search_queries_prefer_metadata_then_name():
    queries = search_queries(
        "my_lora_v2-000010.safetensors", {"ss_output_name": "CoolStyle", "modelspec.title": "Cool Style"}
    )
    assert queries[:2] == ["Cool Style", "CoolStyle"]
    assert "my_lora_v2-000010" in queries
    assert search_queries("sd_xl_base_1.0.safetensors")[:2] == ["sd_xl_base_1.0", "sd-xl-base"]


def test_similarity_ignores_variant_and_separators():
    assert similarity("flux1-dev-fp8.safetensors", "flux1_dev.safetensors") == 1.0
    assert similarity("flux1-dev.safetensors", "flux1-schnell.safetensors") < 0.8
    assert similarity("", "x") == 0.0

"""The loader table in the code against the real host's /object_info (ComfyUI 0.3.64, saved once).

The sample was answered by a real ComfyUI 0.3.64 (``--disable-all-custom-nodes``) whose model folders each
held one file, ``sample-<category>.safetensors`` (``vae_approx``: ``taesd_decoder.pth``; ``configs``:
``sample.yaml``), trimmed to the loaders and a few ordinary nodes. Its Python had no torchaudio, so
``AudioEncoderLoader`` is missing from it; ``DiffusersLoader`` lists folders and there were none.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfyui_model_library.core.mapping.categories import MODEL_CATEGORIES
from comfyui_model_library.core.workflows import (
    CORE_LOADERS,
    LoaderInput,
    extract_references,
    loaders_from_object_info,
    merged,
    workflow_from_json,
)

SAMPLE = json.loads((Path(__file__).parent / "data" / "object_info_0.3.64.json").read_text())
EMPTY_IN_SAMPLE = {"clip", "unet", "diffusers", "classifiers", "t2i_adapter"}
FILES = {c: [f"sample-{c}.safetensors"] for c in MODEL_CATEGORIES if c not in EMPTY_IN_SAMPLE}
FILES["vae_approx"] = ["taesd_decoder.pth"]
NOT_IN_SAMPLE = {"AudioEncoderLoader", "DiffusersLoader"}


def test_the_table_is_what_the_host_s_object_info_says() -> None:
    derived = loaders_from_object_info(SAMPLE, FILES)
    assert set(derived) == set(CORE_LOADERS) - NOT_IN_SAMPLE
    for node_type, entries in derived.items():
        assert entries == CORE_LOADERS[node_type], node_type


def test_object_info_inputs_are_recognised_by_their_options_only() -> None:
    info = {
        "MyLoader": {
            "input": {
                "required": {
                    "model": ["MODEL", {}],
                    "noise_seed": ["INT", {}],  # a seed: its value and "control after generate"
                    "wrapped": ["FLOAT", {"forceInput": True}],  # a socket, not a widget
                    "name": ["COMBO", {"options": ["a.safetensors", "b.safetensors", "None"]}],
                },
                "optional": {"other": [["a.safetensors"], {}], "mode": [["x", "y"], {}]},
            },
            "input_order": {
                "required": ["model", "noise_seed", "wrapped", "name"],
                "optional": ["other", "mode"],
            },
        },
        "Ambiguous": {"input": {"required": {"f": [["same.safetensors"], {}]}}},
        "Broken": "not a node",
    }
    files = {
        "loras": ["a.safetensors", "b.safetensors"],
        "vae": ["same.safetensors"],
        "clip_vision": ["same.safetensors"],
    }
    derived = loaders_from_object_info(info, files)
    assert derived == {"MyLoader": (LoaderInput("name", 2, "loras"),)}
    aliases = loaders_from_object_info(
        info, {"unet": ["same.safetensors"], "diffusion_models": ["same.safetensors"]}
    )
    assert aliases == {"Ambiguous": (LoaderInput("f", 0, "diffusion_models"),)}


def test_a_map_from_the_host_extends_and_overrides_the_table() -> None:
    from_host = {
        "MyLoader": (LoaderInput("name", 2, "loras"),),
        "VAELoader": (LoaderInput("vae_name", 0, "vae"),),
    }
    loaders = merged(from_host)
    assert (
        loaders["MyLoader"] == from_host["MyLoader"] and loaders["UNETLoader"] == CORE_LOADERS["UNETLoader"]
    )
    workflow = workflow_from_json(
        {"nodes": [{"id": 1, "type": "MyLoader", "widgets_values": [1, "fixed", "b.safetensors"]}]}
    )
    assert [r.name for r in extract_references(workflow, loaders).references] == ["b.safetensors"]
    assert extract_references(workflow).references == ()


@pytest.mark.parametrize("node_type", sorted(CORE_LOADERS))
def test_every_table_category_is_a_host_category(node_type: str) -> None:
    assert all(e.category in MODEL_CATEGORIES and e.name and e.index >= 0 for e in CORE_LOADERS[node_type])

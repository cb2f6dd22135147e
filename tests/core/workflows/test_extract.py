"""Extracting model references: loader widgets, subgraphs, API inputs, our nodes, models entries, merges."""

from __future__ import annotations

from typing import Any

import pytest

from comfyui_model_library.core.errors import InvalidInput
from comfyui_model_library.core.workflows import (
    ContentHash,
    RefSource,
    WorkflowReference,
    extract_references,
    workflow_from_json,
)
from comfyui_model_library.core.workflows import extract as extract_module

SHA = "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b"
B3 = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
URL = "https://huggingface.co/org/repo/resolve/main/split_files/clip_l.safetensors"


def refs(data: dict[str, Any]) -> tuple[WorkflowReference, ...]:
    return extract_references(workflow_from_json(data)).references


def node(node_id: int, node_type: str, *values: Any, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "widgets_values": list(values), **extra}


def entry(name: str, directory: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": URL, "directory": directory, **extra}


def test_every_core_loader_widget_with_its_category() -> None:
    found = refs(
        {
            "nodes": [
                node(1, "CheckpointLoader", "v1-inference.yaml", "old.ckpt"),
                node(2, "DualCLIPLoader", "clip_l.safetensors", "t5xxl.safetensors", "flux", "default"),
                node(3, "LoraLoader", "detail.safetensors", 0.8, 1.0),
                node(4, "VAELoader", "pixel_space"),
                node(5, "VAELoader", "taesdxl"),
                node(6, "UpscaleModelLoader", "4x.pth"),
                node(7, "KSampler", 1, "randomize", 20, 8, "euler", "normal", 1.0),
                node(
                    8,
                    "TrainLoraNode",
                    1,
                    1,
                    10,
                    0.1,
                    8,
                    "AdamW",
                    "MSE",
                    0,
                    "fixed",
                    "bf16",
                    "bf16",
                    "LoRA",
                    True,
                    "base.safetensors",
                ),
                node(
                    9,
                    "TrainLoraNode",
                    1,
                    1,
                    10,
                    0.1,
                    8,
                    "AdamW",
                    "MSE",
                    0,
                    "fixed",
                    "bf16",
                    "bf16",
                    "LoRA",
                    True,
                    "[None]",
                ),
            ]
        }
    )
    assert [(r.node_id, r.category, r.name, r.input_name) for r in found] == [
        ("1", "checkpoints", "old.ckpt", "ckpt_name"),
        ("2", "text_encoders", "clip_l.safetensors", "clip_name1"),
        ("2", "text_encoders", "t5xxl.safetensors", "clip_name2"),
        ("3", "loras", "detail.safetensors", "lora_name"),
        ("6", "upscale_models", "4x.pth", "model_name"),
        ("8", "loras", "base.safetensors", "existing_lora"),
    ]
    assert all(r.sources == (RefSource.WIDGET,) and r.url is None and r.hash is None for r in found)


def test_properties_models_merge_into_the_widget_and_give_url_and_hash() -> None:
    loader = node(
        10,
        "CLIPLoader",
        "sub/clip_l.safetensors",
        "flux",
        properties={"models": [entry("clip_l.safetensors", "clip", hash=SHA.upper(), hash_type="SHA256")]},
    )
    extra = node(
        11,
        "LTXAVTextEncoderLoader",
        "gemma.safetensors",
        properties={"models": [entry("gemma.safetensors", "text_encoders")]},
    )
    (clip, gemma) = refs({"nodes": [loader, extra]})
    assert clip == WorkflowReference(
        "10",
        "CLIPLoader",
        "text_encoders",
        "sub/clip_l.safetensors",
        URL,
        ContentHash("sha256", SHA),
        (RefSource.WIDGET, RefSource.NODE_MODELS),
        "clip_name",
    )
    assert (gemma.node_id, gemma.category, gemma.name, gemma.sources) == (
        "11",
        "text_encoders",
        "gemma.safetensors",
        (RefSource.NODE_MODELS,),
    )


def test_top_level_models_merge_or_stand_alone() -> None:
    data = {
        "nodes": [node(1, "UNETLoader", "flux1-dev.safetensors", "default")],
        "models": [
            entry("flux1-dev.safetensors", "diffusion_models", hash=SHA, hash_type="sha256"),
            entry("ae.safetensors", "vae"),
        ],
    }
    unet, vae = refs(data)
    assert unet.sources == (RefSource.WIDGET, RefSource.WORKFLOW_MODELS)
    assert unet.hash == ContentHash("sha256", SHA)
    assert (vae.node_id, vae.node_type, vae.category, vae.url) == (None, None, "vae", URL)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("not an object", "must be an object, not str"),
        ({"name": "x.safetensors"}, "needs a 'name' and a 'directory'"),
        ({"name": "", "directory": "vae"}, "needs a 'name' and a 'directory'"),
        (entry("x.safetensors", "../../etc"), "not a model category name"),
        (entry("x.safetensors", "/abs"), "not a model category name"),
        (entry("x.safetensors", "vae", url="file:///etc/passwd"), "url that is not http"),
        (entry("x.safetensors", "vae", hash="abc", hash_type="SHA256"), "not a SHA256 hex digest"),
        (entry("x.safetensors", "vae", hash=SHA, hash_type="MD5"), "not a SHA256 hex digest"),
    ],
)
def test_malformed_models_entries_are_reported_and_skipped_not_fatal(bad: Any, says: str) -> None:
    data = {"nodes": [node(1, "VAELoader", "x.safetensors", properties={"models": [bad]})]}
    result = extract_references(workflow_from_json(data))
    assert [r.name for r in result.references] == ["x.safetensors"]
    assert result.references[0].hash is None
    assert (result.references[0].url is None) == ("digest" not in says)
    assert len(result.problems) == 1 and says in result.problems[0]


def test_wrong_types_inside_nodes_are_problems_not_crashes() -> None:
    data = {
        "nodes": [
            {"id": 1},
            node(2, "VAELoader", 42),
            {"id": 3, "type": "VAELoader", "widgets_values": {"vae_name": "by-name.safetensors"}},
            {"id": 4, "type": "VAELoader", "widgets_values": "junk", "properties": {"models": "junk"}},
            node(5, "VAELoader"),
        ],
        "models": {"not": "a list"},
        "definitions": {"subgraphs": "junk"},
    }
    result = extract_references(workflow_from_json(data))
    assert [(r.node_id, r.name) for r in result.references] == [("3", "by-name.safetensors")]
    assert len(result.problems) == 4  # no type; 42 is not a name; models not a list (node 4, top level)


# -- subgraphs -----------------------------------------------------------------------------------------------
SG = "134b0aa2-0237-4237-8366-558c4a007c68"
INNER = "9d1c6e7e-5a3e-4c43-9c0e-2a1b3c4d5e6f"


def subgraph(
    sg_id: str, nodes: list[dict[str, Any]], inputs: list[dict[str, Any]] = (), links: list[Any] = ()
) -> dict[str, Any]:  # type: ignore[assignment]
    return {"id": sg_id, "name": "sg", "inputs": list(inputs), "nodes": nodes, "links": list(links)}


def fed(node_id: int, node_type: str, value: str, input_name: str, link: int) -> dict[str, Any]:
    slot = {"name": input_name, "type": "COMBO", "widget": {"name": input_name}, "link": link}
    return node(node_id, node_type, value, inputs=[slot])


def test_subgraph_nodes_are_qualified_by_their_instance_and_fed_values_win() -> None:
    inner = [
        fed(5, "ImageOnlyCheckpointLoader", "default.safetensors", "ckpt_name", 34),
        node(6, "VAELoader", "vae.safetensors", properties={"models": [entry("vae.safetensors", "vae")]}),
    ]
    links = [
        {"id": 34, "origin_id": -10, "origin_slot": 1, "target_id": 5, "target_slot": 0, "type": "COMBO"}
    ]
    inputs = [{"name": "image", "type": "IMAGE"}, {"name": "ckpt_name", "type": "COMBO"}]
    data = {
        "nodes": [
            node(19, SG, "chosen-by-position.safetensors"),
            node(20, SG, "ignored", widgets_values_named={"ckpt_name": "chosen-by-name.safetensors"}),
            node(21, SG, "too", "many"),  # values do not line up with the widget inputs: the inner value
        ],
        "definitions": {"subgraphs": [subgraph(SG, inner, inputs, links)]},
    }
    found = [(r.node_id, r.name) for r in refs(data)]
    assert found == [
        ("19:5", "chosen-by-position.safetensors"),
        ("19:6", "vae.safetensors"),
        ("20:5", "chosen-by-name.safetensors"),
        ("20:6", "vae.safetensors"),
        ("21:5", "default.safetensors"),
        ("21:6", "vae.safetensors"),
    ]


def test_nested_subgraphs_pass_values_down_and_unused_definitions_are_read() -> None:
    leaf = [fed(7, "LoraLoaderModelOnly", "leaf-default.safetensors", "lora_name", 1)]
    leaf_links = [{"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 7, "target_slot": 0}]
    middle = [
        {
            "id": 3,
            "type": INNER,
            "widgets_values": ["middle-default.safetensors"],
            "inputs": [{"name": "lora", "type": "COMBO", "widget": {"name": "lora"}, "link": 2}],
        }
    ]
    middle_links = [{"id": 2, "origin_id": -10, "origin_slot": 0, "target_id": 3, "target_slot": 0}]
    unused = "00000000-0000-4000-8000-000000000000"
    data = {
        "nodes": [node(1, SG, "outer.safetensors")],
        "definitions": {
            "subgraphs": [
                subgraph(SG, middle, [{"name": "lora", "type": "COMBO"}], middle_links),
                subgraph(INNER, leaf, [{"name": "lora", "type": "COMBO"}], leaf_links),
                subgraph(unused, [node(4, "VAELoader", "spare.safetensors")]),
            ]
        },
    }
    assert [(r.node_id, r.name) for r in refs(data)] == [
        ("1:3:7", "outer.safetensors"),
        (f"{unused}:4", "spare.safetensors"),
    ]


def test_a_subgraph_that_contains_itself_is_not_expanded_forever() -> None:
    data = {
        "nodes": [node(1, SG)],
        "definitions": {"subgraphs": [subgraph(SG, [node(2, SG), node(3, "VAELoader", "v.safetensors")])]},
    }
    result = extract_references(workflow_from_json(data))
    assert [(r.node_id, r.name) for r in result.references] == [("1:3", "v.safetensors")]
    assert any("contains itself" in p for p in result.problems)


def test_subgraph_expansion_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # ten instances of a definition holding ten instances of another...: 10**depth nodes
    defs = [subgraph(f"sg{i}", [node(n, f"sg{i + 1}") for n in range(10)]) for i in range(6)]
    defs.append(subgraph("sg6", [node(1, "VAELoader", "v.safetensors")]))
    data = {"nodes": [node(1, "sg0")], "definitions": {"subgraphs": defs}}
    monkeypatch.setattr(extract_module, "MAX_NODES_WALKED", 10_000)
    with pytest.raises(InvalidInput, match="more than 10000 nodes once subgraphs are expanded"):
        extract_references(workflow_from_json(data))
    monkeypatch.setattr(extract_module, "MAX_SUBGRAPH_DEPTH", 3)
    with pytest.raises(InvalidInput, match="nested deeper than 3"):
        extract_references(workflow_from_json(data))


# -- API format ----------------------------------------------------------------------------------------------
def test_api_format_inputs_by_name_links_skipped() -> None:
    data = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
        "10": {"class_type": "LoraLoader", "inputs": {"lora_name": ["12", 0], "model": ["4", 0]}},
        "12:5": {
            "class_type": "QuadrupleCLIPLoader",
            "inputs": {f"clip_name{i}": f"c{i}.safetensors" for i in range(1, 5)},
        },
        "13": {"class_type": "KSampler", "inputs": {"seed": 1}},
    }
    found = [(r.node_id, r.category, r.name, r.input_name) for r in refs(data)]
    assert found == [("4", "checkpoints", "sdxl.safetensors", "ckpt_name")] + [
        ("12:5", "text_encoders", f"c{i}.safetensors", f"clip_name{i}") for i in range(1, 5)
    ]


# -- our nodes -----------------------------------------------------------------------------------------------
def test_library_nodes_give_name_id_and_blake3() -> None:
    data = {
        "nodes": [
            node(1, "LibraryCheckpointLoader", "Juggernaut XL [af1349b9]", f"blake3:{B3}"),
            node(2, "LibraryLoraLoader", "detail [0badcafe]", 1.0, 1.0, ""),
            node(3, "LibraryModelPath", "upscaler/4x-UltraSharp [12345678]", f"sha256:{SHA}"),
            node(4, "LibraryModelPath", "unknown/mystery [abcdef12]", ""),
            node(5, "LibraryVAELoader", "", ""),
        ]
    }
    found = refs(data)
    assert [(r.category, r.name, r.library_id, r.hash) for r in found] == [
        ("checkpoints", "Juggernaut XL", "af1349b9", ContentHash("blake3", B3)),
        ("loras", "detail", "0badcafe", None),
        ("upscale_models", "4x-UltraSharp", "12345678", ContentHash("sha256", SHA)),
        ("model_library", "mystery", "abcdef12", None),
    ]
    assert all(r.sources == (RefSource.LIBRARY_NODE,) for r in found)
    api = {"7": {"class_type": "LibraryVAELoader", "inputs": {"vae": "x", "model_ref": B3[:12]}}}
    (vae,) = refs(api)
    assert (vae.category, vae.name, vae.library_id) == ("vae", "x", B3[:12])


def test_problems_are_capped_and_many_entries_merge_by_index() -> None:
    nodes = [
        node(
            i, "VAELoader", f"v{i}.safetensors", properties={"models": [entry(f"v{i}.safetensors", "vae"), 7]}
        )
        for i in range(500)
    ]
    data = {
        "nodes": nodes,
        "models": [entry(f"v{i}.safetensors", "vae", hash=SHA, hash_type="SHA256") for i in range(500)],
    }
    result = extract_references(workflow_from_json(data))
    assert len(result.references) == 500
    assert all(
        r.sources == (RefSource.WIDGET, RefSource.NODE_MODELS, RefSource.WORKFLOW_MODELS)
        for r in result.references
    )
    assert all(r.url == URL and r.hash == ContentHash("sha256", SHA) for r in result.references)
    assert len(result.problems) == 201 and result.problems[-1] == "... and 300 more problems like these"

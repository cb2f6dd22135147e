"""stamp over every real template: stamping then extracting gives our hashes back, nothing else changes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import comfyui_workflow_templates_json
import pytest

from comfyui_model_library.core.workflows import extract_references, read_workflow_file
from comfyui_model_library.core.workflows.document import workflow_from_json
from comfyui_model_library.core.workflows.references import ContentHash, RefSource, WorkflowReference
from comfyui_model_library.core.workflows.stamp import StampInfo, stamp

TEMPLATES = Path(comfyui_workflow_templates_json.__file__).parent / "templates"
WORKFLOWS = [
    p
    for p in sorted(TEMPLATES.glob("*.json"))
    if not p.name.startswith("index") and p.name != "fuse_options.json"
]


def fake_sha(ref: WorkflowReference) -> str:
    return hashlib.sha256(f"{ref.category}/{ref.name}".encode()).hexdigest()


def lookup(ref: WorkflowReference) -> StampInfo:
    return StampInfo(fake_sha(ref), url=f"https://huggingface.co/x/y/resolve/main/{ref.name}")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_stamp_then_extract_gives_hashes_back(path: Path) -> None:
    try:
        workflow = read_workflow_file(path)
    except Exception:
        pytest.skip("not a readable workflow")
    before = json.dumps(workflow.data)
    result = stamp(workflow, lookup)
    assert json.dumps(workflow.data) == before  # the input is untouched
    again = extract_references(workflow_from_json(result.data, label=path.name)).references
    stamped = {(s.node_id, s.name) for s in result.stamped}
    for ref in again:
        if (ref.node_id, ref.name) in stamped and ref.hash is not None and ref.hash.algorithm == "sha256":
            # a hash the template already had is kept; otherwise ours is there
            original = [r for r in extract_references(workflow).references if r.node_id == ref.node_id]
            had = [r.hash for r in original if r.name == ref.name and r.hash is not None]
            assert ref.hash == (had[0] if had else ContentHash("sha256", fake_sha(ref)))
    for s in result.stamped:
        assert any(r.node_id == s.node_id and r.hash is not None for r in again), s


def test_stamp_adds_entry_and_keeps_everything_else() -> None:
    doc = {
        "nodes": [
            {
                "id": 3,
                "type": "LoraLoader",
                "widgets_values": ["sub/my lora.safetensors", 1.0, 1.0],
                "mode": 0,
            },
            {"id": 4, "type": "KSampler", "widgets_values": [1, "fixed", 20, 7, "euler", "normal", 1]},
        ],
        "links": [],
        "extra": {"keep": True},
    }
    wf = workflow_from_json(doc)
    result = stamp(wf, lambda ref: StampInfo("AB" * 32) if ref.category == "loras" else None)
    node = result.data["nodes"][0]
    assert node["properties"]["models"] == [
        {"name": "my lora.safetensors", "directory": "loras", "hash": "ab" * 32, "hash_type": "SHA256"}
    ]
    assert {k: v for k, v in node.items() if k != "properties"} == doc["nodes"][0]
    assert result.data["nodes"][1] == doc["nodes"][1] and result.data["extra"] == doc["extra"]
    (ref,) = extract_references(workflow_from_json(result.data)).references
    assert ref.hash == ContentHash("sha256", "ab" * 32)
    # stamping twice changes nothing more
    second = stamp(workflow_from_json(result.data), lambda ref: StampInfo("ab" * 32))
    assert second.stamped == () and second.data == result.data


def test_unknown_files_and_api_format_are_left_alone() -> None:
    doc = {"nodes": [{"id": 1, "type": "LoraLoader", "widgets_values": ["a.safetensors", 1, 1]}], "links": []}
    assert stamp(workflow_from_json(doc), lambda ref: None).data == doc
    api = {"1": {"class_type": "LoraLoader", "inputs": {"lora_name": "a.safetensors"}}}
    assert stamp(workflow_from_json(api), lambda ref: StampInfo("ab" * 32)).data == api


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_stamp_template_without_entries_gets_ours_on_every_loader(path: Path) -> None:
    """The template with its ``properties.models`` removed: every top-level widget reference gets our hash."""
    try:
        workflow = read_workflow_file(path)
    except Exception:
        pytest.skip("not a readable workflow")
    data = json.loads(json.dumps(workflow.data))
    for node in data.get("nodes", []):
        if isinstance(node, dict) and isinstance(node.get("properties"), dict):
            node["properties"].pop("models", None)
    bare = workflow_from_json(data, label=path.name)
    widgets = [
        r
        for r in extract_references(bare).references
        if r.node_id is not None and ":" not in r.node_id and RefSource.WIDGET in r.sources
    ]
    result = stamp(bare, lookup)
    assert len(result.stamped) == len(widgets) and all(s.added for s in result.stamped)
    after = {(r.node_id, r.name): r for r in extract_references(workflow_from_json(result.data)).references}
    for ref in widgets:
        assert after[(ref.node_id, ref.name)].hash == ContentHash("sha256", fake_sha(ref))


def test_existing_entry_is_completed_not_duplicated() -> None:
    entry = {"name": "a.safetensors", "url": "https://example.com/a.safetensors", "directory": "loras"}
    node = {
        "id": 1,
        "type": "LoraLoader",
        "widgets_values": ["a.safetensors", 1, 1],
        "properties": {"models": [entry]},
    }
    result = stamp(
        workflow_from_json({"nodes": [node], "links": []}), lambda ref: StampInfo("cd" * 32, "https://other")
    )
    assert result.data["nodes"][0]["properties"]["models"] == [
        {**entry, "hash": "cd" * 32, "hash_type": "SHA256"}
    ]
    assert [s.added for s in result.stamped] == [False]

"""Real data: every workflow template ComfyUI ships (PyPI ``comfyui-workflow-templates-json``, a test extra).

Each template is read and its references extracted, then checked against what its nodes ask for, read
here straight from the JSON without the extractor: every ``properties.models`` entry (top level and in
subgraph definitions) must come out as a reference of that node, category and name, joined to the loader
widget when the node is a known loader; every loader widget at the top level must come out with the
widget's value. ``python -m pytest tests/core/workflows/test_templates.py -s`` prints the totals.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import comfyui_workflow_templates_json
import pytest

from comfyui_model_library.core.errors import InvalidInput
from comfyui_model_library.core.mapping.categories import MODEL_CATEGORIES
from comfyui_model_library.core.workflows import (
    CORE_LOADERS,
    Extraction,
    RefSource,
    extract_references,
    read_workflow_file,
)
from comfyui_model_library.core.workflows.references import category_name, file_name

TEMPLATES = Path(comfyui_workflow_templates_json.__file__).parent / "templates"
FILES = sorted(TEMPLATES.glob("*.json"))
# The package also holds its index (one per language), a JSON schema and search options: not workflows.
NOT_WORKFLOWS = [p for p in FILES if p.name.startswith("index") or p.name == "fuse_options.json"]
WORKFLOWS = [p for p in FILES if p not in NOT_WORKFLOWS]


@cache
def extracted() -> dict[str, tuple[dict[str, Any], Extraction]]:
    return {p.name: (json.loads(p.read_text()), extract_references(read_workflow_file(p))) for p in WORKFLOWS}


def raw_nodes(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from data["nodes"]
    for definition in (data.get("definitions") or {}).get("subgraphs") or []:
        yield from definition["nodes"]


def test_the_package_holds_the_templates_and_only_workflows_parse() -> None:
    assert len(WORKFLOWS) >= 600
    for path in NOT_WORKFLOWS:
        with pytest.raises(InvalidInput, match=path.name):
            read_workflow_file(path)
    assert len(extracted()) == len(WORKFLOWS)


def test_every_reference_has_a_known_category_and_a_name_and_nothing_is_skipped() -> None:
    for name, (data, result) in extracted().items():
        named = {
            category_name(m["directory"])
            for n in raw_nodes(data)
            for m in (n.get("properties") or {}).get("models") or []
        }
        assert result.problems == (), name
        for ref in result.references:
            assert ref.name.strip() and ref.node_id and ref.node_type, (name, ref)
            assert ref.category in MODEL_CATEGORIES or ref.category in named, (name, ref)


def test_every_properties_models_entry_is_a_reference_joined_to_its_loader_widget() -> None:
    for name, (data, result) in extracted().items():
        for node in raw_nodes(data):
            for entry in (node.get("properties") or {}).get("models") or []:
                same = [
                    r
                    for r in result.references
                    if r.node_id.rsplit(":", 1)[-1] == str(node["id"])
                    and r.node_type == node["type"]
                    and r.name == entry["name"]
                    and r.category == category_name(entry["directory"])
                ]
                assert same, (name, node["id"], entry)
                assert all(r.url == entry["url"] for r in same), (name, entry)
                if entry.get("hash"):
                    assert all(r.hash and r.hash.hex == entry["hash"].lower() for r in same), (name, entry)
                if node["type"] in CORE_LOADERS:
                    assert all(RefSource.WIDGET in r.sources for r in same), (name, node["id"], entry)


def test_every_top_level_loader_widget_is_a_reference_with_the_widget_s_value() -> None:
    for name, (data, result) in extracted().items():
        by_node = collections.defaultdict(set)
        for ref in result.references:
            by_node[ref.node_id].add((ref.category, ref.name))
        for node in data["nodes"]:
            for loader in CORE_LOADERS.get(node["type"], ()):
                value = file_name((node.get("widgets_values") or [None] * 99)[loader.index])
                if value is not None:
                    assert (loader.category, value) in by_node[str(node["id"])], (name, node["id"])


def test_totals(capsys: pytest.CaptureFixture[str]) -> None:
    refs = [r for _, result in extracted().values() for r in result.references]
    by_category = collections.Counter(r.category for r in refs)
    widget_only = sum(1 for r in refs if r.sources == (RefSource.WIDGET,))
    entry_only = sum(1 for r in refs if RefSource.WIDGET not in r.sources)
    hashed = sum(1 for r in refs if r.hash is not None)
    assert len(refs) >= 1000 and sum(by_category.values()) == len(refs)
    assert all(r.url for r in refs if RefSource.NODE_MODELS in r.sources)
    with capsys.disabled():
        print(
            f"\n{len(extracted())} templates, {len(refs)} references ({hashed} with a SHA256, "
            f"{widget_only} loader widgets without a models entry, {entry_only} models entries of nodes "
            f"not in the loader table)\nby category: {dict(by_category.most_common())}"
        )

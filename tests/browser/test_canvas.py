"""Dragging a model from the panel to the canvas: the drag carries the model, and canvas.js turns it into
the right loader node (or sets an existing loader's model). LiteGraph is a small stand-in with the same
calls ComfyUI's frontend offers (createNode, registered_node_types, graph.add/getNodeOnPos)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import ServedLibrary, fake_model, open_panel, seed

pytestmark = pytest.mark.browser

FAKE_LITEGRAPH = """
  const combo = (name, values) => ({ name, type: "combo", value: values[0], options: { values } });
  class LoaderNode {
    constructor(type, title, values) {
      this.type = type; this.title = title; this.pos = [0, 0];
      this.size = [200, 80]; this.widgets = [combo("model", values)];
    }
  }
  const values = ["other.safetensors", "checkpoints/m1.safetensors", "lora-one.safetensors"];
  const registered = {
    LibraryCheckpointLoader: { title: "Library Checkpoint Loader" },
    LibraryLoraLoader: { title: "Library LoRA Loader" },
  };
  const LiteGraph = {
    registered_node_types: registered,
    createNode: (type) => registered[type] ? new LoaderNode(type, registered[type].title, values) : null,
  };
  const graph = { nodes: [], add(n) { this.nodes.push(n); },
    getNodeOnPos(x, y) { return this.nodes.find((n) => x >= n.pos[0] && x <= n.pos[0] + n.size[0]
      && y >= n.pos[1] && y <= n.pos[1] + n.size[1]) || null; } };
"""


def _drag_payload(page: Any, model_id: str) -> Any:
    """What dragging the panel's row of ``model_id`` carries (the panel builds it from GET /models)."""
    return page.evaluate(
        """(id) => { const dt = new DataTransfer();
                     const row = document.querySelector(`.mlib-row[data-id="${id}"]`);
                     row.dispatchEvent(new DragEvent('dragstart', { dataTransfer: dt, bubbles: true }));
                     return JSON.parse(dt.getData('application/x-model-library')); }""",
        model_id,
    )


def test_drag_payload_and_loader_node(served: ServedLibrary, page: Any) -> None:
    checkpoint = fake_model(0, name="m1", type="checkpoint")
    lora = fake_model(1, name="lora-one", type="lora")
    vae = fake_model(2, name="v", type="vae")
    seed(served.library, [checkpoint, lora, vae])
    open_panel(page, served)
    page.wait_for_selector(f".mlib-row[data-id='{vae.id}']")
    payloads = [_drag_payload(page, m.id) for m in (checkpoint, lora, vae)]
    assert payloads[0]["id"] == checkpoint.id and payloads[0]["type"] == "checkpoint"
    assert payloads[0]["files"] == ["m1.safetensors"]
    result = page.evaluate(
        "async ([ckpt, lora, vae]) => {"
        + FAKE_LITEGRAPH
        + """
          const { dropModelOnGraph } = await import('/model-library/js/canvas.js');
          const created = dropModelOnGraph(graph, LiteGraph, ckpt, [10, 20]);
          const first = created.widgets[0].value;
          const onExisting = dropModelOnGraph(graph, LiteGraph, lora, [50, 50]);
          const none = dropModelOnGraph(graph, LiteGraph, vae, [900, 900]);
          return { title: created.title, pos: created.pos, value: first,
                   same: onExisting === created, after: created.widgets[0].value, count: graph.nodes.length,
                   vae: none === null };
        }""",
        payloads,
    )
    assert result["title"] == "Library Checkpoint Loader"
    assert result["pos"] == [10, 20]
    assert result["value"] == "checkpoints/m1.safetensors"
    assert result["same"] is True, "a drop onto an existing loader must set its model, not add a node"
    assert result["after"] == "lora-one.safetensors"
    assert result["count"] == 1
    assert result["vae"] is True  # no VAE loader registered in this graph: nothing is created
    assert page.errors == []


def test_a_drop_writes_a_properties_models_entry(served: ServedLibrary, page: Any) -> None:
    """placeModel gives the node ComfyUI's own `properties.models` entry (SHA-256, folder, listed name, Hub
    URL when the origin is the Hub); a second drop on the same loader replaces the entry for that name."""
    open_panel(page, served)
    sha = "AB" * 32
    result = page.evaluate(
        "async (sha) => {"
        + FAKE_LITEGRAPH
        + """
          const { placeModel } = await import('/model-library/js/canvas.js');
          const ckpt = { id: 'c1', name: 'm1', type: 'checkpoint', files: ['m1.safetensors'] };
          const detail = { id: 'c1', hashes: { sha256: sha },
            source: { kind: 'huggingface', repo_id: 'org/repo', revision: 'abc',
                      filename: 'sub dir/m1.safetensors' },
            comfyui_names: [{ category: 'checkpoints', name: 'checkpoints/m1.safetensors' }] };
          const placed = await placeModel(graph, LiteGraph, ckpt, [10, 20], async () => detail);
          const first = JSON.parse(JSON.stringify(placed.node.properties.models));
          placed.node.properties.models.push({ name: 'kept.safetensors', directory: 'loras' });
          const bare = { ...detail, source: null };
          await placeModel(graph, LiteGraph, ckpt, [20, 30], async () => bare);
          return { first, after: placed.node.properties.models, count: graph.nodes.length,
                   ref: placed.node.widgets[0].value };
        }""",
        sha,
    )
    assert result["count"] == 1
    assert result["first"] == [
        {
            "name": "checkpoints/m1.safetensors",
            "directory": "checkpoints",
            "hash": "ab" * 32,
            "hash_type": "SHA256",
            "url": "https://huggingface.co/org/repo/resolve/abc/sub%20dir/m1.safetensors",
        }
    ]
    # the drop onto the same loader replaced its entry (no url now) and kept the unrelated one
    assert result["after"] == [
        {"name": "kept.safetensors", "directory": "loras"},
        {
            "name": "checkpoints/m1.safetensors",
            "directory": "checkpoints",
            "hash": "ab" * 32,
            "hash_type": "SHA256",
        },
    ]
    assert page.errors == []

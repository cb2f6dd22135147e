"""Dragging a model from the panel to the canvas: the drag carries the model, and canvas.js turns it into
the right loader node (or sets an existing loader's model). LiteGraph is a small stand-in with the same
calls ComfyUI's frontend offers (createNode, registered_node_types, graph.add/getNodeOnPos)."""

from __future__ import annotations

from pathlib import Path
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


# -- Add to workflow: canvas.js addModelToWorkflow over a graph with real links ------------------------------
# A LiteGraph stand-in that keeps links as the real one does (a Map of {origin_id, origin_slot, target_id,
# target_slot}; an input holds one link, an output a list; connecting an input replaces its link) and
# refuses to connect sockets of different types. The host tier runs the same code on ComfyUI's LiteGraph.
LINKED_LITEGRAPH = (Path(__file__).parent / "linked_litegraph.js").read_text(encoding="utf-8")


def _run(page: Any, served: ServedLibrary, body: str, arg: Any = None) -> Any:
    open_panel(page, served)
    return page.evaluate(
        "async (arg) => {"
        + LINKED_LITEGRAPH
        + "const canvas = await import('/model-library/js/canvas.js');"
        + "const wiring = await import('/model-library/js/wiring.js');"
        + body
        + "}",
        arg,
    )


LORA = {
    "id": "1a2b3c4d5e6f7a8b",
    "name": "detail tweaker",
    "type": "lora",
    "files": [{"path": "detail tweaker.safetensors", "size": 10}],
    "hashes": {"blake3": "1a2b3c4d5e6f7a8b" + "0" * 48, "sha256": "ff" * 32},
    "trigger_words": ["ohwx", "detailed skin"],
}


def test_a_lora_goes_between_the_checkpoint_and_the_sampler(served: ServedLibrary, page: Any) -> None:
    second = {**LORA, "id": "2b3c4d5e6f7a8b9c", "name": "second", "trigger_words": ["OHWX", "film grain"]}
    result = _run(
        page,
        served,
        """const { g, pos } = defaultGraph();
           const first = canvas.addModelToWorkflow(app(g), LiteGraph, arg[0]);
           const afterFirst = { wires: wires(g), text: pos.widgets[0].value, overlaps: overlapping(g),
                                wiredTo: first.wiredTo, promptUpdated: first.promptUpdated,
                                type: first.node.type,
                                widgets: first.node.widgets.map((w) => [w.name, w.value]) };
           const again = canvas.addModelToWorkflow(app(g), LiteGraph, arg[1]);
           return { afterFirst, wires: wires(g), text: pos.widgets[0].value, overlaps: overlapping(g),
                    second: again.node.id, changes: g.changes };""",
        [LORA, second],
    )
    first = result["afterFirst"]
    assert first["type"] == "LibraryLoraLoader"
    assert dict(first["widgets"])["lora"] == "detail tweaker [1a2b3c4d]"
    assert dict(first["widgets"])["model_ref"] == "blake3:" + LORA["hashes"]["blake3"]
    assert first["wires"] == sorted(
        [
            "CheckpointLoaderSimple#1.MODEL -> LibraryLoraLoader#8.model",
            "CheckpointLoaderSimple#1.CLIP -> LibraryLoraLoader#8.clip",
            "CheckpointLoaderSimple#1.VAE -> VAEDecode#6.vae",
            "LibraryLoraLoader#8.MODEL -> KSampler#5.model",
            "LibraryLoraLoader#8.CLIP -> CLIPTextEncode#2.clip",
            "LibraryLoraLoader#8.CLIP -> CLIPTextEncode#3.clip",
            "CLIPTextEncode#2.CONDITIONING -> KSampler#5.positive",
            "CLIPTextEncode#3.CONDITIONING -> KSampler#5.negative",
            "EmptyLatentImage#4.LATENT -> KSampler#5.latent_image",
            "KSampler#5.LATENT -> VAEDecode#6.samples",
            "VAEDecode#6.IMAGE -> SaveImage#7.images",
        ]
    )
    assert sorted(first["wiredTo"]) == ["CLIPTextEncode#2.clip", "CLIPTextEncode#3.clip", "KSampler#5.model"]
    assert first["promptUpdated"] is True
    assert (
        first["text"]
        == "beautiful scenery nature glass bottle landscape, , purple galaxy bottle, ohwx, detailed skin"
    )
    assert first["overlaps"] == []
    # The second LoRA goes after the first; a word already in the prompt (any case) is not added again.
    assert "LibraryLoraLoader#8.MODEL -> LibraryLoraLoader#9.model" in result["wires"]
    assert "LibraryLoraLoader#8.CLIP -> LibraryLoraLoader#9.clip" in result["wires"]
    assert "LibraryLoraLoader#9.MODEL -> KSampler#5.model" in result["wires"]
    assert "LibraryLoraLoader#9.CLIP -> CLIPTextEncode#2.clip" in result["wires"]
    assert result["text"].endswith("ohwx, detailed skin, film grain")
    assert result["overlaps"] == []
    assert result["changes"] == ["before", "after", "before", "after"]  # one undo step each
    assert page.errors == []


def test_a_loras_default_strength_sets_its_loader(served: ServedLibrary, page: Any) -> None:
    strong = {**LORA, "default_strength": 0.65}
    widgets = _run(
        page,
        served,
        """const { g } = defaultGraph();
           const plain = canvas.addModelToWorkflow(app(g), LiteGraph, arg[0]).node;
           const strong = canvas.addModelToWorkflow(app(g), LiteGraph, arg[1]).node;
           const values = (n) => Object.fromEntries(n.widgets.filter((w) => w.name.startsWith('strength'))
                                                           .map((w) => [w.name, w.value]));
           return [values(plain), values(strong)];""",
        [LORA, strong],
    )
    assert widgets == [
        {"strength_model": 1, "strength_clip": 1},  # none set: the node's own default
        {"strength_model": 0.65, "strength_clip": 0.65},
    ]
    assert page.errors == []


def test_a_model_only_chain_gets_the_model_only_loader(served: ServedLibrary, page: Any) -> None:
    """UNETLoader -> KSampler with the text encoder loaded apart (Flux): the LoRA takes the MODEL only, and
    its words reach the prompt through FluxGuidance."""
    result = _run(
        page,
        served,
        """const g = new Graph();
           const unet = at(g, "UNETLoader", [20, 100]), clip = at(g, "DualCLIPLoader", [20, 300]);
           const text = at(g, "CLIPTextEncode", [400, 100]), guide = at(g, "FluxGuidance", [400, 400]);
           const sampler = at(g, "KSampler", [800, 100]);
           text.widgets[0].value = "a cat";
           unet.connect(0, sampler, 0); clip.connect(0, text, 0); text.connect(0, guide, 0);
           guide.connect(0, sampler, 1);
           const added = canvas.addModelToWorkflow(app(g), LiteGraph, arg);
           return { type: added.node.type, wires: wires(g), text: text.widgets[0].value,
                    overlaps: overlapping(g) };""",
        LORA,
    )
    assert result["type"] == "LibraryLoraLoaderModelOnly"
    assert "UNETLoader#1.MODEL -> LibraryLoraLoaderModelOnly#6.model" in result["wires"]
    assert "LibraryLoraLoaderModelOnly#6.MODEL -> KSampler#5.model" in result["wires"]
    assert "DualCLIPLoader#2.CLIP -> CLIPTextEncode#3.clip" in result["wires"]
    assert result["text"] == "a cat, ohwx, detailed skin"
    assert result["overlaps"] == []
    assert page.errors == []


def test_a_checkpoint_replaces_the_loader_or_feeds_the_open_inputs(served: ServedLibrary, page: Any) -> None:
    ckpt = {**LORA, "id": "3c4d5e6f7a8b9c0d", "name": "sdxl base", "type": "checkpoint", "trigger_words": []}
    other = {**ckpt, "id": "4d5e6f7a8b9c0d1e", "name": "juggernaut"}
    vae = {**ckpt, "id": "5e6f7a8b9c0d1e2f", "name": "sdxl vae", "type": "vae"}
    result = _run(
        page,
        served,
        """const { g } = defaultGraph();
           const replaced = canvas.addModelToWorkflow(app(g), LiteGraph, arg[0]);
           const wiresAfter = wires(g);
           const again = canvas.addModelToWorkflow(app(g), LiteGraph, arg[1]);
           const v = canvas.addModelToWorkflow(app(g), LiteGraph, arg[2]);
           // No loader at all: a new one feeds the unconnected MODEL/CLIP/VAE inputs.
           const bare = new Graph();
           const s = at(bare, "KSampler", [400, 100]), t = at(bare, "CLIPTextEncode", [0, 100]);
           const fed = canvas.addModelToWorkflow(app(bare), LiteGraph, arg[0]);
           return { replaced: replaced.node.type, wiredTo: replaced.wiredTo, wires: wiresAfter,
                    types: g._nodes.map((n) => n.type), same: again.node === replaced.node,
                    value: replaced.node.widgets[0].value,
                    vaeWires: wires(g).filter((w) => w.includes(".VAE ->")),
                    fed: fed.wiredTo, overlaps: [...overlapping(g), ...overlapping(bare)] };""",
        [ckpt, other, vae],
    )
    assert result["replaced"] == "LibraryCheckpointLoader"
    assert "CheckpointLoaderSimple" not in result["types"]
    assert sorted(result["wiredTo"]) == [
        "CLIPTextEncode#2.clip",
        "CLIPTextEncode#3.clip",
        "KSampler#5.model",
        "VAEDecode#6.vae",
    ]
    assert "LibraryCheckpointLoader#8.MODEL -> KSampler#5.model" in result["wires"]
    assert result["same"] is True and result["value"] == "juggernaut [4d5e6f7a]"
    assert result["vaeWires"] == ["LibraryVAELoader#9.VAE -> VAEDecode#6.vae"]
    assert sorted(result["fed"]) == ["CLIPTextEncode#2.clip", "KSampler#1.model"]
    assert result["overlaps"] == []
    assert page.errors == []


def test_words_placement_and_compact_display(served: ServedLibrary, page: Any) -> None:
    result = _run(
        page,
        served,
        """const w = wiring.appendWords;
           class Base { get _displayValue() { return String(this.value); } }
           const node = new Node("LibraryLoraLoader");
           node.widgets = node.widgets.map((x) => Object.assign(new Base(), x));
           node.widgets.find((x) => x.name === "lora").value = "a very long model name [1a2b3c4d]";
           node.widgets.find((x) => x.name === "model_ref").value = "blake3:" + "AB".repeat(32);
           canvas.compactDisplay(node);
           const g = new Graph(); at(g, "KSampler", [0, 0]); const n = new Node("VAEDecode");
           return {
             words: [w("", ["a", "b"]), w("x,  ", ["a"]), w("Ohwx style", ["ohwx"]), w("ohwxy", ["ohwx"]),
                     w("a", ["b", "B", " "]), w("c++ art", ["c++"])],
             names: node.widgets.map((x) => x.name),
             shown: node.widgets.map((x) => x._displayValue),
             values: node.widgets.map((x) => x.value),
             free: wiring.freePosition(g, n, [0, 0], 30),
           };""",
    )
    assert result["words"] == ["a, b", "x, a", "Ohwx style", "ohwxy, ohwx", "a, b", "c++ art"]
    shown, values = dict(zip(result["names"], result["shown"])), dict(zip(result["names"], result["values"]))
    assert (shown["lora"], shown["model_ref"]) == ("a very long model name", "\u2713 hash abababab")
    # Stored as they were.
    assert (values["lora"], values["model_ref"]) == (
        "a very long model name [1a2b3c4d]",
        "blake3:" + "AB" * 32,
    )
    # Below the sampler (262 high, 30 title, 30 gap): the first free spot.
    assert result["free"] == [0, 262 + 30 + 30]
    assert page.errors == []

""" "Add to workflow" inside a real ComfyUI, driven by a real Chromium: canvas.js ``addModelToWorkflow`` on
ComfyUI's default workflow wires a library LoRA between the checkpoint and the sampler (CLIP too), puts
its trigger words into the positive prompt and places it on free canvas; the graph then passes ComfyUI's
own validation (POST /prompt answers without node errors). A checkpoint replaces the loader, a second
LoRA follows the first, a model-only chain (UNETLoader) gets the model-only loader, and a workflow saved
with the LoRA loader's old outputs still loads and queues.

The synthetic model files have real key names but no real weights, so the prompts fail once they run:
the tests assert on the validation answer, not on the execution.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import synth
from tests.host.conftest import GUARD_HEADERS, ComfyUI, watch_our_errors
from tests.host.test_comfyui import API, combo, model_named, queue_prompt, wait_for

pytestmark = [pytest.mark.host, pytest.mark.browser]

SD15_WORKFLOW = Path(__file__).with_name("default_workflow_sd15.json")
APP_READY = "() => window.app && app.graph && app.canvas && window.LiteGraph"
MODULES = "/extensions/comfyui-model-library"
TRIGGER_WORDS = ["atwstyle", "film grain"]
# The graph as text: every link `Type.output -> Type.input`, the nodes' boxes (title bar included), the
# prompts' texts. Reads links through wiring.js, so both the Map and the object form of graph.links work.
DESCRIBE = (
    """async () => {
  const wiring = await import('"""
    + MODULES
    + """/wiring.js');
  const graph = app.graph, title = LiteGraph.NODE_TITLE_HEIGHT || 30;
  const nodes = wiring.nodesOf(graph);
  const name = (n) => `${n.type}#${n.id}`;
  const wires = [];
  for (const n of nodes) (n.inputs || []).forEach((input, i) => {
    const link = wiring.linkOf(graph, input.link);
    if (!link) return;
    const origin = graph.getNodeById(link.origin_id);
    wires.push(`${name(origin)}.${origin.outputs[link.origin_slot].name} -> ${name(n)}.${input.name}`);
  });
  const boxes = nodes.map((n) => [name(n), ...wiring.boxOf(n, title)]);
  const overlaps = [];
  for (const a of boxes) for (const b of boxes)
    if (a[0] < b[0] && wiring.overlaps(a.slice(1), b.slice(1))) overlaps.push([a[0], b[0]]);
  const texts = Object.fromEntries(nodes.filter((n) => n.type === 'CLIPTextEncode')
    .map((n) => [name(n), n.widgets.find((w) => w.name === 'text').value]));
  return { wires: wires.sort(), overlaps, texts, types: nodes.map((n) => n.type).sort(),
           ids: Object.fromEntries(nodes.map((n) => [n.id, n.type])) };
}"""
)
ADD = (
    """async (model) => {
  const canvas = await import('"""
    + MODULES
    + """/canvas.js');
  const added = canvas.addModelToWorkflow(app, LiteGraph, model);
  return { node: added.node && `${added.node.type}#${added.node.id}`, wiredTo: added.wiredTo,
           promptUpdated: added.promptUpdated };
}"""
)


def import_unique(comfyui: ComfyUI, family: str, stem: str) -> dict[str, Any]:
    """Imports a synthetic ``family`` file whose bytes are its own (the stem in its metadata), so no
    other test's import of the same family makes it a duplicate; returns the model's JSON."""
    fam = synth.FAMILIES[family]
    source = synth.write_safetensors(
        comfyui.install / "input" / f"{stem}.safetensors",
        fam["tensors"],
        {**(fam["metadata"] or {}), "host_test": stem},
    )
    with comfyui.client() as client:
        answer = client.post(
            f"{API}/imports", json={"paths": [str(source)], "mode": "copy"}, headers=GUARD_HEADERS
        )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job"]["id"]
        job = wait_for(
            lambda: (lambda j: j if j["state"] in ("done", "failed", "cancelled") else None)(
                client.get(f"{API}/jobs/{job_id}").json()
            ),
            f"import job {job_id}",
        )
    assert job["state"] == "done", job
    return model_named(comfyui, stem)


def with_trigger_words(comfyui: ComfyUI, model: dict[str, Any], words: list[str]) -> dict[str, Any]:
    """The model's JSON after the user set its trigger words (PATCH), as the panel hands it over."""
    with comfyui.client() as client:
        answer = client.patch(
            f"{API}/models/{model['id']}", json={"trigger_words": words}, headers=GUARD_HEADERS
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["trigger_words"] == words
    return dict(answer.json())


def listed_name(comfyui: ComfyUI, node: str, widget: str, stem: str) -> str:
    """The name ComfyUI lists a library model under in a core loader's list (the mapping's link)."""
    names = wait_for(
        lambda: [n for n in combo(comfyui, node, widget) if Path(n).stem == stem],
        f"{stem} in ComfyUI's {node} list",
    )
    return str(names[0])


def queued_without_errors(comfyui: ComfyUI, page: Any) -> dict[str, Any]:
    """The open graph as ComfyUI sends it, queued: ComfyUI's own validation must find nothing."""
    prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    answer = queue_prompt(comfyui, prompt)
    assert answer.status_code == 200, answer.text
    assert answer.json()["node_errors"] == {}, answer.json()
    return dict(prompt)


# -- fixtures --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models(comfyui: ComfyUI) -> dict[str, dict[str, Any]]:
    imported = {
        "checkpoint": import_unique(comfyui, "sd15_checkpoint", "atw-checkpoint"),
        "lora": import_unique(comfyui, "sd15_lora_kohya", "atw-lora"),
        "lora2": import_unique(comfyui, "sd15_lora_kohya", "atw-second-lora"),
        # what the newer frontends' default workflow loads (UNETLoader, CLIPLoader, VAELoader)
        "unet": import_unique(comfyui, "flux1_dev_diffusion", "atw-unet"),
        "text_encoder": import_unique(comfyui, "t5xxl", "atw-text-encoder"),
        "vae": import_unique(comfyui, "vae_sdxl", "atw-vae"),
    }
    with comfyui.client() as client:
        answer = client.post("/api/settings/Comfy.TutorialCompleted", content="true")
        assert answer.status_code == 200, answer.text
    return imported


@pytest.fixture
def page(comfyui: ComfyUI, models: dict[str, dict[str, Any]], browser: Any) -> Iterator[Any]:
    """ComfyUI's page with ComfyUI's SD1.5 default workflow (the one frontends up to 1.2x open), its
    checkpoint loader naming our checkpoint."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.our_errors = watch_our_errors(page)  # type: ignore[attr-defined]
    try:
        page.goto(comfyui.url + "/")
        page.wait_for_function(APP_READY, timeout=60e3)
        workflow = json.loads(SD15_WORKFLOW.read_text(encoding="utf-8"))
        for node in workflow["nodes"]:
            if node["type"] == "CheckpointLoaderSimple":
                node["widgets_values"] = [
                    listed_name(comfyui, "CheckpointLoaderSimple", "ckpt_name", "atw-checkpoint")
                ]
        page.evaluate("async (wf) => { await app.loadGraphData(wf); }", workflow)
        yield page
    finally:
        context.close()


def ids_of(described: dict[str, Any], node_type: str) -> list[str]:
    return [f"{t}#{i}" for i, t in described["ids"].items() if t == node_type]


# -- the proof --------------------------------------------------------------------------------------------
def test_a_lora_added_to_the_default_workflow_is_wired_and_the_prompt_queues(
    comfyui: ComfyUI, page: Any, models: dict[str, dict[str, Any]]
) -> None:
    before = page.evaluate(DESCRIBE)
    assert before["overlaps"] == [], "ComfyUI's default workflow itself has no overlapping nodes"
    (checkpoint,) = ids_of(before, "CheckpointLoaderSimple")
    (sampler,) = ids_of(before, "KSampler")
    texts = ids_of(before, "CLIPTextEncode")
    positive = next(w.split(" -> ")[0].split(".")[0] for w in before["wires"] if w.endswith(".positive"))

    lora = with_trigger_words(comfyui, models["lora"], TRIGGER_WORDS)
    added = page.evaluate(ADD, lora)
    after = page.evaluate(DESCRIBE)
    node = added["node"]
    assert node.startswith("LibraryLoraLoader#"), added
    assert f"{checkpoint}.MODEL -> {node}.model" in after["wires"]
    assert f"{checkpoint}.CLIP -> {node}.clip" in after["wires"]
    assert f"{node}.MODEL -> {sampler}.model" in after["wires"]
    for text in texts:
        assert f"{node}.CLIP -> {text}.clip" in after["wires"], after["wires"]
    assert not [
        w
        for w in after["wires"]
        if w.startswith(f"{checkpoint}.") and w.endswith((".model", "clip")) and node not in w
    ]
    assert after["overlaps"] == [], after["overlaps"]
    assert added["promptUpdated"] is True
    assert after["texts"][positive].endswith(", atwstyle, film grain"), after["texts"]
    negative = next(t for t in texts if t != positive)
    assert after["texts"][negative] == before["texts"][negative]

    prompt = queued_without_errors(comfyui, page)
    sent = {key: entry for key, entry in prompt.items() if entry["class_type"] == "LibraryLoraLoader"}
    (entry,) = sent.values()
    assert entry["inputs"]["lora"] == f"{lora['name']} [{lora['id'][:8]}]"
    assert entry["inputs"]["model_ref"] == "blake3:" + lora["hashes"]["blake3"]
    assert page.our_errors == []


def test_a_checkpoint_replaces_the_loader_and_a_second_lora_follows_the_first(
    comfyui: ComfyUI, page: Any, models: dict[str, dict[str, Any]]
) -> None:
    before = page.evaluate(DESCRIBE)
    (sampler,) = ids_of(before, "KSampler")
    (decode,) = ids_of(before, "VAEDecode")
    added = page.evaluate(ADD, models["checkpoint"])
    loader = added["node"]
    after = page.evaluate(DESCRIBE)
    assert loader.startswith("LibraryCheckpointLoader#") and "CheckpointLoaderSimple" not in after["types"]
    assert f"{loader}.MODEL -> {sampler}.model" in after["wires"]
    assert f"{loader}.VAE -> {decode}.vae" in after["wires"]
    assert sum(w.startswith(f"{loader}.CLIP -> CLIPTextEncode") for w in after["wires"]) == 2
    queued_without_errors(comfyui, page)

    first = page.evaluate(ADD, with_trigger_words(comfyui, models["lora"], ["atwstyle"]))["node"]
    second = page.evaluate(ADD, with_trigger_words(comfyui, models["lora2"], ["ATWSTYLE", "second"]))["node"]
    after = page.evaluate(DESCRIBE)
    assert f"{loader}.MODEL -> {first}.model" in after["wires"]
    assert f"{first}.MODEL -> {second}.model" in after["wires"]
    assert f"{first}.CLIP -> {second}.clip" in after["wires"]
    assert f"{second}.MODEL -> {sampler}.model" in after["wires"]
    assert sum(w.startswith(f"{second}.CLIP -> CLIPTextEncode") for w in after["wires"]) == 2
    assert any(t.endswith(", atwstyle, second") for t in after["texts"].values()), after["texts"]
    assert after["overlaps"] == []
    queued_without_errors(comfyui, page)
    assert page.our_errors == []


def test_a_lora_added_to_the_frontends_own_default_workflow_is_wired_and_queues(
    comfyui: ComfyUI, page: Any, models: dict[str, dict[str, Any]]
) -> None:
    """Whatever this frontend opens as its default (SD1.5 up to 1.2x; a UNETLoader + CLIPLoader graph in
    1.58): the LoRA follows the model loader, CLIP too when the loader has it, the words reach the prompt."""
    page.evaluate(
        """async () => { await app.loadGraphData();
             for (const node of app.graph.nodes) for (const w of node.widgets || []) {
               const values = Array.isArray(w.options?.values) ? w.options.values : [];
               if (w.type === 'combo' && values.length && !values.includes(w.value)) w.value = values[0];
             } }"""
    )
    before = page.evaluate(DESCRIBE)
    (source,) = [n for t in ("CheckpointLoaderSimple", "UNETLoader") for n in ids_of(before, t)]
    fed = {
        t: [w.split(" -> ")[1] for w in before["wires"] if w.startswith(f"{source}.{t} -> ")]
        for t in ("MODEL", "CLIP")
    }
    positive = next(w.split(" -> ")[0].split(".")[0] for w in before["wires"] if w.endswith(".positive"))
    added = page.evaluate(ADD, with_trigger_words(comfyui, models["lora"], TRIGGER_WORDS))
    after = page.evaluate(DESCRIBE)
    node = added["node"]
    expected = "LibraryLoraLoader#" if fed["CLIP"] else "LibraryLoraLoaderModelOnly#"
    assert node.startswith(expected), (added, before["types"])
    for kind, targets in fed.items():
        for target in targets:
            assert f"{node}.{kind} -> {target}" in after["wires"], after["wires"]
        if targets:
            assert f"{source}.{kind} -> {node}.{kind.lower()}" in after["wires"], after["wires"]
    assert after["texts"][positive].endswith("atwstyle, film grain"), after["texts"]
    assert after["overlaps"] == [], after["overlaps"]
    queued_without_errors(comfyui, page)
    assert page.our_errors == []


def test_a_model_only_chain_gets_the_model_only_loader(
    comfyui: ComfyUI, page: Any, models: dict[str, dict[str, Any]]
) -> None:
    """UNETLoader -> ModelSamplingFlux -> KSampler, the prompt through FluxGuidance (a Flux graph)."""
    page.evaluate(
        """() => { app.graph.clear();
             const add = (type, pos) => { const n = LiteGraph.createNode(type); n.pos = pos; app.graph.add(n);
                                          return n; };
             const unet = add('UNETLoader', [0, 100]), clip = add('DualCLIPLoader', [0, 350]);
             const sampling = add('ModelSamplingFlux', [380, 100]), text = add('CLIPTextEncode', [380, 420]);
             const guidance = add('FluxGuidance', [820, 420]), sampler = add('KSampler', [1200, 100]);
             text.widgets.find((w) => w.name === 'text').value = 'a cat';
             unet.connect(0, sampling, 0); sampling.connect(0, sampler, 0); clip.connect(0, text, 0);
             text.connect(0, guidance, 0); guidance.connect(0, sampler, 1); }"""
    )
    added = page.evaluate(ADD, with_trigger_words(comfyui, models["lora"], ["atwstyle"]))
    after = page.evaluate(DESCRIBE)
    node = added["node"]
    assert node.startswith("LibraryLoraLoaderModelOnly#"), added
    assert any(w.startswith("UNETLoader#") and w.endswith(f"{node}.model") for w in after["wires"])
    assert any(w.startswith(f"{node}.MODEL -> ModelSamplingFlux#") for w in after["wires"])
    assert list(after["texts"].values()) == ["a cat, atwstyle"]
    assert after["overlaps"] == []
    assert page.our_errors == []


def test_a_workflow_saved_with_the_old_lora_outputs_loads_and_queues(
    comfyui: ComfyUI, page: Any, models: dict[str, dict[str, Any]]
) -> None:
    """A LibraryLoraLoader saved before trigger_words existed (outputs MODEL, CLIP): its links keep their
    slots, the prompt queues, and the node offers the new output."""
    page.evaluate(ADD, models["lora"])
    saved = page.evaluate("() => structuredClone(app.graph.serialize())")
    for node in saved["nodes"]:
        if node["type"] == "LibraryLoraLoader":
            node["outputs"] = [o for o in node["outputs"] if o["name"] != "trigger_words"]
            assert [o["name"] for o in node["outputs"]] == ["MODEL", "CLIP"]
    page.evaluate("async (wf) => { await app.loadGraphData(wf); }", saved)
    after = page.evaluate(DESCRIBE)
    (node,) = ids_of(after, "LibraryLoraLoader")
    assert any(w.startswith(f"{node}.MODEL -> KSampler#") for w in after["wires"])
    assert sum(w.startswith(f"{node}.CLIP -> CLIPTextEncode#") for w in after["wires"]) == 2
    queued_without_errors(comfyui, page)
    assert page.our_errors == []


def test_the_library_nodes_show_the_name_and_a_short_hash(
    page: Any, models: dict[str, dict[str, Any]]
) -> None:
    lora = models["lora"]
    page.evaluate(ADD, lora)
    shown = page.evaluate(
        """() => { const node = app.graph.nodes.find((n) => n.type === 'LibraryLoraLoader');
                   return node.widgets.filter((w) => w.name === 'lora' || w.name === 'model_ref')
                     .map((w) => [w.name, w.value, w._displayValue]); }"""
    )
    assert shown == [
        ["lora", f"{lora['name']} [{lora['id'][:8]}]", lora["name"]],
        ["model_ref", "blake3:" + lora["hashes"]["blake3"], "\u2713 hash " + lora["hashes"]["blake3"][:8]],
    ]
    assert page.our_errors == []


def test_a_lora_dragged_onto_the_canvas_is_wired_the_same_way(
    comfyui: ComfyUI, page: Any, models: dict[str, dict[str, Any]]
) -> None:
    """The drop path: a LoRA dragged from the panel onto the canvas is wired into the chain like "Add to
    workflow" and lands on free canvas (where it was dropped, unless a node is there)."""
    from tests.host.test_panel_host import TAB_BUTTON, canvas_box, drag_row_to

    page.evaluate(
        "() => { app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1; app.canvas.setDirty(true, true); }"
    )
    page.locator(TAB_BUTTON).first.click()
    page.wait_for_selector(".mlib-row[data-id]")
    with_trigger_words(comfyui, models["lora"], ["dragged style"])
    before = page.evaluate(DESCRIBE)
    (checkpoint,) = ids_of(before, "CheckpointLoaderSimple")
    (sampler,) = ids_of(before, "KSampler")
    box = canvas_box(page)
    drag_row_to(page, models["lora"]["name"], box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.8)
    page.wait_for_function("(n) => app.graph.nodes.length === n + 1", arg=len(before["types"]))
    after = page.evaluate(DESCRIBE)
    (node,) = ids_of(after, "LibraryLoraLoader")
    assert f"{checkpoint}.MODEL -> {node}.model" in after["wires"]
    assert f"{node}.MODEL -> {sampler}.model" in after["wires"]
    assert sum(w.startswith(f"{node}.CLIP -> CLIPTextEncode") for w in after["wires"]) == 2
    assert any(t.endswith(", dragged style") for t in after["texts"].values()), after["texts"]
    assert after["overlaps"] == []
    assert page.our_errors == []


def test_the_lora_loaders_output_their_trigger_words_last(comfyui: ComfyUI) -> None:
    with comfyui.client() as client:
        info = client.get("/object_info").json()
    assert info["LibraryLoraLoader"]["output"] == ["MODEL", "CLIP", "STRING"]
    assert info["LibraryLoraLoader"]["output_name"] == ["MODEL", "CLIP", "trigger_words"]
    assert info["LibraryLoraLoaderModelOnly"]["output"] == ["MODEL", "STRING"]
    assert info["LibraryLoraLoaderModelOnly"]["output_name"] == ["MODEL", "trigger_words"]

"""The panel inside a real ComfyUI, driven by a real Chromium: the sidebar tab, dragging models onto the
canvas (loader node, model selected, ``model_ref`` holding the hash), dropping a model file on the canvas,
search, and hostile metadata kept inert.

Uses the session's ComfyUI (``comfyui`` from conftest.py) and ComfyUI's own frontend
(comfyui-frontend-package in the host's venv). Skips without COMFYUI_PATH/COMFYUI_PYTHON or Chromium.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest

from tests.chromium import SCREENSHOTS
from tests.host.conftest import GUARD_HEADERS, ComfyUI, watch_our_errors
from tests.host.test_comfyui import API, import_through_api, model_named, wait_for
from tests.synth import write_family

pytestmark = [pytest.mark.host, pytest.mark.browser]

GRID_FROM_WIDTH = 520  # web/js/components/library_view.js

TAB_ID = "model-library-central"
TAB_TOOLTIP = "Central Model Library (comfyui-model-library): every model file once, found by hash"
# Our sidebar button: frontends up to about 1.30 give it the class "<id>-tab-button"; newer ones (1.58)
# drop that class and label the button with the tab's tooltip.
TAB_BUTTON = f".{TAB_ID}-tab-button, button.side-bar-button[aria-label^='{TAB_TOOLTIP}']"
CORE_TAB_ID = "model-library"
APP_READY = "() => window.app && app.graph && app.canvas && window.LiteGraph"
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
GRAPH_NODES = """() => app.graph.nodes.filter((n) => n.type.startsWith('Library')).map((n) => ({
    id: n.id, type: n.type, pos: [...n.pos],
    widgets: Object.fromEntries((n.widgets || []).map((w) => [w.name, w.value])) }))"""


def label(model: dict[str, Any]) -> str:
    return f"{model['name']} [{model['id'][:8]}]"


def ref(model: dict[str, Any]) -> str:
    return "blake3:" + model["hashes"]["blake3"]


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models(comfyui: ComfyUI) -> dict[str, dict[str, Any]]:
    """Two checkpoints and a LoRA imported through the API, and ComfyUI's first-run dialog suppressed."""
    import_through_api(comfyui, "sd2_checkpoint", "panel-host-sd2.safetensors")
    import_through_api(comfyui, "sdxl_checkpoint", "panel-host-sdxl.safetensors")
    import_through_api(comfyui, "sd2_lora_kohya", "panel-host-lora.safetensors")
    with comfyui.client() as client:
        answer = client.post("/api/settings/Comfy.TutorialCompleted", content="true")
        assert answer.status_code == 200, answer.text
    return {
        "sd2": model_named(comfyui, "panel-host-sd2"),
        "sdxl": model_named(comfyui, "panel-host-sdxl"),
        "lora": model_named(comfyui, "panel-host-lora"),
    }


@pytest.fixture
def page(comfyui: ComfyUI, models: dict[str, dict[str, Any]], browser: Any) -> Iterator[Any]:
    """ComfyUI's page, loaded, with an empty graph at scale 1 and our sidebar tab open."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.our_errors = watch_our_errors(page)  # type: ignore[attr-defined]
    try:
        page.goto(comfyui.url + "/")
        page.wait_for_function(APP_READY, timeout=60e3)
        page.wait_for_function(
            f"() => app.extensionManager.sidebarTab.sidebarTabs.some((t) => t.id === '{TAB_ID}')"
        )
        page.evaluate("() => { app.graph.clear(); app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1; }")
        page.locator(TAB_BUTTON).first.click()
        page.wait_for_selector(".mlib-row[data-id]")
        yield page
    finally:
        context.close()


def canvas_box(page: Any) -> dict[str, float]:
    box = page.locator("#graph-canvas").bounding_box()
    assert box, "ComfyUI's canvas is not on the page"
    return dict(box)


def drag_row_to(page: Any, name: str, x: float, y: float) -> None:
    """A real mouse drag (Chromium's native drag and drop) from the panel's row to page point x, y."""
    row = page.locator(".mlib-row[data-id]", has_text=name).first
    row.scroll_into_view_if_needed()
    box = row.bounding_box()
    assert box, f"no row for {name} in the panel"
    page.mouse.move(box["x"] + 30, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(x - 20, y - 10, steps=8)
    page.mouse.move(x, y, steps=4)
    page.mouse.up()


def search(page: Any, comfyui: ComfyUI, text: str) -> list[str]:
    """Types ``text`` into the panel's search box; returns the names the panel lists once they are the
    ones the API finds for the same query."""
    expected = sorted(m["name"] for m in _models(comfyui, text))
    page.fill("[data-testid=search]", text)
    page.wait_for_function(
        """(names) => JSON.stringify([...document.querySelectorAll('.mlib-row[data-id] .mlib-row-name')]
                                     .map((e) => e.textContent).sort()) === JSON.stringify(names)""",
        arg=expected,
    )
    return list(page.locator(".mlib-row[data-id] .mlib-row-name").all_text_contents())


# -- 1. the tab --------------------------------------------------------------------------------------
def test_sidebar_tab_sits_beside_the_core_tab_and_lists_imported_models(
    page: Any, models: dict[str, dict[str, Any]]
) -> None:
    tabs = page.evaluate("() => app.extensionManager.sidebarTab.sidebarTabs.map((t) => t.id)")
    assert tabs.count(TAB_ID) == 1 and tabs.count(CORE_TAB_ID) == 1, tabs
    assert page.evaluate("() => app.extensionManager.sidebarTab.activeSidebarTabId") == TAB_ID
    names = page.locator(".mlib-row[data-id] .mlib-row-name").all_text_contents()
    for model in models.values():
        assert model["name"] in names, (model["name"], names)
    page.locator(".mlib-row[data-id]", has_text=models["sdxl"]["name"]).first.click()
    page.wait_for_selector(f"[data-testid=detail-name]:text-is('{models['sdxl']['name']}')")
    page.click("[data-testid=technical] summary")
    page.wait_for_selector(f"[data-testid=technical] >> text={models['sdxl']['hashes']['blake3'][:16]}")
    assert page.our_errors == []


# -- 2. drag onto the canvas ------------------------------------------------------------------------
def test_dragging_models_creates_loaders_with_the_model_and_its_hash(
    page: Any, models: dict[str, dict[str, Any]]
) -> None:
    box = canvas_box(page)
    sd2, sdxl, lora = models["sd2"], models["sdxl"], models["lora"]
    drag_row_to(page, sd2["name"], box["x"] + 500, box["y"] + 120)
    page.wait_for_function("() => app.graph.nodes.length === 1")
    drag_row_to(page, lora["name"], box["x"] + 500, box["y"] + 420)
    page.wait_for_function("() => app.graph.nodes.length === 2")
    nodes = {n["type"]: n for n in page.evaluate(GRAPH_NODES)}
    checkpoint, lora_node = nodes["LibraryCheckpointLoader"], nodes["LibraryLoraLoader"]
    assert checkpoint["pos"] == [500, 120], "the node lands where the model was dropped"
    assert checkpoint["widgets"]["checkpoint"] == label(sd2)
    assert checkpoint["widgets"]["model_ref"] == ref(sd2)
    assert lora_node["widgets"]["lora"] == label(lora)
    assert lora_node["widgets"]["model_ref"] == ref(lora)

    # Onto the existing checkpoint loader: that node takes the other checkpoint, no node is added.
    drag_row_to(page, sdxl["name"], box["x"] + 560, box["y"] + 140)
    page.wait_for_function("(v) => app.graph.nodes.some((n) => n.widgets?.[0]?.value === v)", arg=label(sdxl))
    after = {n["type"]: n for n in page.evaluate(GRAPH_NODES)}
    assert len(page.evaluate(GRAPH_NODES)) == 2, "a drop on a loader must set its model, not add a node"
    assert after["LibraryCheckpointLoader"]["id"] == checkpoint["id"]
    assert after["LibraryCheckpointLoader"]["widgets"]["model_ref"] == ref(sdxl)

    # The docs' screenshot: both loaders on the canvas, the checkpoint's details in the panel.
    page.locator(".mlib-row[data-id]", has_text=sdxl["name"]).first.click()
    page.wait_for_selector(f"[data-testid=detail-name]:text-is('{sdxl['name']}')")
    page.screenshot(path=str(SCREENSHOTS / "comfyui-detail.png"))
    page.click("[data-testid=detail-close]")  # the drawer covers the list in the sidebar: back to it
    page.wait_for_selector("[data-testid=detail]", state="hidden")
    page.screenshot(path=str(SCREENSHOTS / "comfyui-sidebar.png"))

    # A LoRA dropped on the checkpoint loader is no checkpoint: a LoRA loader is added, the checkpoint stays.
    drag_row_to(page, lora["name"], box["x"] + 560, box["y"] + 140)
    page.wait_for_function("() => app.graph.nodes.length === 3")
    kinds = sorted(n["type"] for n in page.evaluate(GRAPH_NODES))
    assert kinds == ["LibraryCheckpointLoader", "LibraryLoraLoader", "LibraryLoraLoader"]
    checkpoint_now = next(n for n in page.evaluate(GRAPH_NODES) if n["type"] == "LibraryCheckpointLoader")
    assert checkpoint_now["widgets"]["checkpoint"] == label(sdxl)

    # The workflow ComfyUI sends carries the hash, so another machine resolves the same bytes.
    prompt = page.evaluate("async () => (await app.graphToPrompt()).output")
    sent = {entry["class_type"]: entry["inputs"] for entry in prompt.values()}
    assert sent["LibraryCheckpointLoader"]["model_ref"] == ref(sdxl)
    assert sent["LibraryLoraLoader"]["model_ref"] == ref(lora)
    assert page.our_errors == []


def test_other_model_types_make_comfyuis_own_loaders_with_the_listed_name_and_hash(
    page: Any, comfyui: ComfyUI
) -> None:
    """A diffusion model, a text encoder and a ControlNet become UNETLoader, CLIPLoader and
    ControlNetLoader with the name ComfyUI lists them under, and a properties.models entry (SHA256)."""
    wanted = {
        "panel-host-unet": ("flux1_dev_diffusion", "UNETLoader", "unet_name"),
        "panel-host-t5": ("t5xxl", "CLIPLoader", "clip_name"),
        "panel-host-canny": ("controlnet_sd15", "ControlNetLoader", "control_net_name"),
    }
    for name, (family, _node, _widget) in wanted.items():
        import_through_api(comfyui, family, f"{name}.safetensors")
    page.evaluate("() => { app.graph.clear(); }")
    search(page, comfyui, "panel-host-")
    box = canvas_box(page)
    for i, name in enumerate(wanted):
        drag_row_to(page, name, box["x"] + 500, box["y"] + 120 + 200 * i)
        page.wait_for_function("(n) => app.graph.nodes.length === n", arg=i + 1)
    nodes = page.evaluate(
        """() => app.graph.nodes.map((n) => ({ type: n.type, models: n.properties?.models || [],
             widgets: Object.fromEntries((n.widgets || []).map((w) => [w.name, w.value])) }))"""
    )
    by_type = {n["type"]: n for n in nodes}
    for name, (_family, node_type, widget) in wanted.items():
        node = by_type[node_type]
        model = model_named(comfyui, name)
        listed = node["widgets"][widget]
        assert listed.endswith(f"{name}.safetensors"), (node_type, listed)
        (entry,) = node["models"]
        assert entry["name"] == listed and entry["hash"] == model["hashes"]["sha256"]
        assert entry["hash_type"] == "SHA256"
    # ComfyUI accepts the prompt's names: they are in its own lists (no "value not in list").
    with comfyui.client() as client:
        info = client.get("/object_info/UNETLoader").json()["UNETLoader"]
    assert by_type["UNETLoader"]["widgets"]["unet_name"] in info["input"]["required"]["unet_name"][0]
    assert page.our_errors == []


def test_a_loaded_workflow_is_checked_made_available_and_stamped_from_the_panel(
    page: Any, comfyui: ComfyUI
) -> None:
    import_through_api(comfyui, "flux_lora_comfy", "wf-panel-lora.safetensors")
    model = model_named(comfyui, "wf-panel-lora")
    sha = model["hashes"]["sha256"]
    wanted = "friends\\wf_from_a_friend.safetensors"  # saved on Windows
    workflow = {
        "nodes": [
            {
                "id": 1,
                "type": "LoraLoaderModelOnly",
                "pos": [400, 100],
                "size": [300, 80],
                "flags": {},
                "order": 0,
                "mode": 0,
                "inputs": [],
                "outputs": [],
                "widgets_values": [wanted, 1.0],
                "properties": {
                    "models": [{"name": wanted, "directory": "loras", "hash": sha, "hash_type": "SHA256"}]
                },
            },
            {
                "id": 2,
                "type": "LoraLoaderModelOnly",
                "pos": [400, 300],
                "size": [300, 80],
                "flags": {},
                "order": 1,
                "mode": 0,
                "inputs": [],
                "outputs": [],
                "widgets_values": ["wf-panel-lora.safetensors", 1.0],
                "properties": {},
            },
        ],
        "links": [],
        "groups": [],
        "config": {},
        "extra": {},
        "version": 0.4,
    }
    page.evaluate("(wf) => app.loadGraphData(wf)", workflow)
    page.wait_for_selector("[data-testid=workflow-item][data-status=in_library]")  # checked on load
    # ComfyUI's own missing-model dialog names the file too (it cannot find it): the user closes it.
    if page.locator(".p-dialog-mask").count():
        page.keyboard.press("Escape")
        page.wait_for_selector(".p-dialog-mask", state="detached")
    page.click("[data-testid=workflow-fetch]")
    page.wait_for_selector("[data-testid=workflow-item][data-status=linked]", timeout=30_000)
    widget = "(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'lora_name').value"
    page.wait_for_function(f"() => ({widget})(1) === 'friends/wf_from_a_friend.safetensors'")
    page.click("[data-testid=workflow-stamp]")
    page.wait_for_function("() => (app.graph.getNodeById(2).properties.models || []).length === 1")
    (entry,) = page.evaluate("() => app.graph.getNodeById(2).properties.models")
    assert entry == {
        "name": "wf-panel-lora.safetensors",
        "directory": "loras",
        "hash": sha,
        "hash_type": "SHA256",
    }
    assert page.our_errors == []


def test_picking_another_model_in_the_node_list_updates_model_ref(
    page: Any, models: dict[str, dict[str, Any]]
) -> None:
    box = canvas_box(page)
    sd2, sdxl = models["sd2"], models["sdxl"]
    drag_row_to(
        page, sd2["name"], box["x"] + 700, box["y"] + 200
    )  # right of the open panel (wider in newer frontends)
    page.wait_for_function("() => app.graph.nodes.length === 1")
    # Open the node's list the way a user does (a click on the combo widget) and pick the other model.
    open_combo_menu(page, "checkpoint")
    page.locator(".litecontextmenu .litemenu-entry", has_text=label(sdxl)).click()
    page.wait_for_function(
        "(r) => app.graph.nodes[0].widgets.find((w) => w.name === 'model_ref').value === r", arg=ref(sdxl)
    )
    widgets = page.evaluate(GRAPH_NODES)[0]["widgets"]
    assert widgets["checkpoint"] == label(sdxl)
    assert widgets["model_ref"] == ref(sdxl)

    # Saved and loaded again (a shared workflow): the choice and its hash come back as they were.
    page.evaluate(
        "async () => { const saved = structuredClone(app.graph.serialize()); app.graph.clear();"
        " await app.loadGraphData(saved); }"
    )
    page.wait_for_function("() => app.graph.nodes.length === 1")
    page.wait_for_timeout(500)  # a lookup started by the load (none should be) would land by now
    assert page.evaluate(GRAPH_NODES)[0]["widgets"] == widgets
    assert page.our_errors == []


def open_combo_menu(page: Any, widget_name: str) -> None:
    """Clicks the first node's combo widget on the canvas, as a user does, until LiteGraph's menu opens
    (a click right after the drop can land before the node's widgets were first laid out)."""
    for _ in range(4):
        page.evaluate("() => app.canvas.draw(true, true)")
        x, y = page.evaluate(
            """(name) => { const node = app.graph.nodes[0];
                           const widget = node.widgets.find((w) => w.name === name);
                           const [x, y] = app.canvas.ds.convertOffsetToCanvas(
                               [node.pos[0] + node.size[0] / 2, node.pos[1] + (widget.y ?? 0) + 10]);
                           const rect = app.canvas.canvas.getBoundingClientRect();
                           return [rect.left + x, rect.top + y]; }""",
            widget_name,
        )
        page.mouse.click(x, y)
        try:
            page.wait_for_selector(".litecontextmenu", timeout=3000)
            return
        except Exception:
            page.keyboard.press("Escape")
            page.wait_for_timeout(400)
    pytest.fail(f"the {widget_name} list of the node did not open")


# -- 3. a model file dropped on the canvas -----------------------------------------------------------
def test_dropping_a_model_file_on_the_canvas_imports_it_without_the_workflow_loader(
    comfyui: ComfyUI, page: Any, tmp_path: Path
) -> None:
    data = write_family(tmp_path / "x.safetensors", "vae_sdxl").read_bytes()
    # Spies on ComfyUI's own file-drop path (it would look for a workflow in the file and fail).
    page.evaluate(
        """() => { window.__handled = []; const handle = app.handleFile.bind(app);
                   app.handleFile = (file, ...rest) => { window.__handled.push(file.name);
                                                         return handle(file, ...rest); }; }"""
    )
    page.evaluate("() => { app.graph.add(LiteGraph.createNode('LibraryVAELoader')); }")
    before = page.evaluate("() => app.graph.nodes.length")
    drop_file(page, "panel-host-dropped.safetensors", data)
    dropped = wait_for(
        lambda: [m for m in _models(comfyui, "panel-host-dropped") if m["name"] == "panel-host-dropped"],
        "the dropped file in the library",
    )[0]
    assert dropped["type"] == "vae" and dropped["size"] == len(data)
    page.wait_for_selector(".mlib-row[data-id] >> text=panel-host-dropped")
    assert page.evaluate("() => window.__handled") == [], "ComfyUI's workflow loader saw the model file"
    toasts = " ".join(page.locator(".p-toast-message").all_text_contents())
    assert "Unable to find workflow" not in toasts, toasts
    assert page.evaluate("() => app.graph.nodes.length") == before, "the drop must not load a workflow"

    # The library nodes list the new model without a reload: the node already there, and a new one.
    vae_values = "(n) => n.widgets.find((w) => w.name === 'vae').options.values"
    page.wait_for_function(
        f"(v) => ({vae_values})(app.graph.nodes.find((n) => n.type === 'LibraryVAELoader')).includes(v)",
        arg=label(dropped),
    )
    assert label(dropped) in page.evaluate(f"() => ({vae_values})(LiteGraph.createNode('LibraryVAELoader'))")

    # Control: a file that is not a model passes through to ComfyUI's handler, untouched by ours.
    drop_file(page, "notes.txt", b"not a model")
    page.wait_for_function("() => window.__handled.includes('notes.txt')")
    assert _models(comfyui, "notes") == []
    assert page.our_errors == []


def drop_file(page: Any, name: str, data: bytes) -> None:
    """Drops a File made in the page on ComfyUI's canvas, as the desktop does (dragenter, dragover, drop)."""
    page.evaluate(
        """([name, b64]) => {
             const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name));
             const canvas = app.canvas.canvas, r = canvas.getBoundingClientRect();
             const at = { clientX: r.left + 400, clientY: r.top + 300, bubbles: true, cancelable: true };
             for (const type of ['dragenter', 'dragover', 'drop'])
               canvas.dispatchEvent(new DragEvent(type, { ...at, dataTransfer: dt }));
           }""",
        [name, base64.b64encode(data).decode()],
    )


def _models(comfyui: ComfyUI, q: str) -> list[dict[str, Any]]:
    with comfyui.client() as client:
        return list(client.get(f"{API}/models", params={"q": q}).json()["items"])


# -- 4. search and hostile text ----------------------------------------------------------------------
def test_search_finds_models_and_hostile_metadata_stays_text(
    comfyui: ComfyUI, page: Any, models: dict[str, dict[str, Any]]
) -> None:
    lora = models["lora"]
    with comfyui.client() as client:
        answer = client.patch(
            f"{API}/models/{lora['id']}",
            json={"notes": HOSTILE, "tags": ["panelhostile"]},
            headers=GUARD_HEADERS,
        )
        assert answer.status_code == 200, answer.text
    shown = search(page, comfyui, models["sdxl"]["name"])
    assert models["sdxl"]["name"] in shown and lora["name"] not in shown, shown
    assert search(page, comfyui, "panelhostile") == [lora["name"]]
    page.locator(".mlib-row[data-id]", has_text=lora["name"]).first.click()
    page.wait_for_selector("text=window.__pwned=2")  # the notes, shown as text
    assert page.evaluate("() => window.__pwned") is None
    panel = page.locator("[data-testid=model-library]")
    assert panel.locator("img[src=x], script").count() == 0
    assert page.our_errors == []


def test_a_finished_import_offers_to_place_its_loader_on_the_canvas(
    comfyui: ComfyUI, page: Any, tmp_path: Path
) -> None:
    data = write_family(tmp_path / "x.safetensors", "sd15_lora_kohya").read_bytes()
    digest = blake3.blake3(data).hexdigest()  # found by its bytes: an earlier test may hold the same file
    drop_file(page, "panel-host-placed.safetensors", data)
    page.wait_for_selector("[data-testid=import-dialog] [data-testid=import-place]", timeout=60e3)
    before = page.evaluate("() => app.graph.nodes.length")
    page.click("[data-testid=import-place]")
    page.wait_for_function("(n) => app.graph.nodes.length === n + 1", arg=before)
    with comfyui.client() as client:
        placed = client.get(f"{API}/models/blake3:{digest}").json()
    lora = next(n for n in page.evaluate(GRAPH_NODES) if n["type"] == "LibraryLoraLoader")
    assert lora["widgets"]["lora"] == label(placed) and lora["widgets"]["model_ref"] == f"blake3:{digest}"
    assert page.our_errors == []


def test_previews_in_the_sidebar_the_full_view_and_the_detail(
    comfyui: ComfyUI, page: Any, models: dict[str, dict[str, Any]]
) -> None:
    """The panel with room inside ComfyUI: rows with previews (our route, through ComfyUI's server), the
    full library view over the page, a detail with its preview and trigger words. Docs screenshots."""
    import io

    from PIL import Image

    colours = {"sd2": (60, 120, 200), "sdxl": (200, 90, 40), "lora": (40, 160, 90)}
    with comfyui.client() as client:
        for key, colour in colours.items():
            out = io.BytesIO()
            Image.new("RGB", (384, 512), colour).save(out, "PNG")
            answer = client.put(
                f"{API}/models/{models[key]['id']}/preview",
                content=out.getvalue(),
                headers={"X-Model-Library": "1", "Content-Type": "application/octet-stream"},
            )
            assert answer.status_code == 200, answer.text
        answer = client.patch(
            f"{API}/models/{models['lora']['id']}",
            json={"trigger_words": ["panel host style", "glow"], "favorite": True},
            headers=GUARD_HEADERS,
        )
        assert answer.status_code == 200, answer.text
        # "Use this output as preview": a file in ComfyUI's own output folder (folder_paths), confined to it.
        out = io.BytesIO()
        Image.new("RGB", (320, 320), (230, 200, 40)).save(out, "PNG")
        (comfyui.install / "output" / "panel_host_00001_.png").write_bytes(out.getvalue())
        answer = client.put(
            f"{API}/models/{models['sd2']['id']}/preview",
            json={"output": "panel_host_00001_.png"},
            headers=GUARD_HEADERS,
        )
        assert answer.status_code == 200 and answer.json()["preview"]["source"] == "output", answer.text
        escape = client.put(
            f"{API}/models/{models['sd2']['id']}/preview",
            json={"output": "../user/x.png"},
            headers=GUARD_HEADERS,
        )
        assert escape.status_code == 400, escape.text
    page.reload()
    page.wait_for_function(APP_READY, timeout=60e3)
    if not page.locator(".mlib-row[data-id]").count():
        page.locator(TAB_BUTTON).first.click()
    search(page, comfyui, "panel-host")  # the three with previews first, whatever earlier tests imported
    page.wait_for_selector(".mlib-row[data-id] .mlib-thumb img")
    loaded = page.wait_for_function(
        "() => [...document.querySelectorAll('.mlib-row .mlib-thumb img')]"
        ".some(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded
    page.screenshot(path=str(SCREENSHOTS / "comfyui-sidebar-previews.png"))
    page.locator(".mlib-row[data-id]", has_text=models["lora"]["name"]).first.click()
    page.wait_for_selector("[data-testid=detail-preview] img")
    page.wait_for_selector(".mlib-word:text-is('panel host style')")
    page.screenshot(path=str(SCREENSHOTS / "comfyui-detail-preview.png"))
    page.click("[data-testid=detail-close]")
    page.click("[data-testid=open-full]")
    page.wait_for_selector("[data-testid=full-view] .mlib-row.mlib-card .mlib-thumb img")
    box = page.locator("[data-testid=full-dialog]").bounding_box()
    assert box and box["width"] > 1000, "the full view covers the page, not the sidebar"
    page.screenshot(path=str(SCREENSHOTS / "comfyui-full-view.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=full-dialog]", state="detached")
    assert page.our_errors == []


def test_a_wider_sidebar_lays_the_models_out_for_its_width(page: Any) -> None:
    """ComfyUI's sidebar is resizable by its splitter; our list follows the width (cards once wide enough;
    a frontend may cap the sidebar below that). Whether the width is remembered is the frontend's."""
    panel = page.locator("[data-testid=model-library]").bounding_box()
    assert panel
    edge = panel["x"] + panel["width"]
    gutters = [g.bounding_box() for g in page.locator(".p-splitter-gutter").all()]
    beside = [b for b in gutters if b and b["height"] > b["width"] and abs(b["x"] - edge) < 30]
    if not beside:
        pytest.skip("this frontend's sidebar has no splitter beside it")
    box = beside[0]
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 520, box["y"] + box["height"] / 2, steps=10)
    page.mouse.up()
    page.wait_for_timeout(300)
    width = page.evaluate(
        "() => document.querySelector('[data-testid=model-library]').getBoundingClientRect().width"
    )
    assert width > panel["width"] + 20, "the sidebar did not widen"
    columns = int(page.get_attribute(".mlib-vlist", "data-columns") or "1")
    assert (columns > 1) == (width >= GRID_FROM_WIDTH), (width, columns)  # cards once wide enough
    page.screenshot(path=str(SCREENSHOTS / "comfyui-sidebar-wide.png"))
    assert page.our_errors == []

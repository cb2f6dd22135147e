// The ComfyUI extension entry: registers the sidebar tab, the settings, and the canvas drop handlers.
// The only module that imports ComfyUI's frontend; every other module is host-agnostic.

// @ts-ignore - served by ComfyUI's frontend; absent when type-checking
import { app } from "../../scripts/app.js";
// @ts-ignore - served by ComfyUI's frontend; absent when type-checking
import { api } from "../../scripts/api.js";
import { createApi } from "./api.js";
import { LIBRARY_NODES, addModelToWorkflow, libraryNodeClass, placeModel, watchModelRef } from "./canvas.js";
import { setMaxNsfwSource } from "./components/thumb.js";
import { DRAG_MIME } from "./components/library_view.js";
import { filesOfDrop, isModelDrop } from "./components/dropzone.js";
import { debounce, h } from "./dom.js";
import { mountPanel } from "./panel.js";

const TAB_ID = "model-library-central";
const EVENTS = ["model-library.job", "model-library.changed"];

/** @type {import("./panel.js").Panel | null} */
let panel = null;
const holder = h("div", { style: { height: "100%" } });
/** @type {import("./api.js").LibraryApi | null} */
let libraryApi = null;

function getLibraryApi() {
  if (!libraryApi) {
    libraryApi = createApi(
      (path, init) => api.fetchApi(path, init),
      (path) => (typeof api.apiURL === "function" ? api.apiURL(path) : path),
    );
  }
  return libraryApi;
}

/** A model by id (or unique id prefix), for a library node whose list choice changed. */
const lookupModel = (/** @type {string} */ id) => getLibraryApi().getModel(id);

/** Every node of the open graph, subgraphs included when the host has them. */
function graphNodes() {
  const graph = app.graph;
  /** @type {any[]} */
  const nodes = [...(graph?._nodes || graph?.nodes || [])];
  for (const sub of graph?.subgraphs?.values?.() || []) nodes.push(...(sub._nodes || sub.nodes || []));
  return nodes;
}

/**
 * The library nodes' lists after the catalog changed (an import, a delete), without ComfyUI's full
 * refresh (which reloads every node definition and toasts twice): re-registers our four node definitions so
 * new nodes list the models, and gives existing library nodes the new lists (their choice is kept).
 */
async function refreshLibraryLists() {
  /** @type {Record<string, any>} */
  const defs = {};
  await Promise.all(
    Object.keys(LIBRARY_NODES).map(async (cls) => {
      const answer = await api.fetchApi(`/object_info/${encodeURIComponent(cls)}`);
      if (!answer.ok) return;
      const body = await answer.json();
      if (body && body[cls]) defs[cls] = body[cls];
    }),
  );
  for (const [cls, def] of Object.entries(defs)) {
    if (typeof app.registerNodeDef === "function") await app.registerNodeDef(cls, def);
  }
  for (const node of graphNodes()) {
    const cls = libraryNodeClass(node);
    const def = cls ? defs[cls] : undefined;
    if (!def) continue;
    for (const widget of node.widgets || []) {
      const spec = def.input?.required?.[widget.name];
      // V1 definitions list the choices in place; V3 ones (nodes/v3.py) say "COMBO" with the list in options.
      const values = Array.isArray(spec?.[0]) ? spec[0] : spec?.[0] === "COMBO" ? spec?.[1]?.options : undefined;
      if (widget.type === "combo" && Array.isArray(values)) widget.options.values = values;
    }
  }
}
const refreshLibraryListsSoon = debounce(() => {
  refreshLibraryLists().catch((/** @type {unknown} */ error) => console.warn("model-library: could not refresh the library nodes' lists", error));
}, 800);

/** The panel, mounted once and moved into the sidebar whenever its tab renders. */
function ensurePanel() {
  if (panel) return panel;
  setMaxNsfwSource(() => app.extensionManager?.setting?.get?.("ModelLibrary.PreviewMaxNsfw") ?? app.ui?.settings?.getSettingValue?.("ModelLibrary.PreviewMaxNsfw"));
  panel = mountPanel(holder, {
    api: getLibraryApi(),
    events: {
      subscribe(fn) {
        /** @type {[string, (e: any) => void][]} */
        const handlers = EVENTS.map((name) => [name, (/** @type {any} */ e) => fn(name, e.detail)]);
        for (const [name, handler] of handlers) api.addEventListener(name, handler);
        return () => {
          for (const [name, handler] of handlers) api.removeEventListener(name, handler);
        };
      },
    },
    toast: (message) => app.extensionManager?.toast?.add({ life: 5000, ...message }),
    onPlace: (model) => placeOnCanvas(model),
    onAdd: (model) => void addToWorkflow(model),
    lastOutput: () => lastOutputImage(),
    workflow: { getWorkflow: () => app.graph?.serialize?.(), applyNames, applyStamp },
  });
  void panel.workflowView.checkLoaded(); // the workflow already open when the panel first shows
  return panel;
}

/**
 * After a workflow fetch: a node whose widget names a model differently from how ComfyUI now lists it
 * (a name saved on Windows with "\\") takes the listed name. Top-level nodes (ids without ":").
 * @param {any[]} items  the fetch result's items
 */
function applyNames(items) {
  let changed = 0;
  for (const item of items) {
    if (!item.comfyui_name || item.comfyui_name === item.name || !item.node_id || !item.input_name) continue;
    if (String(item.node_id).includes(":")) continue; // inside a subgraph: left as is
    const node = app.graph?.getNodeById?.(Number(item.node_id)) ?? app.graph?.getNodeById?.(item.node_id);
    const widget = node?.widgets?.find((/** @type {any} */ w) => w.name === item.input_name);
    if (!widget || widget.value !== item.name) continue;
    widget.value = item.comfyui_name;
    changed += 1;
  }
  if (changed) app.graph?.setDirtyCanvas?.(true, true);
  return changed;
}

/**
 * The stamped workflow's `properties.models` copied onto the live graph's nodes (by id).
 * @param {any} workflow
 */
function applyStamp(workflow) {
  let changed = 0;
  for (const stamped of workflow?.nodes || []) {
    const models = stamped?.properties?.models;
    if (!Array.isArray(models)) continue;
    const node = app.graph?.getNodeById?.(stamped.id);
    if (!node) continue;
    const before = JSON.stringify(node.properties?.models ?? null);
    if (before === JSON.stringify(models)) continue;
    node.properties = { ...(node.properties || {}), models };
    changed += 1;
  }
  return changed;
}

/**
 * The newest image ComfyUI generated, as a path in its output folder ("use this output as preview").
 * @returns {Promise<string | null>}
 */
async function lastOutputImage() {
  const answer = await api.fetchApi("/history?max_items=1");
  if (!answer.ok) return null;
  const history = await answer.json();
  for (const entry of Object.values(history || {})) {
    for (const output of Object.values(/** @type {any} */ (entry)?.outputs || {})) {
      for (const image of /** @type {any} */ (output)?.images || []) {
        if (image && image.type === "output" && typeof image.filename === "string") {
          return image.subfolder ? `${image.subfolder}/${image.filename}` : image.filename;
        }
      }
    }
  }
  return null;
}

/**
 * "Add to workflow": the model's loader wired into the open graph (canvas.js), then remembered as used.
 * @param {import("./api.js").Model} model
 */
async function addToWorkflow(model) {
  const LiteGraph = /** @type {any} */ (globalThis).LiteGraph;
  /** @type {import("./api.js").Model} */
  let full = model;
  try {
    full = await getLibraryApi().getModel(model.id); // its trigger words as they are now
  } catch {
    full = model;
  }
  const result = addModelToWorkflow(app, LiteGraph, full);
  if (!result.node) {
    app.extensionManager?.toast?.add({ severity: "warn", summary: "Not added", detail: `No loader node for ${model.type} models is installed.`, life: 5000 });
    return;
  }
  const wired = result.wiredTo.length ? ` (wired to ${result.wiredTo.length} input${result.wiredTo.length > 1 ? "s" : ""})` : "";
  app.extensionManager?.toast?.add({ severity: "success", summary: "Added to the workflow", detail: `${model.name}${wired}${result.promptUpdated ? "; trigger words in the prompt" : ""}`, life: 3000 });
  getLibraryApi().markUsed(model.id).catch(() => {});
}

/**
 * A loader for `model` in the middle of what the canvas shows (the import dialog's "Place on canvas").
 * @param {import("./api.js").Model} model
 */
function placeOnCanvas(model) {
  const canvas = app.canvas;
  if (!canvas || !app.graph) return;
  const rect = canvas.canvas?.getBoundingClientRect?.();
  const visible = canvas.visible_area;
  const pos = visible ? [visible[0] + visible[2] / 2, visible[1] + visible[3] / 2] : [rect ? rect.width / 2 : 100, 100];
  const dragged = { id: model.id, name: model.name, type: model.type, files: (model.files || []).map((f) => f.path), sha256: model.hashes?.sha256 ?? undefined, blake3: model.hashes?.blake3 ?? undefined };
  void place(dragged, pos);
}

/**
 * The right loader for a library model at `pos` (canvas.js placeModel), or a toast saying why not.
 * @param {import("./canvas.js").DraggedModel} model @param {number[]} pos
 */
async function place(model, pos) {
  const LiteGraph = /** @type {any} */ (globalThis).LiteGraph;
  const placed = await placeModel(app.graph, LiteGraph, model, pos, (id) => getLibraryApi().getModel(id));
  if (!placed.node) {
    app.extensionManager?.toast?.add({ severity: "warn", summary: "Not placed", detail: placed.reason, life: 5000 });
  }
}

function openTab() {
  const sidebar = app.extensionManager?.sidebarTab;
  if (sidebar && sidebar.activeSidebarTabId !== TAB_ID && typeof sidebar.toggleSidebarTab === "function") {
    sidebar.toggleSidebarTab(TAB_ID);
  }
}

/** @param {DragEvent} event */
function onCanvas(event) {
  const canvasEl = app.canvas?.canvas;
  return !!canvasEl && event.target === canvasEl;
}

/** @param {DragEvent} event */
function onDragOver(event) {
  const dt = event.dataTransfer;
  if (!dt || !onCanvas(event)) return;
  if ([...dt.types].includes(DRAG_MIME)) {
    event.preventDefault();
    dt.dropEffect = "copy";
  }
}

/**
 * Capture phase, so it runs before ComfyUI's own handler (which would try to read a workflow from the
 * file). Claims only drops of model files and drags of library models; everything else passes through.
 * @param {DragEvent} event
 */
function onDrop(event) {
  const dt = event.dataTransfer;
  if (!dt || !onCanvas(event)) return;
  if ([...dt.types].includes(DRAG_MIME)) {
    event.preventDefault();
    event.stopImmediatePropagation();
    let model;
    try {
      model = JSON.parse(dt.getData(DRAG_MIME));
    } catch {
      return;
    }
    const pos = app.canvas.convertEventToCanvasOffset(event);
    void place(model, pos);
    return;
  }
  if (isModelDrop(dt)) {
    event.preventDefault();
    event.stopImmediatePropagation();
    const current = ensurePanel();
    openTab();
    void filesOfDrop(dt).then((files) => current.dropZone.importFiles(files));
  }
}

if (app && typeof app.registerExtension === "function") {
  app.registerExtension({
    name: "ModelLibrary.Panel",
    settings: [
      {
        id: "ModelLibrary.LibraryRoot",
        name: "Library folder (restart to apply; the MODEL_LIBRARY_ROOT variable wins)",
        type: "text",
        defaultValue: "",
        category: ["Central Model Library", "Library", "Root"],
      },
      {
        id: "ModelLibrary.Catalog",
        name: "Shared catalog: a postgresql:// URL without password (restart to apply; MODEL_LIBRARY_CATALOG wins)",
        type: "text",
        defaultValue: "",
        category: ["Central Model Library", "Library", "Shared catalog"],
      },
      {
        id: "ModelLibrary.Cache",
        name: "Local cache folder on a fast disk: models load from it (restart to apply; MODEL_LIBRARY_CACHE wins)",
        type: "text",
        defaultValue: "",
        category: ["Central Model Library", "Library", "Cache folder"],
      },
      {
        id: "ModelLibrary.CacheBudget",
        name: "Local cache size, e.g. 500G (restart to apply; MODEL_LIBRARY_CACHE_BUDGET wins)",
        type: "text",
        defaultValue: "",
        category: ["Central Model Library", "Library", "Cache size"],
      },
      {
        id: "ModelLibrary.ImportRoots",
        name: "Extra folders the panel may import from (one per line; applies at once)",
        type: "text",
        defaultValue: "",
        category: ["Central Model Library", "Library", "Import roots"],
      },
      {
        id: "ModelLibrary.CatalogInstallFolders",
        name: "List this ComfyUI's own model folders in the library, in place (read-only; restart to apply)",
        type: "boolean",
        defaultValue: true,
        category: ["Central Model Library", "Library", "Catalogue in place"],
      },
      {
        id: "ModelLibrary.WriteExtraModelPaths",
        name: "Keep the library's models visible to ComfyUI without this plugin (writes a marked section into this install's extra_model_paths.yaml; restart to apply)",
        type: "boolean",
        defaultValue: false,
        category: ["Central Model Library", "Library", "extra_model_paths.yaml"],
      },
      {
        id: "ModelLibrary.PreviewMaxNsfw",
        name: "Blur previews rated above (Civitai's ratings; click a preview to see it)",
        type: "combo",
        options: ["PG", "PG-13", "R", "X", "XXX"],
        defaultValue: "PG-13",
        category: ["Central Model Library", "Previews", "NSFW"],
      },
      {
        id: "ModelLibrary.CivitaiLookup",
        name: "Look models up on Civitai by their SHA-256 (origins, trigger words, previews; restart to apply)",
        type: "boolean",
        defaultValue: true,
        category: ["Central Model Library", "Origins", "Civitai"],
      },
      {
        id: "ModelLibrary.AllowRemoteChanges",
        name: "Allow deletes, moves, downloads and mapping changes from other machines on the network",
        type: "boolean",
        defaultValue: false,
        category: ["Central Model Library", "Security", "Remote changes"],
      },
    ],
    // A workflow was loaded (opened, dropped, a template): check its models when the panel is there.
    async afterConfigureGraph() {
      if (panel) void panel.workflowView.checkLoaded();
    },
    /** @param {any} node */
    nodeCreated(node) {
      watchModelRef(node, lookupModel);
    },
    async setup() {
      app.extensionManager.registerSidebarTab({
        id: TAB_ID,
        icon: "pi pi-database",
        title: "Library",
        tooltip: "Central Model Library (comfyui-model-library): every model file once, found by hash",
        type: "custom",
        render: (/** @type {HTMLElement} */ el) => {
          ensurePanel();
          el.appendChild(holder);
          el.style.height = "100%";
          panel?.view.list.schedule();
        },
      });
      document.addEventListener("dragover", onDragOver, true);
      document.addEventListener("drop", onDrop, true);
      api.addEventListener("model-library.changed", refreshLibraryListsSoon);
    },
  });
}

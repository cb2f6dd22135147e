// Dropping a library model on the ComfyUI canvas: the right loader node with that model selected, or, on an
// existing loader, its model widget set. Works on the LiteGraph objects it is given; no side effects at
// import and no ComfyUI imports (model_library.js passes `app` and `LiteGraph` in).

/** Loader nodes by model type (display names of the nodes in nodes/). Anything else: Library Model Path. */
export const LOADER_NODES = /** @type {Record<string, string>} */ ({
  checkpoint: "Library Checkpoint Loader",
  lora: "Library LoRA Loader",
  vae: "Library VAE Loader",
});
export const ANY_MODEL_NODE = "Library Model Path";

/** Widget names that hold a model choice, most specific first. */
const MODEL_WIDGET_NAMES = ["model", "model_name", "ckpt_name", "lora_name", "vae_name", "unet_name", "name"];

/**
 * @typedef {{id: string, name: string, type: string, files?: string[], sha256?: string}} DraggedModel
 * @typedef {{name: string, type?: string, value: any, options?: {values?: any}, callback?: (v: any) => void}} Widget
 * @typedef {{type?: string, comfyClass?: string, title?: string, pos: number[], widgets?: Widget[],
 *            setDirtyCanvas?: (a: boolean, b: boolean) => void}} GraphNode
 */

/** @param {string} type */
export function loaderNodeName(type) {
  return LOADER_NODES[type] || ANY_MODEL_NODE;
}

/**
 * The combo value naming `model`: the exact name, a file path, a value ending in one of its files, or a
 * value carrying its id. Undefined when none matches.
 * @param {unknown[]} values
 * @param {DraggedModel} model
 * @returns {string | undefined}
 */
export function pickComboValue(values, model) {
  const strings = values.filter((v) => typeof v === "string").map((v) => /** @type {string} */ (v));
  const files = model.files || [];
  const base = (/** @type {string} */ s) => s.split(/[\\/]/).pop() || s;
  return (
    strings.find((v) => v === model.name) ||
    strings.find((v) => files.includes(v)) ||
    strings.find((v) => files.some((f) => base(v) === base(f))) ||
    strings.find((v) => v.includes(model.id)) ||
    strings.find((v) => base(v).replace(/\.[^.]+$/, "") === model.name)
  );
}

/** @param {Widget} w */
function comboValues(w) {
  const values = w.options?.values;
  if (typeof values === "function") return values();
  return Array.isArray(values) ? values : [];
}

/**
 * Sets the model widget of `node` to `model`; false when the node has no widget listing that model.
 * @param {GraphNode} node
 * @param {DraggedModel} model
 */
export function setModelOnNode(node, model) {
  const widgets = (node.widgets || []).filter((w) => w.type === "combo" || Array.isArray(w.options?.values));
  widgets.sort((a, b) => rank(a.name) - rank(b.name));
  for (const widget of widgets) {
    const value = pickComboValue(comboValues(widget), model);
    if (value !== undefined) {
      widget.value = value;
      if (typeof widget.callback === "function") widget.callback(value);
      return true;
    }
  }
  return false;
}

/** @param {string} name */
function rank(name) {
  const i = MODEL_WIDGET_NAMES.indexOf(name);
  return i === -1 ? MODEL_WIDGET_NAMES.length : i;
}

/**
 * Creates a node by display name or type: `createNode(name)` first, then a registered type whose title is
 * that name (ComfyUI registers nodes under their class name and shows the display name as title).
 * @param {any} LiteGraph
 * @param {string} name
 * @returns {GraphNode | null}
 */
export function createNodeByName(LiteGraph, name) {
  const direct = LiteGraph.createNode(name);
  if (direct) return direct;
  const registered = LiteGraph.registered_node_types || {};
  for (const [type, ctor] of Object.entries(registered)) {
    const anyCtor = /** @type {any} */ (ctor);
    if (anyCtor.title === name || anyCtor.display_name === name || type === name.replace(/ /g, "")) {
      return LiteGraph.createNode(type);
    }
  }
  return null;
}

/**
 * Handles a model dropped on the canvas at graph position `pos`: sets the model of the loader under the
 * pointer, or adds a new loader node. Returns the node changed or created, or null.
 * @param {any} graph
 * @param {any} LiteGraph
 * @param {DraggedModel} model
 * @param {number[]} pos
 */
export function dropModelOnGraph(graph, LiteGraph, model, pos) {
  const existing = typeof graph.getNodeOnPos === "function" ? graph.getNodeOnPos(pos[0], pos[1]) : null;
  if (existing && setModelOnNode(existing, model)) {
    graph.setDirtyCanvas?.(true, true);
    return existing;
  }
  const node = createNodeByName(LiteGraph, loaderNodeName(model.type));
  if (!node) return null;
  node.pos = [pos[0], pos[1]];
  graph.add(node);
  setModelOnNode(node, model);
  graph.setDirtyCanvas?.(true, true);
  return node;
}

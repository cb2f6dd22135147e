// The library's loader nodes on the canvas: their model lists (labels `name [1a2b3c4d]`), setting a node's
// model and its `model_ref` hash, keeping the ref in step with the list, showing both compactly, and
// creating nodes by name. Works on the LiteGraph objects it is given; no side effects at import and no
// ComfyUI imports.

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
 * The library's own nodes (their ComfyUI class names) and the model type each lists; null: every type
 * (its labels start with the type, `lora/name [1a2b3c4d]`). Mirrors nodes/ on the server.
 */
export const LIBRARY_NODES = /** @type {Record<string, string | null>} */ ({
  LibraryCheckpointLoader: "checkpoint",
  LibraryLoraLoader: "lora",
  LibraryLoraLoaderModelOnly: "lora",
  LibraryVAELoader: "vae",
  LibraryModelPath: null,
});
/** The optional input of every library node that stores `blake3:<hex>`, so a shared workflow resolves by hash. */
export const MODEL_REF_WIDGET = "model_ref";
/** Hex digits of the model id in a node label's bracket (nodes/_catalog.py LABEL_ID_CHARS). */
export const LABEL_ID_CHARS = 8;
const LABEL_ID = /\[([0-9a-fA-F]{6,64})\]\s*$/;

/**
 * @typedef {{id: string, name: string, type: string, files?: string[], sha256?: string, blake3?: string,
 *            trigger_words?: string[], default_strength?: number | null}} DraggedModel
 * @typedef {{name: string, type?: string, value: any, options?: {values?: any}, callback?: (v: any, ...rest: any[]) => unknown}} Widget
 * @typedef {{type?: string, comfyClass?: string, title?: string, pos: number[], size?: number[], widgets?: Widget[],
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
  const bracket = model.id && model.id.length >= 6 ? `[${model.id.slice(0, LABEL_ID_CHARS)}]` : null;
  return (
    strings.find((v) => v === libraryLabel(model)) ||
    (bracket ? strings.find((v) => v.endsWith(bracket)) : undefined) ||
    strings.find((v) => v === model.name) ||
    strings.find((v) => files.includes(v)) ||
    strings.find((v) => files.some((f) => base(v) === base(f))) ||
    strings.find((v) => v.includes(model.id)) ||
    strings.find((v) => base(v).replace(/\.[^.]+$/, "") === model.name)
  );
}

/** @param {Widget} w */
export function comboValues(w) {
  const values = w.options?.values;
  if (typeof values === "function") return values();
  return Array.isArray(values) ? values : [];
}

/**
 * The label a library node lists `model` under: `name [1a2b3c4d]`, with the type in front for the
 * any-type node (`lora/name [1a2b3c4d]`).
 * @param {DraggedModel} model
 * @param {boolean} [withType]
 */
export function libraryLabel(model, withType = false) {
  const name = withType ? `${model.type}/${model.name}` : model.name;
  return `${name} [${model.id.slice(0, LABEL_ID_CHARS)}]`;
}

/**
 * What a node's `model_ref` stores for `model`: `blake3:<full hex>` when the hash is known, else the id.
 * @param {{id: string, blake3?: string, hashes?: {blake3?: string}}} model
 */
export function modelRefOf(model) {
  const blake3 = model.blake3 || model.hashes?.blake3;
  return blake3 ? `blake3:${blake3.toLowerCase()}` : model.id;
}

/**
 * The library node class of `node` (a key of LIBRARY_NODES), or undefined for any other node.
 * @param {GraphNode} node
 */
export function libraryNodeClass(node) {
  const cls = node.comfyClass || node.type || "";
  return Object.prototype.hasOwnProperty.call(LIBRARY_NODES, cls) ? cls : undefined;
}

/** @param {GraphNode} node @param {string} name */
export function widgetNamed(node, name) {
  return (node.widgets || []).find((w) => w.name === name);
}

/**
 * The combo widgets of `node` that may hold a model, most specific first.
 * @param {GraphNode} node
 */
function modelCombos(node) {
  const widgets = (node.widgets || []).filter(
    (w) => w.name !== MODEL_REF_WIDGET && (w.type === "combo" || Array.isArray(w.options?.values)),
  );
  return widgets.sort((a, b) => rank(a.name) - rank(b.name));
}

/**
 * The hex id in a library label's bracket (`name [1a2b3c4d]` -> `1a2b3c4d`), or null.
 * @param {unknown} label
 */
export function labelId(label) {
  const match = typeof label === "string" ? LABEL_ID.exec(label) : null;
  return match ? match[1].toLowerCase() : null;
}

/**
 * Whether a stored `model_ref` names the model whose id starts with `id` (ids are the start of the BLAKE3).
 * @param {unknown} ref
 * @param {string} id
 */
export function refMatchesId(ref, id) {
  if (typeof ref !== "string" || !ref) return false;
  const hex = ref.trim().toLowerCase().replace(/^blake3:/, "");
  return /^[0-9a-f]+$/.test(hex) && hex.startsWith(id.toLowerCase());
}

/**
 * Sets the model widget of `node` to `model` (and, on a library node, its `model_ref` to the model's hash);
 * false when the node has no widget listing that model. A library node for that model type takes it even
 * when its list predates the model (imported after the page loaded): the label is added to that node's list.
 * @param {GraphNode} node
 * @param {DraggedModel} model
 */
export function setModelOnNode(node, model) {
  const cls = libraryNodeClass(node);
  const combos = modelCombos(node);
  let widget;
  let value;
  for (const candidate of combos) {
    value = pickComboValue(comboValues(candidate), model);
    if (value !== undefined) {
      widget = candidate;
      break;
    }
  }
  const takesType = cls !== undefined && (LIBRARY_NODES[cls] === null || LIBRARY_NODES[cls] === model.type);
  if (!widget && takesType && combos.length) {
    widget = combos[0];
    value = libraryLabel(model, LIBRARY_NODES[cls] === null);
    const values = comboValues(widget);
    if (widget.options && Array.isArray(widget.options.values)) widget.options.values = [...values, value];
  }
  if (!widget || value === undefined) return false;
  // model_ref first: the combo's callback (watchModelRef) then sees a ref that already matches.
  const ref = cls !== undefined ? widgetNamed(node, MODEL_REF_WIDGET) : undefined;
  if (ref) ref.value = modelRefOf(model);
  widget.value = value;
  if (typeof widget.callback === "function") widget.callback(value);
  return true;
}

/**
 * After the user picks another model in a library node's list, its `model_ref` must follow, or the old
 * hash (which wins over the list on the server) would still load the old model. The ref is cleared at once
 * (the label alone then decides) and filled with the picked model's full hash once `lookup` answers.
 * @param {GraphNode} node
 * @param {unknown} label  the picked value
 * @param {(id: string) => Promise<{id: string, hashes?: {blake3?: string}} | null | undefined>} lookup
 */
export async function syncModelRef(node, label, lookup) {
  const ref = widgetNamed(node, MODEL_REF_WIDGET);
  if (!ref) return;
  const id = labelId(label);
  if (id && refMatchesId(ref.value, id)) return;
  ref.value = "";
  if (!id) return;
  let model;
  try {
    model = await lookup(id);
  } catch {
    return; // the label's id still resolves on the server
  }
  const combo = modelCombos(node)[0];
  if (model && refMatchesId(model.id, id) && combo && combo.value === label && !ref.value) {
    ref.value = modelRefOf(model);
    node.setDirtyCanvas?.(true, true);
  }
}

/**
 * Keeps `model_ref` in step with the model list of a library node (see syncModelRef); false for other
 * nodes. Call once per node (ComfyUI's `nodeCreated`).
 * @param {GraphNode} node
 * @param {(id: string) => Promise<{id: string, hashes?: {blake3?: string}} | null | undefined>} lookup
 */
export function watchModelRef(node, lookup) {
  if (libraryNodeClass(node) === undefined || !widgetNamed(node, MODEL_REF_WIDGET)) return false;
  compactDisplay(node);
  const combo = modelCombos(node)[0];
  if (!combo) return false;
  const original = combo.callback;
  /** @type {(this: unknown, value: any, ...rest: any[]) => unknown} */
  const wrapped = function (value, ...rest) {
    const result = typeof original === "function" ? original.call(this, value, ...rest) : undefined;
    void syncModelRef(node, value, lookup);
    return result;
  };
  combo.callback = wrapped;
  return true;
}

/**
 * How a `model_ref` reads on the canvas: `✓ hash 1a2b3c4d` for a hash, a short id as is, empty when unset.
 * The widget's value (saved in the workflow, sent to the server) stays the full ref.
 * @param {unknown} ref
 */
export function compactRef(ref) {
  const text = typeof ref === "string" ? ref.trim() : "";
  const hash = /^(?:blake3|sha256):([0-9a-fA-F]{8,})$/.exec(text);
  if (hash) return `\u2713 hash ${hash[1].slice(0, LABEL_ID_CHARS).toLowerCase()}`;
  return text.length > 20 ? `${text.slice(0, 16)}\u2026` : text;
}

/**
 * How a library label reads on the canvas: the name alone (`name [1a2b3c4d]` -> `name`), so a long name
 * is not cut short by its id; the list and the saved value keep the full label.
 * @param {unknown} label
 */
export function labelDisplay(label) {
  if (typeof label !== "string") return label == null ? "" : String(label);
  const name = label.replace(LABEL_ID, "").trim();
  return name || label;
}

/**
 * Shows a library node's `model_ref` and model choice compactly (compactRef, labelDisplay) where the
 * host's widgets draw their `_displayValue` (ComfyUI's frontend since 1.2x); elsewhere nothing changes.
 * @param {GraphNode} node
 */
export function compactDisplay(node) {
  const ref = widgetNamed(node, MODEL_REF_WIDGET);
  const combo = modelCombos(node)[0];
  for (const [widget, show] of /** @type {[Widget | undefined, (v: unknown) => string][]} */ ([
    [ref, compactRef],
    [combo, labelDisplay],
  ])) {
    if (!widget || !("_displayValue" in widget)) continue;
    Object.defineProperty(widget, "_displayValue", {
      configurable: true,
      get() {
        return /** @type {any} */ (this).computedDisabled ? "" : show(/** @type {any} */ (this).value);
      },
    });
  }
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

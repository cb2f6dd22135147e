// Placing a library model in the open workflow: "Add to workflow" (addModelToWorkflow) wires its loader into
// the graph (wiring.js does the surgery), and a model dropped on the canvas sets the loader under the
// pointer or is added the same way where it was dropped. Works on the LiteGraph objects it is given; no
// side effects at import and no ComfyUI imports (model_library.js passes `app` and `LiteGraph` in).

import {
  appendWords,
  feedUnconnected,
  freePosition,
  graphBox,
  GAP,
  insertionPoint,
  isCheckpointLoader,
  modelChain,
  nodesOf,
  positivePrompt,
  slotOfType,
  spliceAfter,
  takeOverOutputs,
  textWidget,
  upstream,
} from "./wiring.js";
import {
  comboValues,
  createNodeByName,
  LOADER_NODES,
  libraryNodeClass,
  loaderNodeName,
  setModelOnNode,
  widgetNamed,
} from "./model_nodes.js";

export * from "./model_nodes.js";

/**
 * @typedef {import("./model_nodes.js").DraggedModel} DraggedModel
 * @typedef {import("./model_nodes.js").GraphNode} GraphNode
 * @typedef {import("./model_nodes.js").Widget} Widget
 */


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

/**
 * ComfyUI's own loader for each model type our nodes do not load: its node type, the widget naming the
 * file, and the categories whose names it lists (legacy folder names included).
 * @type {Record<string, {node: string, widget: string, categories: string[]}>}
 */
export const CORE_LOADERS = {
  diffusion_model: { node: "UNETLoader", widget: "unet_name", categories: ["diffusion_models", "unet"] },
  text_encoder: { node: "CLIPLoader", widget: "clip_name", categories: ["text_encoders", "clip"] },
  controlnet: { node: "ControlNetLoader", widget: "control_net_name", categories: ["controlnet", "t2i_adapter"] },
  upscaler: { node: "UpscaleModelLoader", widget: "model_name", categories: ["upscale_models"] },
  clip_vision: { node: "CLIPVisionLoader", widget: "clip_name", categories: ["clip_vision"] },
  style_model: { node: "StyleModelLoader", widget: "style_model_name", categories: ["style_models"] },
  hypernetwork: { node: "HypernetworkLoader", widget: "hypernetwork_name", categories: ["hypernetworks"] },
  photomaker: { node: "PhotoMakerLoader", widget: "photomaker_model_name", categories: ["photomaker"] },
  gligen: { node: "GLIGENLoader", widget: "gligen_name", categories: ["gligen"] },
};
/** A GGUF diffusion model needs ComfyUI-GGUF's loader; without it, Library Model Path gives its name. */
export const GGUF_LOADER = { node: "UnetLoaderGGUF", widget: "unet_name", categories: ["diffusion_models", "unet"] };

/**
 * @typedef {{install: string, category: string, name: string}} ComfyName
 * @typedef {{comfyui_names?: ComfyName[], hashes?: {sha256?: string | null, blake3?: string | null},
 *            source?: {kind?: string, repo_id?: string | null, revision?: string | null, filename?: string | null}}} ModelDetail
 * @typedef {{name: string, directory: string, hash?: string, hash_type?: string, url?: string}} ModelsEntry
 */

/**
 * ComfyUI's loader for `model` when our nodes do not load its type and the host has that loader.
 * @param {DraggedModel} model
 * @param {Record<string, unknown>} registered  LiteGraph.registered_node_types
 */
export function coreLoaderFor(model, registered) {
  if (LOADER_NODES[model.type]) return null;
  const gguf = (model.files || []).some((f) => /\.gguf$/i.test(f));
  const loader = gguf && model.type === "diffusion_model" ? GGUF_LOADER : CORE_LOADERS[model.type];
  return loader && registered[loader.node] ? loader : null;
}

/**
 * The names the host lists the model under in one of `categories` (from the model detail's comfyui_names).
 * @param {ComfyName[]} names @param {string[]} categories
 */
export function namesIn(names, categories) {
  return names.filter((n) => categories.includes(n.category)).map((n) => n.name);
}

/**
 * A `properties.models` entry in ComfyUI's own spelling: its missing-model check and other machines find
 * the file by name, folder and SHA-256 (and its Hub URL when the origin is known).
 * @param {ModelDetail | null} detail @param {string} directory @param {string} name
 * @returns {ModelsEntry | null}
 */
export function modelsEntry(detail, directory, name) {
  const sha256 = detail?.hashes?.sha256;
  if (!name || !directory) return null;
  /** @type {ModelsEntry} */
  const entry = { name, directory };
  if (sha256) Object.assign(entry, { hash: sha256.toLowerCase(), hash_type: "SHA256" });
  const source = detail?.source;
  if (source?.kind === "huggingface" && source.repo_id && source.filename) {
    const file = source.filename.split("/").map(encodeURIComponent).join("/");
    entry.url = `https://huggingface.co/${source.repo_id}/resolve/${encodeURIComponent(source.revision || "main")}/${file}`;
  }
  return entry;
}

/**
 * Adds `entry` to the node's `properties.models`, replacing an entry for the same folder and name.
 * @param {any} node @param {ModelsEntry | null} entry
 */
export function setModelsEntry(node, entry) {
  if (!entry) return;
  node.properties = node.properties || {};
  const kept = (Array.isArray(node.properties.models) ? node.properties.models : []).filter(
    (/** @type {any} */ e) => !(e && e.directory === entry.directory && e.name === entry.name),
  );
  node.properties.models = [...kept, entry];
}

/**
 * Sets a core loader's file widget to `name` (listed even when the node's list predates the model).
 * @param {GraphNode} node @param {string} widgetName @param {string} name
 */
function setCoreWidget(node, widgetName, name) {
  const widget = widgetNamed(node, widgetName);
  if (!widget) return false;
  const values = comboValues(widget);
  if (!values.includes(name) && widget.options && Array.isArray(widget.options.values)) {
    widget.options.values = [...values, name];
  }
  widget.value = name;
  if (typeof widget.callback === "function") widget.callback(name);
  return true;
}

/**
 * `embedding:<name>` into the prompt of the text node under the pointer.
 * @param {any} node @param {string[]} names  the embedding's names in the host's embeddings folder
 * @param {DraggedModel} model
 */
function insertEmbedding(node, names, model) {
  const widget = (node?.widgets || []).find((/** @type {Widget} */ w) => w.name === "text" && typeof w.value === "string");
  if (!widget) return false;
  const name = (names[0] || model.name).replace(/\.(safetensors|pt|bin|pth)$/i, "");
  const text = String(widget.value);
  widget.value = `${text}${text && !/\s$/.test(text) ? " " : ""}embedding:${name}`;
  if (typeof widget.callback === "function") widget.callback(widget.value);
  return true;
}

/**
 * Places a library model dropped at `pos` (canvas.js's full drop): an embedding goes into the prompt under
 * the pointer; an existing loader under the pointer takes the model; else a new loader: ours for
 * checkpoints, LoRAs and VAEs, ComfyUI's own for the other types (with the name the host lists the model
 * under), Library Model Path otherwise. Each node gets a `properties.models` entry with the SHA-256.
 * @param {any} graph @param {any} LiteGraph @param {DraggedModel} model @param {number[]} pos
 * @param {(id: string) => Promise<ModelDetail>} getDetail  GET /models/{id}
 * @returns {Promise<{node: GraphNode | null, reason?: string}>}
 */
export async function placeModel(graph, LiteGraph, model, pos, getDetail) {
  /** @type {ModelDetail | null} */
  let detail = null;
  try {
    detail = await getDetail(model.id);
  } catch {
    detail = null; // placed by id and label alone; the hash entry waits for the next drop
  }
  const names = detail?.comfyui_names || [];
  const under = typeof graph.getNodeOnPos === "function" ? graph.getNodeOnPos(pos[0], pos[1]) : null;
  if (model.type === "embedding") {
    const placed = insertEmbedding(under, namesIn(names, ["embeddings"]), model);
    graph.setDirtyCanvas?.(true, true);
    return placed ? { node: under } : { node: null, reason: "Drop an embedding onto a prompt (a text encode node)." };
  }
  const withNames = { ...model, files: [...(model.files || []), ...names.map((n) => n.name)] };
  if (under && setModelOnNode(under, withNames)) {
    const first = names[0];
    if (first) setModelsEntry(under, modelsEntry(detail, first.category, first.name));
    graph.setDirtyCanvas?.(true, true);
    return { node: under };
  }
  const core = coreLoaderFor(model, LiteGraph.registered_node_types || {});
  const coreName = core ? namesIn(names, core.categories)[0] : undefined;
  if (core && coreName) {
    const node = LiteGraph.createNode(core.node);
    if (node && setCoreWidget(node, core.widget, coreName)) {
      node.pos = freePosition(graph, node, pos, Number(LiteGraph.NODE_TITLE_HEIGHT) || 30);
      graph.add(node);
      const category = names.find((n) => n.name === coreName && core.categories.includes(n.category))?.category;
      setModelsEntry(node, modelsEntry(detail, category || core.categories[0], coreName));
      graph.setDirtyCanvas?.(true, true);
      return { node };
    }
  }
  const words = model.trigger_words || /** @type {any} */ (detail)?.trigger_words;
  const { node } = addToGraph(graph, LiteGraph, { ...model, trigger_words: words }, pos);
  const first = names[0];
  if (node && first) setModelsEntry(node, modelsEntry(detail, first.category, first.name));
  return node ? { node } : { node: null, reason: `No loader node for ${model.type} models is installed.` };
}

/**
 * @typedef {{node: GraphNode | null, wiredTo: string[], promptUpdated: boolean}} AddResult
 *   `wiredTo`: the inputs the node now feeds, as `Type#id.input` (`KSampler#3.model`)
 * @typedef {{id: string, name: string, type: string, files?: (string | {path: string})[],
 *            hashes?: {blake3?: string | null, sha256?: string | null}, blake3?: string, sha256?: string,
 *            trigger_words?: string[], default_strength?: number | null}} WorkflowModel
 *   the API's model JSON (or a drag's payload)
 */

/**
 * "Add to workflow": the library loader for `model`, wired into the open graph. A LoRA goes into the MODEL
 * (and CLIP) chain after the last LoRA or the loader, every consumer re-linked to it, its trigger words
 * appended to the positive prompt (the model-only loader when the chain has no CLIP); a checkpoint sets
 * the library checkpoint loader's model, replaces another checkpoint loader (taking over its links), or
 * feeds the unconnected MODEL/CLIP/VAE inputs; a VAE feeds the VAE decoders and encoders; anything else
 * is placed beside the graph. The node never lands on another node. One undo step.
 * @param {any} app  ComfyUI's app (its graph and canvas)
 * @param {any} LiteGraph
 * @param {WorkflowModel} model
 * @returns {AddResult}
 */
export function addModelToWorkflow(app, LiteGraph, model) {
  const graph = app?.canvas?.graph ?? app?.graph;
  if (!graph) return { node: null, wiredTo: [], promptUpdated: false };
  const result = addToGraph(graph, LiteGraph, model);
  app.canvas?.setDirty?.(true, true);
  return result;
}

/**
 * addModelToWorkflow on `graph`; `pos` (a drop) is where the node goes when free, else beside the chain.
 * @param {any} graph @param {any} LiteGraph @param {WorkflowModel} model @param {number[]} [pos]
 * @returns {AddResult}
 */
export function addToGraph(graph, LiteGraph, model, pos) {
  const dragged = asDragged(model);
  const titleHeight = Number(LiteGraph?.NODE_TITLE_HEIGHT) || 30;
  const ctx = { graph, LiteGraph, model: dragged, pos, titleHeight };
  graph.beforeChange?.();
  try {
    if (model.type === "lora") return addLora(ctx);
    if (model.type === "checkpoint") return addCheckpoint(ctx);
    if (model.type === "vae") return addVae(ctx);
    return { node: newNode(ctx, loaderNodeName(model.type), besideGraph(ctx)), wiredTo: [], promptUpdated: false };
  } finally {
    graph.afterChange?.();
    graph.setDirtyCanvas?.(true, true);
  }
}

/**
 * @typedef {{graph: any, LiteGraph: any, model: DraggedModel, pos?: number[], titleHeight: number}} AddContext
 */

/** The API's model JSON as a drag payload (file paths as strings, the hashes at the top). @param {WorkflowModel} model */
function asDragged(model) {
  /** @type {DraggedModel} */
  const dragged = {
    id: model.id,
    name: model.name,
    type: model.type,
    files: (model.files || []).map((f) => (typeof f === "string" ? f : f.path)),
    trigger_words: Array.isArray(model.trigger_words) ? model.trigger_words : [],
  };
  if (typeof model.default_strength === "number" && Number.isFinite(model.default_strength)) {
    dragged.default_strength = model.default_strength;
  }
  const blake3 = model.blake3 || model.hashes?.blake3;
  const sha256 = model.sha256 || model.hashes?.sha256;
  if (blake3) dragged.blake3 = blake3;
  if (sha256) dragged.sha256 = sha256;
  return dragged;
}

/**
 * A node of `name` (a class or display name) with the model set, added at the first free place from
 * `start` (the drop position when there is one); null when the host has no such node.
 * @param {AddContext} ctx @param {string} name @param {number[]} start
 */
function newNode(ctx, name, start) {
  const node = /** @type {any} */ (createNodeByName(ctx.LiteGraph, name));
  if (!node) return null;
  node.pos = freePosition(ctx.graph, node, ctx.pos || start, ctx.titleHeight);
  ctx.graph.add(node);
  setModelOnNode(node, ctx.model);
  setStrength(node, ctx.model.default_strength);
  return node;
}

/**
 * A LoRA loader's strengths set to the user's default strength for this LoRA (when one is set).
 * @param {any} node @param {number | null | undefined} strength
 */
function setStrength(node, strength) {
  if (typeof strength !== "number" || !Number.isFinite(strength)) return;
  for (const widget of node.widgets || []) {
    if (widget.name === "strength_model" || widget.name === "strength_clip") widget.value = strength;
  }
}

/** Below `anchor`, a gap under its bottom edge. @param {AddContext} ctx @param {any} anchor */
function below(ctx, anchor) {
  return [anchor.pos[0], anchor.pos[1] + (anchor.size?.[1] || 0) + ctx.titleHeight + GAP];
}

/** Below the whole graph, at its left edge. @param {AddContext} ctx */
function besideGraph(ctx) {
  const box = graphBox(ctx.graph, ctx.titleHeight);
  return box ? [box[0], box[1] + box[3] + ctx.titleHeight + GAP] : [100, 100];
}

/** @param {AddContext} ctx @returns {AddResult} */
function addLora(ctx) {
  const after = insertionPoint(modelChain(ctx.graph));
  const withClip = !after || slotOfType(after.outputs, "CLIP") >= 0;
  const name = withClip ? "LibraryLoraLoader" : "LibraryLoraLoaderModelOnly";
  const node = newNode(ctx, name, after ? below(ctx, after) : besideGraph(ctx));
  if (!node) return { node: null, wiredTo: [], promptUpdated: false };
  const wiredTo = after ? spliceAfter(ctx.graph, after, node, withClip ? ["MODEL", "CLIP"] : ["MODEL"]) : [];
  let promptUpdated = false;
  const prompt = positivePrompt(ctx.graph);
  const widget = prompt ? textWidget(prompt) : undefined;
  if (widget && ctx.model.trigger_words?.length) {
    const text = appendWords(widget.value, ctx.model.trigger_words);
    if (text !== widget.value) {
      widget.value = text;
      widget.callback?.(text);
      promptUpdated = true;
    }
  }
  return { node, wiredTo, promptUpdated };
}

/** @param {AddContext} ctx @returns {AddResult} */
function addCheckpoint(ctx) {
  const chain = modelChain(ctx.graph);
  const existing = [chain[0], ...nodesOf(ctx.graph)].find((n) => n && isCheckpointLoader(n));
  if (existing && libraryNodeClass(existing) === "LibraryCheckpointLoader") {
    setModelOnNode(existing, ctx.model);
    return { node: existing, wiredTo: [], promptUpdated: false };
  }
  if (existing) {
    // Another checkpoint loader (ComfyUI's own): ours takes its place and its links, found by hash.
    const node = /** @type {any} */ (createNodeByName(ctx.LiteGraph, "LibraryCheckpointLoader"));
    if (!node) return { node: null, wiredTo: [], promptUpdated: false };
    node.pos = [existing.pos[0], existing.pos[1]];
    ctx.graph.add(node);
    setModelOnNode(node, ctx.model);
    const wiredTo = takeOverOutputs(ctx.graph, existing, node);
    ctx.graph.remove?.(existing);
    node.pos = freePosition(ctx.graph, node, node.pos, ctx.titleHeight);
    return { node, wiredTo, promptUpdated: false };
  }
  const node = newNode(ctx, "LibraryCheckpointLoader", besideGraph(ctx));
  return { node, wiredTo: node ? feedUnconnected(ctx.graph, node) : [], promptUpdated: false };
}

/** @param {AddContext} ctx @returns {AddResult} */
function addVae(ctx) {
  const existing = nodesOf(ctx.graph).find((n) => libraryNodeClass(/** @type {any} */ (n)) === "LibraryVAELoader");
  if (existing) {
    setModelOnNode(/** @type {any} */ (existing), ctx.model);
    return { node: /** @type {any} */ (existing), wiredTo: [], promptUpdated: false };
  }
  const coders = nodesOf(ctx.graph).filter((n) => /^VAE(Decode|Encode)/.test(String(n.comfyClass || n.type || "")));
  const first = coders.find((n) => slotOfType(n.inputs, "VAE") >= 0);
  const source = first ? upstream(ctx.graph, first, slotOfType(first.inputs, "VAE"))?.node : undefined;
  const node = /** @type {any} */ (newNode(ctx, "LibraryVAELoader", source ? below(ctx, source) : besideGraph(ctx)));
  if (!node) return { node: null, wiredTo: [], promptUpdated: false };
  /** @type {string[]} */
  const wiredTo = [];
  for (const coder of coders) {
    const slot = slotOfType(coder.inputs, "VAE");
    if (slot < 0) continue;
    node.connect?.(0, coder, slot);
    wiredTo.push(`${coder.comfyClass || coder.type}#${coder.id}.${coder.inputs?.[slot]?.name ?? slot}`);
  }
  return { node, wiredTo, promptUpdated: false };
}

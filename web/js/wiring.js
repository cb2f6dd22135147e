// Graph surgery for "Add to workflow": find the sampler's MODEL chain and its positive prompt, splice a node
// into a chain (its consumers re-linked to the new node's outputs), and find a free place for a node.
// Pure functions over LiteGraph objects (graph, nodes, links) found by slot TYPE, never by title; no side
// effects at import and no ComfyUI imports.

/**
 * @typedef {{name?: string, type?: string | number, link?: number | null}} InputSlot
 * @typedef {{name?: string, type?: string | number, links?: number[] | null}} OutputSlot
 * @typedef {{id: number | string, type?: string, comfyClass?: string, title?: string, pos: number[],
 *            size: number[], inputs?: InputSlot[], outputs?: OutputSlot[],
 *            widgets?: {name: string, value: any, callback?: (v: any) => unknown}[],
 *            connect?: (slot: number, target: any, targetSlot: number) => unknown}} WireNode
 * @typedef {{origin_id: number | string, origin_slot: number, target_id: number | string, target_slot: number}} WireLink
 * @typedef {{node: WireNode, slot: number}} SlotRef
 */

/** Gap between a placed node and its neighbours, in graph units. */
export const GAP = 30;
const MAX_HOPS = 64;
/** Legacy reroute nodes: one input, passed through to one output. */
const REROUTES = new Set(["Reroute", "RerouteNode", "Reroute (rgthree)"]);

/** @param {any} graph @returns {WireNode[]} */
export function nodesOf(graph) {
  return [...(graph?._nodes || graph?.nodes || [])];
}

/** @param {WireNode} node */
export function nodeType(node) {
  return String(node.comfyClass || node.type || "");
}

/** @param {any} graph @param {number | string | null | undefined} id @returns {WireLink | undefined} */
export function linkOf(graph, id) {
  if (id === null || id === undefined) return undefined;
  if (typeof graph.getLink === "function") {
    const found = graph.getLink(id);
    if (found) return found;
  }
  const links = graph.links;
  if (!links) return undefined;
  return typeof links.get === "function" ? links.get(id) : links[id];
}

/** @param {any} graph @param {number | string} id @returns {WireNode | undefined} */
function nodeById(graph, id) {
  return graph.getNodeById?.(id) ?? nodesOf(graph).find((n) => n.id === id);
}

/**
 * Index of the first slot of `type` in `slots` (`"*"` slots are not taken), -1 when none.
 * @param {(InputSlot | OutputSlot)[] | undefined} slots @param {string} type
 */
export function slotOfType(slots, type) {
  return (slots || []).findIndex((s) => String(s.type) === type);
}

/** @param {InputSlot[] | undefined} slots @param {string} name */
function slotNamed(slots, name) {
  return (slots || []).findIndex((s) => s.name === name);
}

/**
 * The output feeding input `slot` of `node`, through reroute nodes; undefined when unconnected.
 * @param {any} graph @param {WireNode} node @param {number} slot @returns {SlotRef | undefined}
 */
export function upstream(graph, node, slot) {
  let current = node;
  let index = slot;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const link = linkOf(graph, current.inputs?.[index]?.link);
    const origin = link ? nodeById(graph, link.origin_id) : undefined;
    if (!link || !origin) return undefined;
    if (!REROUTES.has(nodeType(origin))) return { node: origin, slot: link.origin_slot };
    current = origin;
    index = 0;
  }
  return undefined;
}

/**
 * The inputs an output feeds directly (a reroute is a consumer like any node).
 * @param {any} graph @param {WireNode} node @param {number} slot @returns {SlotRef[]}
 */
export function consumers(graph, node, slot) {
  /** @type {SlotRef[]} */
  const found = [];
  for (const id of [...(node.outputs?.[slot]?.links || [])]) {
    const link = linkOf(graph, id);
    const target = link ? nodeById(graph, link.target_id) : undefined;
    if (link && target) found.push({ node: target, slot: link.target_slot });
  }
  return found;
}

/** A LoRA loader of any pack: "lora" in its type, a MODEL input and a MODEL output. @param {WireNode} node */
export function isLoraLoader(node) {
  return /lora/i.test(nodeType(node)) && slotOfType(node.inputs, "MODEL") >= 0 && slotOfType(node.outputs, "MODEL") >= 0;
}

/**
 * The node sampling with the conditioning: a MODEL input next to a `positive` (KSampler, KSamplerAdvanced,
 * SamplerCustom, CFGGuider, ...) or `conditioning` (BasicGuider) CONDITIONING input. Connected ones first.
 * @param {any} graph @returns {WireNode | undefined}
 */
export function findSampler(graph) {
  const candidates = nodesOf(graph).filter((n) => slotOfType(n.inputs, "MODEL") >= 0 && conditioningSlot(n) >= 0);
  return candidates.find((n) => n.inputs?.[slotOfType(n.inputs, "MODEL")]?.link != null) || candidates[0];
}

/** @param {WireNode} node */
function conditioningSlot(node) {
  for (const name of ["positive", "conditioning"]) {
    const i = slotNamed(node.inputs, name);
    if (i >= 0 && String(node.inputs?.[i]?.type) === "CONDITIONING") return i;
  }
  return -1;
}

/**
 * The text node of the positive prompt: upstream of the sampler's `positive` (or a guider's `conditioning`),
 * through nodes that pass conditioning on (FluxGuidance, reroutes), the first node with a string `text`
 * widget. Undefined when none is found.
 * @param {any} graph @returns {WireNode | undefined}
 */
export function positivePrompt(graph) {
  const samplers = nodesOf(graph).filter((n) => conditioningSlot(n) >= 0);
  for (const sampler of samplers) {
    let ref = upstream(graph, sampler, conditioningSlot(sampler));
    for (let hop = 0; ref && hop < MAX_HOPS; hop++) {
      if (textWidget(ref.node)) return ref.node;
      const next = slotOfType(ref.node.inputs, "CONDITIONING");
      ref = next >= 0 ? upstream(graph, ref.node, next) : undefined;
    }
  }
  return undefined;
}

/** @param {WireNode} node */
export function textWidget(node) {
  return (node.widgets || []).find((w) => w.name === "text" && typeof w.value === "string");
}

/** A node that loads a model from nothing: MODEL output, no MODEL input. @param {WireNode} node */
function isModelSource(node) {
  return slotOfType(node.outputs, "MODEL") >= 0 && slotOfType(node.inputs, "MODEL") < 0;
}

/** A checkpoint loader: MODEL, CLIP and VAE outputs, no MODEL input. @param {WireNode} node */
export function isCheckpointLoader(node) {
  return isModelSource(node) && slotOfType(node.outputs, "CLIP") >= 0 && slotOfType(node.outputs, "VAE") >= 0;
}

/**
 * The MODEL chain, loader first: from the sampler's `model` input up through LoRA loaders (and any node
 * passing MODEL on) to the loader. Without a sampler: a loader of the graph and the LoRA loaders after it.
 * Empty when the graph has no model loader.
 * @param {any} graph @returns {WireNode[]}
 */
export function modelChain(graph) {
  const sampler = findSampler(graph);
  if (sampler) {
    /** @type {WireNode[]} */
    const chain = [];
    let ref = upstream(graph, sampler, slotOfType(sampler.inputs, "MODEL"));
    while (ref && chain.length < MAX_HOPS && !chain.includes(ref.node)) {
      chain.unshift(ref.node);
      const next = slotOfType(ref.node.inputs, "MODEL");
      ref = next >= 0 ? upstream(graph, ref.node, next) : undefined;
    }
    if (chain.length) return chain;
  }
  const loader = nodesOf(graph).find(isCheckpointLoader) || nodesOf(graph).find(isModelSource);
  if (!loader) return [];
  const chain = [loader];
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const last = chain[chain.length - 1];
    const next = consumers(graph, last, slotOfType(last.outputs, "MODEL")).find((c) => isLoraLoader(c.node));
    if (!next || chain.includes(next.node)) break;
    chain.push(next.node);
  }
  return chain;
}

/**
 * Where a LoRA goes in `chain`: after its last LoRA loader, else after its loader.
 * @param {WireNode[]} chain @returns {WireNode | undefined}
 */
export function insertionPoint(chain) {
  const loras = chain.filter(isLoraLoader);
  return loras.length ? loras[loras.length - 1] : chain[0];
}

/**
 * Puts `node` after `from` for each socket type in `types`: the inputs `from`'s output of that type fed
 * now take `node`'s output of that type, and `node`'s input of that type takes `from`'s output. Returns
 * the inputs now fed by `node`, as `Type#id.input` strings.
 * @param {any} graph @param {WireNode} from @param {WireNode} node @param {string[]} types
 * @returns {string[]}
 */
export function spliceAfter(graph, from, node, types) {
  /** @type {string[]} */
  const wired = [];
  for (const type of types) {
    const out = slotOfType(from.outputs, type);
    const input = slotOfType(node.inputs, type);
    const newOut = slotOfType(node.outputs, type);
    if (out < 0 || input < 0 || newOut < 0) continue;
    for (const target of consumers(graph, from, out)) {
      if (target.node === node) continue;
      node.connect?.(newOut, target.node, target.slot);
      wired.push(slotLabel(target));
    }
    from.connect?.(out, node, input);
  }
  return wired;
}

/**
 * Takes over every output link of `old` with `node`'s output of the same type (a loader replacing
 * another). Returns the inputs now fed by `node`.
 * @param {any} graph @param {WireNode} old @param {WireNode} node @returns {string[]}
 */
export function takeOverOutputs(graph, old, node) {
  /** @type {string[]} */
  const wired = [];
  (old.outputs || []).forEach((output, slot) => {
    const newOut = slotOfType(node.outputs, String(output.type));
    if (newOut < 0) return;
    for (const target of consumers(graph, old, slot)) {
      node.connect?.(newOut, target.node, target.slot);
      wired.push(slotLabel(target));
    }
  });
  return wired;
}

/**
 * Connects each output of `node` to every unconnected input of its type among `targets` (default: every
 * other node of the graph). Returns the inputs now fed.
 * @param {any} graph @param {WireNode} node @param {WireNode[]} [targets] @returns {string[]}
 */
export function feedUnconnected(graph, node, targets) {
  /** @type {string[]} */
  const wired = [];
  (node.outputs || []).forEach((output, slot) => {
    const type = String(output.type);
    if (type === "*") return;
    for (const target of targets || nodesOf(graph)) {
      if (target === node) continue;
      (target.inputs || []).forEach((input, i) => {
        if (String(input.type) !== type || input.link != null) return;
        node.connect?.(slot, target, i);
        wired.push(slotLabel({ node: target, slot: i }));
      });
    }
  });
  return wired;
}

/** @param {SlotRef} ref */
function slotLabel(ref) {
  return `${nodeType(ref.node)}#${ref.node.id}.${ref.node.inputs?.[ref.slot]?.name ?? ref.slot}`;
}

/**
 * `text` with `words` appended (", w1, w2"), leaving out words it already holds (case-insensitive, whole
 * words). The same text when there is nothing to add.
 * @param {string} text @param {string[]} words
 */
export function appendWords(text, words) {
  const base = text.replace(/[\s,]+$/, "");
  const has = (/** @type {string} */ w) =>
    new RegExp(`(^|[^\\p{L}\\p{N}_])${w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^\\p{L}\\p{N}_])`, "iu").test(base);
  /** @type {string[]} */
  const added = [];
  for (const raw of words) {
    const word = String(raw).trim();
    if (word && !has(word) && !added.some((a) => a.toLowerCase() === word.toLowerCase())) added.push(word);
  }
  if (!added.length) return text;
  return base ? `${base}, ${added.join(", ")}` : added.join(", ");
}

/**
 * The box a node covers on the canvas, title bar included: [x, y, width, height].
 * @param {WireNode} node @param {number} titleHeight
 */
export function boxOf(node, titleHeight) {
  const [w, h] = node.size || [0, 0];
  return [node.pos[0], node.pos[1] - titleHeight, w, h + titleHeight];
}

/** @param {number[]} a @param {number[]} b */
export function overlaps(a, b) {
  return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
}

/**
 * The first position from `start` down (then right, one column at a time) where `node`, with a GAP
 * around it, overlaps no other node of the graph.
 * @param {any} graph @param {WireNode} node @param {number[]} start @param {number} titleHeight
 * @returns {number[]}
 */
export function freePosition(graph, node, start, titleHeight) {
  const others = nodesOf(graph).filter((n) => n !== node);
  const [w, h] = node.size || [0, 0];
  let [x, y] = start;
  for (let column = 0; column < 50; column++) {
    for (let step = 0; step < 200; step++) {
      const box = [x - GAP / 2, y - titleHeight - GAP / 2, w + GAP, h + titleHeight + GAP];
      const hit = others.find((o) => overlaps(box, boxOf(o, titleHeight)));
      if (!hit) return [x, y];
      y = hit.pos[1] + (hit.size?.[1] || 0) + titleHeight + GAP;
    }
    [x, y] = [x + w + GAP, start[1]];
  }
  return [x, y];
}

/**
 * The box around every node of the graph ([x, y, width, height]), or null for an empty graph.
 * @param {any} graph @param {number} titleHeight
 */
export function graphBox(graph, titleHeight) {
  const boxes = nodesOf(graph).map((n) => boxOf(n, titleHeight));
  if (!boxes.length) return null;
  const left = Math.min(...boxes.map((b) => b[0]));
  const top = Math.min(...boxes.map((b) => b[1]));
  const right = Math.max(...boxes.map((b) => b[0] + b[2]));
  const bottom = Math.max(...boxes.map((b) => b[1] + b[3]));
  return [left, top, right - left, bottom - top];
}

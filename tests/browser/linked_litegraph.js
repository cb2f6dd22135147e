// A LiteGraph stand-in with real links for tests/browser/test_canvas.py (read as text and evaluated inside
// the test's async function; not a module).
  const SPECS = {
    CheckpointLoaderSimple: { out: [["MODEL", "MODEL"], ["CLIP", "CLIP"], ["VAE", "VAE"]], size: [315, 98],
      widgets: [{ name: "ckpt_name", type: "combo", value: "v1-5.safetensors", options: { values: ["v1-5.safetensors"] } }] },
    UNETLoader: { out: [["MODEL", "MODEL"]], size: [315, 82] },
    DualCLIPLoader: { out: [["CLIP", "CLIP"]], size: [315, 106] },
    CLIPTextEncode: { in: [["clip", "CLIP"]], out: [["CONDITIONING", "CONDITIONING"]], size: [400, 200],
      widgets: [{ name: "text", type: "customtext", value: "" }] },
    FluxGuidance: { in: [["conditioning", "CONDITIONING"]], out: [["CONDITIONING", "CONDITIONING"]], size: [300, 60] },
    KSampler: { in: [["model", "MODEL"], ["positive", "CONDITIONING"], ["negative", "CONDITIONING"],
      ["latent_image", "LATENT"]], out: [["LATENT", "LATENT"]], size: [315, 262] },
    EmptyLatentImage: { out: [["LATENT", "LATENT"]], size: [315, 106] },
    VAEDecode: { in: [["samples", "LATENT"], ["vae", "VAE"]], out: [["IMAGE", "IMAGE"]], size: [210, 46] },
    SaveImage: { in: [["images", "IMAGE"]], size: [210, 270] },
    LoraLoader: { in: [["model", "MODEL"], ["clip", "CLIP"]], out: [["MODEL", "MODEL"], ["CLIP", "CLIP"]], size: [315, 126] },
    LibraryCheckpointLoader: { out: [["MODEL", "MODEL"], ["CLIP", "CLIP"], ["VAE", "VAE"]], size: [315, 82], lib: "checkpoint" },
    LibraryLoraLoader: { in: [["model", "MODEL"], ["clip", "CLIP"]],
      out: [["MODEL", "MODEL"], ["CLIP", "CLIP"], ["trigger_words", "STRING"]], size: [315, 130], lib: "lora",
      widgets: [{ name: "strength_model", type: "number", value: 1 }, { name: "strength_clip", type: "number", value: 1 }] },
    LibraryLoraLoaderModelOnly: { in: [["model", "MODEL"]], out: [["MODEL", "MODEL"], ["trigger_words", "STRING"]],
      size: [315, 106], lib: "lora", widgets: [{ name: "strength_model", type: "number", value: 1 }] },
    LibraryVAELoader: { out: [["VAE", "VAE"]], size: [315, 82], lib: "vae" },
    LibraryModelPath: { out: [["name", "*"], ["full_path", "STRING"]], size: [315, 82], lib: "model" },
  };
  class Node {
    constructor(type) {
      const spec = SPECS[type];
      this.type = type; this.comfyClass = type; this.title = type; this.pos = [10, 10]; this.size = [...spec.size];
      this.inputs = (spec.in || []).map(([name, t]) => ({ name, type: t, link: null }));
      this.outputs = (spec.out || []).map(([name, t]) => ({ name, type: t, links: [] }));
      const own = (spec.widgets || []).map((w) => ({ ...w, options: w.options && { values: [...w.options.values] } }));
      // As ComfyUI lays our nodes out: the model's list first, its own widgets, then model_ref.
      this.widgets = spec.lib
        ? [{ name: spec.lib, type: "combo", value: "", options: { values: [] } }, ...own, { name: "model_ref", type: "text", value: "" }]
        : own;
    }
    connect(slot, target, targetSlot) { return this.graph.connect(this, slot, target, targetSlot); }
  }
  class Graph {
    constructor() { this._nodes = []; this.links = new Map(); this.lastLink = 0; this.lastNode = 0; this.changes = []; }
    add(node) { node.id = ++this.lastNode; node.graph = this; this._nodes.push(node); return node; }
    getNodeById(id) { return this._nodes.find((n) => n.id === id) || null; }
    connect(origin, slot, target, targetSlot) {
      const from = origin.outputs[slot], to = target.inputs[targetSlot];
      if (!this._nodes.includes(origin) || !this._nodes.includes(target)) throw new Error("node not in graph");
      if (from.type !== to.type && from.type !== "*" && to.type !== "*") throw new Error(`${from.type} -> ${to.type}`);
      if (to.link != null) this.unlink(to.link);
      const id = ++this.lastLink;
      const link = { id, origin_id: origin.id, origin_slot: slot, target_id: target.id, target_slot: targetSlot, type: from.type };
      this.links.set(id, link); to.link = id; from.links.push(id);
      return link;
    }
    unlink(id) {
      const l = this.links.get(id), o = this.getNodeById(l.origin_id), t = this.getNodeById(l.target_id);
      o.outputs[l.origin_slot].links = o.outputs[l.origin_slot].links.filter((x) => x !== id);
      t.inputs[l.target_slot].link = null; this.links.delete(id);
    }
    remove(node) {
      for (const i of node.inputs) if (i.link != null) this.unlink(i.link);
      for (const o of node.outputs) for (const id of [...o.links]) this.unlink(id);
      this._nodes = this._nodes.filter((n) => n !== node);
    }
    beforeChange() { this.changes.push("before"); }
    afterChange() { this.changes.push("after"); }
    getNodeOnPos() { return null; }
  }
  const LiteGraph = { NODE_TITLE_HEIGHT: 30, registered_node_types: SPECS,
                      createNode: (type) => SPECS[type] ? new Node(type) : null };
  const at = (graph, type, pos) => { const n = graph.add(new Node(type)); n.pos = pos; return n; };
  // ComfyUI's default workflow, with its positions and links.
  const defaultGraph = () => {
    const g = new Graph();
    const ckpt = at(g, "CheckpointLoaderSimple", [26, 474]);
    const pos = at(g, "CLIPTextEncode", [415, 186]), neg = at(g, "CLIPTextEncode", [413, 389]);
    pos.size = [422, 164]; neg.size = [425, 180];
    pos.widgets[0].value = "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,";
    neg.widgets[0].value = "text, watermark";
    const latent = at(g, "EmptyLatentImage", [473, 609]), sampler = at(g, "KSampler", [863, 186]);
    const decode = at(g, "VAEDecode", [1209, 188]), save = at(g, "SaveImage", [1451, 189]);
    ckpt.connect(0, sampler, 0); ckpt.connect(1, pos, 0); ckpt.connect(1, neg, 0); ckpt.connect(2, decode, 1);
    pos.connect(0, sampler, 1); neg.connect(0, sampler, 2); latent.connect(0, sampler, 3);
    sampler.connect(0, decode, 0); decode.connect(0, save, 0);
    return { g, ckpt, pos, neg, sampler, decode };
  };
  const wires = (g) => [...g.links.values()].map((l) => {
    const o = g.getNodeById(l.origin_id), t = g.getNodeById(l.target_id);
    return `${o.type}#${o.id}.${o.outputs[l.origin_slot].name} -> ${t.type}#${t.id}.${t.inputs[l.target_slot].name}`;
  }).sort();
  const overlapping = (g) => {
    const box = (n) => [n.pos[0], n.pos[1] - 30, n.size[0], n.size[1] + 30];
    const hits = [];
    for (const a of g._nodes) for (const b of g._nodes) {
      if (a.id >= b.id) continue;
      const [p, q] = [box(a), box(b)];
      if (p[0] < q[0] + q[2] && q[0] < p[0] + p[2] && p[1] < q[1] + q[3] && q[1] < p[1] + p[3]) hits.push([a.type, b.type]);
    }
    return hits;
  };
  const app = (g) => ({ graph: g, canvas: { graph: g, setDirty() {} } });

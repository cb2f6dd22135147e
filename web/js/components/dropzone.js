// Drop-to-import: files and folders dropped on the panel (or on the canvas, when they are model files) are
// uploaded resumably with per-file progress, grouped (sharded sets, folders) and then shown in the import
// dialog.

import { h } from "../dom.js";
import { errorText, groupShards, isModelFileName } from "../format.js";
import { uploadFile } from "../upload.js";

/** Groups of a drop uploaded at once (each holds one unfinished upload on the server at a time). */
const UPLOAD_GROUPS_AT_ONCE = 4;

/**
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {import("../api.js").Job} Job
 * @typedef {{file: File, name: string}} DroppedFile  name: the path relative to the drop (folder/file)
 * @typedef {{api: LibraryApi, jobs: import("./jobs.js").JobsView,
 *            toast: (m: import("./toast.js").ToastMessage) => void,
 *            onImported: (jobs: Job[], label: string) => void, chunkSize?: number,
 *            onWorkflowFile?: (file: File) => void}} DropContext
 *   onWorkflowFile: a dropped workflow (.json, or an image ComfyUI saved) is checked, not imported.
 */

/** @param {FileSystemEntry} entry @param {string} prefix @param {DroppedFile[]} out */
async function walk(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => /** @type {FileSystemFileEntry} */ (entry).file(resolve, reject));
    out.push({ file: /** @type {File} */ (file), name: prefix + entry.name });
  } else if (entry.isDirectory) {
    const reader = /** @type {FileSystemDirectoryEntry} */ (entry).createReader();
    for (;;) {
      /** @type {FileSystemEntry[]} */
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
    }
  }
}

/**
 * The files of a drop, folders walked (webkitGetAsEntry) when the browser allows it.
 * @param {DataTransfer} dt
 * @returns {Promise<DroppedFile[]>}
 */
export async function filesOfDrop(dt) {
  /** @type {DroppedFile[]} */
  const out = [];
  const entries = [...(dt.items || [])]
    .filter((item) => item.kind === "file")
    .map((item) => (typeof item.webkitGetAsEntry === "function" ? item.webkitGetAsEntry() : null));
  if (entries.length && entries.every(Boolean)) {
    for (const entry of entries) if (entry) await walk(entry, "", out);
    if (out.length) return out;
  }
  for (const file of [...(dt.files || [])]) out.push({ file, name: file.name });
  return out;
}

/** A file that may carry a workflow: JSON, or an image (ComfyUI saves its workflow in PNG and WebP). */
export function isWorkflowFileName(/** @type {string} */ name) {
  return /\.(json|png|webp)$/i.test(name) && !isModelFileName(name);
}

/** @param {DataTransfer | null} dt */
export function hasFiles(dt) {
  return !!dt && [...(dt.types || [])].includes("Files");
}

/** @param {DataTransfer | null} dt  Whether every file of a drop is a model file (canvas drops). */
export function isModelDrop(dt) {
  if (!dt || !hasFiles(dt)) return false;
  const files = [...(dt.files || [])];
  return files.length > 0 && files.every((f) => isModelFileName(f.name));
}

function randomId() {
  return typeof crypto !== "undefined" && "randomUUID" in crypto ? crypto.randomUUID() : `g${Date.now()}${Math.random().toString(16).slice(2)}`;
}

export class DropZone {
  /** @param {DropContext} ctx @param {HTMLElement} target */
  constructor(ctx, target) {
    this.ctx = ctx;
    this.overlay = h("div", { className: "mlib-drop-overlay", hidden: true }, [h("div", { text: "Drop model files to import them" })]);
    target.appendChild(this.overlay);
    let depth = 0;
    target.addEventListener("dragenter", (event) => {
      if (!hasFiles(event.dataTransfer)) return;
      depth += 1;
      this.overlay.hidden = false;
    });
    target.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) this.overlay.hidden = true;
    });
    target.addEventListener("dragover", (event) => {
      if (!hasFiles(event.dataTransfer)) return;
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    });
    target.addEventListener("drop", (event) => {
      depth = 0;
      this.overlay.hidden = true;
      if (!event.dataTransfer || !hasFiles(event.dataTransfer)) return;
      event.preventDefault();
      event.stopPropagation();
      void this.handleDrop(event.dataTransfer);
    });
  }

  /** @param {DataTransfer} dt */
  async handleDrop(dt) {
    try {
      const files = await filesOfDrop(dt);
      const workflows = this.ctx.onWorkflowFile ? files.filter((f) => isWorkflowFileName(f.name)) : [];
      for (const item of workflows) this.ctx.onWorkflowFile?.(item.file);
      await this.importFiles(files.filter((f) => !workflows.includes(f)));
    } catch (error) {
      this.ctx.toast({ severity: "error", summary: "Drop failed", detail: errorText(error) });
    }
  }

  /** Uploads the groups, 4 at a time (the files of a group one after another). */
  /** @param {DroppedFile[]} files */
  async importFiles(files) {
    if (!files.length) return;
    const groups = groupShards(files);
    // A loose sharded set's index (`model.safetensors.index.json`) travels with its shards, as it does
    // when their folder is imported.
    for (const loose of groups) {
      if (!loose.key.startsWith("file:") || !loose.key.endsWith(".index.json")) continue;
      const set = groups.find((g) => g.key.startsWith(`shard:${loose.key.slice(5, -".index.json".length)}:`));
      if (set) set.files.push(...loose.files.splice(0));
    }
    // A few groups at a time: the server refuses a client's 17th unfinished upload (too_many_uploads),
    // and a drop may hold hundreds of loose files.
    const queue = groups.filter((g) => g.files.length);
    const worker = async () => {
      for (let group = queue.shift(); group; group = queue.shift()) await this.uploadGroup(group.label, group.files);
    };
    await Promise.all(Array.from({ length: Math.min(UPLOAD_GROUPS_AT_ONCE, queue.length) }, worker));
  }

  /**
   * The files of a group go to the server as one group: it imports them together (one job) when the
   * last one is in. If one fails, the ones already sent are discarded: alone they are a broken model.
   * @param {string} label @param {DroppedFile[]} files
   */
  async uploadGroup(label, files) {
    const group = files.length > 1 ? randomId() : undefined;
    /** @type {Job[]} */
    const started = [];
    /** @type {string[]} */
    const sent = [];
    for (const item of files) {
      const key = `upload:${randomId()}`;
      const controller = new AbortController();
      this.ctx.jobs.row(key, `Upload ${item.name}`, () => controller.abort());
      try {
        const { uploadId, job } = await uploadFile(this.ctx.api, item.file, {
          signal: controller.signal,
          chunkSize: this.ctx.chunkSize,
          relativePath: item.name !== item.file.name ? item.name : undefined,
          group,
          groupSize: files.length,
          onProgress: (sent, total) => this.ctx.jobs.progress(key, sent, total, "upload"),
        });
        this.ctx.jobs.finish(key, "done", "uploaded");
        sent.push(uploadId);
        if (job) started.push(job);
      } catch (error) {
        const cancelled = controller.signal.aborted;
        if (group) for (const id of sent) void this.ctx.api.discardUpload(id).catch(() => {});
        this.ctx.jobs.finish(key, cancelled ? "cancelled" : "failed", cancelled ? "cancelled" : errorText(error));
        if (!cancelled) this.ctx.toast({ severity: "error", summary: `Upload of ${item.name} failed`, detail: errorText(error) });
        return;
      }
    }
    const finished = await Promise.all(started.map((job) => this.ctx.jobs.track(job, `Import ${label}`)));
    this.ctx.onImported(finished, label);
  }
}

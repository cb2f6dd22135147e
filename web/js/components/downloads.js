// Downloads from the Hub (a repo id or a huggingface.co link, with a file picker) and imports of paths
// on the server (inside the import roots).

import { clear, h } from "../dom.js";
import { errorText, formatBytes, isModelFileName } from "../format.js";
import { openDialog } from "./dialog.js";
import { createPathPicker } from "./path_picker.js";
import { labelled } from "./detail.js";

/**
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {import("../api.js").Job} Job
 * @typedef {{api: LibraryApi, host: HTMLElement, jobs: import("./jobs.js").JobsView,
 *            toast: (m: import("./toast.js").ToastMessage) => void, onImported: (jobs: Job[], label: string) => void}} DownloadContext
 */

/**
 * A repo id, revision and file from what the user typed: `org/name`, or a huggingface.co link such as
 * `https://huggingface.co/org/name/blob/main/file.safetensors`. Returns null when it is neither.
 * @param {string} text
 * @returns {{repoId: string, revision?: string, filename?: string} | null}
 */
export function parseHubRef(text) {
  const value = text.trim();
  const idPattern = /^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/;
  if (idPattern.test(value)) return { repoId: value };
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" || (url.hostname !== "huggingface.co" && url.hostname !== "hf.co")) return null;
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length < 2) return null;
  const repoId = `${parts[0]}/${parts[1]}`;
  if (!idPattern.test(repoId)) return null;
  if ((parts[2] === "blob" || parts[2] === "resolve") && parts.length >= 5) {
    return { repoId, revision: parts[3], filename: parts.slice(4).join("/") };
  }
  if (parts[2] === "tree" && parts.length >= 4) return { repoId, revision: parts[3] };
  return { repoId };
}

/** @param {DownloadContext} ctx */
export function openDownloadDialog(ctx) {
  const ref = h("input", { type: "text", placeholder: "org/name or https://huggingface.co/…", attrs: { "data-testid": "hub-ref" } });
  const revision = h("input", { type: "text", placeholder: "main" });
  const list = h("div", { className: "mlib-file-picker", attrs: { "data-testid": "hub-files" } });
  /** @type {{repoId: string, revision?: string} | null} */
  let current = null;
  const find = async () => {
    clear(list);
    const parsed = parseHubRef(ref.value);
    if (!parsed) {
      list.appendChild(h("div", { className: "mlib-error", text: "Not a Hub repo id (org/name) or a huggingface.co link." }));
      return;
    }
    if (parsed.revision && !revision.value) revision.value = parsed.revision;
    current = { repoId: parsed.repoId, revision: revision.value.trim() || undefined };
    list.appendChild(h("div", { className: "mlib-muted", text: "Listing files…" }));
    try {
      const { files } = await ctx.api.hubRepoFiles(current.repoId, current.revision);
      clear(list);
      const models = (files || []).filter((f) => isModelFileName(f.path) || f.path.endsWith(".json"));
      if (!models.length) list.appendChild(h("div", { className: "mlib-muted", text: "No model files in this repository." }));
      for (const file of models) {
        const box = h("input", { type: "checkbox", value: file.path, checked: parsed.filename === file.path });
        list.appendChild(h("label", { className: "mlib-file-row" }, [box, h("span", { className: "mlib-mono", text: file.path }), ` ${formatBytes(file.size)}`]));
      }
    } catch (error) {
      clear(list);
      list.appendChild(h("div", { className: "mlib-error", text: errorText(error) }));
    }
  };
  openDialog(ctx.host, {
    title: "Download from the Hub",
    testId: "download-dialog",
    body: [
      labelled("Repository or link", ref),
      labelled("Revision", revision),
      h("button", { className: "mlib-btn", text: "List files", on: { click: () => void find() } }),
      list,
    ],
    actions: [
      { label: "Close" },
      {
        label: "Download selected",
        kind: "primary",
        onClick: async () => {
          if (!current) throw new Error("List the repository's files first, then tick the ones to download.");
          const picked = [...list.querySelectorAll("input[type=checkbox]")].filter((b) => /** @type {HTMLInputElement} */ (b).checked).map((b) => /** @type {HTMLInputElement} */ (b).value);
          if (!picked.length) throw new Error("Tick at least one file.");
          const repo = current;
          for (const filename of picked) {
            const { job } = await ctx.api.hubDownload(repo.repoId, filename, repo.revision);
            void ctx.jobs.track(job, `Download ${filename}`).then((final) => {
              if (final.state === "done") ctx.onImported([final], `${repo.repoId}/${filename}`);
              else if (final.state === "failed") ctx.toast({ severity: "error", summary: `Download of ${filename} failed`, detail: errorText(final.error?.message ?? final.error) });
            });
          }
        },
      },
    ],
  });
}

/** @param {DownloadContext} ctx */
export function openPathImportDialog(ctx) {
  const paths = h("textarea", { placeholder: "One path per line, inside the configured import roots", attrs: { "data-testid": "import-paths" } });
  const move = h("input", { type: "checkbox" });
  const picker = createPathPicker(ctx.api, (path) => {
    const have = paths.value.split("\n").map((p) => p.trim()).filter(Boolean);
    if (!have.includes(path)) paths.value = [...have, path].join("\n");
  });
  void picker.open(null);
  openDialog(ctx.host, {
    title: "Import from the server",
    body: [
      picker.element,
      labelled("Paths", paths),
      h("label", { className: "mlib-ack" }, [move, " Move instead of copy (frees the space at the source)"]),
    ],
    actions: [
      { label: "Cancel" },
      {
        label: "Import",
        kind: "primary",
        onClick: async () => {
          const list = paths.value.split("\n").map((p) => p.trim()).filter(Boolean);
          if (!list.length) throw new Error("Enter at least one path.");
          const { job } = await ctx.api.importPaths(list, move.checked ? "move" : "copy");
          void ctx.jobs.track(job, `Import ${list.length} path(s)`).then((final) => ctx.onImported([final], list[0]));
        },
      },
    ],
  });
}

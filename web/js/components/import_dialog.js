// The dialog after an import: what was detected, the Hub match with its trust badge, editable metadata, and
// a pickle-format warning that must be acknowledged before a pickle model is kept.

import { h } from "../dom.js";
import { BASE_MODELS, MODEL_TYPES, errorText } from "../format.js";
import { securityBadgeEl, trustBadgeEl } from "./badges.js";
import { openDialog } from "./dialog.js";
import { labelled, selectOf, splitTags } from "./detail.js";

/**
 * @typedef {import("../api.js").Job} Job
 * @typedef {import("../api.js").Model} Model
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {{id?: string, name?: string, status?: string, error?: string, source_path?: string}} ImportResultItem
 */

/**
 * The import items of finished jobs: `result.items`, or a result that is a list or a single item.
 * @param {Job[]} jobs
 * @returns {ImportResultItem[]}
 */
export function importItems(jobs) {
  /** @type {ImportResultItem[]} */
  const items = [];
  for (const job of jobs) {
    if (job.state !== "done") {
      items.push({ status: job.state, error: errorText(job.error?.message ?? job.error ?? job.state) });
      continue;
    }
    const result = job.result;
    const list = Array.isArray(result?.items) ? result.items : Array.isArray(result) ? result : result ? [result] : [];
    items.push(...list);
  }
  return items;
}

/**
 * @param {{api: LibraryApi, host: HTMLElement, toast: (m: import("./toast.js").ToastMessage) => void,
 *          onChanged: () => void, onShow?: (id: string) => void, onPlace?: (model: Model) => void}} ctx
 * @param {Job[]} jobs
 * @param {string} label
 */
export async function openImportDialog(ctx, jobs, label) {
  const items = importItems(jobs);
  /** @type {{model: Model, fresh: boolean, name: HTMLInputElement, type: HTMLSelectElement, base: HTMLSelectElement, tags: HTMLInputElement, notes: HTMLTextAreaElement}[]} */
  const forms = [];
  /** @type {HTMLElement[]} */
  const body = [];
  /** @type {{close: () => void} | null} */
  let handle = null;
  for (const item of items) {
    if (!item.id || item.status === "failed" || !item.status) {
      body.push(h("div", { className: "mlib-error", text: `${item.source_path || item.name || label}: ${item.error || item.status || "failed"}` }));
      continue;
    }
    let model;
    try {
      model = await ctx.api.getModel(item.id);
    } catch (error) {
      body.push(h("div", { className: "mlib-error", text: `${item.name || item.id}: ${errorText(error)}` }));
      continue;
    }
    const source = model.source || { kind: "local", match: "none", confidence: 0 };
    const form = {
      model,
      fresh: item.status !== "duplicate",
      name: h("input", { type: "text", value: model.name, attrs: { "data-testid": "import-name" } }),
      type: selectOf(MODEL_TYPES, model.type),
      base: selectOf(BASE_MODELS, model.base_model),
      tags: h("input", { type: "text", value: (model.tags || []).join(", ") }),
      notes: h("textarea", {}),
    };
    form.notes.value = model.notes || "";
    forms.push(form);
    body.push(
      h("div", { className: "mlib-import-item", attrs: { "data-testid": "import-item" } }, [
        h("div", { className: "mlib-badges" }, [
          h("strong", { text: item.status === "duplicate" ? "Already in the library" : "Imported" }),
          securityBadgeEl(model.security),
          // A duplicate changed nothing: the way on is the model the library already holds.
          ...(item.status === "duplicate" && ctx.onShow
            ? [h("button", { className: "mlib-btn mlib-btn-small", text: "Show it", attrs: { "data-testid": "import-show" }, on: { click: () => { handle?.close(); ctx.onShow?.(model.id); } } })]
            : []),
          // Inside ComfyUI: the next step after an import is usually a loader for it on the canvas.
          ...(ctx.onPlace
            ? [h("button", { className: "mlib-btn mlib-btn-small", text: "Place on canvas", attrs: { "data-testid": "import-place" }, on: { click: () => ctx.onPlace?.(model) } })]
            : []),
        ]),
        h("div", { className: "mlib-muted", text: `Detected: ${model.type} · ${model.base_model} · ${model.file_format || "?"}${(model.files || []).length > 1 ? ` · ${(model.files || []).length} files` : ""}` }),
        ...(model.warnings || []).map((w) => h("div", { className: "mlib-warning", attrs: { "data-testid": "import-warning" }, text: w })),
        h("div", { className: "mlib-field" }, [
          h("span", { className: "mlib-field-label", text: "Hub match" }),
          h("span", {}, [source.repo_id ? `${source.repo_id}${source.filename ? ` / ${source.filename}` : ""} ` : "none ", trustBadgeEl(source.match, source.confidence)]),
        ]),
        labelled("Name", form.name),
        labelled("Type", form.type),
        labelled("Base model", form.base),
        labelled("Tags", form.tags),
        labelled("Notes", form.notes),
      ]),
    );
  }
  const pickles = forms.filter((f) => f.model.security === "pickle");
  const ack = h("input", { type: "checkbox", attrs: { "data-testid": "pickle-ack" } });
  if (pickles.length) {
    body.unshift(
      h("div", { className: "mlib-warning mlib-pickle-warning", attrs: { "data-testid": "pickle-warning" } }, [
        h("strong", { text: "Pickle format. " }),
        `${pickles.map((f) => f.model.name).join(", ")} can run code when loaded. Keep it only if you trust where it came from; nothing was unpickled here.`,
        h("label", { className: "mlib-ack" }, [ack, " I understand the risk and want to keep it"]),
      ]),
    );
  }
  const dialog = openDialog(ctx.host, {
    title: `Import: ${label}`,
    testId: "import-dialog",
    body,
    actions: [
      {
        label: "Discard",
        testId: "import-discard",
        onClick: async () => {
          for (const form of forms) if (form.fresh) await ctx.api.deleteModel(form.model.id);
          ctx.onChanged();
        },
      },
      {
        label: "Keep",
        kind: "primary",
        testId: "import-keep",
        disabled: pickles.length > 0,
        onClick: async () => {
          if (pickles.length && !ack.checked) {
            dialog.setError("Tick the pickle acknowledgement first.");
            return false;
          }
          for (const form of forms) {
            const patch = changedFields(form.model, {
              name: form.name.value.trim(),
              type: form.type.value,
              base_model: form.base.value,
              tags: splitTags(form.tags.value),
              notes: form.notes.value,
            });
            if (Object.keys(patch).length) await ctx.api.editModel(form.model.id, patch);
          }
          ctx.toast({ severity: "success", summary: "Import complete", detail: forms.map((f) => f.name.value).join(", ") || label });
          ctx.onChanged();
          return true;
        },
      },
    ],
  });
  handle = dialog;
  const keep = dialog.buttons[1];
  ack.addEventListener("change", () => {
    keep.disabled = !ack.checked;
  });
  if (!forms.length) keep.disabled = true;
  return dialog;
}

/**
 * Only the fields the user changed (so untouched fields are not marked manual).
 * @param {Model} model
 * @param {{name: string, type: string, base_model: string, tags: string[], notes: string}} next
 * @returns {import("../api.js").ModelPatch}
 */
export function changedFields(model, next) {
  /** @type {import("../api.js").ModelPatch} */
  const patch = {};
  if (next.name && next.name !== model.name) patch.name = next.name;
  if (next.type !== model.type) patch.type = next.type;
  if (next.base_model !== model.base_model) patch.base_model = next.base_model;
  if (JSON.stringify(next.tags) !== JSON.stringify(model.tags || [])) patch.tags = next.tags;
  if (next.notes !== (model.notes || "")) patch.notes = next.notes;
  return patch;
}

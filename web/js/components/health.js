// Health: a badge (healthy / warnings / errors) with details and repair; and the mapping preview, with a
// resolution per conflict, then apply.

import { clear, h } from "../dom.js";
import { errorText } from "../format.js";
import { openDialog } from "./dialog.js";

/**
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {{api: LibraryApi, host: HTMLElement, toast: (m: import("./toast.js").ToastMessage) => void, onChanged: () => void}} HealthContext
 */

/** A readable line for an item of any shape (a path string, or an object with a path/id/reason). */
/** @param {any} item */
export function describe(item) {
  if (item === null || item === undefined) return "";
  if (typeof item !== "object") return String(item);
  const main = item.path || item.link_path || item.name || item.model_id || item.id || "";
  const extra = [item.model_name, item.category, item.kind, item.reason || item.message].filter((v) => typeof v === "string" && v);
  return extra.length ? `${main} — ${extra.join(", ")}` : String(main || JSON.stringify(item));
}

/** The report's lists, in the order shown, with what each means to a user. */
const HEALTH_SECTIONS = /** @type {const} */ ([
  ["broken", "broken"],
  ["missing", "missing"],
  ["orphaned", "orphaned"],
  ["metadata_without_row", "model folders the catalog does not list"],
  ["extra_model_paths", "extra_model_paths.yaml not pointing at the library"],
]);
/** Sections listed even when empty (the others appear only when they hold something). */
const ALWAYS_SHOWN = new Set(["broken", "missing", "orphaned"]);

/** @param {any} value */
function asList(value) {
  if (Array.isArray(value)) return value;
  if (typeof value === "number") return value ? [`${value} item(s)`] : [];
  return [];
}

export class HealthBadge {
  /** @param {HealthContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.element = h("button", { className: "mlib-health mlib-health-unknown", text: "health: …", attrs: { "data-testid": "health" }, on: { click: () => this.openDetails() } });
    /** @type {any} */
    this.report = null;
  }

  async refresh() {
    try {
      this.report = await this.ctx.api.health();
      const status = String(this.report.status || "unknown");
      this.element.className = `mlib-health mlib-health-${status === "healthy" || status === "warnings" || status === "errors" ? status : "unknown"}`;
      this.element.textContent = status;
      this.element.title = `Library health: ${status}`;
    } catch (error) {
      this.element.className = "mlib-health mlib-health-unknown";
      this.element.textContent = "health: ?";
      this.element.title = errorText(error);
    }
  }

  async openDetails() {
    await this.refresh();
    /** @type {any} */
    const report = this.report || {};
    /** @type {HTMLElement[]} */
    const body = [h("p", { text: `Status: ${report.status || "unknown"}` })];
    const relocation = report.relocation && typeof report.relocation === "object" ? report.relocation : {};
    if (Object.keys(relocation).length) {
      // An error of its own: the library folder was moved or copied since its links were made.
      body.push(h("h4", { text: "library moved" }));
      body.push(h("div", { className: "mlib-mono", text: Object.entries(relocation).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n") }));
    }
    // Every section of the report, the warnings too, so a status other than "healthy" always shows why.
    for (const [key, title] of HEALTH_SECTIONS) {
      const items = asList(report[key]);
      if (!items.length && !ALWAYS_SHOWN.has(key)) continue;
      body.push(h("h4", { text: `${title} (${items.length})` }));
      body.push(items.length ? h("ul", { className: "mlib-list" }, items.slice(0, 200).map((i) => h("li", { className: "mlib-mono", text: describe(i) }))) : h("div", { className: "mlib-muted", text: "none" }));
    }
    openDialog(this.ctx.host, {
      title: "Library health",
      testId: "health-dialog",
      body,
      actions: [
        { label: "Close" },
        {
          label: "Repair",
          kind: "primary",
          disabled: report.status === "healthy",
          onClick: async () => {
            const result = await this.ctx.api.repairHealth();
            const repaired = asList(result.repaired).length;
            const failed = asList(result.failed).length;
            this.ctx.toast({ severity: failed ? "warn" : "success", summary: "Repair finished", detail: `${repaired} repaired, ${failed} failed` });
            this.ctx.onChanged();
            await this.refresh();
          },
        },
      ],
    });
  }
}

/** @param {HealthContext} ctx */
export async function openMappingDialog(ctx) {
  const content = h("div", { className: "mlib-mapping", attrs: { "data-testid": "mapping-preview" } }, [h("div", { className: "mlib-muted", text: "Computing the preview…" })]);
  /** @type {Map<string, HTMLSelectElement>} */
  const resolutions = new Map();
  const dialog = openDialog(ctx.host, {
    title: "Mapping into ComfyUI",
    testId: "mapping-dialog",
    body: [content],
    actions: [
      { label: "Close" },
      {
        label: "Apply",
        kind: "primary",
        testId: "mapping-apply",
        onClick: async () => {
          /** @type {Record<string, string>} */
          const chosen = {};
          for (const [path, select] of resolutions) chosen[path] = select.value;
          const result = await ctx.api.mappingApply(chosen);
          const count = (/** @type {any} */ v) => (Array.isArray(v) ? v.length : Number(v) || 0);
          ctx.toast({ severity: "success", summary: "Mapping applied", detail: `${count(result.created)} created, ${count(result.removed)} removed, ${count(result.skipped)} skipped` });
          ctx.onChanged();
        },
      },
    ],
  });
  try {
    const plan = await ctx.api.mappingPreview();
    clear(content);
    for (const key of ["create", "remove", "ok"]) {
      const items = asList(/** @type {any} */ (plan)[key]);
      content.appendChild(h("h4", { text: `${key === "ok" ? "already correct" : key} (${items.length})` }));
      if (items.length && key !== "ok") content.appendChild(h("ul", { className: "mlib-list" }, items.slice(0, 200).map((i) => h("li", { className: "mlib-mono", text: describe(i) }))));
    }
    const conflicts = asList(plan.conflicts);
    content.appendChild(h("h4", { text: `conflicts (${conflicts.length})` }));
    for (const conflict of conflicts) {
      const path = typeof conflict === "object" && conflict ? String(conflict.path || conflict.link_path || "") : String(conflict);
      const select = h("select", { attrs: { "aria-label": `Resolution for ${path}` } }, [
        h("option", { value: "skip", text: "skip", title: "Leave the existing file; no link" }),
        h("option", { value: "rename", text: "rename", title: "Keep both: the link gets another name" }),
        h("option", { value: "overwrite", text: "overwrite", title: "Replace what is there with a link" }),
      ]);
      resolutions.set(path, select);
      content.appendChild(h("div", { className: "mlib-conflict" }, [h("span", { className: "mlib-mono", text: describe(conflict) }), select]));
    }
  } catch (error) {
    clear(content);
    dialog.setError(`Preview failed: ${errorText(error)}`);
  }
}

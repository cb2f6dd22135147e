// "This workflow": every model the loaded (or dropped) workflow needs, with its status, what would make it
// available, and one button that does it all (POST /workflows/fetch, a job). Names, urls and reasons come
// from strangers' workflows: shown as text only.

import { h } from "../dom.js";
import { errorText } from "../format.js";

/**
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {import("../api.js").Job} Job
 * @typedef {{id: string, name: string, score: number}} Candidate
 * @typedef {{node_id: string | null, node_type?: string | null, input_name?: string | null, category: string,
 *            name: string, status: string, action?: string, reason?: string, url?: string,
 *            model?: {id: string, name: string}, download?: {url: string}, candidates?: Candidate[],
 *            outcome?: string, comfyui_name?: string, error?: string}} WorkflowItem
 * @typedef {{api: LibraryApi, jobs: import("./jobs.js").JobsView,
 *            toast: (m: import("./toast.js").ToastMessage) => void,
 *            getWorkflow?: () => any,
 *            applyNames?: (items: WorkflowItem[]) => number,
 *            applyStamp?: (workflow: any) => number,
 *            onChanged?: () => void}} WorkflowViewOptions
 *   getWorkflow: the graph loaded in ComfyUI (UI JSON); applyNames: sets node widgets to the names ComfyUI
 *   lists (returns how many changed); applyStamp: copies the stamped properties.models into the graph.
 */

const STATUS_TEXT = /** @type {Record<string, string>} */ ({
  present: "in ComfyUI",
  in_library: "in the library",
  downloadable: "downloadable",
  missing: "missing",
});

/** What the check says it would do, in words. @param {WorkflowItem} item */
export function plannedText(item) {
  if (item.status === "present") return "ComfyUI lists it";
  if (item.status === "in_library") return item.action === "none" ? `loads ${item.model?.name ?? ""}` : `link ${item.model?.name ?? "it"} under this name`;
  if (item.status === "downloadable") return `download ${item.download?.url ?? item.url ?? ""}`;
  return item.reason || "not found: pick a library model";
}

/** A fetch outcome in words. @param {WorkflowItem} item */
export function outcomeText(item) {
  const texts = /** @type {Record<string, string>} */ ({
    present: "was there",
    already: "was available",
    linked: `linked ${item.model?.name ?? ""}`,
    in_library: "in the library (no ComfyUI mapped to link it into)",
    downloaded: "downloaded and linked",
    refused: "refused: other bytes than the workflow's",
    failed: "failed",
    pick: "still missing: pick a model",
  });
  const text = texts[item.outcome || ""] || item.outcome || "";
  return item.error ? `${text}: ${item.error}` : text;
}

export class WorkflowView {
  /** @param {WorkflowViewOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {any} */
    this.workflow = null;
    /** @type {WorkflowItem[]} */
    this.items = [];
    /** @type {Map<number, HTMLSelectElement>} */
    this.picks = new Map();
    this.summary = h("summary", { text: "This workflow", attrs: { "data-testid": "workflow-summary" } });
    this.list = h("div", { className: "mlib-wf-list", attrs: { "data-testid": "workflow-items" } });
    this.note = h("div", { className: "mlib-dim", attrs: { "data-testid": "workflow-note" } });
    const check = h("button", { className: "mlib-btn", text: "Check", attrs: { "data-testid": "workflow-check" } });
    check.addEventListener("click", () => void this.checkLoaded());
    check.hidden = !options.getWorkflow;
    this.fetchButton = h("button", { className: "mlib-btn mlib-btn-primary", text: "Make all available", attrs: { "data-testid": "workflow-fetch" } });
    this.fetchButton.addEventListener("click", () => void this.fetchAll());
    this.fetchButton.disabled = true;
    const stamp = h("button", { className: "mlib-btn", text: "Stamp hashes", attrs: { "data-testid": "workflow-stamp", title: "Write each loader's SHA-256 into the workflow, so other machines find the same files" } });
    stamp.addEventListener("click", () => void this.stampLoaded());
    stamp.hidden = !options.getWorkflow || !options.applyStamp;
    this.element = h("details", { className: "mlib-wf", attrs: { "data-testid": "workflow-view" } }, [
      this.summary,
      h("div", { className: "mlib-wf-bar" }, [check, this.fetchButton, stamp]),
      this.note,
      this.list,
    ]);
  }

  /** Checks the workflow loaded in ComfyUI (no-op outside it). */
  async checkLoaded() {
    const workflow = this.options.getWorkflow?.();
    if (workflow) await this.check(workflow);
  }

  /** @param {any} workflow  UI or API JSON */
  async check(workflow) {
    this.workflow = workflow;
    this.note.textContent = "Checking…";
    try {
      const answer = await this.options.api.checkWorkflow(workflow);
      this.render(answer.items || []);
      const problems = answer.problems || [];
      this.note.textContent = problems.length ? `Skipped: ${problems.slice(0, 3).join("; ")}` : "";
    } catch (error) {
      this.note.textContent = errorText(error);
    }
  }

  /** @param {WorkflowItem[]} items */
  render(items) {
    this.items = items;
    this.picks.clear();
    const wanting = items.filter((i) => i.status !== "present" && !(i.status === "in_library" && i.action === "none"));
    this.summary.textContent = items.length
      ? `This workflow: ${items.length} model(s), ${wanting.length ? `${wanting.length} not available yet` : "all available"}`
      : "This workflow: no models";
    if (wanting.length) this.element.open = true;
    this.fetchButton.disabled = !wanting.length;
    this.list.replaceChildren(
      ...items.map((item, index) => {
        const status = item.outcome ? item.outcome : item.status;
        const row = h("div", { className: `mlib-wf-item mlib-wf-${status}`, attrs: { "data-testid": "workflow-item", "data-status": status } }, [
          h("div", { className: "mlib-wf-head" }, [
            h("span", { className: "mlib-badge", text: item.outcome || STATUS_TEXT[item.status] || item.status }),
            h("span", { className: "mlib-wf-name", text: `${item.category}/${item.comfyui_name || item.name}`, attrs: { title: item.name } }),
          ]),
          h("div", { className: "mlib-dim", text: `${item.node_id ? `node ${item.node_id}` : "workflow"} · ${item.outcome ? outcomeText(item) : plannedText(item)}` }),
        ]);
        if ((!item.outcome && item.status === "missing") || item.outcome === "pick") {
          const select = h("select", { attrs: { "data-testid": "workflow-pick" } }, [
            h("option", { value: "", text: item.candidates?.length ? "Use a library model instead…" : "No similar model in the library" }),
            ...(item.candidates || []).map((c) => h("option", { value: c.id, text: `${c.name} (${Math.round(c.score * 100)}%)` })),
          ]);
          select.addEventListener("change", () => {
            this.fetchButton.disabled = false;
          });
          this.picks.set(index, select);
          row.appendChild(select);
        }
        return row;
      }),
    );
  }

  /** Links, downloads (verified), then shows each outcome and updates the graph's names. */
  async fetchAll() {
    if (!this.workflow) return;
    const choices = [];
    for (const [index, select] of this.picks) {
      const item = this.items[index];
      if (select.value && item) choices.push({ node_id: item.node_id, name: item.name, model_id: select.value });
    }
    this.fetchButton.disabled = true;
    this.note.textContent = "Making the models available…";
    let final;
    try {
      const { job } = await this.options.api.fetchWorkflow(this.workflow, choices);
      final = /** @type {Job} */ (await this.options.jobs.track(job, "Make this workflow's models available"));
    } catch (error) {
      this.note.textContent = errorText(error);
      this.fetchButton.disabled = false;
      return;
    }
    const result = final.result || {};
    if (final.state !== "done") {
      this.note.textContent = errorText(final.error?.message ?? final.error ?? final.state);
      this.fetchButton.disabled = false;
      return;
    }
    this.render(result.items || []);
    const renamed = this.options.applyNames ? this.options.applyNames(result.items || []) : 0;
    this.note.textContent = result.available
      ? `Every model is available${renamed ? `; ${renamed} node name(s) updated` : ""}.`
      : "Some models are still not available: see each line.";
    this.options.onChanged?.();
  }

  /** Writes the library's SHA-256 of each loader's file into the loaded graph. */
  async stampLoaded() {
    const workflow = this.options.getWorkflow?.();
    if (!workflow || !this.options.applyStamp) return;
    try {
      const answer = await this.options.api.stampWorkflow(workflow);
      const changed = this.options.applyStamp(answer.workflow);
      this.options.toast({ severity: "success", summary: `Hashes written into ${changed} node(s)`, life: 3000 });
    } catch (error) {
      this.options.toast({ severity: "error", summary: "Could not stamp the workflow", detail: errorText(error) });
    }
  }
}

// Running work: uploads and server jobs, each with a progress bar; jobs can be cancelled (DELETE /jobs/{id}).
// Job states arrive as `job` events; jobs someone waits on are also polled, so a missed event never hangs.

import { h } from "../dom.js";
import { errorText, formatBytes, percent } from "../format.js";

/**
 * @typedef {import("../api.js").Job} Job
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {{element: HTMLElement, bar: HTMLElement, text: HTMLElement, cancel: HTMLButtonElement}} Row
 */

const FINAL = new Set(["done", "failed", "cancelled"]);

const KIND_TITLES = /** @type {Record<string, string>} */ ({
  upload: "Import (upload)",
  import: "Import",
  download: "Download",
  scan: "Scan",
  lookup: "Hub lookup",
  workflow_fetch: "Make a workflow's models available",
});

/** A readable title for a job: its kind, and the file it works on when the job says. @param {Job} job */
export function jobTitle(job) {
  const kind = KIND_TITLES[job.kind] || job.kind || "Job";
  const params = /** @type {any} */ (job).params;
  const subject = params && (params.filename || params.repo_id || (Array.isArray(params.paths) ? params.paths[0] : ""));
  return typeof subject === "string" && subject ? `${kind} ${subject}` : kind;
}

/** What a finished job's row says. @param {Job} job */
function finalText(job) {
  return job.state === "failed" ? `failed: ${errorText(job.error?.message ?? job.error ?? "unknown error")}` : job.state;
}

/** @param {Job} job */
export function isFinal(job) {
  return FINAL.has(job.state);
}

export class JobsView {
  /** @param {{api: LibraryApi}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.element = h("div", { className: "mlib-jobs", attrs: { "data-testid": "jobs", "aria-live": "polite" } });
    /** @type {Map<string, Row>} */
    this.rows = new Map();
    /** @type {Map<string, ((job: Job) => void)[]>} */
    this.waiters = new Map();
    /** Jobs already seen finished (their final state), so each completion is announced once, and a
     * caller that starts waiting after the final event still gets it. */
    /** @type {Map<string, Job>} */
    this.finished = new Map();
    /** @type {((job: Job) => void) | null} */
    this.onFinal = null;
  }

  /**
   * A progress row for any key (an upload or a job). Returns the row to update.
   * @param {string} key @param {string} label @param {(() => void) | null} onCancel
   */
  row(key, label, onCancel) {
    let row = this.rows.get(key);
    if (row) {
      const labelEl = row.element.querySelector(".mlib-job-label");
      if (labelEl && label) {
        labelEl.textContent = label;
        labelEl.setAttribute("title", label);
      }
      return row;
    }
    const bar = h("div", { className: "mlib-progress-bar" });
    const text = h("span", { className: "mlib-job-text" });
    const cancel = h("button", { className: "mlib-btn mlib-btn-small", text: "Cancel", hidden: !onCancel });
    if (onCancel) cancel.addEventListener("click", onCancel);
    const element = h("div", { className: "mlib-job", dataset: { key } }, [
      h("div", { className: "mlib-job-head" }, [h("span", { className: "mlib-job-label", text: label, title: label }), text, cancel]),
      h("div", { className: "mlib-progress", attrs: { role: "progressbar" } }, [bar]),
    ]);
    this.element.prepend(element);
    row = { element, bar, text, cancel };
    this.rows.set(key, row);
    return row;
  }

  /** @param {string} key @param {number} done @param {number} total @param {string} [stage] */
  progress(key, done, total, stage) {
    const row = this.rows.get(key);
    if (!row) return;
    const pct = percent(done, total);
    row.bar.style.width = `${pct}%`;
    row.element.querySelector(".mlib-progress")?.setAttribute("aria-valuenow", String(pct));
    row.text.textContent = `${stage ? `${stage} ` : ""}${pct}% (${formatBytes(done)} / ${formatBytes(total)})`;
  }

  /** @param {string} key @param {"done" | "failed" | "cancelled"} state @param {string} text */
  finish(key, state, text) {
    const row = this.rows.get(key);
    if (!row) return;
    row.element.classList.add(`mlib-job-${state}`);
    row.element.dataset.state = state;
    row.text.textContent = text;
    row.cancel.hidden = true;
    if (state === "done") row.bar.style.width = "100%";
    setTimeout(() => {
      row.element.remove();
      this.rows.delete(key);
    }, state === "done" ? 4000 : 15000);
  }

  /**
   * Shows a server job and resolves with its final state.
   * @param {Job} job @param {string} label
   * @returns {Promise<Job>}
   */
  track(job, label) {
    const known = this.finished.get(job.id);
    if (known) {
      // The job ended before anyone waited on it (a quick import's event can beat the upload's answer).
      this.row(`job:${job.id}`, label, null);
      this.finish(`job:${job.id}`, /** @type {"done" | "failed" | "cancelled"} */ (known.state), finalText(known));
      return Promise.resolve(known);
    }
    this.row(`job:${job.id}`, label, () => void this.ctx.api.cancelJob(job.id).catch(() => {}));
    const promise = new Promise((resolve) => {
      const list = this.waiters.get(job.id) || [];
      list.push(resolve);
      this.waiters.set(job.id, list);
    });
    this.onJob(job);
    void this.poll(job.id);
    return /** @type {Promise<Job>} */ (promise);
  }

  /** @param {string} id */
  async poll(id) {
    let delay = 500;
    while (this.waiters.has(id)) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(3000, delay * 1.5);
      if (!this.waiters.has(id)) return;
      try {
        this.onJob(await this.ctx.api.getJob(id));
      } catch {
        // the next event or poll will tell
      }
    }
  }

  /** A job event (or poll answer). @param {Job} job */
  onJob(job) {
    if (!job || typeof job.id !== "string") return;
    const key = `job:${job.id}`;
    // A stale answer (a poll or the upload's own reply) that arrives after the final event changes nothing.
    const known = this.finished.get(job.id);
    if (known && !isFinal(job)) return;
    if (!this.rows.has(key) && !isFinal(job)) this.row(key, jobTitle(job), () => void this.ctx.api.cancelJob(job.id).catch(() => {}));
    if (isFinal(job)) {
      if (!known) {
        this.finished.set(job.id, job);
        this.finish(key, /** @type {"done" | "failed" | "cancelled"} */ (job.state), finalText(job));
      }
      // Waiters resolve on every final answer, not only the first: one may have started waiting after
      // the event (its poll then brings the final state again).
      const waiters = this.waiters.get(job.id);
      this.waiters.delete(job.id);
      for (const resolve of waiters || []) resolve(known || job);
      if (!known && this.onFinal) this.onFinal(job);
    } else if (job.progress) {
      this.progress(key, job.progress.done, job.progress.total, job.progress.stage);
    }
  }
}

// The library view: search-as-you-type, filters, sort, and the virtualised result list.

import { debounce, h } from "../dom.js";
import { BASE_MODELS, MODEL_TYPES, SECURITY_LEVELS, SORTS, errorText, formatBytes } from "../format.js";
import { ModelPager } from "../store.js";
import { VirtualList } from "./virtual_list.js";

export const ROW_HEIGHT = 44;
export const DRAG_MIME = "application/x-model-library";

/**
 * @typedef {import("../api.js").Model} Model
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 */

/** @param {string} label @param {string[]} values */
function filterSelect(label, values) {
  return h("select", { attrs: { "aria-label": label } }, [
    h("option", { value: "", text: `${label}: any` }),
    ...values.map((v) => h("option", { value: v, text: v })),
  ]);
}

export class LibraryView {
  /**
   * @param {{api: LibraryApi, onSelect: (id: string | null) => void, onError: (e: unknown) => void}} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {string | null} */
    this.selected = null;
    this.search = h("input", {
      type: "search",
      placeholder: "Search name, tag, repo, notes…",
      attrs: { "aria-label": "Search models", "data-testid": "search", maxlength: "500" },
    });
    this.type = filterSelect("Type", MODEL_TYPES);
    this.base = filterSelect("Base", BASE_MODELS);
    this.security = filterSelect("Security", SECURITY_LEVELS);
    this.tag = h("input", { type: "text", placeholder: "Tag", attrs: { "aria-label": "Tag filter", maxlength: "100" } });
    this.sort = h("select", { attrs: { "aria-label": "Sort" } }, SORTS.map(([v, l]) => h("option", { value: v, text: l })));
    this.summary = h("div", { className: "mlib-summary", attrs: { "data-testid": "summary", "aria-live": "polite" } });
    this.pager = new ModelPager(
      (query, signal) => ctx.api.listModels(query, signal),
      () => this.update(),
      (error) => {
        this.summary.textContent = `Search failed: ${errorText(error)}`;
        ctx.onError(error);
      },
    );
    this.list = new VirtualList({
      rowHeight: ROW_HEIGHT,
      count: () => this.pager.total,
      renderRow: (el, index) => this.renderRow(el, index),
    });
    this.list.viewport.addEventListener("click", (event) => {
      const row = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest(".mlib-row"));
      if (!row || !row.dataset.id) return;
      this.select(row.dataset.id);
    });
    this.list.viewport.addEventListener("keydown", (event) => this.onKey(event));
    this.list.viewport.addEventListener("dragstart", (event) => this.onDragStart(event));
    const rerun = debounce(() => void this.runQuery(), 150);
    this.search.addEventListener("input", rerun);
    this.tag.addEventListener("input", rerun);
    for (const select of [this.type, this.base, this.security, this.sort]) {
      select.addEventListener("change", () => void this.runQuery());
    }
    this.element = h("div", { className: "mlib-library" }, [
      h("div", { className: "mlib-toolbar" }, [this.search]),
      h("div", { className: "mlib-filters" }, [this.type, this.base, this.security, this.tag, this.sort]),
      this.summary,
      this.list.viewport,
    ]);
  }

  /** @returns {import("../api.js").ModelQuery} */
  query() {
    const q = this.search.value.trim();
    let sort = this.sort.value;
    if (sort === "relevance" && !q) sort = "name";
    return {
      q: q || undefined,
      type: this.type.value || undefined,
      base_model: this.base.value || undefined,
      security: this.security.value || undefined,
      tag: this.tag.value.trim() || undefined,
      sort,
    };
  }

  runQuery() {
    this.summary.textContent = "Searching…";
    this.started = performance.now();
    return this.pager.setQuery(this.query());
  }

  refresh() {
    return this.pager.refresh();
  }

  update() {
    const total = this.pager.total;
    const took = this.pager.tookMs !== undefined ? ` · ${Math.round(this.pager.tookMs)} ms` : "";
    this.summary.textContent = total === 1 ? `1 model${took}` : `${total.toLocaleString("en")} models${took}`;
    this.list.viewport.dataset.total = String(total);
    this.list.render();
  }

  /** @param {HTMLElement} el @param {number} index */
  renderRow(el, index) {
    const model = this.pager.at(index);
    if (!el.firstChild) {
      el.append(
        h("div", { className: "mlib-row-main" }, [h("span", { className: "mlib-row-name" }), h("span", { className: "mlib-row-sub" })]),
        h("span", { className: "mlib-row-size" }),
        h("span", { className: "mlib-row-flag" }),
      );
    }
    const name = /** @type {HTMLElement} */ (el.querySelector(".mlib-row-name"));
    const sub = /** @type {HTMLElement} */ (el.querySelector(".mlib-row-sub"));
    const size = /** @type {HTMLElement} */ (el.querySelector(".mlib-row-size"));
    const flag = /** @type {HTMLElement} */ (el.querySelector(".mlib-row-flag"));
    if (!model) {
      el.dataset.id = "";
      el.draggable = false;
      name.textContent = "…";
      sub.textContent = "";
      size.textContent = "";
      flag.textContent = "";
      el.classList.remove("mlib-selected", "mlib-row-pickle");
      return;
    }
    el.dataset.id = model.id;
    el.draggable = true;
    name.textContent = model.name;
    el.title = model.name;
    sub.textContent = `${model.type} · ${model.base_model}${model.tags && model.tags.length ? ` · ${model.tags.slice(0, 3).join(", ")}` : ""}`;
    size.textContent = formatBytes(model.size);
    flag.textContent = model.security === "pickle" ? "pickle" : "";
    el.classList.toggle("mlib-row-pickle", model.security === "pickle");
    el.classList.toggle("mlib-selected", model.id === this.selected);
    el.setAttribute("aria-selected", model.id === this.selected ? "true" : "false");
  }

  /** @param {string | null} id */
  select(id) {
    this.selected = id;
    this.list.render();
    this.ctx.onSelect(id);
  }

  /** @param {KeyboardEvent} event */
  onKey(event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    event.preventDefault();
    let index = -1;
    for (let i = 0; i < this.pager.total; i += 1) {
      const m = this.pager.at(i);
      if (m && m.id === this.selected) {
        index = i;
        break;
      }
      if (!m) break;
    }
    const next = Math.max(0, Math.min(this.pager.total - 1, index + (event.key === "ArrowDown" ? 1 : -1)));
    const model = this.pager.at(next);
    if (model) {
      this.list.scrollToIndex(next);
      this.select(model.id);
    }
  }

  /** Dragging a row carries the model, so the canvas can create its loader node. */
  /** @param {DragEvent} event */
  onDragStart(event) {
    const row = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest?.(".mlib-row"));
    const model = row && row.dataset.index ? this.pager.at(Number(row.dataset.index)) : undefined;
    if (!model || !event.dataTransfer) return;
    event.dataTransfer.effectAllowed = "copy";
    event.dataTransfer.setData(DRAG_MIME, JSON.stringify({ id: model.id, name: model.name, type: model.type, files: (model.files || []).map((f) => f.path), sha256: model.hashes?.sha256, blake3: model.hashes?.blake3 }));
    event.dataTransfer.setData("text/plain", model.name);
  }
}

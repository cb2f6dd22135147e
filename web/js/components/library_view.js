// The library view: search-as-you-type, filter chips with counts, sort, and the virtualised result list:
// rows with a thumbnail (or a base tile) in the sidebar, a grid of cards when the panel is wide.

import { debounce, h } from "../dom.js";
import { BASE_MODELS, MODEL_TYPES, SECURITY_LEVELS, SORTS, errorText } from "../format.js";
import { ModelPager } from "../store.js";
import { FilterChips } from "./chips.js";
import { baseLabel, renderThumb, reveal } from "./thumb.js";
import { VirtualList } from "./virtual_list.js";

export const ROW_HEIGHT = 60;
export const DRAG_MIME = "application/x-model-library";
/** Wider than this, the list becomes a grid of cards (px). */
export const GRID_FROM_WIDTH = 520;

/**
 * @typedef {import("../api.js").Model} Model
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {{api: LibraryApi, onSelect: (id: string | null) => void, onError: (e: unknown) => void,
 *            onAdd?: (model: Model) => void, cardSize?: () => number, grid?: boolean}} LibraryViewContext
 *   onAdd: "Add to workflow" (inside ComfyUI only); cardSize: the card width of a grid (the full view's slider);
 *   grid: always a grid (the full view), else a grid only when wide.
 */

/** @param {string} label @param {string[]} values */
function filterSelect(label, values) {
  return h("select", { attrs: { "aria-label": label } }, [
    h("option", { value: "", text: `${label}: any` }),
    ...values.map((v) => h("option", { value: v, text: v })),
  ]);
}

/**
 * `text` with every occurrence of the query's words wrapped in <mark> (text nodes only, never HTML).
 * @param {HTMLElement} el @param {string} text @param {string} query
 */
export function highlight(el, text, query) {
  const words = query.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 0);
  el.replaceChildren();
  if (!words.length) {
    el.textContent = text;
    return;
  }
  const lower = text.toLowerCase();
  let at = 0;
  while (at < text.length) {
    let next = -1;
    let length = 0;
    for (const word of words) {
      const found = lower.indexOf(word, at);
      if (found !== -1 && (next === -1 || found < next || (found === next && word.length > length))) {
        next = found;
        length = word.length;
      }
    }
    if (next === -1) {
      el.append(text.slice(at));
      break;
    }
    if (next > at) el.append(text.slice(at, next));
    el.append(h("mark", { text: text.slice(next, next + length) }));
    at = next + length;
  }
}

/** The model each row element shows (rows are recycled). @type {WeakMap<HTMLElement, Model | undefined>} */
const shown = new WeakMap();

export class LibraryView {
  /** @param {LibraryViewContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {string | null} */
    this.selected = null;
    /** @type {Set<string>} */
    this.picked = new Set(); // multi-select (the full view): ctrl/shift-click
    this.search = h("input", {
      type: "search",
      placeholder: "Search name, trigger word, tag, repo, notes…  ( / )",
      attrs: { "aria-label": "Search models", "data-testid": "search", maxlength: "500" },
    });
    this.type = filterSelect("Type", MODEL_TYPES);
    this.base = filterSelect("Base", BASE_MODELS);
    this.security = filterSelect("Security", SECURITY_LEVELS);
    this.tag = h("input", { type: "text", placeholder: "Tag", attrs: { "aria-label": "Tag filter", maxlength: "100" } });
    this.sort = h("select", { attrs: { "aria-label": "Sort" } }, SORTS.map(([v, l]) => h("option", { value: v, text: l })));
    this.summary = h("div", { className: "mlib-summary", attrs: { "data-testid": "summary", "aria-live": "polite" } });
    this.chips = new FilterChips((state) => {
      this.type.value = state.type || "";
      this.base.value = state.base_model || "";
      void this.runQuery();
    });
    this.pager = new ModelPager(
      (query, signal) => ctx.api.listModels(query, signal),
      () => this.update(),
      (error) => {
        this.summary.textContent = `Search failed: ${errorText(error)}`;
        ctx.onError(error);
      },
    );
    /** @type {VirtualList} */
    this.list = new VirtualList({
      rowHeight: () => (this.list && this.list.cols > 1 ? this.cardHeight() : ROW_HEIGHT),
      count: () => this.pager.total,
      renderRow: (el, index) => this.renderRow(el, index),
      columns: (width) => this.columns(width),
    });
    this.list.viewport.addEventListener("click", (event) => this.onClick(event));
    this.list.viewport.addEventListener("keydown", (event) => this.onKey(event));
    this.list.viewport.addEventListener("dragstart", (event) => this.onDragStart(event));
    const rerun = debounce(() => void this.runQuery(), 150);
    this.search.addEventListener("input", rerun);
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        this.list.viewport.focus();
        this.move(1);
      } else if (event.key === "Enter") {
        this.addSelected();
      }
    });
    this.tag.addEventListener("input", rerun);
    for (const select of [this.type, this.base, this.security, this.sort]) {
      select.addEventListener("change", () => {
        this.chips.state.type = this.type.value || null;
        this.chips.state.base_model = this.base.value || null;
        void this.runQuery();
      });
    }
    this.more = h("details", { className: "mlib-more" }, [
      h("summary", { text: "More filters" }),
      h("div", { className: "mlib-filters" }, [this.type, this.base, this.security, this.tag, this.sort]),
    ]);
    this.element = h("div", { className: "mlib-library" }, [
      h("div", { className: "mlib-toolbar" }, [this.search]),
      this.chips.element,
      this.more,
      this.summary,
      this.list.viewport,
    ]);
    this.facetsAbort = /** @type {AbortController | null} */ (null);
  }

  /** @param {number} width */
  columns(width) {
    if (!this.ctx.grid && width < GRID_FROM_WIDTH) return 1;
    const card = this.ctx.cardSize ? this.ctx.cardSize() : 160;
    return Math.max(1, Math.floor(width / card));
  }

  cardHeight() {
    const card = this.ctx.cardSize ? this.ctx.cardSize() : 160;
    return Math.round(card * 1.25) + 44;
  }

  /** @returns {import("../api.js").ModelQuery} */
  query() {
    const q = this.search.value.trim();
    let sort = this.sort.value;
    if (sort === "relevance" && !q) sort = "name";
    if (this.chips.state.recent) sort = "-used";
    return {
      q: q || undefined,
      type: this.type.value || undefined,
      base_model: this.base.value || undefined,
      security: this.security.value || undefined,
      tag: this.tag.value.trim() || undefined,
      favorite: this.chips.state.favorite ? true : undefined,
      sort,
    };
  }

  runQuery() {
    this.summary.textContent = "Searching…";
    this.started = performance.now();
    const query = this.query();
    void this.loadFacets(query);
    return this.pager.setQuery(query);
  }

  /** @param {import("../api.js").ModelQuery} query */
  async loadFacets(query) {
    if (this.facetsAbort) this.facetsAbort.abort();
    const abort = new AbortController();
    this.facetsAbort = abort;
    try {
      const facets = await this.ctx.api.facets(query, abort.signal);
      if (!abort.signal.aborted) this.chips.render(facets);
    } catch {
      if (!abort.signal.aborted) this.chips.render(null);
    }
  }

  refresh() {
    void this.loadFacets(this.query());
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
    // What the element shows already (a page arriving re-renders every row; most are unchanged).
    const key = model ? `${model.id}|${model.favorite}|${model.id === this.selected}|${this.picked.has(model.id)}|${this.search.value}|${model.preview?.url}|${model.preview?.nsfw_level}` : "";
    if (model && shown.get(el) === model && el.dataset.key === key) return;
    shown.set(el, model);
    el.dataset.key = key;
    if (!el.firstChild) {
      el.append(
        h("span", { className: "mlib-row-thumb" }),
        h("div", { className: "mlib-row-main" }, [h("span", { className: "mlib-row-name" }), h("span", { className: "mlib-row-sub" })]),
        h("span", { className: "mlib-row-badges" }, [
          h("span", { className: "mlib-base-badge" }),
          h("button", { className: "mlib-star", type: "button", attrs: { "aria-label": "Favorite", "data-action": "favorite" } }),
          this.ctx.onAdd
            ? h("button", { className: "mlib-add", type: "button", text: "+", title: "Add to workflow (Enter)", attrs: { "aria-label": "Add to workflow", "data-action": "add" } })
            : null,
        ]),
        h("span", { className: "mlib-row-flag" }),
      );
    }
    const thumb = /** @type {HTMLElement} */ (el.querySelector(".mlib-row-thumb"));
    const name = /** @type {HTMLElement} */ (el.querySelector(".mlib-row-name"));
    const sub = /** @type {HTMLElement} */ (el.querySelector(".mlib-row-sub"));
    const badge = /** @type {HTMLElement} */ (el.querySelector(".mlib-base-badge"));
    const star = /** @type {HTMLElement} */ (el.querySelector(".mlib-star"));
    const flag = /** @type {HTMLElement} */ (el.querySelector(".mlib-row-flag"));
    if (!model) {
      el.dataset.id = "";
      el.draggable = false;
      name.textContent = "…";
      sub.textContent = "";
      badge.textContent = "";
      star.textContent = "";
      flag.textContent = "";
      thumb.replaceChildren();
      el.classList.remove("mlib-selected", "mlib-row-pickle", "mlib-picked");
      return;
    }
    el.dataset.id = model.id;
    el.draggable = true;
    highlight(name, model.name, this.search.value);
    el.title = model.name;
    sub.textContent = `${model.type} · ${model.base_model}${model.tags && model.tags.length ? ` · ${model.tags.slice(0, 3).join(", ")}` : ""}`;
    badge.textContent = baseLabel(model.base_model);
    star.textContent = model.favorite ? "★" : "☆";
    star.classList.toggle("mlib-star-on", Boolean(model.favorite));
    star.setAttribute("aria-pressed", model.favorite ? "true" : "false");
    flag.textContent = model.security === "pickle" ? "pickle" : model.update ? "update" : "";
    flag.title = model.update ? `A newer version: ${model.update.version_name}` : "";
    renderThumb(thumb, model, this.ctx.api.previewUrl(model, 256));
    el.classList.toggle("mlib-row-pickle", model.security === "pickle");
    el.classList.toggle("mlib-selected", model.id === this.selected);
    el.classList.toggle("mlib-picked", this.picked.has(model.id));
    el.setAttribute("aria-selected", model.id === this.selected ? "true" : "false");
  }

  /** @param {MouseEvent} event */
  onClick(event) {
    const target = /** @type {HTMLElement} */ (event.target);
    const row = /** @type {HTMLElement | null} */ (target.closest(".mlib-row"));
    if (!row || !row.dataset.id) return;
    const model = this.pager.at(Number(row.dataset.index));
    const action = /** @type {HTMLElement | null} */ (target.closest("[data-action]"))?.dataset.action;
    if (action === "favorite" && model) {
      event.stopPropagation();
      void this.toggleFavorite(model);
      return;
    }
    if (action === "add" && model && this.ctx.onAdd) {
      event.stopPropagation();
      this.ctx.onAdd(model);
      return;
    }
    const thumb = /** @type {HTMLElement | null} */ (target.closest(".mlib-thumb"));
    if (thumb && reveal(thumb)) return;
    if (event.ctrlKey || event.metaKey) {
      if (this.picked.has(row.dataset.id)) this.picked.delete(row.dataset.id);
      else this.picked.add(row.dataset.id);
      this.list.render();
      return;
    }
    this.picked.clear();
    this.select(row.dataset.id);
  }

  /** @param {Model} model */
  async toggleFavorite(model) {
    try {
      model.favorite = !model.favorite; // shown at once; the refresh brings the server's answer
      this.list.render();
      await this.ctx.api.editModel(model.id, { favorite: Boolean(model.favorite) });
      void this.refresh();
    } catch (error) {
      model.favorite = !model.favorite;
      this.list.render();
      this.ctx.onError(error);
    }
  }

  /** @param {string | null} id */
  select(id) {
    this.selected = id;
    this.list.render();
    this.ctx.onSelect(id);
  }

  selectedIndex() {
    for (let i = 0; i < this.pager.total; i += 1) {
      const m = this.pager.at(i);
      if (!m) break;
      if (m.id === this.selected) return i;
    }
    return -1;
  }

  /** @param {number} step */
  move(step) {
    const index = this.selectedIndex();
    const next = Math.max(0, Math.min(this.pager.total - 1, index + step));
    const model = this.pager.at(next);
    if (model) {
      this.list.scrollToIndex(next);
      this.select(model.id);
    }
  }

  addSelected() {
    const index = this.selectedIndex();
    const model = index >= 0 ? this.pager.at(index) : this.pager.at(0);
    if (model && this.ctx.onAdd) this.ctx.onAdd(model);
  }

  /** @param {KeyboardEvent} event */
  onKey(event) {
    const cols = this.list.cols;
    const steps = /** @type {Record<string, number>} */ ({ ArrowDown: cols, ArrowUp: -cols, ArrowRight: cols > 1 ? 1 : 0, ArrowLeft: cols > 1 ? -1 : 0 });
    if (event.key === "Enter") {
      event.preventDefault();
      this.addSelected();
      return;
    }
    if (!(event.key in steps) || !steps[event.key]) return;
    event.preventDefault();
    this.move(steps[event.key]);
  }

  /** Dragging a row carries the model, so the canvas can create (and wire) its loader node. */
  /** @param {DragEvent} event */
  onDragStart(event) {
    const row = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest?.(".mlib-row"));
    const model = row && row.dataset.index ? this.pager.at(Number(row.dataset.index)) : undefined;
    if (!model || !event.dataTransfer) return;
    event.dataTransfer.effectAllowed = "copy";
    event.dataTransfer.setData(
      DRAG_MIME,
      JSON.stringify({
        id: model.id,
        name: model.name,
        type: model.type,
        files: (model.files || []).map((f) => f.path),
        sha256: model.hashes?.sha256,
        blake3: model.hashes?.blake3,
      }),
    );
    event.dataTransfer.setData("text/plain", model.name);
  }
}

// A virtualised list or grid: fixed item height, only the visible items (plus a small overscan) exist in
// the DOM, and item elements are recycled while scrolling. Smooth at 10,000+ items. With `columns`, the
// items flow into as many columns as the width allows (a grid of cards); without, one per row.

import { h } from "../dom.js";

/**
 * @typedef {{
 *   rowHeight: number | (() => number),
 *   count: () => number,
 *   renderRow: (el: HTMLElement, index: number) => void,
 *   columns?: (width: number) => number,
 *   overscan?: number,
 * }} VirtualListOptions
 */

export class VirtualList {
  /**
   * @param {VirtualListOptions} options
   */
  constructor(options) {
    this.options = options;
    this.viewport = h("div", { className: "mlib-vlist", attrs: { role: "listbox", tabindex: "0" } });
    this.spacer = h("div", { className: "mlib-vlist-spacer" });
    this.viewport.appendChild(this.spacer);
    /** @type {HTMLElement[]} */
    this.rows = [];
    /** @type {Map<number, HTMLElement>} the element showing each visible index */
    this.byIndex = new Map();
    this.layout = "";
    this.frame = 0;
    this.cols = 1;
    this.viewport.addEventListener("scroll", () => this.schedule(), { passive: true });
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(() => this.schedule()).observe(this.viewport);
    }
  }

  /** Re-renders on the next animation frame (coalesces bursts of scroll events). */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render(false);
    });
  }

  rowHeight() {
    const { rowHeight } = this.options;
    return typeof rowHeight === "function" ? rowHeight() : rowHeight;
  }

  /** @param {number} index */
  scrollToIndex(index) {
    const rowHeight = this.rowHeight();
    const top = Math.floor(index / this.cols) * rowHeight;
    const bottom = top + rowHeight;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (bottom > this.viewport.scrollTop + this.viewport.clientHeight) {
      this.viewport.scrollTop = bottom - this.viewport.clientHeight;
    }
  }

  /**
   * Lays out the visible items. A scroll (`force` false) renders only the items that came into view: an
   * element keeps its index while it stays visible. Anything else (new data, a selection) renders all.
   * @param {boolean} [force]
   */
  render(force = true) {
    const { count, renderRow, columns } = this.options;
    const overscan = this.options.overscan ?? 6;
    const total = count();
    const width = this.viewport.clientWidth || 300;
    const cols = columns ? Math.max(1, Math.floor(columns(width))) : 1;
    this.cols = cols;
    this.viewport.dataset.columns = String(cols);
    const rowHeight = this.rowHeight(); // may depend on the columns (cards are taller than rows)
    const lines = Math.ceil(total / cols);
    this.spacer.style.height = `${lines * rowHeight}px`;
    const height = this.viewport.clientHeight || 400;
    const firstLine = Math.max(0, Math.floor(this.viewport.scrollTop / rowHeight) - overscan);
    const lastLine = Math.min(lines, Math.ceil((this.viewport.scrollTop + height) / rowHeight) + overscan);
    const first = firstLine * cols;
    const last = Math.min(total, lastLine * cols);
    const cellWidth = cols > 1 ? width / cols : 0;
    const layout = `${cols}|${rowHeight}|${cellWidth}|${total}`;
    const relayout = force || layout !== this.layout;
    this.layout = layout;
    /** @type {HTMLElement[]} */
    const free = [];
    /** @type {Map<number, HTMLElement>} */
    const byIndex = new Map();
    for (const [index, row] of this.byIndex) {
      if (index >= first && index < last) byIndex.set(index, row);
      else free.push(row);
    }
    for (let index = first; index < last; index += 1) {
      let row = byIndex.get(index);
      const fresh = !row;
      if (!row) {
        row = free.pop() || this.viewport.appendChild(h("div", { className: "mlib-row", attrs: { role: "option" } }));
        byIndex.set(index, row);
      }
      if (fresh || relayout) {
        const x = cols > 1 ? (index % cols) * cellWidth : 0;
        const y = Math.floor(index / cols) * rowHeight;
        row.style.height = `${rowHeight}px`;
        row.style.width = cols > 1 ? `${cellWidth}px` : "";
        row.style.transform = `translate(${x}px, ${y}px)`;
        row.classList.toggle("mlib-card", cols > 1);
        row.dataset.index = String(index);
        renderRow(row, index);
      }
    }
    for (const row of free) row.remove();
    this.byIndex = byIndex;
    this.rows = [...byIndex.values()];
  }
}

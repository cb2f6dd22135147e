// A virtualised list: fixed row height, only the visible rows (plus a small overscan) exist in the DOM,
// and row elements are recycled while scrolling. Smooth at 10,000+ rows.

import { h } from "../dom.js";

/**
 * @typedef {{
 *   rowHeight: number,
 *   count: () => number,
 *   renderRow: (el: HTMLElement, index: number) => void,
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
    this.frame = 0;
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
      this.render();
    });
  }

  /** @param {number} index */
  scrollToIndex(index) {
    const { rowHeight } = this.options;
    const top = index * rowHeight;
    const bottom = top + rowHeight;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (bottom > this.viewport.scrollTop + this.viewport.clientHeight) {
      this.viewport.scrollTop = bottom - this.viewport.clientHeight;
    }
  }

  render() {
    const { rowHeight, count, renderRow } = this.options;
    const overscan = this.options.overscan ?? 6;
    const total = count();
    this.spacer.style.height = `${total * rowHeight}px`;
    const height = this.viewport.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / rowHeight) - overscan);
    const last = Math.min(total, Math.ceil((this.viewport.scrollTop + height) / rowHeight) + overscan);
    const needed = Math.max(0, last - first);
    while (this.rows.length < needed) {
      const row = h("div", { className: "mlib-row", attrs: { role: "option" } });
      row.style.height = `${rowHeight}px`;
      this.viewport.appendChild(row);
      this.rows.push(row);
    }
    while (this.rows.length > needed) {
      const row = this.rows.pop();
      if (row) row.remove();
    }
    for (let i = 0; i < needed; i += 1) {
      const row = this.rows[i];
      const index = first + i;
      row.style.transform = `translateY(${index * rowHeight}px)`;
      row.dataset.index = String(index);
      renderRow(row, index);
    }
  }
}

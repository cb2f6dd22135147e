// A small drop-down menu of actions (ComfyUI-like icon button): import, download, mapping, the full view.

import { h } from "../dom.js";

export class Menu {
  /** @param {[string, () => void, string][]} items  label, action, test id */
  constructor(items) {
    this.list = h("div", { className: "mlib-menu-list", attrs: { role: "menu" } });
    for (const [label, action, testId] of items) {
      this.list.append(
        h("button", {
          className: "mlib-menu-item",
          type: "button",
          text: label,
          attrs: { role: "menuitem", "data-testid": testId },
          on: {
            click: () => {
              this.element.open = false;
              action();
            },
          },
        }),
      );
    }
    this.element = h("details", { className: "mlib-menu" }, [
      h("summary", { className: "mlib-icon-btn", text: "⋯", title: "More: import, download, mapping", attrs: { "aria-label": "Menu", "data-testid": "menu" } }),
      this.list,
    ]);
    this.element.ownerDocument.addEventListener("mousedown", (event) => {
      if (this.element.open && !this.element.contains(/** @type {Node} */ (event.target))) this.element.open = false;
    });
  }
}

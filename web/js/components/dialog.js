// Modal dialogs over the whole page (not squeezed into the sidebar), themed like the panel.

import { h } from "../dom.js";

/**
 * @typedef {{label: string, kind?: "primary" | "danger" | "plain", onClick?: () => (void | boolean | Promise<void | boolean>),
 *            disabled?: boolean, testId?: string}} DialogAction
 * @typedef {{close: () => void, element: HTMLElement, buttons: HTMLButtonElement[], setError: (text: string) => void}} DialogHandle
 */

/**
 * Opens a modal over `host`. An action's onClick returning false keeps the dialog open.
 * @param {HTMLElement} host
 * @param {{title: string, body: (Node | string)[], actions: DialogAction[], testId?: string, onClose?: () => void,
 *          wide?: boolean}} spec  wide: a large dialog (the full library view)
 * @returns {DialogHandle}
 */
export function openDialog(host, spec) {
  const error = h("div", { className: "mlib-dialog-error", attrs: { role: "alert" }, hidden: true });
  /** @type {HTMLButtonElement[]} */
  const buttons = [];
  const close = () => {
    overlay.remove();
    document.removeEventListener("keydown", onKey, true);
    if (spec.onClose) spec.onClose();
  };
  /** @param {KeyboardEvent} event */
  const onKey = (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    }
  };
  for (const action of spec.actions) {
    const button = h("button", {
      className: `mlib-btn mlib-btn-${action.kind || "plain"}`,
      text: action.label,
      disabled: action.disabled,
      attrs: action.testId ? { "data-testid": action.testId } : {},
    });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const keep = action.onClick ? await action.onClick() : undefined;
        if (keep !== false) close();
      } catch (err) {
        setError(err && typeof err === "object" && "message" in err ? String(err.message) : String(err));
      } finally {
        button.disabled = false;
      }
    });
    buttons.push(button);
  }
  /** @param {string} text */
  const setError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  const box = h(
    "div",
    {
      className: "mlib-dialog",
      attrs: { role: "dialog", "aria-modal": "true", "aria-label": spec.title, ...(spec.testId ? { "data-testid": spec.testId } : {}) },
    },
    [
      h("div", { className: "mlib-dialog-title", text: spec.title }),
      h("div", { className: "mlib-dialog-body" }, spec.body),
      error,
      h("div", { className: "mlib-dialog-actions" }, buttons),
    ],
  );
  const overlay = h("div", { className: "mlib-overlay" }, [box]);
  if (spec.wide) overlay.classList.add("mlib-overlay-wide");
  overlay.addEventListener("mousedown", (event) => {
    if (event.target === overlay) close();
  });
  // On the page's body: inside the sidebar (a containment context) a fixed overlay would be clipped to it.
  (host.ownerDocument.body || host).appendChild(overlay);
  document.addEventListener("keydown", onKey, true);
  return { close, element: box, buttons, setError };
}

// A minimal toast for the standalone page (inside ComfyUI the host's toast service is used instead).

import { h } from "../dom.js";

/** @typedef {{severity: "success" | "info" | "warn" | "error", summary: string, detail?: string, life?: number}} ToastMessage */

/**
 * @param {HTMLElement} host
 * @returns {(message: ToastMessage) => void}
 */
export function createToaster(host) {
  const stack = h("div", { className: "mlib-toasts", attrs: { "aria-live": "polite" } });
  host.appendChild(stack);
  return (message) => {
    const toast = h("div", { className: `mlib-toast mlib-toast-${message.severity}`, attrs: { role: "status" } }, [
      h("strong", { text: message.summary }),
      message.detail ? h("div", { text: message.detail }) : null,
    ]);
    stack.appendChild(toast);
    setTimeout(() => toast.remove(), message.life || 5000);
  };
}

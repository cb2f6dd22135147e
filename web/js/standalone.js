// The standalone page (`model-library serve`, /model-library/): the same panel over plain fetch and a
// websocket. Runs only on that page (marked data-model-library="standalone"): ComfyUI also loads this file.

import { createApi, eventsUrl } from "./api.js";
import { createToaster } from "./components/toast.js";
import { mountPanel } from "./panel.js";

/**
 * Live events over a websocket relaying `{"type", "data"}`, reconnecting with backoff.
 * @param {string} url
 * @returns {import("./panel.js").EventSourceLike}
 */
export function websocketEvents(url) {
  /** @type {Set<import("./panel.js").EventHandler>} */
  const handlers = new Set();
  let delay = 1000;
  let closed = false;
  /** @type {WebSocket | null} */
  let socket = null;
  const connect = () => {
    if (closed) return;
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      delay = 1000;
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        return;
      }
      if (!message || typeof message.type !== "string") return;
      for (const fn of handlers) fn(message.type, message.data);
    });
    socket.addEventListener("close", () => {
      if (closed) return;
      setTimeout(connect, delay);
      delay = Math.min(30000, delay * 2);
    });
  };
  return {
    subscribe(fn) {
      handlers.add(fn);
      if (!socket) connect();
      return () => {
        handlers.delete(fn);
        if (!handlers.size) {
          closed = true;
          socket?.close();
        }
      };
    },
  };
}

export function boot() {
  const root = document.getElementById("model-library-app") || document.body;
  const panel = mountPanel(root, {
    api: createApi((path, init) => fetch(path, init)),
    events: websocketEvents(eventsUrl(window.location)),
    toast: createToaster(document.body),
  });
  /** @type {any} */ (window).modelLibraryPanel = panel;
  return panel;
}

if (typeof document !== "undefined" && document.documentElement.dataset.modelLibrary === "standalone") boot();

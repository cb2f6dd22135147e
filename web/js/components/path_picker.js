// A folder browser over the server's import roots (POST /imports/browse): the import roots first, then
// the folders inside them; a click opens a folder, a model file's checkbox picks it, "Pick this folder"
// picks the folder shown. Names come from the user's disks: shown as text only.

import { h } from "../dom.js";
import { errorText, formatBytes } from "../format.js";

/**
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {{name: string, path: string, kind: "folder" | "model", size?: number}} BrowseEntry
 * @typedef {{path: string | null, parent: string | null, entries: BrowseEntry[], truncated: boolean}} BrowseListing
 */

/**
 * @param {LibraryApi} api
 * @param {(path: string) => void} onPick  called with each path the user picks
 * @returns {{element: HTMLElement, open: (path?: string | null) => Promise<void>}}
 */
export function createPathPicker(api, onPick) {
  const where = h("div", { className: "mlib-picker-where", attrs: { "data-testid": "picker-where" } });
  const list = h("ul", { className: "mlib-picker-list", attrs: { "data-testid": "picker-list" } });
  const note = h("div", { className: "mlib-picker-note" });
  const up = h("button", { className: "mlib-btn", text: "Up", attrs: { "data-testid": "picker-up" } });
  const pickFolder = h("button", { className: "mlib-btn", text: "Pick this folder", attrs: { "data-testid": "picker-folder" } });
  /** @type {BrowseListing | null} */
  let shown = null;

  /** @param {string | null | undefined} path */
  const open = async (path) => {
    note.textContent = "Reading…";
    try {
      shown = /** @type {BrowseListing} */ (await api.browse(path || undefined));
    } catch (error) {
      note.textContent = errorText(error);
      return;
    }
    render(shown);
  };

  /** @param {BrowseListing} listing */
  const render = (listing) => {
    where.textContent = listing.path === null ? "Folders you may import from" : listing.path;
    up.hidden = listing.path === null;
    pickFolder.hidden = listing.path === null;
    list.replaceChildren(
      ...listing.entries.map((entry) => {
        if (entry.kind === "folder") {
          return h("li", { className: "mlib-picker-folder" }, [
            h("button", {
              className: "mlib-link",
              text: `📁 ${entry.name}`,
              attrs: { "data-testid": "picker-entry", title: entry.path },
              on: { click: () => void open(entry.path) },
            }),
          ]);
        }
        const box = h("input", { type: "checkbox", attrs: { "data-testid": "picker-model" } });
        box.addEventListener("change", () => {
          if (box.checked) onPick(entry.path);
        });
        return h("li", { className: "mlib-picker-model" }, [
          h("label", {}, [box, ` ${entry.name}`, h("span", { className: "mlib-dim", text: entry.size ? `  ${formatBytes(entry.size)}` : "" })]),
        ]);
      }),
    );
    note.textContent = listing.entries.length
      ? listing.truncated
        ? "Only the first 2,000 entries are shown."
        : ""
      : listing.path === null
        ? "No import folders are set: add one in the settings (Central Model Library > Library > Import roots)."
        : "No folders or model files here.";
  };

  up.addEventListener("click", () => void open(shown?.parent ?? null));
  pickFolder.addEventListener("click", () => {
    if (shown?.path) onPick(shown.path);
  });

  const element = h("div", { className: "mlib-picker", attrs: { "data-testid": "path-picker" } }, [
    h("div", { className: "mlib-picker-bar" }, [up, where, pickFolder]),
    list,
    note,
  ]);
  return { element, open };
}

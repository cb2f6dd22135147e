// The first open of the panel (per library): where the library is, what was listed in place, that nothing
// was written into ComfyUI's folders, and where to change both. Dismissed once, remembered per library.

import { h } from "../dom.js";

/**
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {{getItem: (k: string) => string | null, setItem: (k: string, v: string) => void}} StorageLike
 */

const KEY = "model-library.welcome:";

/**
 * Shows the welcome banner at the top of `shell` unless this library's was dismissed before.
 * @param {LibraryApi} api
 * @param {HTMLElement} shell
 * @param {StorageLike | null} storage  (localStorage; null: shown every time)
 * @returns {Promise<HTMLElement | null>}  the banner, or null when not shown
 */
export async function showWelcome(api, shell, storage) {
  let status;
  try {
    status = await api.status();
  } catch {
    return null; // the list says what is wrong with the API
  }
  const root = String(status.library_root || "");
  if (!root || (storage && storage.getItem(KEY + root))) return null;
  /** @type {string[]} */
  let inPlace = [];
  let inPlaceModels = 0;
  try {
    const sources = await api.listSources();
    inPlace = (sources.items || []).map((/** @type {{path: string}} */ s) => s.path);
    if (inPlace.length) inPlaceModels = (await api.listModels({ location: "source", limit: 1 })).total;
  } catch {
    // the banner still says where the library is
  }
  const shown = inPlace.slice(0, 3).join(", ") + (inPlace.length > 3 ? ` and ${inPlace.length - 3} more` : "");
  const summary = `Library at ${root} · ${inPlace.length ? `${inPlaceModels} model(s) listed in place` : "nothing listed in place"} · nothing written into ComfyUI`;
  const banner = h("div", { className: "mlib-welcome", attrs: { role: "status", "data-testid": "welcome" } }, [
    h("details", {}, [
      h("summary", { text: summary, attrs: { title: summary } }),
      h("div", { text: `Your library is at ${root}.` }),
      h("div", {
        text: inPlace.length
          ? `${inPlaceModels} model(s) in ${shown} are listed in place: read only, nothing moved or copied.`
          : "No folders are listed in place.",
      }),
      h("div", { text: "Nothing was written into ComfyUI's folders: the library's models are added to its lists while it runs." }),
      h("div", {
        className: "mlib-dim",
        text: "Change the library folder, the folders listed in place, or keep the models visible without this plugin in Settings > Central Model Library.",
      }),
    ]),
  ]);
  const dismiss = h("button", { className: "mlib-btn mlib-welcome-close", text: "×", attrs: { "data-testid": "welcome-dismiss", title: "Got it: do not show again", "aria-label": "Dismiss" } });
  dismiss.addEventListener("click", () => {
    storage?.setItem(KEY + root, "1");
    banner.remove();
  });
  banner.appendChild(dismiss);
  shell.insertBefore(banner, shell.children[1] || null);
  return banner;
}

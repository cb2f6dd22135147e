// A model's picture in a row, a card or the detail: its preview (our re-encoded WebP, loaded lazily,
// blurred above the user's NSFW setting until clicked) or a coloured base tile ("XL", "1.5", "F1").

import { h } from "../dom.js";

/** Short labels of base models for the tile; anything else: its first letters. */
export const BASE_LABELS = /** @type {Record<string, string>} */ ({
  sd15: "1.5", sd2: "2", sdxl: "XL", sdxl_refiner: "XLR", sd3: "3", sd35: "3.5", flux1: "F1", flux2: "F2",
  auraflow: "AF", pixart: "PA", hunyuan_dit: "HD", hunyuan_video: "HV", ltxv: "LTX", mochi: "MO", wan: "WAN",
  cosmos: "COS", lumina2: "LU2", hidream: "HID", chroma: "CH", qwen_image: "QW", stable_cascade: "SC",
  kolors: "KO", z_image: "Z", svd: "SVD", unknown: "?",
});

/** Civitai's NSFW scale and the setting's choices (ModelLibrary.PreviewMaxNsfw). */
export const NSFW_LEVELS = /** @type {Record<string, number>} */ ({ PG: 1, "PG-13": 2, R: 4, X: 8, XXX: 16 });
export const DEFAULT_MAX_NSFW = "PG-13";
const NSFW_STORAGE_KEY = "model-library.preview-max-nsfw";

/** @param {string} base */
export function baseLabel(base) {
  return BASE_LABELS[base] || (base || "?").slice(0, 3).toUpperCase();
}

/** A stable hue per base model, so the same base always has the same colour. @param {string} base */
export function baseHue(base) {
  let hash = 0;
  for (const ch of base || "?") hash = (hash * 31 + ch.charCodeAt(0)) % 360;
  return hash;
}

/** The user's NSFW ceiling: a getter the host sets (ComfyUI's setting), else the browser's storage. */
let maxNsfwGetter = () => {
  try {
    return globalThis.localStorage?.getItem(NSFW_STORAGE_KEY) || DEFAULT_MAX_NSFW;
  } catch {
    return DEFAULT_MAX_NSFW;
  }
};

/** @param {() => string | undefined} getter */
export function setMaxNsfwSource(getter) {
  maxNsfwGetter = () => getter() || DEFAULT_MAX_NSFW;
}

/** Whether a preview of this NSFW level is hidden behind a blur. @param {number | undefined} level */
export function isBlurred(level) {
  const ceiling = NSFW_LEVELS[maxNsfwGetter()] ?? NSFW_LEVELS[DEFAULT_MAX_NSFW];
  return typeof level === "number" && level > ceiling;
}

/** Previews revealed by a click in this page, by URL. */
const revealed = new Set();

/**
 * Fills `box` with the model's preview (lazy) or its base tile; `box` is reused by virtual lists.
 * @param {HTMLElement} box
 * @param {import("../api.js").Model} model
 * @param {string | null} url  the preview URL (api.previewUrl) or null
 */
export function renderThumb(box, model, url) {
  box.classList.add("mlib-thumb");
  const img = /** @type {HTMLImageElement | null} */ (box.querySelector("img"));
  const tile = /** @type {HTMLElement | null} */ (box.querySelector(".mlib-tile"));
  if (!url) {
    if (img) img.remove();
    const label = baseLabel(model.base_model);
    const el = tile || box.appendChild(h("span", { className: "mlib-tile" }));
    el.textContent = label;
    el.style.setProperty("--mlib-hue", String(baseHue(model.base_model)));
    box.classList.remove("mlib-blurred");
    box.dataset.preview = "";
    return;
  }
  if (tile) tile.remove();
  const image = img || box.appendChild(h("img", { attrs: { alt: "", loading: "lazy", decoding: "async", draggable: "false" } }));
  if (image.getAttribute("src") !== url) image.setAttribute("src", url);
  box.dataset.preview = url;
  box.classList.toggle("mlib-blurred", isBlurred(model.preview?.nsfw_level) && !revealed.has(url));
}

/** A click on a blurred preview reveals it (for this page); returns true when it did. @param {HTMLElement} box */
export function reveal(box) {
  if (!box.classList.contains("mlib-blurred")) return false;
  if (box.dataset.preview) revealed.add(box.dataset.preview);
  box.classList.remove("mlib-blurred");
  return true;
}

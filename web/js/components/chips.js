// One-click filter chips with counts: the types and base models present (GET /models/facets, each
// counted under the other filters), Favorites and Recently used. Clicking a chip picks it; again: clears.

import { h } from "../dom.js";

/** Labels of types and base models as chips show them. */
const TYPE_LABELS = /** @type {Record<string, string>} */ ({
  checkpoint: "Checkpoints", lora: "LoRAs", vae: "VAEs", text_encoder: "Text encoders", diffusion_model: "Diffusion",
  controlnet: "ControlNets", clip_vision: "CLIP vision", upscaler: "Upscalers", embedding: "Embeddings",
  unknown: "Unknown",
});
const BASE_LABELS = /** @type {Record<string, string>} */ ({
  sd15: "SD 1.5", sd2: "SD 2", sdxl: "SDXL", sdxl_refiner: "SDXL refiner", sd3: "SD 3", sd35: "SD 3.5",
  flux1: "Flux.1", flux2: "Flux.2", wan: "Wan", unknown: "Unknown base",
});

/** @param {string} value */
export function typeLabel(value) {
  return TYPE_LABELS[value] || value.replace(/_/g, " ");
}

/** @param {string} value */
export function baseChipLabel(value) {
  return BASE_LABELS[value] || value.replace(/_/g, " ");
}

/**
 * @typedef {{type: string | null, base_model: string | null, favorite: boolean, recent: boolean}} ChipState
 */

export class FilterChips {
  /** @param {(state: ChipState) => void} onChange */
  constructor(onChange) {
    this.onChange = onChange;
    /** @type {ChipState} */
    this.state = { type: null, base_model: null, favorite: false, recent: false };
    this.element = h("div", { className: "mlib-chips", attrs: { role: "toolbar", "aria-label": "Filters", "data-testid": "chips" } });
  }

  /** @param {import("../api.js").Facets | null} facets */
  render(facets) {
    const chips = [];
    const favorites = facets ? facets.favorites : 0;
    chips.push(this.chip("Favorites", "favorite", "", favorites, this.state.favorite, "★ "));
    chips.push(this.chip("Recently used", "recent", "", null, this.state.recent));
    for (const [value, n] of Object.entries(facets?.type || {})) {
      chips.push(this.chip(typeLabel(value), "type", value, n, this.state.type === value));
    }
    const bases = Object.entries(facets?.base_model || {});
    if (bases.length > 1 || this.state.base_model) {
      for (const [value, n] of bases) {
        chips.push(this.chip(baseChipLabel(value), "base_model", value, n, this.state.base_model === value));
      }
    }
    this.element.replaceChildren(...chips);
  }

  /**
   * @param {string} label @param {"type" | "base_model" | "favorite" | "recent"} key @param {string} value
   * @param {number | null} count @param {boolean} on @param {string} [prefix]
   */
  chip(label, key, value, count, on, prefix = "") {
    const button = h(
      "button",
      {
        className: `mlib-chip${on ? " mlib-chip-on" : ""}`,
        type: "button",
        attrs: { "aria-pressed": on ? "true" : "false", "data-chip": `${key}:${value}` },
        on: { click: () => this.toggle(key, value) },
      },
      [prefix + label, count !== null ? h("span", { className: "mlib-chip-count", text: count.toLocaleString("en") }) : null],
    );
    return button;
  }

  /** @param {"type" | "base_model" | "favorite" | "recent"} key @param {string} value */
  toggle(key, value) {
    if (key === "favorite") this.state.favorite = !this.state.favorite;
    else if (key === "recent") this.state.recent = !this.state.recent;
    else this.state[key] = this.state[key] === value ? null : value;
    this.onChange(this.state);
  }
}

// Pure formatting helpers and the vocabularies the panel shows (no side effects at import).

export const MODEL_TYPES = [
  "checkpoint", "lora", "vae", "text_encoder", "diffusion_model", "controlnet", "clip_vision",
  "upscaler", "embedding", "style_model", "hypernetwork", "photomaker", "gligen", "unknown",
];

export const BASE_MODELS = [
  "sd15", "sd2", "sdxl", "sdxl_refiner", "sd3", "sd35", "flux1", "flux2", "auraflow", "pixart",
  "hunyuan_dit", "hunyuan_video", "ltxv", "mochi", "wan", "cosmos", "lumina2", "hidream", "chroma",
  "qwen_image", "stable_cascade", "kolors", "unknown",
];

export const SECURITY_LEVELS = ["safe", "unknown", "pickle"];

/** Sort keys of GET /models, with the labels the sort menu shows. */
export const SORTS = [
  ["relevance", "Relevance"], ["name", "Name A–Z"], ["-name", "Name Z–A"], ["-added", "Newest"],
  ["added", "Oldest"], ["-size", "Largest"], ["size", "Smallest"], ["type", "Type"],
];

/** The file-name suffixes a drop treats as model files. */
export const MODEL_FILE_SUFFIXES = [".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin", ".sft"];

/** @param {string} name */
export function isModelFileName(name) {
  const lower = name.toLowerCase();
  return MODEL_FILE_SUFFIXES.some((suffix) => lower.endsWith(suffix));
}

/** @param {string} name */
export function isPickleFileName(name) {
  const lower = name.toLowerCase();
  return [".ckpt", ".pt", ".pth", ".bin"].some((suffix) => lower.endsWith(suffix));
}

/** @param {number | undefined | null} bytes */
export function formatBytes(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** @param {number} done @param {number} total */
export function percent(done, total) {
  if (!total || total <= 0) return 0;
  return Math.max(0, Math.min(100, Math.round((done / total) * 100)));
}

/**
 * How far a model's source can be trusted, by the kind of match that found it.
 * @param {string | undefined} match
 * @returns {{label: string, level: "verified" | "likely" | "manual" | "none", title: string}}
 */
export function trustBadge(match) {
  switch (match) {
    case "hash":
      return { label: "verified", level: "verified", title: "The file's hash matches the Hub file" };
    case "filename_exact":
      return { label: "likely", level: "likely", title: "Same file name on the Hub; hash not confirmed" };
    case "filename_fuzzy":
      return { label: "possible", level: "likely", title: "A similar file name on the Hub; unconfirmed" };
    case "manual":
      return { label: "manual", level: "manual", title: "Set by hand" };
    default:
      return { label: "unknown source", level: "none", title: "No match on the Hub" };
  }
}

/**
 * @param {string | undefined} security
 * @returns {{label: string, level: "safe" | "unknown" | "danger", title: string}}
 */
export function securityBadge(security) {
  if (security === "safe") return { label: "safe", level: "safe", title: "A format that cannot run code" };
  if (security === "pickle") {
    return { label: "pickle", level: "danger", title: "Pickle format: loading it can run code. Only use it if you trust its source." };
  }
  return { label: "unknown", level: "unknown", title: "Format not verified" };
}

/**
 * @param {string | undefined} hex
 * @returns {string}
 */
export function shortHash(hex) {
  return typeof hex === "string" && hex.length > 16 ? `${hex.slice(0, 12)}…${hex.slice(-4)}` : hex || "";
}

/**
 * The human text of an error of any kind (an ApiError, an Error, or anything).
 * @param {unknown} error
 */
export function errorText(error) {
  if (error && typeof error === "object" && "message" in error) return String(error.message);
  return String(error);
}

/**
 * Groups sharded file names (`name-00001-of-00003.safetensors`) by their set; other files stand alone.
 * @template {{name: string}} T
 * @param {T[]} files
 * @returns {{key: string, label: string, files: T[]}[]}
 */
export function groupShards(files) {
  /** @type {Map<string, {key: string, label: string, files: T[]}>} */
  const groups = new Map();
  const shard = /^(.*?)[-_.](\d{3,6})-of-(\d{3,6})(\.[A-Za-z0-9]+)$/;
  for (const file of files) {
    const base = file.name.split("/").pop() || file.name;
    const match = shard.exec(base);
    const dir = file.name.includes("/") ? file.name.slice(0, file.name.indexOf("/")) : "";
    const key = dir ? `dir:${dir}` : match ? `shard:${match[1]}${match[4]}:${match[3]}` : `file:${file.name}`;
    const label = dir ? `${dir}/` : match ? `${match[1]}${match[4]} (${Number(match[3])} shards)` : base;
    const group = groups.get(key) || { key, label, files: [] };
    group.files.push(file);
    groups.set(key, group);
  }
  return [...groups.values()];
}

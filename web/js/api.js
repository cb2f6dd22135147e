// The one module that knows every URL of the model library's HTTP API (CONTRACT.md).
// It holds no state and has no side effects at import: the host loads every .js file under web/js.

/** The API prefix; inside ComfyUI, api.fetchApi adds "/api" in front of it. */
export const API_PREFIX = "/model-library/v1";

/** Headers every state-changing JSON request carries; the server's guard requires both. */
export const GUARD_HEADER = "X-Model-Library";

/**
 * @typedef {(path: string, init?: RequestInit) => Promise<Response>} FetchLike
 * A fetch that resolves `path` (starting with API_PREFIX) against the right origin/prefix.
 */

/**
 * @typedef {{path: string, size: number, blake3?: string, sha256?: string, abs_path?: string}} ModelFile
 * @typedef {{kind: string, repo_id?: string, revision?: string, filename?: string,
 *            match: string, confidence: number}} ModelSource
 * @typedef {{path: string, kind: string, app: string}} ModelLink
 * @typedef {{
 *   id: string, name: string, type: string, base_model: string, format?: string,
 *   file_format?: string, security: string, size: number, location?: string, state?: string,
 *   hashes?: {blake3?: string, sha256?: string}, files?: ModelFile[], source?: ModelSource,
 *   tags?: string[], notes?: string, added_at?: string, updated_at?: string,
 *   manual_fields?: string[], metadata?: Record<string, string>, warnings?: string[],
 *   dir?: string, links?: ModelLink[],
 *   trigger_words?: string[], preview?: Preview | null, origins?: SiteOrigin[], update?: UpdateInfo | null,
 *   favorite?: boolean, used_at?: string, about?: About, default_strength?: number | null
 * }} Model
 * @typedef {{url: string, source: string, nsfw_level: number}} Preview
 * @typedef {{site: string, url: string, model_name?: string, version_name?: string, match: string, confidence: number}} SiteOrigin
 * @typedef {{site: string, version_name: string, url: string}} UpdateInfo
 * @typedef {{description: string, creator: string | null, license: string | null, page_url: string | null}} About
 * @typedef {{type: Record<string, number>, base_model: Record<string, number>, favorites: number, total: number, capped?: boolean}} Facets
 * @typedef {{index: number, site: string, nsfw_level: number, source_url: string, image: string}} GalleryItem
 * @typedef {{items: Model[], total: number, took_ms?: number}} ModelPage
 * @typedef {{q?: string, type?: string, base_model?: string, tag?: string, security?: string, location?: string,
 *            favorite?: boolean, sort?: string, limit?: number, offset?: number}} ModelQuery
 * @typedef {{done: number, total: number, stage: string}} JobProgress
 * @typedef {{id: string, kind: string, state: string, progress?: JobProgress,
 *            result?: any, error?: any}} Job
 * @typedef {{name?: string, type?: string, base_model?: string, tags?: string[], notes?: string,
 *            trigger_words?: string[], favorite?: boolean, default_strength?: number | null}} ModelPatch
 * @typedef {{path: string, size?: number, sha256?: string}} RepoFile
 */

/** An error answer of the API: `{"error": {"code", "message"}}` with its HTTP status. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {Response} response
 * @returns {Promise<any>}
 */
async function readJson(response) {
  const text = await response.text();
  /** @type {any} */
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    const err = body && typeof body === "object" && body.error ? body.error : null;
    const code = err && typeof err.code === "string" ? err.code : `http_${response.status}`;
    const message =
      err && typeof err.message === "string"
        ? err.message
        : `The server answered ${response.status} ${response.statusText || ""}`.trim();
    throw new ApiError(response.status, code, message);
  }
  return body;
}

/**
 * @param {Record<string, string | number | boolean | undefined | null>} params
 * @returns {string}
 */
function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** @param {string} id */
const seg = (id) => encodeURIComponent(id);

/** A Hub repo id keeps its "/" between owner and name; each part is encoded on its own. */
/** @param {string} repoId */
const repoPath = (repoId) => repoId.split("/").map(seg).join("/");

/**
 * The API client. Every method returns parsed JSON or throws ApiError.
 * @param {FetchLike} fetchLike
 * @param {(path: string) => string} [urlOf]  an API path as a URL the page can load (an <img src>)
 */
export function createApi(fetchLike, urlOf = (path) => path) {
  /**
   * @param {string} method
   * @param {string} path
   * @param {any} [body]
   * @param {AbortSignal} [signal]
   */
  const send = async (method, path, body, signal) => {
    /** @type {RequestInit} */
    const init = { method, signal, headers: {} };
    if (method !== "GET") {
      init.headers = { "Content-Type": "application/json", [GUARD_HEADER]: "1" };
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
    return readJson(await fetchLike(API_PREFIX + path, init));
  };

  return {
    /** @param {ModelQuery} query @param {AbortSignal} [signal] @returns {Promise<ModelPage>} */
    listModels: (query, signal) =>
      send("GET", `/models${queryString({ ...query })}`, undefined, signal),
    /** @param {string} id @returns {Promise<Model>} */
    getModel: (id) => send("GET", `/models/${seg(id)}`),
    /** @param {string} id @param {ModelPatch} patch @returns {Promise<Model>} */
    editModel: (id, patch) => send("PATCH", `/models/${seg(id)}`, patch),
    /** @param {string} id @returns {Promise<{removed_links: any[], trashed: any}>} */
    deleteModel: (id) => send("DELETE", `/models/${seg(id)}`),
    /** @param {ModelQuery} query @param {AbortSignal} [signal] @returns {Promise<Facets>} */
    facets: (query, signal) => send("GET", `/models/facets${queryString({ ...query, sort: undefined, limit: undefined, offset: undefined })}`, undefined, signal),
    /** @param {string} id @returns {Promise<any>} */
    markUsed: (id) => send("POST", `/models/${seg(id)}/used`),
    /** @param {string} id @returns {Promise<Model>} */
    enrich: (id) => send("POST", `/models/${seg(id)}/enrich`),
    /**
     * The model's preview image URL (null without one): our re-encoded WebP, `size` 256 or 512.
     * @param {Model} model @param {256 | 512} [size]
     */
    previewUrl: (model, size) => {
      const url = model.preview && typeof model.preview.url === "string" ? model.preview.url : null;
      if (!url || !url.startsWith(`${API_PREFIX}/models/`)) return null;
      return urlOf(size ? `${url}&size=${size}` : url);
    },
    /** @param {string} id @param {Blob} image PNG, JPEG or WebP @returns {Promise<Model>} */
    uploadPreview: async (id, image) =>
      readJson(
        await fetchLike(`${API_PREFIX}/models/${seg(id)}/preview`, {
          method: "PUT",
          headers: { "Content-Type": "application/octet-stream", [GUARD_HEADER]: "1" },
          body: image,
        }),
      ),
    /** @param {string} id @param {string} output a file in ComfyUI's output folder @returns {Promise<Model>} */
    previewFromOutput: (id, output) => readJsonPut(fetchLike, `${API_PREFIX}/models/${seg(id)}/preview`, { output }),
    /** @param {string} id @returns {Promise<Model>} */
    clearPreview: (id) => send("DELETE", `/models/${seg(id)}/preview`),
    /** The images the model's sites show. @param {string} id @returns {Promise<{items: GalleryItem[]}>} */
    gallery: (id) => send("GET", `/models/${seg(id)}/gallery`),
    /** @param {GalleryItem} item @param {256 | 512} [size] */
    galleryUrl: (item, size) =>
      item.image.startsWith(`${API_PREFIX}/models/`) ? urlOf(size ? `${item.image}?size=${size}` : item.image) : null,
    /** @param {string} id @param {number} index @returns {Promise<Model>} */
    previewFromGallery: (id, index) => readJsonPut(fetchLike, `${API_PREFIX}/models/${seg(id)}/preview`, { gallery: index }),

    /** @param {string[]} paths @param {"copy"|"move"} mode @returns {Promise<{job: Job}>} */
    importPaths: (paths, mode) => send("POST", "/imports", { paths, mode }),
    /**
     * The import roots (no path) or one folder inside them: its folders and model files.
     * @param {string} [path]
     * @returns {Promise<{path: string | null, parent: string | null, truncated: boolean,
     *                    entries: {name: string, path: string, kind: "folder" | "model", size?: number}[]}>}
     */
    browse: (path) => send("POST", "/imports/browse", path ? { path } : {}),

    /**
     * @param {{filename: string, size: number, relative_path?: string, group?: string, group_size?: number}} info
     * @returns {Promise<{upload_id: string, offset: number}>}
     */
    createUpload: (info) => send("POST", "/uploads", info),
    /** @param {string} uploadId @returns {Promise<{offset: number, size?: number, complete?: boolean, job_id?: string}>} */
    getUpload: (uploadId) => send("GET", `/uploads/${seg(uploadId)}`),
    /** @param {string} uploadId @returns {Promise<any>} */
    discardUpload: (uploadId) => send("DELETE", `/uploads/${seg(uploadId)}`),
    /**
     * Sends bytes [start, start + chunk.size) of a file of `total` bytes.
     * @param {string} uploadId @param {Blob} chunk @param {number} start @param {number} total
     * @param {AbortSignal} [signal]
     * @returns {Promise<{offset?: number, job?: Job}>}
     */
    putUploadChunk: async (uploadId, chunk, start, total, signal) => {
      const end = start + chunk.size - 1;
      const response = await fetchLike(`${API_PREFIX}/uploads/${seg(uploadId)}`, {
        method: "PUT",
        signal,
        headers: {
          "Content-Type": "application/octet-stream",
          "Content-Range": `bytes ${start}-${end}/${total}`,
          [GUARD_HEADER]: "1",
        },
        body: chunk,
      });
      return readJson(response);
    },

    /** @returns {Promise<{items: Job[]}>} */
    listJobs: () => send("GET", "/jobs"),
    /** @param {string} id @returns {Promise<Job>} */
    getJob: (id) => send("GET", `/jobs/${seg(id)}`),
    /** @param {string} id @returns {Promise<any>} */
    cancelJob: (id) => send("DELETE", `/jobs/${seg(id)}`),

    /** @param {string} modelId @returns {Promise<{candidates: any[]}>} */
    hubLookup: (modelId) => send("POST", "/hf/lookup", { model_id: modelId }),
    /** @param {string} repoId @param {string} [revision] @returns {Promise<{files: RepoFile[]}>} */
    hubRepoFiles: (repoId, revision) =>
      send("GET", `/hf/repos/${repoPath(repoId)}/files${queryString({ revision })}`),
    /** @param {string} repoId @param {string} filename @param {string} [revision] @returns {Promise<{job: Job}>} */
    hubDownload: (repoId, filename, revision) =>
      send("POST", "/hf/downloads", revision ? { repo_id: repoId, filename, revision } : { repo_id: repoId, filename }),

    /** @returns {Promise<{status: string, broken?: any, orphaned?: any, missing?: any}>} */
    health: () => send("GET", "/health"),
    /** @returns {Promise<{repaired: any, failed: any}>} */
    repairHealth: () => send("POST", "/health/repair"),

    /** @returns {Promise<{create?: any[], ok?: any[], conflicts?: any[], remove?: any[]}>} */
    mappingPreview: () => send("POST", "/mapping/preview"),
    /** @param {Record<string, string>} resolutions @returns {Promise<{created: any, removed: any, skipped: any}>} */
    mappingApply: (resolutions) => send("POST", "/mapping/apply", { resolutions }),

    /** @returns {Promise<{version?: string, library_root?: string, models?: number, jobs_running?: number, network?: any}>} */
    status: () => send("GET", "/status"),
    /** @returns {Promise<{items: {id: number, path: string, read_only: boolean, auto?: boolean}[]}>} */
    listSources: () => send("GET", "/sources"),

    /** @param {any} workflow @returns {Promise<{items: any[], format: string, counts: Record<string, number>, problems: string[]}>} */
    checkWorkflow: (workflow) => send("POST", "/workflows/check", { workflow }),
    /**
     * @param {any} workflow @param {{node_id: string | null, name: string, model_id: string}[]} choices
     * @returns {Promise<{job: Job}>}
     */
    fetchWorkflow: (workflow, choices) => send("POST", "/workflows/fetch", choices.length ? { workflow, choices } : { workflow }),
    /** @param {any} workflow @returns {Promise<{workflow: any, stamped: any[]}>} */
    stampWorkflow: (workflow) => send("POST", "/workflows/stamp", { workflow }),
    /** The workflow a dropped JSON/PNG/WebP file carries. @param {Blob} file @returns {Promise<{workflow: any, format: string}>} */
    readWorkflow: async (file) =>
      readJson(
        await fetchLike(`${API_PREFIX}/workflows/read`, {
          method: "POST",
          headers: { "Content-Type": "application/octet-stream", [GUARD_HEADER]: "1" },
          body: file,
        }),
      ),
  };
}

/** @param {FetchLike} fetchLike @param {string} path @param {any} body */
async function readJsonPut(fetchLike, path, body) {
  return readJson(
    await fetchLike(path, {
      method: "PUT",
      headers: { "Content-Type": "application/json", [GUARD_HEADER]: "1" },
      body: JSON.stringify(body),
    }),
  );
}

/** @typedef {ReturnType<typeof createApi>} LibraryApi */

/**
 * The standalone page's websocket address for live events (`{"type", "data"}` messages).
 * @param {Location | URL} where
 */
export function eventsUrl(where) {
  const scheme = where.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${where.host}${API_PREFIX}/events`;
}


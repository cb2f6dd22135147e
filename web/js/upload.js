// Resumable uploads: POST /uploads, then PUT chunks with Content-Range; after a failed chunk, ask the
// server how much it has (GET /uploads/{id}) and continue from there. No side effects at import.

import { ApiError } from "./api.js";

export const CHUNK_SIZE = 8 * 1024 * 1024;

/**
 * @typedef {import("./api.js").LibraryApi} LibraryApi
 * @typedef {import("./api.js").Job} Job
 * @typedef {{
 *   onProgress?: (sent: number, total: number) => void,
 *   signal?: AbortSignal,
 *   chunkSize?: number,
 *   relativePath?: string,
 *   group?: string,
 *   groupSize?: number,
 *   maxRetries?: number,
 *   retryDelayMs?: number,
 * }} UploadOptions
 */

/** @param {number} ms @param {AbortSignal | undefined} signal */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("Upload cancelled", "AbortError"));
    });
  });
}

/** Errors worth retrying: the network, a timeout, a conflict on the offset, or a server error. */
/** @param {unknown} error */
function retryable(error) {
  if (error instanceof ApiError) return error.status >= 500 || error.status === 409 || error.status === 416 || error.status === 408;
  return !(error instanceof DOMException && error.name === "AbortError");
}

/**
 * Uploads `file`; resolves with the import job the server started when the last byte arrived. A file of
 * a group (`group`, `groupSize`, `relativePath`) resolves with `job: null` until the group's last file,
 * whose completion starts ONE import of the whole group (sharded sets, Diffusers folders).
 * @param {LibraryApi} api
 * @param {File} file
 * @param {UploadOptions} [options]
 * @returns {Promise<{uploadId: string, job: Job | null}>}
 */
export async function uploadFile(api, file, options = {}) {
  const chunkSize = options.chunkSize || CHUNK_SIZE;
  const maxRetries = options.maxRetries ?? 5;
  const total = file.size;
  if (total === 0) throw new Error(`"${file.name}" is empty (0 bytes); there is nothing to import.`);
  /** @type {{filename: string, size: number, relative_path?: string, group?: string, group_size?: number}} */
  const info = { filename: file.name, size: total };
  if (options.relativePath) info.relative_path = options.relativePath;
  if (options.group) {
    info.group = options.group;
    info.group_size = options.groupSize || 1;
  }
  // No retry without the group fields: a file of a sharded set or Diffusers folder uploaded on its own
  // would import as a broken model. A refused path (e.g. a folder named "CON") is shown to the user.
  const created = await api.createUpload(info);
  const uploadId = created.upload_id;
  let offset = created.offset || 0;
  let failures = 0;
  /** @type {Job | null} */
  let job = null;
  options.onProgress?.(offset, total);
  const onAbort = () => void api.discardUpload(uploadId).catch(() => {});
  options.signal?.addEventListener("abort", onAbort);
  while (offset < total) {
    if (options.signal?.aborted) throw new DOMException("Upload cancelled", "AbortError");
    const end = Math.min(total, offset + chunkSize);
    try {
      const answer = await api.putUploadChunk(uploadId, file.slice(offset, end), offset, total, options.signal);
      offset = typeof answer.offset === "number" ? answer.offset : end;
      if (answer.job) job = answer.job;
      failures = 0;
      options.onProgress?.(offset, total);
    } catch (error) {
      if (!retryable(error) || failures >= maxRetries) throw error;
      failures += 1;
      await sleep((options.retryDelayMs ?? 500) * 2 ** (failures - 1), options.signal);
      const state = await api.getUpload(uploadId);
      offset = state.offset;
      if (!job && state.job_id && offset >= total) job = await api.getJob(state.job_id);
      options.onProgress?.(offset, total);
    }
  }
  options.signal?.removeEventListener("abort", onAbort);
  return { uploadId, job };
}

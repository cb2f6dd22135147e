// Panel state: a tiny observable store, and the pager that feeds the virtual list from GET /models.
// No side effects at import.

/**
 * @template T
 * @typedef {{get: () => T, set: (patch: Partial<T>) => void, subscribe: (fn: (state: T) => void) => () => void}} Store
 */

/**
 * @template {object} T
 * @param {T} initial
 * @returns {Store<T>}
 */
export function createStore(initial) {
  let state = initial;
  /** @type {Set<(state: T) => void>} */
  const listeners = new Set();
  return {
    get: () => state,
    set(patch) {
      state = /** @type {T} */ ({ ...(/** @type {object} */ (state)), ...patch });
      for (const fn of [...listeners]) fn(state);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}

/** @typedef {import("./api.js").Model} Model */
/** @typedef {import("./api.js").ModelQuery} ModelQuery */
/** @typedef {import("./api.js").ModelPage} ModelPage */

export const PAGE_SIZE = 200;

/**
 * Loads the result list block by block as the user scrolls. Each new query bumps a generation number and
 * aborts requests in flight, so a slow answer to an old query can never overwrite a newer one.
 */
export class ModelPager {
  /**
   * @param {(query: ModelQuery, signal: AbortSignal) => Promise<ModelPage>} load
   * @param {() => void} onChange called when rows arrive or the total changes
   * @param {(error: unknown) => void} onError
   */
  constructor(load, onChange, onError) {
    this.load = load;
    this.onChange = onChange;
    this.onError = onError;
    /** @type {ModelQuery} */
    this.query = {};
    this.generation = 0;
    this.total = 0;
    /** Whether the first block of the current query has arrived. */
    this.ready = false;
    /** @type {number | undefined} */
    this.tookMs = undefined;
    /** @type {Map<number, Model[]>} */
    this.blocks = new Map();
    /** @type {Map<number, AbortController>} */
    this.pending = new Map();
    /** Rows on screen belong to the previous run of the same query (refresh in flight). */
    this.stale = false;
  }

  /**
   * Starts a new query; resolves when its first block arrived (or was superseded).
   * @param {ModelQuery} query
   */
  setQuery(query) {
    return this.start(query, false);
  }

  /** Re-runs the current query (after a change event); the old rows stay until the new ones arrive. */
  refresh() {
    return this.start(this.query, true);
  }

  /** @param {ModelQuery} query @param {boolean} keepRows */
  start(query, keepRows) {
    this.generation += 1;
    for (const controller of this.pending.values()) controller.abort();
    this.pending.clear();
    if (!keepRows) {
      this.blocks.clear();
      this.ready = false;
    }
    this.stale = keepRows;
    this.query = { ...query };
    return this.fetchBlock(0);
  }

  /**
   * The model at `index`, or undefined while its block loads (the load is started here).
   * @param {number} index
   * @returns {Model | undefined}
   */
  at(index) {
    const block = Math.floor(index / PAGE_SIZE);
    const rows = this.blocks.get(block);
    if (!rows) {
      if (!this.pending.has(block) && this.ready && !this.stale) void this.fetchBlock(block);
      return undefined;
    }
    return rows[index - block * PAGE_SIZE];
  }

  /** @param {number} block */
  async fetchBlock(block) {
    const generation = this.generation;
    const controller = new AbortController();
    this.pending.set(block, controller);
    try {
      const page = await this.load(
        { ...this.query, limit: PAGE_SIZE, offset: block * PAGE_SIZE },
        controller.signal,
      );
      if (generation !== this.generation) return; // a newer query won
      if (this.stale) {
        this.blocks.clear();
        this.stale = false;
      }
      this.blocks.set(block, Array.isArray(page.items) ? page.items : []);
      this.total = typeof page.total === "number" ? page.total : page.items.length;
      this.tookMs = page.took_ms;
      this.ready = true;
      this.onChange();
    } catch (error) {
      if (generation !== this.generation || controller.signal.aborted) return;
      this.onError(error);
    } finally {
      if (this.pending.get(block) === controller) this.pending.delete(block);
    }
  }
}

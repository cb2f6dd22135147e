// The panel: one UI for the ComfyUI sidebar tab and the standalone page. It receives its host adapters
// (API client, event source, toast) and never imports ComfyUI itself. No side effects at import.

import { debounce, h } from "./dom.js";
import { errorText } from "./format.js";
import { openDownloadDialog, openPathImportDialog } from "./components/downloads.js";
import { DetailPane } from "./components/detail.js";
import { DropZone } from "./components/dropzone.js";
import { HealthBadge, openMappingDialog } from "./components/health.js";
import { openImportDialog } from "./components/import_dialog.js";
import { JobsView, isFinal, jobTitle } from "./components/jobs.js";
import { openFullView } from "./components/full_view.js";
import { LibraryView } from "./components/library_view.js";
import { Menu } from "./components/menu.js";
import { showWelcome } from "./components/welcome.js";
import { WorkflowView } from "./components/workflow_view.js";
import { ensureStyles } from "./styles.js";

/**
 * @typedef {import("./api.js").LibraryApi} LibraryApi
 * @typedef {import("./api.js").Job} Job
 * @typedef {(type: string, data: any) => void} EventHandler
 * @typedef {{subscribe: (fn: EventHandler) => () => void}} EventSourceLike
 *   Events are "job" (a Job) and "changed" ({ids, reason}); a "model-library." prefix is accepted.
 * @typedef {{api: LibraryApi, events: EventSourceLike, toast: (m: import("./components/toast.js").ToastMessage) => void,
 *            chunkSize?: number, statusIntervalMs?: number,
 *            onPlace?: (model: import("./api.js").Model) => void,
 *            onAdd?: (model: import("./api.js").Model) => void,
 *            lastOutput?: () => Promise<string | null>,
 *            workflow?: {getWorkflow: () => any, applyNames: (items: any[]) => number, applyStamp: (workflow: any) => number}}} PanelOptions
 *   onPlace: inside ComfyUI, puts a model's loader on the canvas (the import dialog offers it).
 *   onAdd: inside ComfyUI, "Add to workflow": the model's loader wired into the graph.
 */

/**
 * Whether the Hub looks unreachable from a /status `network` value (an open circuit breaker, or offline).
 * @param {any} network
 */
export function hubOffline(network) {
  if (!network || typeof network !== "object") return false;
  if (network.online === false || network.offline === true) return true;
  const states = [network.circuit, network.state, network.breaker];
  for (const value of Object.values(network)) {
    if (value && typeof value === "object") states.push(value.circuit, value.state, value.breaker);
  }
  return states.some((s) => s === "open");
}

/**
 * Mounts the panel into `root`.
 * @param {HTMLElement} root
 * @param {PanelOptions} options
 */
export function mountPanel(root, options) {
  ensureStyles(root.ownerDocument);
  const { api, toast } = options;
  const shell = h("div", { className: "mlib-root", attrs: { "data-testid": "model-library" } });
  root.appendChild(shell);

  const jobs = new JobsView({ api });
  const refreshAll = debounce(() => {
    void view.refresh();
    if (view.selected) void detail.show(view.selected);
    void health.refresh();
  }, 200);
  const detail = new DetailPane({
    api,
    host: shell,
    toast,
    onChanged: () => refreshAll(),
    onAdd: options.onAdd,
    onClose: () => view.select(null),
    lastOutput: options.lastOutput,
  });
  const view = new LibraryView({
    api,
    onSelect: (id) => {
      if (id || !detail.element.hidden) void detail.show(id);
    },
    onError: (error) => toast({ severity: "error", summary: "Could not save", detail: errorText(error) }),
    onAdd: options.onAdd,
  });
  const health = new HealthBadge({ api, host: shell, toast, onChanged: () => refreshAll() });
  /** @param {Job[]} finished @param {string} label */
  const onImported = (finished, label) => {
    refreshAll();
    void openImportDialog({ api, host: shell, toast, onChanged: () => refreshAll(), onShow: (id) => view.select(id), onPlace: options.onPlace }, finished, label);
  };
  jobs.onFinal = (job) => {
    if (job.state === "done") toast({ severity: "success", summary: `${jobTitle(job)}: done`, life: 3000 });
    else if (job.state === "failed") toast({ severity: "error", summary: `${jobTitle(job)}: failed`, detail: errorText(job.error?.message ?? job.error ?? "unknown error") });
    refreshAll();
  };
  const offline = h("div", { className: "mlib-offline", hidden: true, attrs: { role: "status", "data-testid": "offline" }, text: "Hugging Face is unreachable: lookups and downloads wait until it answers again." });
  const ctx = { api, host: shell, jobs, toast, onImported };
  const workflowView = new WorkflowView({ api, jobs, toast, ...(options.workflow || {}), onChanged: () => refreshAll() });
  /** @param {File} file  a dropped workflow file: read by the server, then checked */
  const onWorkflowFile = (file) => {
    workflowView.element.open = true;
    api.readWorkflow(file).then(
      (answer) => workflowView.check(answer.workflow),
      (error) => toast({ severity: "error", summary: `${file.name}: no workflow`, detail: errorText(error) }),
    );
  };
  const menu = new Menu([
    ["Open full library", () => openFullView({ api, toast, onAdd: options.onAdd, onChanged: () => refreshAll() }), "full-view"],
    ["Import path…", () => openPathImportDialog(ctx), "import-path"],
    ["Download…", () => openDownloadDialog(ctx), "download"],
    ["Mapping…", () => void openMappingDialog({ api, host: shell, toast, onChanged: () => refreshAll() }), "mapping"],
  ]);
  const header = h("div", { className: "mlib-header" }, [
    h("span", { className: "mlib-title", text: "Central Model Library" }),
    health.element,
    h("span", { className: "mlib-spacer" }),
    h("button", {
      className: "mlib-icon-btn",
      title: "Open the full library",
      attrs: { "aria-label": "Open the full library", "data-testid": "open-full" },
      on: { click: () => openFullView({ api, toast, onAdd: options.onAdd, onChanged: () => refreshAll() }) },
    }, [expandIcon()]),
    menu.element,
  ]);
  // "/" focuses the search (unless typing somewhere already).
  shell.addEventListener("keydown", (event) => {
    const target = /** @type {HTMLElement} */ (event.target);
    if (event.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) && !target.isContentEditable) {
      event.preventDefault();
      view.search.focus();
    }
  });
  shell.append(
    header,
    offline,
    workflowView.element,
    h("div", { className: "mlib-main" }, [view.element, detail.element]),
    jobs.element,
    h("div", { className: "mlib-drop-hint", text: "Drop .safetensors / .gguf files or folders here to import them, or a workflow (.json, .png) to check its models." }),
  );
  const dropZone = new DropZone({ api, jobs, toast, chunkSize: options.chunkSize, onImported, onWorkflowFile }, shell);

  const checkStatus = async () => {
    try {
      const status = await api.status();
      offline.hidden = !hubOffline(status.network);
    } catch {
      // the list shows API errors; the banner is only about the Hub
    }
  };
  const timer = setInterval(() => void checkStatus(), options.statusIntervalMs || 30000);
  const unsubscribe = options.events.subscribe((type, data) => {
    const kind = type.startsWith("model-library.") ? type.slice("model-library.".length) : type;
    if (kind === "job") jobs.onJob(data);
    else if (kind === "changed") refreshAll();
  });

  void view.runQuery();
  void health.refresh();
  void showWelcome(api, shell, safeStorage());
  void checkStatus();
  api.listJobs().then(
    (answer) => (answer.items || []).forEach((job) => (isFinal(job) ? jobs.finished.set(job.id, job) : jobs.onJob(job))),
    () => {},
  );

  return {
    element: shell,
    view,
    detail,
    jobs,
    dropZone,
    workflowView,
    destroy() {
      clearInterval(timer);
      unsubscribe();
      shell.remove();
    },
  };
}

/** Our own icon (an expand arrow), drawn as SVG elements: no markup from anywhere is parsed. */
function expandIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "mlib-icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M14 4h6v6M10 20H4v-6M20 4l-7 7M4 20l7-7");
  svg.appendChild(path);
  return svg;
}

/** localStorage when the page may use it (a sandboxed frame may not), else null. */
function safeStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/** @typedef {ReturnType<typeof mountPanel>} Panel */

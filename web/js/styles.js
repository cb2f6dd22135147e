// The panel's stylesheet, injected once per document. Colours follow ComfyUI's CSS variables when present.

const STYLE_ID = "model-library-styles";

const CSS = `
.mlib-root { --mlib-bg: var(--comfy-menu-bg, #202124); --mlib-fg: var(--fg-color, #e8eaed);
  --mlib-muted: var(--descrip-text, #9aa0a6); --mlib-border: var(--border-color, #3c4043);
  --mlib-input: var(--comfy-input-bg, #2b2c2f); --mlib-accent: #4f8cff; --mlib-row-hover: rgba(255,255,255,.05);
  position: relative; display: flex; flex-direction: column; height: 100%; min-height: 0; box-sizing: border-box;
  overflow-y: auto;
  background: var(--mlib-bg); color: var(--mlib-fg); font: 13px/1.4 system-ui, sans-serif; container-type: inline-size; }
.mlib-root * { box-sizing: border-box; }
.mlib-header { display: flex; align-items: center; gap: 6px; padding: 8px; border-bottom: 1px solid var(--mlib-border); flex-wrap: wrap; }
.mlib-title { font-weight: 600; font-size: 14px; }
.mlib-spacer { flex: 1; }
.mlib-btn { background: var(--mlib-input); color: var(--mlib-fg); border: 1px solid var(--mlib-border); border-radius: 4px;
  padding: 4px 10px; cursor: pointer; font: inherit; }
.mlib-btn:hover:not(:disabled) { border-color: var(--mlib-accent); }
.mlib-btn:disabled { opacity: .5; cursor: not-allowed; }
.mlib-btn-primary { background: var(--mlib-accent); border-color: var(--mlib-accent); color: #fff; }
.mlib-btn-danger { border-color: #d93025; color: #ff8a80; }
.mlib-btn-small { padding: 0 6px; font-size: 11px; }
.mlib-root input, .mlib-root select, .mlib-root textarea { background: var(--mlib-input); color: var(--mlib-fg);
  border: 1px solid var(--mlib-border); border-radius: 4px; padding: 4px 6px; font: inherit; min-width: 0; }
.mlib-root textarea { min-height: 60px; resize: vertical; width: 100%; }
.mlib-offline { background: #5c3c00; color: #ffd180; padding: 6px 8px; font-size: 12px; }
.mlib-main { flex: 1; min-height: 260px; display: flex; flex-direction: column; }
@container (min-width: 720px) { .mlib-main { flex-direction: row; } .mlib-library { flex: 1 1 0; min-width: 0; border-right: 1px solid var(--mlib-border); }
  .mlib-detail { flex: 1 1 0; min-width: 0; max-height: none !important; border-top: none !important; } }
.mlib-library { display: flex; flex-direction: column; min-height: 180px; flex: 1; }
.mlib-toolbar { padding: 8px 8px 4px; }
.mlib-toolbar input[type=search] { width: 100%; padding: 6px 8px; }
.mlib-filters { display: flex; flex-wrap: wrap; gap: 4px; padding: 0 8px 6px; }
.mlib-filters select, .mlib-filters input { flex: 1 1 90px; }
@container (max-width: 320px) { .mlib-header .mlib-btn { padding: 3px 7px; font-size: 12px; } .mlib-field-label { flex-basis: 64px; } }
.mlib-summary { padding: 2px 10px 4px; color: var(--mlib-muted); font-size: 11px; }
.mlib-vlist { position: relative; flex: 1; min-height: 160px; overflow-y: auto; contain: strict; outline: none; }
.mlib-vlist-spacer { width: 1px; }
.mlib-row { position: absolute; top: 0; left: 0; right: 0; display: flex; align-items: center; gap: 8px; padding: 0 10px;
  border-bottom: 1px solid var(--mlib-border); cursor: pointer; will-change: transform; }
.mlib-row:hover { background: var(--mlib-row-hover); }
.mlib-row.mlib-selected { background: rgba(79,140,255,.22); }
.mlib-row-main { flex: 1; min-width: 0; display: flex; flex-direction: column; }
.mlib-row-name { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.mlib-row-sub { color: var(--mlib-muted); font-size: 11px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.mlib-row-size { color: var(--mlib-muted); font-size: 11px; white-space: nowrap; }
.mlib-row-flag { color: #ff8a80; font-size: 10px; text-transform: uppercase; }
.mlib-detail { overflow-y: auto; padding: 10px; border-top: 1px solid var(--mlib-border); max-height: 45%; min-height: 0; }
.mlib-detail-name { margin: 0 0 6px; font-size: 15px; word-break: break-word; }
.mlib-detail-actions { display: flex; gap: 6px; margin: 8px 0; }
.mlib-badges { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }
.mlib-badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px; border: 1px solid var(--mlib-border); white-space: nowrap; }
.mlib-trust-verified, .mlib-sec-safe { background: #0d3b1e; border-color: #1e8e3e; color: #81c995; }
.mlib-trust-likely { background: #3b2f00; border-color: #f9ab00; color: #fdd663; }
.mlib-trust-manual { background: #1a2b4c; border-color: #4f8cff; color: #aecbfa; }
.mlib-trust-none, .mlib-sec-unknown { color: var(--mlib-muted); }
.mlib-sec-danger { background: #4c1210; border-color: #d93025; color: #f28b82; }
.mlib-section { margin-top: 10px; }
.mlib-section h4, .mlib-dialog h4 { margin: 8px 0 4px; font-size: 12px; color: var(--mlib-muted); text-transform: uppercase; letter-spacing: .04em; }
.mlib-field { display: flex; gap: 8px; padding: 1px 0; }
.mlib-field-label { flex: 0 0 84px; color: var(--mlib-muted); }
.mlib-field-value { flex: 1; min-width: 0; word-break: break-word; }
.mlib-mono { font-family: ui-monospace, monospace; font-size: 11px; word-break: break-all; }
.mlib-notes { white-space: pre-wrap; }
.mlib-list { margin: 0; padding-left: 18px; }
.mlib-muted, .mlib-empty { color: var(--mlib-muted); }
.mlib-empty { padding: 20px; text-align: center; }
.mlib-error, .mlib-dialog-error { color: #f28b82; padding: 4px 0; white-space: pre-wrap; }
.mlib-warning { background: #4c1210; border: 1px solid #d93025; color: #f6aea9; border-radius: 4px; padding: 6px 8px; margin: 6px 0; }
.mlib-ack { display: flex; gap: 6px; align-items: center; margin-top: 6px; }
.mlib-picker { border: 1px solid var(--border-color, #444); border-radius: 4px; padding: 6px; margin-bottom: 8px; }
.mlib-picker-bar { display: flex; gap: 6px; align-items: center; }
.mlib-picker-where { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; opacity: 0.8; }
.mlib-picker-list { list-style: none; margin: 6px 0 0; padding: 0; max-height: 220px; overflow-y: auto; }
.mlib-picker-list li { padding: 1px 0; }
.mlib-picker-list .mlib-link { background: none; border: none; color: inherit; cursor: pointer; padding: 0; text-align: left; }
.mlib-picker-note { opacity: 0.7; font-size: 0.9em; }
.mlib-dim { opacity: 0.6; }
.mlib-wf { border-bottom: 1px solid var(--mlib-border); padding: 2px 8px; }
.mlib-wf summary { cursor: pointer; padding: 4px 0; }
.mlib-wf-bar { display: flex; gap: 6px; flex-wrap: wrap; margin: 4px 0; }
.mlib-wf-list { max-height: 240px; overflow-y: auto; }
.mlib-wf-item { padding: 4px 0; border-top: 1px solid var(--mlib-border); }
.mlib-wf-head { display: flex; gap: 6px; align-items: center; }
.mlib-wf-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
.mlib-wf-missing .mlib-badge, .mlib-wf-pick .mlib-badge, .mlib-wf-refused .mlib-badge, .mlib-wf-failed .mlib-badge { background: #5c2b29; }
.mlib-wf-item select { width: 100%; margin-top: 2px; }
.mlib-welcome { border: 1px solid var(--border-color, #555); border-radius: 4px; padding: 2px 6px; margin: 4px 0; display: flex; gap: 4px; align-items: flex-start; font-size: 0.9em; }
.mlib-welcome details { flex: 1; min-width: 0; }
.mlib-welcome summary { cursor: pointer; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.mlib-welcome details[open] summary { white-space: normal; }
.mlib-welcome details > div { margin: 3px 0; }
.mlib-welcome-close { padding: 0 6px; }
.mlib-jobs { max-height: 30%; overflow-y: auto; }
.mlib-job { padding: 4px 8px; border-top: 1px solid var(--mlib-border); font-size: 12px; }
.mlib-job-head { display: flex; gap: 6px; align-items: center; }
.mlib-job-label { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.mlib-job-text { color: var(--mlib-muted); font-size: 11px; white-space: nowrap; }
.mlib-progress { height: 4px; background: var(--mlib-input); border-radius: 2px; overflow: hidden; margin-top: 3px; }
.mlib-progress-bar { height: 100%; width: 0; background: var(--mlib-accent); transition: width .2s; }
.mlib-job-done .mlib-progress-bar { background: #1e8e3e; width: 100% !important; }
.mlib-job-failed .mlib-progress-bar { background: #d93025; width: 100%; }
.mlib-drop-hint { padding: 6px 8px; color: var(--mlib-muted); font-size: 11px; border-top: 1px dashed var(--mlib-border); text-align: center; }
.mlib-drop-overlay { position: absolute; inset: 0; background: rgba(79,140,255,.18); border: 2px dashed var(--mlib-accent);
  display: flex; align-items: center; justify-content: center; font-size: 16px; z-index: 20; pointer-events: none; }
.mlib-drop-overlay[hidden] { display: none; }
.mlib-overlay { position: absolute; inset: 0; background: rgba(0,0,0,.55); display: flex; align-items: flex-start; justify-content: center; z-index: 30; padding: 24px 8px; overflow-y: auto; }
.mlib-dialog { background: var(--mlib-bg); border: 1px solid var(--mlib-border); border-radius: 6px; width: min(560px, 100%); box-shadow: 0 8px 30px rgba(0,0,0,.5); }
.mlib-dialog-title { padding: 10px 12px; font-weight: 600; border-bottom: 1px solid var(--mlib-border); word-break: break-word; }
.mlib-dialog-body { padding: 10px 12px; max-height: 60vh; overflow-y: auto; }
.mlib-dialog-error { padding: 0 12px; }
.mlib-dialog-error[hidden] { display: none; }
.mlib-dialog-actions { display: flex; justify-content: flex-end; gap: 6px; padding: 10px 12px; border-top: 1px solid var(--mlib-border); }
.mlib-form-row { display: flex; flex-direction: column; gap: 2px; margin: 6px 0; }
.mlib-form-row > span { color: var(--mlib-muted); font-size: 11px; }
.mlib-import-item { border: 1px solid var(--mlib-border); border-radius: 4px; padding: 8px; margin: 6px 0; }
.mlib-file-picker { margin-top: 8px; max-height: 240px; overflow-y: auto; }
.mlib-file-row { display: flex; gap: 6px; align-items: center; padding: 2px 0; }
.mlib-conflict select { flex: 0 0 auto; }
.mlib-conflict { display: flex; gap: 6px; align-items: center; justify-content: space-between; padding: 3px 0; }
.mlib-health { border-radius: 9px; padding: 0 8px; font-size: 11px; cursor: pointer; border: 1px solid var(--mlib-border); background: transparent; color: var(--mlib-muted); }
.mlib-health-healthy { border-color: #1e8e3e; color: #81c995; }
.mlib-health-warnings { border-color: #f9ab00; color: #fdd663; }
.mlib-health-errors { border-color: #d93025; color: #f28b82; }
.mlib-toasts { position: fixed; right: 12px; bottom: 12px; display: flex; flex-direction: column; gap: 6px; z-index: 50; }
.mlib-toast { background: #303134; color: #e8eaed; border-left: 4px solid #4f8cff; padding: 8px 12px; border-radius: 4px; max-width: 360px; font: 13px system-ui, sans-serif; word-break: break-word; }
.mlib-toast-success { border-color: #1e8e3e; } .mlib-toast-error { border-color: #d93025; } .mlib-toast-warn { border-color: #f9ab00; }
`;

/**
 * Adds the stylesheet to `doc` unless it is there already.
 * @param {Document} doc
 */
export function ensureStyles(doc) {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  doc.head.appendChild(style);
}

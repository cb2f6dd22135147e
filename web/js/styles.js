// The panel's stylesheet, injected once per document. Colours follow ComfyUI's CSS variables when present.

const STYLE_ID = "model-library-styles";

const CSS = `
.mlib-root, .mlib-overlay { --mlib-bg: var(--comfy-menu-bg, #202124); --mlib-fg: var(--fg-color, #e8eaed);
  --mlib-muted: var(--descrip-text, #9aa0a6); --mlib-border: var(--border-color, #3c4043);
  --mlib-input: var(--comfy-input-bg, #2b2c2f); --mlib-accent: #4f8cff; --mlib-row-hover: rgba(255,255,255,.05);
  color: var(--mlib-fg); font: 13px/1.4 system-ui, sans-serif; }
.mlib-overlay * { box-sizing: border-box; }
.mlib-overlay input, .mlib-overlay select, .mlib-overlay textarea { background: var(--mlib-input); color: var(--mlib-fg);
  border: 1px solid var(--mlib-border); border-radius: 4px; padding: 4px 6px; font: inherit; min-width: 0; }
.mlib-root { position: relative; display: flex; flex-direction: column; height: 100%; min-height: 0; box-sizing: border-box;
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
.mlib-main { flex: 1; min-height: 320px; display: flex; flex-direction: column; position: relative; }
@container (min-width: 720px) { .mlib-main { flex-direction: row; } .mlib-library { flex: 3 1 0; min-width: 0; border-right: 1px solid var(--mlib-border); }
  .mlib-main > .mlib-detail { position: static; flex: 2 1 0; min-width: 300px; max-width: 520px; }
  .mlib-main > .mlib-detail[hidden] { display: block; } .mlib-detail-close { display: none; } }
.mlib-library { display: flex; flex-direction: column; min-height: 180px; flex: 1; }
.mlib-toolbar { padding: 8px 8px 4px; }
.mlib-toolbar input[type=search] { width: 100%; padding: 6px 8px; }
.mlib-filters { display: flex; flex-wrap: wrap; gap: 4px; padding: 0 8px 6px; }
.mlib-filters select, .mlib-filters input { flex: 1 1 90px; }
@container (max-width: 320px) { .mlib-header .mlib-btn { padding: 3px 7px; font-size: 12px; } .mlib-field-label { flex-basis: 64px; } }
.mlib-summary { padding: 2px 10px 4px; color: var(--mlib-muted); font-size: 11px; }
.mlib-vlist { position: relative; flex: 1; min-height: 160px; overflow-y: auto; contain: strict; outline: none; }
.mlib-vlist-spacer { width: 1px; }
.mlib-row { position: absolute; top: 0; left: 0; right: 0; display: flex; align-items: center; gap: 8px; padding: 0 8px;
  border-bottom: 1px solid var(--mlib-border); cursor: pointer; contain: layout style paint; }
.mlib-row.mlib-card { right: auto; flex-direction: column; align-items: stretch; gap: 4px; padding: 6px; border: none; }
.mlib-row.mlib-picked { outline: 2px solid var(--mlib-accent); outline-offset: -2px; }
.mlib-thumb { position: relative; flex: 0 0 48px; width: 48px; height: 48px; border-radius: 4px; overflow: hidden;
  background: var(--mlib-input); display: flex; align-items: center; justify-content: center; }
.mlib-thumb img { width: 100%; height: 100%; object-fit: cover; display: block; }
.mlib-card .mlib-thumb { flex: 1 1 auto; width: 100%; height: auto; min-height: 0; }
.mlib-tile { width: 100%; height: 100%; display: flex; align-items: center; justify-content: center; font-weight: 700;
  font-size: 13px; color: #fff; background: hsl(var(--mlib-hue, 210) 45% 32%); letter-spacing: .02em; }
.mlib-card .mlib-tile { font-size: 26px; }
.mlib-blurred img { filter: blur(14px) saturate(.6); transform: scale(1.1); }
.mlib-blurred::after { content: "NSFW · click"; position: absolute; inset: auto 0 2px; text-align: center; font-size: 9px; color: #fff; text-shadow: 0 0 3px #000; }
.mlib-row-badges { display: flex; align-items: center; gap: 4px; flex: 0 0 auto; }
.mlib-card .mlib-row-badges { position: absolute; top: 8px; right: 8px; }
.mlib-base-badge { font-size: 10px; padding: 0 4px; border-radius: 3px; border: 1px solid var(--mlib-border); color: var(--mlib-muted); }
.mlib-card .mlib-base-badge { background: rgba(0,0,0,.55); color: #fff; }
.mlib-star, .mlib-add { background: none; border: none; color: var(--mlib-muted); cursor: pointer; font-size: 15px; padding: 0 2px; line-height: 1; }
.mlib-card .mlib-star, .mlib-card .mlib-add { background: rgba(0,0,0,.55); border-radius: 3px; color: #fff; }
.mlib-star-on { color: #fdd663 !important; }
.mlib-add { display: none; font-weight: 700; }
.mlib-row:hover .mlib-add, .mlib-row.mlib-selected .mlib-add { display: inline-block; }
.mlib-add:hover, .mlib-star:hover { color: var(--mlib-accent); }
.mlib-row mark { background: rgba(253,214,99,.35); color: inherit; border-radius: 2px; }
.mlib-chips { display: flex; flex-wrap: wrap; gap: 4px; padding: 0 8px 4px; }
.mlib-chip { background: var(--mlib-input); color: var(--mlib-fg); border: 1px solid var(--mlib-border); border-radius: 12px;
  padding: 1px 8px; font: inherit; font-size: 11px; cursor: pointer; display: inline-flex; gap: 4px; align-items: center; }
.mlib-chip:hover { border-color: var(--mlib-accent); }
.mlib-chip-on { background: var(--mlib-accent); border-color: var(--mlib-accent); color: #fff; }
.mlib-chip-count { opacity: .7; }
.mlib-more { padding: 0 8px 2px; font-size: 11px; color: var(--mlib-muted); }
@container (max-width: 420px) {
  .mlib-chips { flex-wrap: nowrap; overflow-x: auto; scrollbar-width: thin; padding-bottom: 6px; }
  .mlib-chip { flex: 0 0 auto; }
  .mlib-detail .mlib-detail-head { flex-direction: column; }
  .mlib-detail .mlib-detail-preview { flex: none; width: 100%; height: 200px; }
}
.mlib-icon-btn svg { width: 15px; height: 15px; display: block; fill: none; stroke: currentColor; stroke-width: 2; }
.mlib-more summary { cursor: pointer; }
.mlib-more .mlib-filters { padding: 4px 0; }
.mlib-row:hover { background: var(--mlib-row-hover); }
.mlib-row.mlib-selected { background: rgba(79,140,255,.22); }
.mlib-row-main { flex: 1; min-width: 0; display: flex; flex-direction: column; }
.mlib-row-name { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2; overflow: hidden; word-break: break-word; line-height: 1.25; }
.mlib-card .mlib-row-main { flex: 0 0 auto; }
.mlib-card .mlib-row-name { font-size: 12px; }
.mlib-row-sub { color: var(--mlib-muted); font-size: 11px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.mlib-row-size { color: var(--mlib-muted); font-size: 11px; white-space: nowrap; }
.mlib-row-flag { color: #ff8a80; font-size: 10px; text-transform: uppercase; }
.mlib-detail { overflow-y: auto; padding: 8px 10px; min-height: 0; position: absolute; inset: 0; z-index: 6; background: var(--mlib-bg); }
.mlib-detail-bar { display: flex; gap: 6px; margin-bottom: 4px; }
.mlib-detail-head { display: flex; gap: 10px; align-items: flex-start; }
.mlib-detail-preview { flex: 0 0 112px; width: 112px; height: 140px; border-radius: 6px; cursor: zoom-in; }
.mlib-detail-preview .mlib-tile { font-size: 28px; }
.mlib-detail-title { flex: 1; min-width: 0; display: flex; flex-direction: column; gap: 4px; }
.mlib-preview-actions { display: flex; gap: 4px; flex-wrap: wrap; }
.mlib-update { background: #0d2b4c; border: 1px solid #4f8cff; border-radius: 4px; padding: 4px 8px; margin: 4px 0; }
.mlib-update a, .mlib-detail a { color: #8ab4f8; }
.mlib-words { display: flex; flex-wrap: wrap; gap: 4px; }
.mlib-gallery h4 { margin: 8px 0 4px; font-size: 12px; color: var(--mlib-muted); text-transform: uppercase; letter-spacing: .04em; }
.mlib-gallery-row { display: flex; gap: 6px; overflow-x: auto; padding-bottom: 4px; }
.mlib-gallery-item { flex: 0 0 64px; width: 64px; height: 80px; padding: 0; border: 1px solid var(--mlib-border); cursor: pointer; }
.mlib-word { background: #1a2b4c; color: #aecbfa; border: 1px solid #4f8cff; border-radius: 10px; padding: 0 8px; font: inherit; font-size: 12px; cursor: copy; }
.mlib-about { white-space: pre-wrap; max-height: 12em; overflow-y: auto; margin-bottom: 4px; }
.mlib-technical { margin-top: 10px; }
.mlib-technical > summary { cursor: pointer; color: var(--mlib-muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.mlib-copyable { display: inline-flex; align-items: center; gap: 2px; max-width: 100%; }
.mlib-cut { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; word-break: normal; min-width: 0; }
.mlib-copy { background: none; border: none; color: var(--mlib-muted); cursor: pointer; padding: 0 2px; }
.mlib-detail-name { margin: 0 0 6px; font-size: 15px; word-break: break-word; }
.mlib-detail-actions { display: flex; gap: 6px; margin: 8px 0; flex-wrap: wrap; }
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
.mlib-overlay { position: fixed; inset: 0; background: rgba(0,0,0,.55); display: flex; align-items: flex-start; justify-content: center; z-index: 10000; padding: 6vh 12px; overflow-y: auto; }
.mlib-dialog { background: var(--mlib-bg); border: 1px solid var(--mlib-border); border-radius: 6px; width: min(560px, 100%); box-shadow: 0 8px 30px rgba(0,0,0,.5); }
.mlib-overlay-wide { padding: 3vh 3vw; }
.mlib-overlay-wide .mlib-dialog { width: 100%; height: 94vh; display: flex; flex-direction: column; }
.mlib-overlay-wide .mlib-dialog-body { flex: 1; max-height: none; display: flex; min-height: 0; padding: 0; }
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
.mlib-full { width: 100%; height: 100%; overflow: hidden; }
.mlib-full-bar { display: flex; gap: 8px; align-items: center; padding: 6px 8px; border-bottom: 1px solid var(--mlib-border); flex-wrap: wrap; }
.mlib-full .mlib-main { min-height: 0; }
.mlib-icon-btn { background: transparent; color: var(--mlib-fg); border: 1px solid transparent; border-radius: 4px; cursor: pointer;
  font-size: 15px; line-height: 1; padding: 4px 7px; list-style: none; }
.mlib-icon-btn:hover { background: var(--mlib-row-hover); border-color: var(--mlib-border); }
.mlib-icon-btn::-webkit-details-marker { display: none; }
.mlib-menu { position: relative; }
.mlib-menu-list { position: absolute; right: 0; top: 100%; z-index: 40; background: var(--mlib-bg); border: 1px solid var(--mlib-border);
  border-radius: 6px; box-shadow: 0 6px 20px rgba(0,0,0,.45); display: flex; flex-direction: column; min-width: 170px; padding: 4px; }
.mlib-menu-item { background: none; border: none; color: var(--mlib-fg); text-align: left; padding: 6px 10px; border-radius: 4px; cursor: pointer; font: inherit; }
.mlib-menu-item:hover { background: var(--mlib-row-hover); }
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

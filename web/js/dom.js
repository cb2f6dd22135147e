// Safe DOM building. Untrusted text (names, metadata, tags, notes, errors) only ever becomes a text node:
// nothing here writes innerHTML, and links are allowed only for http(s) URLs.

/**
 * @typedef {Node | string | number | null | undefined | false} Child
 * @typedef {{
 *   className?: string, text?: string | number, title?: string, type?: string, value?: string,
 *   placeholder?: string, href?: string | null, attrs?: Record<string, string>,
 *   dataset?: Record<string, string>, on?: Record<string, EventListener>, style?: Record<string, string>,
 *   disabled?: boolean, checked?: boolean, draggable?: boolean, hidden?: boolean
 * }} ElementProps
 */

/**
 * Creates an element. Strings in `children` become text nodes; `props.text` sets textContent.
 * Attributes named on* are refused: handlers go through `props.on`.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {ElementProps} [props]
 * @param {Child | Child[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  if (props.className) el.className = props.className;
  if (props.text !== undefined) el.textContent = String(props.text);
  if (props.title !== undefined) el.title = props.title;
  if (props.hidden) el.hidden = true;
  if (props.draggable) el.draggable = true;
  const anyEl = /** @type {any} */ (el);
  if (props.type !== undefined) anyEl.type = props.type;
  if (props.value !== undefined) anyEl.value = props.value;
  if (props.placeholder !== undefined) anyEl.placeholder = props.placeholder;
  if (props.disabled !== undefined) anyEl.disabled = props.disabled;
  if (props.checked !== undefined) anyEl.checked = props.checked;
  if (props.href !== undefined) {
    const safe = safeHttpUrl(props.href);
    if (safe) {
      anyEl.href = safe;
      el.setAttribute("rel", "noopener noreferrer");
      el.setAttribute("target", "_blank");
    }
  }
  for (const [name, value] of Object.entries(props.attrs || {})) {
    if (/^on/i.test(name) || name === "href" || name === "src" || name === "style") continue;
    el.setAttribute(name, value);
  }
  for (const [key, value] of Object.entries(props.dataset || {})) el.dataset[key] = value;
  for (const [key, value] of Object.entries(props.style || {})) el.style.setProperty(key, value);
  for (const [event, fn] of Object.entries(props.on || {})) el.addEventListener(event, fn);
  append(el, children);
  return el;
}

/**
 * @param {Element} parent
 * @param {Child | Child[]} children
 */
export function append(parent, children) {
  const list = Array.isArray(children) ? children : [children];
  for (const child of list) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** @param {Element} el */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/**
 * The URL if it is absolute http(s), else null (so `javascript:` and `data:` never become links).
 * @param {string | null | undefined} value
 * @returns {string | null}
 */
export function safeHttpUrl(value) {
  if (!value || typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * A debounced function: calls `fn` once `ms` after the last call.
 * @template {any[]} A
 * @param {(...args: A) => void} fn
 * @param {number} ms
 * @returns {(...args: A) => void}
 */
export function debounce(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return (...args) => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

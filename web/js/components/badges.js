// Small badge elements (trust by match kind, security, type). Text only.

import { h } from "../dom.js";
import { securityBadge, trustBadge } from "../format.js";

/** @param {string | undefined} match @param {number} [confidence] */
export function trustBadgeEl(match, confidence) {
  const badge = trustBadge(match);
  const title = typeof confidence === "number" && confidence > 0 ? `${badge.title} (confidence ${Math.round(confidence * 100)}%)` : badge.title;
  return h("span", { className: `mlib-badge mlib-trust-${badge.level}`, text: badge.label, title, dataset: { trust: badge.level } });
}

/** @param {string | undefined} security */
export function securityBadgeEl(security) {
  const badge = securityBadge(security);
  return h("span", { className: `mlib-badge mlib-sec-${badge.level}`, text: badge.label, title: badge.title, dataset: { security: badge.level } });
}

/** @param {string} text @param {string} [title] */
export function tagBadgeEl(text, title) {
  return h("span", { className: "mlib-badge mlib-plain", text, title: title || text });
}

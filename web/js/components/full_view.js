// The full library view: a large dialog over the page with a virtualised grid of cards (a card-size
// slider), the detail beside it, and actions on several models at once (ctrl/cmd-click to pick).

import { h } from "../dom.js";
import { errorText } from "../format.js";
import { DetailPane } from "./detail.js";
import { openDialog } from "./dialog.js";
import { LibraryView } from "./library_view.js";

const CARD_SIZE_KEY = "model-library.card-size";
export const CARD_SIZES = { min: 110, max: 320, default: 170 };

/** @returns {number} */
function storedCardSize() {
  try {
    const value = Number(globalThis.localStorage?.getItem(CARD_SIZE_KEY));
    return value >= CARD_SIZES.min && value <= CARD_SIZES.max ? value : CARD_SIZES.default;
  } catch {
    return CARD_SIZES.default;
  }
}

/**
 * @param {{api: import("../api.js").LibraryApi, toast: (m: import("./toast.js").ToastMessage) => void,
 *          onAdd?: (model: import("../api.js").Model) => void, onChanged: () => void}} ctx
 */
export function openFullView(ctx) {
  let cardSize = storedCardSize();
  const host = document.body;
  const refresh = () => {
    void view.refresh();
    ctx.onChanged();
  };
  const detail = new DetailPane({ api: ctx.api, host, toast: ctx.toast, onChanged: refresh, onAdd: ctx.onAdd, onClose: () => view.select(null) });
  const view = new LibraryView({
    api: ctx.api,
    grid: true,
    cardSize: () => cardSize,
    onSelect: (id) => void detail.show(id),
    onError: (error) => ctx.toast({ severity: "error", summary: "Could not save", detail: errorText(error) }),
    onAdd: ctx.onAdd,
  });
  const slider = h("input", {
    type: "range",
    attrs: { min: String(CARD_SIZES.min), max: String(CARD_SIZES.max), step: "10", "aria-label": "Card size", "data-testid": "card-size" },
  });
  slider.value = String(cardSize); // after its range: a value set first would be clamped to 0..100
  slider.addEventListener("input", () => {
    cardSize = Number(slider.value);
    try {
      globalThis.localStorage?.setItem(CARD_SIZE_KEY, String(cardSize));
    } catch {
      // a page that may not store: the size lasts this view
    }
    view.list.render();
  });
  const picked = h("span", { className: "mlib-muted", attrs: { "data-testid": "picked" } });
  const pickedIds = () => [...view.picked];
  const onPick = () => {
    const n = view.picked.size;
    picked.textContent = n ? `${n} selected` : "Ctrl/⌘-click to select several";
    for (const button of bulk) button.disabled = n === 0;
  };
  const bulk = [
    h("button", { className: "mlib-btn mlib-btn-small", text: "Tag…", attrs: { "data-testid": "bulk-tag" }, on: { click: () => tagPicked() } }),
    h("button", { className: "mlib-btn mlib-btn-small", text: "★ Favorite", attrs: { "data-testid": "bulk-favorite" }, on: { click: () => void favoritePicked() } }),
    h("button", { className: "mlib-btn mlib-btn-small mlib-btn-danger", text: "Remove…", attrs: { "data-testid": "bulk-remove" }, on: { click: () => removePicked() } }),
  ];
  view.list.viewport.addEventListener("click", () => onPick());
  onPick();

  const tagPicked = () => {
    const input = h("input", { type: "text", placeholder: "tag", attrs: { "data-testid": "bulk-tag-input", maxlength: "64" } });
    openDialog(host, {
      title: `Tag ${view.picked.size} models`,
      body: [input],
      actions: [
        { label: "Cancel" },
        {
          label: "Add tag",
          kind: "primary",
          testId: "bulk-tag-save",
          onClick: async () => {
            const tag = input.value.trim();
            if (!tag) return false;
            for (const id of pickedIds()) {
              const model = await ctx.api.getModel(id);
              if (!(model.tags || []).includes(tag)) await ctx.api.editModel(id, { tags: [...(model.tags || []), tag] });
            }
            refresh();
          },
        },
      ],
    });
  };
  const favoritePicked = async () => {
    try {
      for (const id of pickedIds()) await ctx.api.editModel(id, { favorite: true });
    } catch (error) {
      ctx.toast({ severity: "error", summary: "Could not save", detail: errorText(error) });
    }
    refresh();
  };
  const removePicked = () => {
    const ids = pickedIds();
    openDialog(host, {
      title: `Remove ${ids.length} models?`,
      testId: "bulk-remove-dialog",
      body: [h("p", { text: "Their links are removed and the library's files go to the trash (models catalogued in place are only forgotten)." })],
      actions: [
        { label: "Cancel" },
        {
          label: "Remove",
          kind: "danger",
          testId: "bulk-remove-confirm",
          onClick: async () => {
            for (const id of ids) await ctx.api.deleteModel(id);
            view.picked.clear();
            onPick();
            refresh();
          },
        },
      ],
    });
  };

  const body = h("div", { className: "mlib-root mlib-full", attrs: { "data-testid": "full-view" } }, [
    h("div", { className: "mlib-full-bar" }, [h("label", { className: "mlib-muted" }, ["Card size ", slider]), picked, ...bulk]),
    h("div", { className: "mlib-main" }, [view.element, detail.element]),
  ]);
  const dialog = openDialog(host, { title: "Central Model Library", body: [body], actions: [{ label: "Close" }], wide: true, testId: "full-dialog" });
  void view.runQuery();
  view.search.focus();
  return { dialog, view, detail };
}

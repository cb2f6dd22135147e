// The detail pane of one model, with edit (PATCH, then the fields are marked manual) and delete (after a
// confirmation listing exactly the links and files that will go, read fresh from GET /models/{id}).

import { append, clear, h, safeHttpUrl } from "../dom.js";
import { BASE_MODELS, MODEL_TYPES, errorText, formatBytes } from "../format.js";
import { securityBadgeEl, tagBadgeEl, trustBadgeEl } from "./badges.js";
import { openDialog } from "./dialog.js";
import { renderThumb, reveal } from "./thumb.js";

/**
 * @typedef {import("../api.js").Model} Model
 * @typedef {import("../api.js").LibraryApi} LibraryApi
 * @typedef {{api: LibraryApi, host: HTMLElement, toast: (m: import("./toast.js").ToastMessage) => void,
 *            onChanged: () => void, onAdd?: (model: Model) => void, onClose?: () => void,
 *            lastOutput?: () => Promise<string | null>}} DetailContext
 *   lastOutput: inside ComfyUI, the newest image it generated (a path in its output folder), or null
 */

/**
 * @param {string} label
 * @param {Node | string | null | undefined} value
 */
function field(label, value) {
  if (value === null || value === undefined || value === "") return null;
  return h("div", { className: "mlib-field" }, [h("span", { className: "mlib-field-label", text: label }), h("span", { className: "mlib-field-value" }, [value])]);
}

/** @param {string} title @param {(Node | null)[]} children */
function section(title, children) {
  const items = children.filter(Boolean);
  if (!items.length) return null;
  return h("section", { className: "mlib-section" }, [h("h4", { text: title }), ...items]);
}

/** A long value (path, hash) cut to one line, with a copy button. @param {string} text @param {string} [extra] */
function copyable(text, extra = "") {
  return h("span", { className: "mlib-copyable" }, [
    h("span", { className: `mlib-mono mlib-cut ${extra}`.trim(), text, title: text }),
    h("button", { className: "mlib-copy", type: "button", text: "⧉", title: "Copy", attrs: { "aria-label": "Copy" }, on: { click: () => void navigator.clipboard?.writeText(text) } }),
  ]);
}

/** @param {string | undefined} repoId */
function hubLink(repoId) {
  if (!repoId || !/^[\w.-]+(\/[\w.-]+)?$/.test(repoId)) return repoId || "";
  const url = safeHttpUrl(`https://huggingface.co/${repoId}`);
  return url ? h("a", { href: url, text: repoId }) : repoId;
}

export class DetailPane {
  /** @param {DetailContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.element = h("div", { className: "mlib-detail", attrs: { "data-testid": "detail" } }, [
      h("div", { className: "mlib-empty", text: "Select a model to see its details." }),
    ]);
    this.element.hidden = true; // a drawer over the list in the sidebar; a pane beside it when wide
    this.element.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    /** @type {Model | null} */
    this.model = null;
    /** @type {string | null} the model the pane shows (to keep its folds across refreshes) */
    this.renderedId = null;
    this.seq = 0;
  }

  /** @param {string | null} id */
  async show(id) {
    const seq = ++this.seq;
    if (!id) {
      this.model = null;
      clear(this.element);
      this.element.appendChild(h("div", { className: "mlib-empty", text: "Select a model to see its details." }));
      this.element.hidden = true;
      return;
    }
    try {
      const model = await this.ctx.api.getModel(id);
      if (seq !== this.seq) return;
      this.model = model;
      this.render(model);
      void this.loadGallery(model);
    } catch (error) {
      if (seq !== this.seq) return;
      clear(this.element);
      this.element.appendChild(h("div", { className: "mlib-error", text: `Could not load the model: ${errorText(error)}` }));
    }
  }

  /** @param {Model} m */
  render(m) {
    // A refresh of the same model (a catalog change) keeps what the user unfolded.
    const keepOpen = this.renderedId === m.id && Boolean(this.element.querySelector(".mlib-technical[open]"));
    this.renderedId = m.id;
    clear(this.element);
    this.element.hidden = false;
    const source = m.source || { kind: "local", match: "none", confidence: 0 };
    const manual = new Set(m.manual_fields || []);
    const files = (m.files || []).map((f) =>
      h("li", {}, [h("span", { className: "mlib-mono", text: f.path }), ` · ${formatBytes(f.size)}`]),
    );
    const links = (m.links || []).map((l) => h("li", {}, [copyable(l.path), ` (${l.kind})`]));
    const meta = Object.entries(m.metadata || {}).slice(0, 50).map(([key, value]) => field(key, String(value).slice(0, 2000)));
    const picture = h("div", { className: "mlib-detail-preview", attrs: { "data-testid": "detail-preview" } });
    renderThumb(picture, m, this.ctx.api.previewUrl(m, 512));
    picture.addEventListener("click", () => reveal(picture));
    const words = m.trigger_words || [];
    const about = m.about || { description: "", creator: null, license: null, page_url: null };
    append(this.element, [
      h("div", { className: "mlib-detail-bar" }, [
        h("button", { className: "mlib-btn mlib-btn-small mlib-detail-close", text: "← Back", title: "Back to the list (Esc)", attrs: { "data-testid": "detail-close" }, on: { click: () => this.close() } }),
      ]),
      h("div", { className: "mlib-detail-head" }, [
        picture,
        h("div", { className: "mlib-detail-title" }, [
          h("h3", { className: "mlib-detail-name", text: m.name, title: m.name, attrs: { "data-testid": "detail-name" } }),
          h("div", { className: "mlib-badges" }, [
            tagBadgeEl(m.type, "type"),
            tagBadgeEl(m.base_model, "base model"),
            securityBadgeEl(m.security),
            trustBadgeEl(source.match, source.confidence),
            manual.size ? tagBadgeEl("edited", `Edited by hand: ${[...manual].join(", ")}`) : null,
          ]),
          h("div", { className: "mlib-preview-actions" }, [
            this.imagePicker(m),
            this.ctx.lastOutput
              ? h("button", { className: "mlib-btn mlib-btn-small", text: "Use last output", title: "The newest image ComfyUI generated", attrs: { "data-testid": "preview-output" }, on: { click: () => void this.useLastOutput(m) } })
              : null,
            m.preview ? h("button", { className: "mlib-btn mlib-btn-small", text: "Remove image", attrs: { "data-testid": "preview-clear" }, on: { click: () => void this.clearPreview(m) } }) : null,
          ]),
        ]),
      ]),
      h("div", { className: "mlib-detail-actions" }, [
        this.ctx.onAdd
          ? h("button", { className: "mlib-btn mlib-btn-primary", text: "Add to workflow", attrs: { "data-testid": "add-to-workflow" }, on: { click: () => this.ctx.onAdd && this.ctx.onAdd(m) } })
          : null,
        h("button", {
          className: `mlib-btn${m.favorite ? " mlib-star-on" : ""}`,
          text: m.favorite ? "★ Favorite" : "☆ Favorite",
          attrs: { "data-testid": "favorite", "aria-pressed": m.favorite ? "true" : "false" },
          on: { click: () => void this.setFavorite(m, !m.favorite) },
        }),
        h("button", { className: "mlib-btn", text: "Find online", title: "Look it up on Civitai and Hugging Face by its hash", attrs: { "data-testid": "enrich" }, on: { click: () => void this.enrich(m) } }),
        h("button", { className: "mlib-btn", text: "Edit", attrs: { "data-testid": "edit" }, on: { click: () => this.edit(m) } }),
        h("button", { className: "mlib-btn mlib-btn-danger", text: "Delete…", attrs: { "data-testid": "delete" }, on: { click: () => this.confirmDelete(m.id) } }),
      ]),
      m.update
        ? h("div", { className: "mlib-update", attrs: { "data-testid": "update" } }, [
            `A newer version is out on ${m.update.site}: `,
            h("a", { href: m.update.url, text: m.update.version_name }),
            " (not downloaded)",
          ])
        : null,
      m.security === "pickle"
        ? h("div", { className: "mlib-warning", text: "Pickle format: loading this file can run code. Use it only if you trust where it came from." })
        : null,
      ...(m.warnings || []).map((w) => h("div", { className: "mlib-warning", text: w })),
      h("div", { className: "mlib-gallery", attrs: { "data-testid": "gallery" } }),
      section("Trigger words", [
        words.length
          ? h("div", { className: "mlib-words", attrs: { "data-testid": "trigger-words" } }, [
              ...words.map((w) => h("button", { className: "mlib-word", type: "button", text: w, title: "Copy", on: { click: () => void this.copy(w) } })),
              words.length > 1 ? h("button", { className: "mlib-btn mlib-btn-small", text: "Copy all", on: { click: () => void this.copy(words.join(", ")) } }) : null,
            ])
          : h("div", { className: "mlib-muted", text: "None known. Edit to add yours, or find it online." }),
      ]),
      section("About", [
        about.description ? h("div", { className: "mlib-about", text: about.description }) : null,
        m.type === "lora" ? field("Strength", typeof m.default_strength === "number" ? String(m.default_strength) : "1 (the loader's; edit to set yours)") : null,
        field("Creator", about.creator || ""),
        field("License", about.license || ""),
        field("Notes", m.notes ? h("span", { className: "mlib-notes", text: m.notes }) : null),
        field("Tags", (m.tags || []).length ? h("span", { className: "mlib-badges" }, (m.tags || []).map((t) => tagBadgeEl(t))) : null),
        ...(m.origins || []).map((o) =>
          field(o.site === "civitai" ? "Civitai" : "Hugging Face", h("a", { href: o.url, text: [o.model_name, o.version_name].filter(Boolean).join(" · ") || o.url })),
        ),
        source.repo_id && !(m.origins || []).some((o) => o.site === "huggingface") ? field("Repository", hubLink(source.repo_id)) : null,
      ]),
      h("details", { className: "mlib-technical", attrs: { "data-testid": "technical", ...(keepOpen ? { open: "" } : {}) } }, [
        h("summary", { text: "Technical" }),
        section("Model", [
          field("ID", copyable(m.id)),
          field("Size", formatBytes(m.size)),
          field("Format", `${m.format || "?"} · ${m.file_format || "?"}`),
          field("Location", m.location || ""),
          field("Folder", m.dir ? copyable(m.dir) : null),
          field("Added", m.added_at || ""),
          field("Used", m.used_at || ""),
        ]),
        section("Hashes", [
          field("BLAKE3", copyable(m.hashes?.blake3 || "", "mlib-hash")),
          field("SHA-256", copyable(m.hashes?.sha256 || "", "mlib-hash")),
        ]),
        section("Source", [
          field("Kind", source.kind),
          field("Repository", source.repo_id ? hubLink(source.repo_id) : null),
          field("File", source.filename || ""),
          field("Revision", source.revision || ""),
          field("Match", trustBadgeEl(source.match, source.confidence)),
        ]),
        section(`Files (${files.length})`, [files.length ? h("ul", { className: "mlib-list" }, files) : null]),
        section(`Links (${links.length})`, [links.length ? h("ul", { className: "mlib-list" }, links) : h("div", { className: "mlib-muted", text: "Not linked into any app yet." })]),
        section("File metadata", meta),
      ]),
    ]);
  }

  /** The sites' images under the preview: a click shows a blurred one, then makes it the preview. @param {Model} m */
  async loadGallery(m) {
    const box = /** @type {HTMLElement | null} */ (this.element.querySelector(".mlib-gallery"));
    if (!box || !(m.origins || []).length) return;
    const seq = this.seq;
    let items = [];
    try {
      items = (await this.ctx.api.gallery(m.id)).items || [];
    } catch {
      return;
    }
    if (seq !== this.seq || !items.length) return;
    box.replaceChildren(
      h("h4", { text: "From its pages (click to use as the preview)" }),
      h(
        "div",
        { className: "mlib-gallery-row" },
        items.map((item) => {
          const cell = h("button", { className: "mlib-gallery-item", type: "button", title: `From ${item.site}`, attrs: { "data-index": String(item.index) } });
          renderThumb(cell, { ...m, preview: { url: "", source: item.site, nsfw_level: item.nsfw_level } }, this.ctx.api.galleryUrl(item, 256));
          cell.addEventListener("click", () => {
            if (reveal(cell)) return;
            void this.useGallery(m, item.index);
          });
          return cell;
        }),
      ),
    );
  }

  /** @param {Model} m @param {number} index */
  async useGallery(m, index) {
    try {
      await this.ctx.api.previewFromGallery(m.id, index);
      this.ctx.onChanged();
      await this.show(m.id);
    } catch (error) {
      this.ctx.toast({ severity: "error", summary: "This image cannot be a preview", detail: errorText(error) });
    }
  }

  close() {
    this.element.hidden = true;
    this.seq += 1;
    if (this.ctx.onClose) this.ctx.onClose();
  }

  /** @param {string} text */
  async copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      this.ctx.toast({ severity: "success", summary: "Copied", detail: text, life: 1500 });
    } catch {
      this.ctx.toast({ severity: "warn", summary: "Could not copy", detail: text });
    }
  }

  /** @param {Model} m */
  imagePicker(m) {
    const input = h("input", { type: "file", attrs: { accept: "image/png,image/jpeg,image/webp", "data-testid": "preview-file", hidden: "" } });
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      if (file) void this.setPreview(m, file);
    });
    const button = h("button", { className: "mlib-btn mlib-btn-small", text: m.preview ? "Change image…" : "Set image…", on: { click: () => input.click() } });
    return h("span", {}, [button, input]);
  }

  /** @param {Model} m @param {Blob} file */
  async setPreview(m, file) {
    try {
      await this.ctx.api.uploadPreview(m.id, file);
      this.ctx.onChanged();
      await this.show(m.id);
    } catch (error) {
      this.ctx.toast({ severity: "error", summary: "This image cannot be a preview", detail: errorText(error) });
    }
  }

  /** @param {Model} m */
  async useLastOutput(m) {
    try {
      const output = this.ctx.lastOutput ? await this.ctx.lastOutput() : null;
      if (!output) {
        this.ctx.toast({ severity: "info", summary: "No image generated yet", detail: "Queue a prompt, then use its image." });
        return;
      }
      await this.ctx.api.previewFromOutput(m.id, output);
      this.ctx.onChanged();
      await this.show(m.id);
    } catch (error) {
      this.ctx.toast({ severity: "error", summary: "This image cannot be a preview", detail: errorText(error) });
    }
  }

  /** @param {Model} m */
  async clearPreview(m) {
    try {
      await this.ctx.api.clearPreview(m.id);
      this.ctx.onChanged();
      await this.show(m.id);
    } catch (error) {
      this.ctx.toast({ severity: "error", summary: "Could not remove the image", detail: errorText(error) });
    }
  }

  /** @param {Model} m @param {boolean} on */
  async setFavorite(m, on) {
    try {
      await this.ctx.api.editModel(m.id, { favorite: on });
      this.ctx.onChanged();
      await this.show(m.id);
    } catch (error) {
      this.ctx.toast({ severity: "error", summary: "Could not save", detail: errorText(error) });
    }
  }

  /** @param {Model} m */
  async enrich(m) {
    this.ctx.toast({ severity: "info", summary: "Looking it up…", detail: m.name, life: 1500 });
    try {
      const found = await this.ctx.api.enrich(m.id);
      const sites = (found.origins || []).map((o) => o.site).join(" and ");
      this.ctx.toast({ severity: sites ? "success" : "info", summary: sites ? `Found on ${sites}` : "Not found online", detail: m.name });
    } catch (error) {
      this.ctx.toast({ severity: "warn", summary: "Lookup incomplete", detail: errorText(error) });
    }
    this.ctx.onChanged();
    await this.show(m.id);
  }

  /** @param {Model} m */
  edit(m) {
    const name = h("input", { type: "text", value: m.name, attrs: { "data-testid": "edit-name" } });
    const type = selectOf(MODEL_TYPES, m.type);
    const base = selectOf(BASE_MODELS, m.base_model);
    const tags = h("input", { type: "text", value: (m.tags || []).join(", "), placeholder: "comma, separated" });
    const notes = h("textarea", { value: m.notes || "" });
    notes.value = m.notes || "";
    const words = h("input", { type: "text", value: (m.trigger_words || []).join(", "), placeholder: "comma, separated", attrs: { "data-testid": "edit-trigger-words" } });
    const strength = h("input", { type: "number", value: typeof m.default_strength === "number" ? String(m.default_strength) : "", placeholder: "1.0", attrs: { step: "0.05", min: "-100", max: "100", "data-testid": "edit-strength" } });
    openDialog(this.ctx.host, {
      title: `Edit ${m.name}`,
      testId: "edit-dialog",
      body: [
        labelled("Name", name), labelled("Type", type), labelled("Base model", base), labelled("Trigger words", words),
        ...(m.type === "lora" ? [labelled("Default strength (Add to workflow)", strength)] : []),
        labelled("Tags", tags), labelled("Notes", notes),
        h("div", { className: "mlib-muted", text: "Edited fields are marked manual: automatic lookups never overwrite them." }),
      ],
      actions: [
        { label: "Cancel" },
        {
          label: "Save",
          kind: "primary",
          testId: "edit-save",
          onClick: async () => {
            const updated = await this.ctx.api.editModel(m.id, {
              name: name.value.trim(),
              type: type.value,
              base_model: base.value,
              tags: splitTags(tags.value),
              notes: notes.value,
              ...(words.value.trim() !== (m.trigger_words || []).join(", ") ? { trigger_words: splitTags(words.value) } : {}),
              ...(m.type === "lora" && strength.value.trim() !== (typeof m.default_strength === "number" ? String(m.default_strength) : "")
                ? { default_strength: strength.value.trim() === "" ? null : Number(strength.value) }
                : {}),
            });
            this.ctx.toast({ severity: "success", summary: "Saved", detail: updated.name });
            this.ctx.onChanged();
            await this.show(m.id);
          },
        },
      ],
    });
  }

  /** @param {string} id */
  async confirmDelete(id) {
    let m;
    try {
      m = await this.ctx.api.getModel(id);
    } catch (error) {
      this.ctx.toast({ severity: "error", summary: "Could not read the model", detail: errorText(error) });
      return;
    }
    const links = (m.links || []).map((l) => h("li", { className: "mlib-mono", text: `${l.path} (${l.kind})` }));
    const dir = m.dir || "";
    const files = (m.files || []).map((f) => h("li", { className: "mlib-mono", text: f.abs_path || (dir ? `${dir}/${f.path}` : f.path) }));
    openDialog(this.ctx.host, {
      title: `Delete ${m.name}?`,
      testId: "delete-dialog",
      body: [
        h("p", { text: m.location === "source" ? "These links will be removed; the files stay where they are (the folder is only catalogued)." : "These links will be removed, and these files moved to the library's trash:" }),
        h("h4", { text: `Links (${links.length})` }),
        links.length ? h("ul", { className: "mlib-list", attrs: { "data-testid": "delete-links" } }, links) : h("div", { className: "mlib-muted", text: "No links.", attrs: { "data-testid": "delete-links" } }),
        h("h4", { text: `Files (${files.length}, ${formatBytes(m.size)})` }),
        h("ul", { className: "mlib-list", attrs: { "data-testid": "delete-files" } }, files),
      ],
      actions: [
        { label: "Cancel" },
        {
          label: "Delete",
          kind: "danger",
          testId: "delete-confirm",
          onClick: async () => {
            const result = await this.ctx.api.deleteModel(m.id);
            const removed = Array.isArray(result.removed_links) ? result.removed_links.length : Number(result.removed_links) || 0;
            this.ctx.toast({ severity: "success", summary: "Deleted", detail: `${m.name}: ${removed} link(s) removed, files moved to trash` });
            this.ctx.onChanged();
            await this.show(null);
          },
        },
      ],
    });
  }
}

/** @param {string[]} options @param {string} value */
export function selectOf(options, value) {
  const select = h("select", {}, options.map((o) => h("option", { value: o, text: o })));
  if (value && !options.includes(value)) select.appendChild(h("option", { value, text: value }));
  select.value = value || "unknown";
  return select;
}

/** @param {string} label @param {HTMLElement} control */
export function labelled(label, control) {
  return h("label", { className: "mlib-form-row" }, [h("span", { text: label }), control]);
}

/** @param {string} text */
export function splitTags(text) {
  return [...new Set(text.split(",").map((t) => t.trim()).filter(Boolean))];
}

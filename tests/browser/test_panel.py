"""The panel in real Chromium against ``model-library serve``'s app: search, drop import, hostile text,
10,000 models, delete confirmation. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import base64
import statistics
import time
from typing import Any

import pytest

from comfyui_model_library.core.models import ModelQuery, ModelSource
from tests import synth
from tests.browser.conftest import SCREENSHOTS, ServedLibrary, fake_model, open_panel, seed, wait_or_explain

pytestmark = pytest.mark.browser

HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">'


def wait_total(page: Any, total: int, timeout: float = 15_000) -> None:
    """Waits until the summary line reports exactly ``total`` models."""
    page.wait_for_function(
        "(n) => /^[0-9,]+ models?/.test(document.querySelector('[data-testid=summary]')?.textContent || '')"
        " && Number(document.querySelector('[data-testid=summary]').textContent.split(' ')[0]"
        ".replace(/,/g, '')) === n",
        arg=total,
        timeout=timeout,
    )


def row_names(page: Any) -> list[str]:
    return page.eval_on_selector_all(".mlib-row .mlib-row-name", "els => els.map(e => e.textContent)")


def test_search_as_you_type_updates_results(served: ServedLibrary, page: Any) -> None:
    juggernauts = [fake_model(1000, name="Juggernaut XL v9"), fake_model(1001, name="juggernaut lightning")]
    seed(served.library, [fake_model(i) for i in range(40)] + juggernauts)
    open_panel(page, served)
    wait_total(page, 42)
    search = page.locator("input[type=search]")
    search.press_sequentially("jugg", delay=20)  # several requests in flight; only the last may win
    wait_total(page, 2)
    assert sorted(n.lower() for n in row_names(page)) == ["juggernaut lightning", "juggernaut xl v9"]
    # Each row's second line is the served model's type, base model and tags (a renamed field shows).
    subs = page.eval_on_selector_all(".mlib-row .mlib-row-sub", "els => els.map(e => e.textContent)")
    assert sorted(subs) == sorted(f"{m.type} · {m.base_model} · {', '.join(m.tags)}" for m in juggernauts)
    search.fill("")
    wait_total(page, 42)
    page.click("[data-chip='type:vae']")  # a chip with its count: only the types present
    wait_total(page, 7)
    assert all(
        "vae" in sub
        for sub in page.eval_on_selector_all(".mlib-row .mlib-row-sub", "els => els.map(e => e.textContent)")
    )
    assert page.errors == []


def _drop(page: Any, files: list[dict[str, Any]]) -> None:
    """Dispatches dragenter/dragover/drop on the panel with Files made in the page."""
    page.evaluate(
        """(files) => {
          const dt = new DataTransfer();
          for (const f of files) {
            let bytes;
            if (f.b64) bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
            else {
              // A valid safetensors file: one F32 tensor of f.floats zeros, made here in the page.
              const tensor = { dtype: "F32", shape: [f.floats], data_offsets: [0, f.floats * 4] };
              const json = JSON.stringify({ weight: tensor });
              const padded = json + " ".repeat((8 - (json.length % 8)) % 8);
              bytes = new Uint8Array(8 + padded.length + f.floats * 4);
              new DataView(bytes.buffer).setBigUint64(0, BigInt(padded.length), true);
              bytes.set(new TextEncoder().encode(padded), 8);
            }
            dt.items.add(new File([bytes], f.name));
          }
          const target = document.querySelector("[data-testid=model-library]");
          for (const type of ["dragenter", "dragover", "drop"]) {
            target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
          }
        }""",
        files,
    )


def test_drop_import_shows_progress_and_lands_in_the_list(served: ServedLibrary, page: Any) -> None:
    open_panel(page, served)
    page.evaluate(
        """() => { window.__progress = []; new MutationObserver(() => {
             for (const el of document.querySelectorAll('.mlib-job-text'))
               window.__progress.push(el.textContent);
           }).observe(document.body, { subtree: true, childList: true, characterData: true }); }"""
    )
    _drop(page, [{"name": "dropped-lora.safetensors", "floats": 5 * 1024 * 1024}])  # 20 MiB: 3 chunks
    wait_or_explain(page, served, "[data-testid=import-dialog]")
    progress = page.evaluate("window.__progress")
    uploads = [p for p in progress if p.startswith("upload")]
    assert uploads, f"no upload progress was shown: {progress[:10]}"
    assert any(p.startswith("upload 100%") for p in uploads)
    assert any(not p.startswith("upload 100%") and not p.startswith("upload 0%") for p in uploads), uploads
    item = page.locator("[data-testid=import-item]")
    assert item.count() == 1
    assert "Imported" in item.inner_text()
    page.locator("[data-testid=import-name]").fill("My dropped LoRA")
    page.screenshot(path=str(SCREENSHOTS / "import-dialog.png"))
    page.click("[data-testid=import-keep]")
    wait_total(page, 1)
    page.wait_for_selector(".mlib-row-name:has-text('My dropped LoRA')")
    [model] = served.library.catalog.list_models(ModelQuery()).items
    assert model.name == "My dropped LoRA"
    assert "name" in model.manual_fields
    assert page.errors == []


def test_pickle_drop_needs_acknowledgement(served: ServedLibrary, page: Any, tmp_path: Any) -> None:
    ckpt = synth.write_pickle_ckpt(tmp_path / "old.ckpt")
    open_panel(page, served)
    _drop(page, [{"name": "old.ckpt", "b64": base64.b64encode(ckpt.read_bytes()).decode()}])
    wait_or_explain(page, served, "[data-testid=import-dialog]")
    page.wait_for_selector("[data-testid=pickle-warning]")
    keep = page.locator("[data-testid=import-keep]")
    assert keep.is_disabled()
    page.check("[data-testid=pickle-ack]")
    assert keep.is_enabled()
    keep.click()
    page.wait_for_selector(".mlib-row .mlib-row-flag:has-text('pickle')")
    assert page.errors == []


def test_hostile_metadata_is_inert_text(served: ServedLibrary, page: Any) -> None:
    hostile = fake_model(
        7,
        name=HOSTILE_NAME,
        tags=("<script>window.__pwned=2</script>", "<b>bold</b>"),
        notes='<svg onload="window.__pwned=3"></svg><a href="javascript:window.__pwned=4">x</a>',
        metadata={
            "ss_output_name": '<img src=y onerror="window.__pwned=5">',
            "modelspec.title": "<iframe src=javascript:1>",
        },
        source=ModelSource(
            kind="huggingface",
            repo_id="javascript:alert(1)",
            filename="<img src=z onerror=window.__pwned=6>",
            match="manual",
        ),
    )
    seed(served.library, [hostile])
    open_panel(page, served)
    page.wait_for_selector(".mlib-row")
    page.click(".mlib-row")
    page.wait_for_selector("[data-testid=detail-name]")
    assert page.inner_text("[data-testid=detail-name]") == HOSTILE_NAME
    assert page.inner_text(".mlib-row-name") == HOSTILE_NAME
    page.click("[data-testid=technical] summary")  # ID, hashes, files and metadata are folded there
    detail_text = page.inner_text("[data-testid=detail]")
    assert "<script>window.__pwned=2</script>" in detail_text
    assert "<svg onload=" in detail_text
    assert '<img src=y onerror="window.__pwned=5">' in detail_text
    # No element was created from the text, and no link but http(s) exists.
    assert (
        page.locator(
            ".mlib-root img, .mlib-root script, .mlib-root svg:not(.mlib-icon), .mlib-root iframe, "
            ".mlib-root b"
        ).count()
        == 0
    )
    hrefs = page.eval_on_selector_all(".mlib-root a", "els => els.map(a => a.href)")
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    page.click("[data-testid=edit]")
    page.wait_for_selector("[data-testid=edit-dialog]")
    assert page.input_value("[data-testid=edit-name]") == HOSTILE_NAME
    page.keyboard.press("Escape")
    page.click("[data-testid=delete]")
    page.wait_for_selector("[data-testid=delete-dialog]")
    page.wait_for_timeout(300)  # let any injected handler fire
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.errors == []


def test_ten_thousand_models_render_and_scroll(served: ServedLibrary, page: Any) -> None:
    started = time.perf_counter()
    seed(served.library, [fake_model(i) for i in range(10_000)])
    seeded = time.perf_counter() - started
    t0 = time.perf_counter()
    page.goto(f"{served.url}/model-library/")
    wait_total(page, 10000)
    page.wait_for_selector(".mlib-row .mlib-row-name:has-text('model 00000')")
    first_render = time.perf_counter() - t0
    frames = page.evaluate(
        """async () => {
          const list = document.querySelector('.mlib-vlist');
          const deltas = [];
          let last = performance.now();
          for (let i = 0; i < 120; i++) {
            list.scrollTop += 400;
            await new Promise(requestAnimationFrame);
            const now = performance.now();
            deltas.push(now - last);
            last = now;
          }
          return { deltas, rows: document.querySelectorAll('.mlib-row').length, top: list.scrollTop };
        }"""
    )
    deltas = sorted(frames["deltas"])
    p50 = statistics.median(deltas)
    p95 = deltas[int(len(deltas) * 0.95) - 1]
    # Jump to the end: the last block loads on demand.
    page.evaluate("() => { const l = document.querySelector('.mlib-vlist'); l.scrollTop = l.scrollHeight; }")
    page.wait_for_selector(".mlib-row .mlib-row-name:has-text('model 09999')", timeout=10_000)
    print(
        f"\n10,000 models: seeded in {seeded * 1000:.0f} ms; first render {first_render * 1000:.0f} ms;"
        f" scroll frames p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {deltas[-1]:.1f} ms;"
        f" {frames['rows']} row elements in the DOM"
    )
    assert frames["rows"] < 80, "the list is not virtualised"
    assert first_render < 5.0
    assert p50 < 50 and p95 < 150
    assert page.errors == []


def test_delete_confirmation_lists_links_and_files(served: ServedLibrary, page: Any) -> None:
    source = synth.write_family(served.incoming / "to-delete.safetensors", "sd15_lora_kohya")
    [item] = served.library.imports.import_paths([source])
    assert item.model is not None
    model = item.model
    link_path = str(served.root / "views" / "x" / "loras" / "to-delete.safetensors")
    _insert_link(served, model, link_path)
    open_panel(page, served)
    page.click(".mlib-row")
    page.wait_for_selector("[data-testid=detail-name]")
    page.screenshot(path=str(SCREENSHOTS / "detail.png"))
    page.click("[data-testid=delete]")
    page.wait_for_selector("[data-testid=delete-dialog]")
    links = page.inner_text("[data-testid=delete-links]")
    files = page.inner_text("[data-testid=delete-files]")
    assert link_path in links
    folder = served.library.catalog.model_dir(model)
    for f in model.files:
        assert str(folder / f.path) in files
    page.click("[data-testid=delete-confirm]")
    wait_total(page, 0)
    assert not folder.exists()
    assert page.errors == []


def _insert_link(served: ServedLibrary, model: Any, link_path: str) -> None:
    with served.library.db.transaction() as conn:
        conn.execute(
            "INSERT INTO links(model_id, file_path, link_path, kind, target, link_root, created_at)"
            " VALUES (?, ?, ?, 'symlink', ?, ?, datetime('now'))",
            (model.id, model.files[0].path, link_path, "t", str(served.root / "views")),
        )


def test_a_dropped_duplicate_offers_to_show_the_model_already_held(
    served: ServedLibrary, page: Any, tmp_path: Any
) -> None:
    held = synth.write_family(tmp_path / "held.safetensors", "sdxl_lora_kohya")
    [item] = served.library.imports.import_paths([held], lookup=False)
    assert item.model is not None
    open_panel(page, served)
    _drop(page, [{"name": "same-bytes.safetensors", "b64": base64.b64encode(held.read_bytes()).decode()}])
    wait_or_explain(page, served, "[data-testid=import-dialog]")
    assert "Already in the library" in page.inner_text("[data-testid=import-item]")
    page.click("[data-testid=import-show]")
    page.wait_for_selector("[data-testid=import-dialog]", state="detached")
    page.wait_for_selector(f".mlib-row[data-id='{item.model.id}'][aria-selected=true]")
    page.wait_for_selector(
        f"[data-testid=detail-name]:has-text('{item.model.name}')"
    )  # its details are shown
    page.click("[data-testid=technical] summary")
    page.wait_for_selector(f"[data-testid=technical] >> text={item.model.hashes.blake3[:16]}")
    assert page.errors == []

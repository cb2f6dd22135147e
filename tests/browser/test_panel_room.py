"""Issue 15's panel in real Chromium against the real server: previews in the rows (lazy, re-encoded, blurred
above the NSFW setting), base tiles, favourites and chips with counts, the drawer in a narrow sidebar and
the split pane when wide, trigger words to copy, keys, the full library view with its grid and
multi-select, and a hostile image refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from comfyui_model_library.core.model_extras import Preview
from tests.browser.conftest import ServedLibrary, fake_model, open_panel, seed

SIDEBAR = {"width": 330, "height": 820}  # about ComfyUI's sidebar


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 160), color).save(out, "PNG")
    return out.getvalue()


def seeded(served: ServedLibrary, n: int = 40, with_preview: int = 10) -> list[Any]:
    models = [fake_model(i) for i in range(n)]
    seed(served.library, models)
    for model in models[:with_preview]:
        served.library.previews.set_image(model.id, png((20 * (model.size % 12), 90, 160)))
    return models


def narrow(page: Any) -> None:
    page.set_viewport_size(SIDEBAR)


def test_rows_show_previews_lazily_and_base_tiles_otherwise(served: ServedLibrary, page: Any) -> None:
    models = seeded(served)
    narrow(page)
    open_panel(page, served)
    page.wait_for_selector(".mlib-row .mlib-thumb img")
    rows = page.eval_on_selector_all(
        ".mlib-row[data-id]",
        """els => els.filter(e => e.dataset.id).map(e => ({id: e.dataset.id,
            img: e.querySelector('.mlib-thumb img')?.getAttribute('src') || null,
            lazy: e.querySelector('.mlib-thumb img')?.getAttribute('loading') || null,
            tile: e.querySelector('.mlib-tile')?.textContent || null}))""",
    )
    with_preview = {m.id for m in models[:10]}
    assert rows, "no rows rendered"
    for row in rows:
        if row["id"] in with_preview:
            assert row["img"] and "/preview?v=" in row["img"] and row["img"].endswith("&size=256"), row
            assert row["lazy"] == "lazy" and row["tile"] is None
        else:
            assert row["img"] is None and row["tile"] in {"1.5", "XL", "F1", "3", "WAN"}, row
    # The image the row loads is our WebP, and it loaded.
    loaded = page.evaluate(
        "() => [...document.querySelectorAll('.mlib-thumb img')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length"
    )
    assert loaded >= 1
    assert page.errors == []


def test_favourites_star_the_chip_counts_and_recently_used(served: ServedLibrary, page: Any) -> None:
    models = seeded(served, n=12, with_preview=0)
    served.library.catalog.mark_used(models[5].id)
    narrow(page)
    open_panel(page, served)
    # Chips list only the types present, with their counts.
    page.wait_for_selector("[data-chip='type:lora']")
    chips = page.eval_on_selector_all(
        "[data-chip^='type:']",
        "els => els.map(e => e.dataset.chip + '=' + e.querySelector('.mlib-chip-count').textContent)",
    )
    assert sorted(chips) == sorted(
        f"type:{t}=2" for t in ("checkpoint", "lora", "vae", "controlnet", "text_encoder", "upscaler")
    )
    assert page.locator("[data-chip='type:embedding']").count() == 0
    first = models[0]
    page.click(f".mlib-row[data-id='{first.id}'] [data-action=favorite]")
    page.wait_for_selector("[data-chip='favorite:'] .mlib-chip-count:text-is('1')")
    assert served.library.catalog.get_model(first.id).favorite is True
    page.click("[data-chip='favorite:']")
    page.wait_for_selector("[data-testid=summary]:has-text('1 model')")
    assert page.eval_on_selector_all(
        ".mlib-row[data-id]", "els => els.map(e => e.dataset.id).filter(Boolean)"
    ) == [first.id]
    page.click("[data-chip='favorite:']")
    page.click("[data-chip='recent:']")
    page.wait_for_function(
        "(id) => document.querySelector('.mlib-row[data-index=\"0\"]')?.dataset.id === id", arg=models[5].id
    )
    assert page.errors == []


def test_the_detail_is_a_drawer_in_the_sidebar_and_a_pane_when_wide(served: ServedLibrary, page: Any) -> None:
    models = seeded(served, n=6, with_preview=1)
    served.library.catalog.edit_model(models[0].id, trigger_words=["zorblax style", "pixel"])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    narrow(page)
    open_panel(page, served)
    page.click(f".mlib-row[data-id='{models[0].id}']")
    page.wait_for_selector("[data-testid=detail-name]")
    box = page.locator("[data-testid=detail]").bounding_box()
    lib = page.locator(".mlib-library").bounding_box()
    assert (
        box and lib and box["width"] >= lib["width"] - 2 and box["height"] >= 300
    )  # over the list, not a strip
    assert page.locator("[data-testid=detail-preview] img").count() == 1
    # Trigger words: a click copies the word.
    page.click(".mlib-word:text-is('zorblax style')")
    assert page.evaluate("() => navigator.clipboard.readText()") == "zorblax style"
    page.click("[data-testid=detail-close]")
    page.wait_for_selector("[data-testid=detail]", state="hidden")
    # Wide: the list and the detail side by side.
    page.set_viewport_size({"width": 1280, "height": 820})
    page.click(f".mlib-row[data-id='{models[1].id}']")
    page.wait_for_selector(f"[data-testid=detail-name]:text-is('{models[1].name}')")
    detail = page.locator("[data-testid=detail]").bounding_box()
    lib = page.locator(".mlib-library").bounding_box()
    assert detail and lib and detail["x"] >= lib["x"] + lib["width"] - 2
    assert int(page.get_attribute(".mlib-vlist", "data-columns") or "1") > 1  # a grid of cards when wide
    assert page.errors == []


def test_nsfw_previews_are_blurred_until_clicked(served: ServedLibrary, page: Any) -> None:
    models = seeded(served, n=3, with_preview=2)
    shown = served.library.catalog.get_model(models[0].id).preview
    assert shown is not None
    served.library.repo.update(models[0].id, preview=Preview(shown.source, shown.tag, 8))  # rated X
    narrow(page)
    open_panel(page, served)
    row = f".mlib-row[data-id='{models[0].id}'] .mlib-thumb"
    page.wait_for_selector(f"{row}.mlib-blurred")
    assert page.locator(f".mlib-row[data-id='{models[1].id}'] .mlib-thumb.mlib-blurred").count() == 0
    page.click(row)
    page.wait_for_selector(f"{row}:not(.mlib-blurred)")
    assert page.errors == []


def test_keys_search_and_move(served: ServedLibrary, page: Any) -> None:
    seeded(served, n=5, with_preview=0)
    narrow(page)
    open_panel(page, served)
    page.focus(".mlib-vlist")  # anywhere in the panel
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement?.dataset.testid") == "search"
    page.keyboard.press("ArrowDown")
    page.wait_for_selector(".mlib-row.mlib-selected")
    first = page.get_attribute(".mlib-row.mlib-selected", "data-index")
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        "(i) => document.querySelector('.mlib-row.mlib-selected')?.dataset.index !== i", arg=first
    )
    assert page.errors == []


def test_the_full_view_grid_slider_and_multi_select(served: ServedLibrary, page: Any) -> None:
    models = seeded(served, n=30, with_preview=6)
    open_panel(page, served)
    page.click("[data-testid=open-full]")
    page.wait_for_selector("[data-testid=full-view] .mlib-row.mlib-card")
    grid = "[data-testid=full-view] .mlib-vlist"
    before = int(page.get_attribute(grid, "data-columns") or "0")
    page.eval_on_selector(
        "[data-testid=card-size]", "el => { el.value = '300'; el.dispatchEvent(new Event('input')); }"
    )
    page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel).dataset.columns) < n", arg=[grid, before]
    )
    # The dialog covers the page, not the panel's strip.
    dialog = page.locator("[data-testid=full-dialog]").bounding_box()
    assert dialog and dialog["width"] > 1000
    picked = [models[2].id, models[3].id]
    for model_id in picked:
        page.click(f"[data-testid=full-view] .mlib-row[data-id='{model_id}']", modifiers=["Control"])
    page.wait_for_selector("[data-testid=picked]:has-text('2 selected')")
    page.click("[data-testid=bulk-tag]")
    page.fill("[data-testid=bulk-tag-input]", "keepers")
    page.click("[data-testid=bulk-tag-save]")
    page.wait_for_function("() => !document.querySelector('[data-testid=bulk-tag-input]')")
    page.wait_for_timeout(300)
    for model_id in picked:
        assert "keepers" in served.library.catalog.get_model(model_id).tags
    assert "keepers" not in served.library.catalog.get_model(models[4].id).tags
    assert page.errors == []


def test_a_hostile_image_is_refused_and_a_good_one_set_from_the_detail(
    served: ServedLibrary, page: Any, tmp_path: Any
) -> None:
    models = seeded(served, n=2, with_preview=0)
    svg = tmp_path / "evil.png"
    svg.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=1"/>')
    good = tmp_path / "good.jpg"
    Image.new("RGB", (800, 600), (200, 40, 40)).save(good, "JPEG")
    narrow(page)
    open_panel(page, served)
    page.click(f".mlib-row[data-id='{models[0].id}']")
    page.wait_for_selector("[data-testid=detail-name]")
    page.set_input_files("[data-testid=preview-file]", str(svg))
    page.wait_for_selector(".mlib-toast:has-text('cannot be a preview')")
    assert served.library.catalog.get_model(models[0].id).preview is None
    page.set_input_files("[data-testid=preview-file]", str(good))
    page.wait_for_selector("[data-testid=detail-preview] img")
    preview = served.library.catalog.get_model(models[0].id).preview
    assert preview is not None and preview.source == "user"
    assert page.evaluate("() => window.__pwned") is None
    assert page.errors == []


@pytest.fixture
def served_sites(tmp_path: Any) -> Iterator[tuple[ServedLibrary, Any]]:
    """A served library whose Civitai is a loopback one (two images) and whose Hub lacks the file."""
    from tests.browser.conftest import _served
    from tests.civitai_server import CivitaiServer
    from tests.hub_server import HubServer

    civitai = CivitaiServer(images={"a.png": png((200, 30, 30)), "b.png": png((30, 30, 200))})
    civitai.start()
    hub = HubServer([])
    hub.start()
    try:
        for served in _served(tmp_path, None, civitai_endpoint=civitai.url, hf_endpoint=hub.url):
            yield served, civitai
    finally:
        civitai.stop()
        hub.stop()


def test_the_detail_shows_the_sites_images_and_one_becomes_the_preview(
    served_sites: tuple[ServedLibrary, Any], page: Any
) -> None:
    from tests.civitai_server import make_version

    served, civitai = served_sites
    model = fake_model(1)
    seed(served.library, [model])
    civitai.add(
        make_version(
            7,
            3,
            sha256=model.hashes.sha256,
            images=[
                {"url": f"{civitai.url}/images/a.png", "nsfwLevel": 1, "type": "image"},
                {"url": f"{civitai.url}/images/b.png", "nsfwLevel": 16, "type": "image"},
            ],
        )
    )
    served.library.origins.enrich(model.id, previews=False)
    narrow(page)
    open_panel(page, served)
    page.click(f".mlib-row[data-id='{model.id}']")
    page.wait_for_selector("[data-testid=gallery] .mlib-gallery-item img")
    assert page.locator("[data-testid=gallery] .mlib-gallery-item").count() == 2
    assert page.locator("[data-testid=gallery] .mlib-gallery-item.mlib-blurred").count() == 1  # rated XXX
    page.click("[data-testid=gallery] .mlib-gallery-item[data-index='0']")
    page.wait_for_selector("[data-testid=detail-preview] img")
    preview = served.library.catalog.get_model(model.id).preview
    assert preview is not None and preview.source == "user"
    assert page.errors == []


def test_a_refresh_keeps_what_the_user_unfolded(served: ServedLibrary, page: Any) -> None:
    models = seeded(served, n=2, with_preview=0)
    narrow(page)
    open_panel(page, served)
    page.click(f".mlib-row[data-id='{models[0].id}']")
    page.click("[data-testid=technical] summary")
    page.wait_for_selector("[data-testid=technical][open]")
    served.library.catalog.edit_model(models[0].id, notes="changed elsewhere")  # a catalog change: refresh
    page.wait_for_selector("[data-testid=detail]:has-text('changed elsewhere')")
    assert page.locator("[data-testid=technical][open]").count() == 1
    assert page.errors == []

"""Issue 15's fields on every catalog backend: trigger words (searchable), preview, sites, a newer
version, what the sites say, favourites, "recently used", and the counts behind the filter chips."""

from __future__ import annotations

from typing import Any, TypeAlias

import pytest

from comfyui_model_library.core.catalog.store import CatalogStore
from comfyui_model_library.core.errors import InvalidInput
from comfyui_model_library.core.model_extras import About, Preview, SiteOrigin, UpdateInfo
from comfyui_model_library.core.models import ModelQuery

from ..conftest import make_model

Store: TypeAlias = CatalogStore[Any]

ORIGIN = SiteOrigin("civitai", "https://civitai.com/models/1?modelVersionId=2", "Detail", "v2", "hash", 1.0)


def test_extras_read_back_as_added_and_about_only_in_the_detail(store: Store) -> None:
    model = make_model(
        "pixel",
        trigger_words=("pixel art", "8bit"),
        preview=Preview("civitai", "abcdef0123456789", 2),
        site_origins=(ORIGIN,),
        update=UpdateInfo("civitai", "v3", "https://civitai.com/models/1?modelVersionId=3"),
        about=About("A <b>bold</b> LoRA", "someone", "CreativeML", "https://civitai.com/models/1"),
        favorite=True,
        used_at="2026-12-01T10:00:00+00:00",
        default_strength=0.7,
    )
    store.add(model)
    assert store.get(model.id) == model
    listed = store.list(ModelQuery(q="pixel")).items[0]
    assert listed.about is None and listed.trigger_words == ("pixel art", "8bit")
    assert listed.preview == model.preview and listed.favorite


def test_trigger_words_are_found_by_search(store: Store) -> None:
    store.add(make_model("plain-name", trigger_words=("zorblax style",)))
    store.add(make_model("other"))
    assert [m.name for m in store.list(ModelQuery(q="zorblax")).items] == ["plain-name"]
    updated = store.update(store.list(ModelQuery(q="other")).items[0].id, trigger_words=["quuxen"])
    assert updated.trigger_words == ("quuxen",)
    assert [m.name for m in store.list(ModelQuery(q="quuxen")).items] == ["other"]


def test_update_sets_and_clears_each_extra(store: Store) -> None:
    model = make_model("m")
    store.add(model)
    got = store.update(model.id, preview=Preview("user", "00ff", 0), favorite=True, site_origins=[ORIGIN])
    assert (got.preview, got.favorite, got.site_origins) == (Preview("user", "00ff", 0), True, (ORIGIN,))
    assert store.update(model.id, default_strength=-1.5).default_strength == -1.5
    assert store.update(model.id, favorite=True).default_strength == -1.5  # the shared column keeps it
    got = store.update(model.id, preview=None, favorite=False, site_origins=[], update=None, about=None)
    assert (got.preview, got.favorite, got.site_origins, got.update, got.about) == (
        None,
        False,
        (),
        None,
        None,
    )
    with pytest.raises(InvalidInput):
        store.update(model.id, trigger_words="one string")


def test_favorites_filter_and_recently_used_sort(store: Store) -> None:
    for name, fav, used in (
        ("a", True, "2026-12-01T00:00:00+00:00"),
        ("b", False, "2026-12-03T00:00:00+00:00"),
        ("c", True, ""),
        ("d", False, "2026-12-02T00:00:00+00:00"),
    ):
        store.add(make_model(name, favorite=fav, used_at=used))
    assert sorted(m.name for m in store.list(ModelQuery(favorite=True)).items) == ["a", "c"]
    assert store.list(ModelQuery(favorite=True)).total == 2
    assert [m.name for m in store.list(ModelQuery(sort="-used")).items] == ["b", "d", "a", "c"]
    assert [m.name for m in store.list(ModelQuery(q="d", favorite=False)).items] == ["d"]
    assert store.list(ModelQuery(q="d", favorite=True)).items == ()


def test_facets_count_each_chip_under_the_other_filters(store: Store) -> None:
    for name, kind, base, fav in (
        ("lora one", "lora", "sdxl", True),
        ("lora two", "lora", "sd15", False),
        ("vae one", "vae", "sdxl", False),
        ("ckpt one", "checkpoint", "flux1", True),
    ):
        store.add(make_model(name.replace(" ", "-"), type=kind, base_model=base, favorite=fav))
    every = store.facets(ModelQuery())
    assert every.type == {"lora": 2, "checkpoint": 1, "vae": 1}
    assert every.base_model == {"sdxl": 2, "flux1": 1, "sd15": 1}
    assert (every.favorites, every.total) == (2, 4)
    # A chip's count ignores its own filter: with "lora" picked, the other types still count.
    loras = store.facets(ModelQuery(type="lora"))
    assert loras.type == every.type
    assert loras.base_model == {"sd15": 1, "sdxl": 1}
    assert (loras.favorites, loras.total) == (1, 2)
    text = store.facets(ModelQuery(q="one"))
    assert text.type == {"checkpoint": 1, "lora": 1, "vae": 1} and text.total == 3
    assert store.facets(ModelQuery(favorite=True)).total == 2

"""``Catalog``: what services may ask of the models, whatever the backend (see conftest.BACKENDS)."""

from __future__ import annotations

from typing import Any, TypeAlias

import pytest

from comfyui_model_library.core.catalog.store import CatalogStore
from comfyui_model_library.core.errors import Conflict, InvalidInput, ModelNotFound
from comfyui_model_library.core.models import ModelFile, ModelQuery, ModelSource

from ..conftest import make_model

Store: TypeAlias = CatalogStore[Any]


def names(store: Store, **query: Any) -> list[str]:
    return sorted(m.name for m in store.list(ModelQuery(**query)).items)


def test_a_model_reads_back_as_it_was_added(store: Store) -> None:
    model = make_model(
        "juggernaut",
        tags=("zeta", "alpha", "zeta"),
        files=(
            ModelFile("b.safetensors", 2, "b" * 64, "c" * 64),
            ModelFile("a.safetensors", 1, "d" * 64, "e" * 64),
        ),
        manual_fields=frozenset({"name"}),
        warnings=("odd header",),
        notes="trigger: jugg",
    )
    store.add(model, origin=("/downloads/jugg.safetensors", "import"))
    assert store.get(model.id) == model.replace(tags=("zeta", "alpha"))  # tags once each, order kept
    assert store.find(model.id) == store.get(model.id)
    assert [o[:2] for o in store.origins(model.id)] == [("/downloads/jugg.safetensors", "import")]
    assert store.count() == 1


def test_duplicates_conflict_and_leave_the_catalog_as_it_was(store: Store) -> None:
    first = make_model("first", seed="same")
    store.add(first)
    with pytest.raises(Conflict):
        store.add(make_model("second", seed="same"))
    with pytest.raises(Conflict):
        store.add_many([make_model("fresh"), make_model("again", seed="same")])
    with pytest.raises(Conflict):
        store.add_many([make_model("twice", seed="t"), make_model("twice", seed="t")])
    assert store.count() == 1
    assert store.add_many([make_model(f"m{i}") for i in range(1200)]) == 1200  # more than one chunk
    assert store.count() == 1201


def test_unknown_values_are_invalid_input(store: Store) -> None:
    with pytest.raises(InvalidInput):
        store.add(make_model("bad", type="spaceship"))
    with pytest.raises(InvalidInput):
        store.add(make_model("bad2"), origin=("/x", "stolen"))
    model = make_model("ok")
    store.add(model)
    for fields in (
        {"type": "spaceship"},
        {"colour": "red"},
        {"tags": "one string"},
        {"manual_fields": ["id"]},
    ):
        with pytest.raises(InvalidInput):
            store.update(model.id, **fields)
    with pytest.raises(InvalidInput):
        store.add_origin(model.id, "/x", "stolen")
    assert store.count() == 1 and store.get(model.id) == model


def test_missing_models(store: Store) -> None:
    assert store.find("0123456789abcdef") is None
    for call in (
        lambda: store.get("0123456789abcdef"),
        lambda: store.update("0123456789abcdef", name="x"),
        lambda: store.delete("0123456789abcdef"),
        lambda: store.add_origin("0123456789abcdef", "/x", "import"),
        lambda: store.resolve("nothing-by-that-name"),
    ):
        with pytest.raises(ModelNotFound):
            call()


def test_lookups_by_hash(store: Store) -> None:
    model = make_model("hashed")
    shared = ModelFile("w.safetensors", 5, "f" * 64, "0" * 64)
    other = make_model("other", files=(shared,))
    store.add_many([model, other, make_model("third", files=(shared,))])
    assert store.by_blake3(model.hashes.blake3.upper()) == model
    assert store.by_blake3("9" * 64) is None
    found = store.by_blake3_many([model.hashes.blake3.upper(), "9" * 64, other.hashes.blake3])
    assert found == {model.hashes.blake3: model, other.hashes.blake3: other}
    assert store.by_blake3_many([]) == {}
    assert store.by_sha256(model.hashes.sha256) == [model]
    assert sorted(m.name for m in store.by_file_hash("F" * 64)) == ["other", "third"]


def test_resolve_by_id_prefix_hash_and_name(store: Store) -> None:
    model = make_model("Flux Dev")
    store.add_many([model, make_model("twin", seed="a"), make_model("twin", seed="b")])
    for ref in (
        model.id,
        model.id[:8],
        f"blake3:{model.hashes.blake3}",
        f"sha256:{model.hashes.sha256}",
        model.hashes.sha256,
        "Flux Dev",
        "flux dev",
    ):
        assert store.resolve(ref) == model, ref
    for ambiguous_or_empty in ("twin", " "):
        with pytest.raises(InvalidInput):
            store.resolve(ambiguous_or_empty)


def test_resolve_by_the_start_of_a_name_only_when_asked(store: Store) -> None:
    """People typing (``show jugg``) may give the start of a name; a workflow's missing "flux d" must
    never resolve to "Flux Dev" (another file that merely starts the same)."""
    model = make_model("Flux Dev")
    store.add_many([model, make_model("twin", seed="a"), make_model("twins", seed="b")])
    for ref in ("flux d", "FLUX"):
        assert store.resolve(ref, name_prefix=True) == model, ref
        with pytest.raises(ModelNotFound):
            store.resolve(ref)
    assert store.resolve("twin", name_prefix=True).name == "twin", "an exact name wins over a prefix"
    with pytest.raises(InvalidInput):
        store.resolve("tw", name_prefix=True)  # the start of two names: which one is not guessed
    store.add_many([make_model("100%_real", seed="c"), make_model("100x_real", seed="d")])
    assert store.resolve("100%", name_prefix=True).name == "100%_real", "% and _ are literal, not wildcards"
    assert store.resolve("100x", name_prefix=True).name == "100x_real"


def test_update_changes_fields_and_search_follows(store: Store) -> None:
    model = make_model("old name", tags=("a",))
    store.add(model)
    source = ModelSource(kind="civitai", repo_id="someone/else", match="name", confidence=0.5)
    updated = store.update(
        model.id,
        name="new name",
        tags=["z", "y", "z"],
        notes="n",
        base_model="flux1",
        source=source,
        metadata={"k": 1},
        manual_fields=["name"],
        warnings=["w"],
        state="missing",
    )
    assert updated == store.get(model.id)
    assert (updated.name, updated.tags, updated.notes, updated.base_model) == (
        "new name",
        ("z", "y"),
        "n",
        "flux1",
    )
    assert (updated.source, dict(updated.metadata), updated.manual_fields) == (source, {"k": "1"}, {"name"})
    assert (updated.warnings, updated.state) == (("w",), "missing")
    assert updated.updated_at >= model.updated_at
    assert names(store, q="new") == ["new name"] and names(store, q="old") == []
    assert names(store, q="z") == ["new name"]


def test_delete_and_delete_all(store: Store) -> None:
    a, b, c = make_model("alpha", tags=()), make_model("beta", location="source"), make_model("gamma")
    store.add_many([a, b, c], origins={a.id: [("/x/a.safetensors", "import", "2024-01-01T00:00:00+00:00")]})
    store.delete(a.id)
    assert store.find(a.id) is None and store.origins(a.id) == []
    assert names(store, q="alpha") == []
    with pytest.raises(InvalidInput):
        store.delete_all(location="moon")
    assert store.delete_all(location="source") == 1
    assert [m.name for m in store.iter_all()] == ["gamma"]
    assert store.delete_all() == 1 and store.count() == 0


def test_origins_keep_their_order_and_name_the_model(store: Store) -> None:
    model = make_model("canonical")
    store.add(model)
    store.add_origin(model.id, "/downloads/nickname_v2.safetensors", "download")
    store.add_origin(model.id, "/uploads/other.ckpt", "upload")
    store.add_origin(model.id, "/uploads/other.ckpt", "upload")  # recorded once
    assert [(p, k) for p, k, _ in store.origins(model.id)] == [
        ("/downloads/nickname_v2.safetensors", "download"),
        ("/uploads/other.ckpt", "upload"),
    ]
    assert names(store, q="nickname_v2") == ["canonical"]  # findable by the names its bytes had


def test_counts_iteration_and_facets(store: Store) -> None:
    assert not store.any_at("library") and not store.any_at("source")
    models = [make_model(f"m{i}", tags=("t", f"u{i % 2}"), type="lora" if i % 3 else "vae") for i in range(7)]
    store.add_many([*models, make_model("in place", location="source", tags=())])
    assert store.any_at("library") and store.any_at("source")
    assert store.count() == 8
    assert sorted(m.name for m in store.iter_all(batch=3)) == sorted([*(m.name for m in models), "in place"])
    assert store.tag_counts() == [("t", 7), ("u0", 4), ("u1", 3)]
    facets = store.facet_counts()
    assert facets["type"] == [("lora", 5), ("vae", 3)]
    assert facets["location"] == [("library", 7), ("source", 1)]
    assert set(facets) == {"type", "base_model", "file_format", "security", "location"}


def test_list_pages_filters_and_searches(store: Store) -> None:
    store.add_many(
        [make_model(f"anime style {i:02}", type="lora") for i in range(30)]
        + [make_model("photo vae", type="vae", tags=())]
    )
    page = store.list(ModelQuery(q="anime", limit=10, offset=20, sort="name"))
    assert page.total == 30 and [m.name for m in page.items] == [f"anime style {i}" for i in range(20, 30)]
    assert names(store, type="vae") == ["photo vae"]
    assert names(store, q="photo", type="lora") == []


def test_bulk_load_is_searchable_after(store: Store) -> None:
    with store.bulk():
        store.add_many([make_model(f"bulk {i}") for i in range(50)])
        store.update(store.resolve("bulk 3").id, name="renamed in bulk")
    assert store.count() == 50
    assert names(store, q="renamed") == ["renamed in bulk"]
    assert len(names(store, q="bulk")) == 50


def test_the_content_lock_makes_commits_of_the_same_bytes_take_turns(store: Store) -> None:
    """Two imports of the same bytes at once: the second decides only after the first committed."""
    import threading
    import time

    model = make_model("same bytes")
    order: list[str] = []
    first_in = threading.Event()

    def first() -> None:
        with store.content_lock(model.hashes.blake3):
            first_in.set()
            time.sleep(0.2)
            store.add(model)
            order.append("first committed")

    def second() -> None:
        first_in.wait(5)
        with store.content_lock(model.hashes.blake3):
            order.append(
                "second found it" if store.by_blake3(model.hashes.blake3) else "second found nothing"
            )

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order == ["first committed", "second found it"]
    with store.content_lock("f" * 64), store.content_lock("e" * 64):  # other bytes: no waiting
        pass


def test_long_words_are_stored_edited_and_found(store: Store) -> None:
    """No word a model may hold fails its add or its edit: PostgreSQL refuses lexemes over 2,046 bytes
    and tsvectors over 1 MiB where SQLite indexes anything (a pasted hash in the notes, a huge
    metadata.json's notes read back by a rebuild)."""
    long_name = "x" * 3000
    model = make_model(long_name, tags=("y" * 3000,), notes="n" * 5000)
    store.add(model)
    assert store.get(model.id).name == long_name
    store.update(model.id, notes="deadbeef" * 600 + " tail")  # the edit's 20,000 characters in one word
    assert names(store, q="deadbeef" * 30) == [long_name]  # found by its start
    assert names(store, q="tail") == [long_name]
    words = (f"w{i:06}abcdefghijklmnopqrstuvwxyz" for i in range(40_000))  # about 1.4 MB of words
    huge = make_model("huge notes", notes=" ".join(words))
    store.add(huge)
    assert names(store, q="w000001abcdefghijklmnopqrstuvwxyz") == ["huge notes"]
    assert store.count() == 2


def test_a_filter_passing_none_of_the_first_ten_thousand_hits_still_finds_the_rest(store: Store) -> None:
    """A broad word (10,050 hits) and favourites only among the last hits: the total and the page are
    those favourites, never "none" because the first 10,000 hits held no favourite."""
    models = [make_model(f"m{i:05d}", tags=("alpha",), favorite=i >= 10_045) for i in range(10_050)]
    store.add_many(models)
    page = store.list(ModelQuery(q="alpha", favorite=True, sort="name"))
    assert page.total == 5 and not page.total_capped
    assert [m.name for m in page.items] == [f"m{i:05d}" for i in range(10_045, 10_050)]
    assert store.list(ModelQuery(q="alpha", favorite=True)).total == 5

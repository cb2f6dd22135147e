"""``InPlaceModels``: the model rows of folders catalogued in place, whatever the backend. Provisional
rows by the thousand, re-keyed or merged once hashed, renamed, their states and aliases kept in step with
the sources' files (see conftest.BACKENDS)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from comfyui_model_library.core.catalog.store import CatalogStore, HeldInPlace, Settled
from comfyui_model_library.core.models import PENDING_PREFIX, ModelQuery, model_id_from_blake3

from ..conftest import make_model
from .conftest import Backend

NOW = "2025-01-01T00:00:00+00:00"


def pid(n: int) -> str:
    return f"p{n:015x}"


def provisional(
    n: int, name: str = "", *, folder: str = "/src/loras", fmt: str = "single-file"
) -> tuple[Any, ...]:
    return (
        pid(n),
        name or f"found {n}",
        "lora",
        fmt,
        "unknown",
        10,
        folder,
        PENDING_PREFIX + pid(n),
        NOW,
        NOW,
    )


def insert(backend: Backend, *rows: tuple[Any, ...]) -> None:
    with backend.transaction() as tx:
        backend.store.in_place.insert_provisional(tx, rows, [(r[0], f"{r[1]}.safetensors", 10) for r in rows])


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def names(store: CatalogStore[Any], q: str) -> list[str]:
    return sorted(m.name for m in store.list(ModelQuery(q=q)).items)


def test_provisional_models_are_listed_and_found_at_once(backend: Backend) -> None:
    store = backend.store
    store.add(make_model("already here"))
    insert(backend, *(provisional(n, f"walked {n}") for n in range(600)))  # several statements' worth
    assert store.count() == 601
    assert store.list(ModelQuery(q="walked")).total == 600
    assert names(store, "walked 599") == ["walked 599"]
    model = store.get(pid(7))
    assert (model.location, model.state, model.base_model, model.security) == (
        "source",
        "ready",
        "unknown",
        "unknown",
    )
    assert (model.type, model.format, model.rel_dir, model.size) == ("lora", "single-file", "/src/loras", 10)
    assert model.hashes.blake3 == PENDING_PREFIX + pid(7)
    assert [(f.path, f.size, f.blake3) for f in model.files] == [("walked 7.safetensors", 10, "")]
    with backend.transaction() as tx:
        assert store.in_place.existing_ids(tx, [pid(1), pid(9999), pid(599)]) == {pid(1), pid(599)}
        assert store.in_place.existing_ids(tx, [pid(n) for n in range(2000)]) == {pid(n) for n in range(600)}


def test_refresh_provisional_leaves_hashed_models_alone(backend: Backend) -> None:
    store = backend.store
    hashed = make_model("hashed", location="source", type="vae")
    store.add(hashed)
    insert(backend, provisional(1))
    with backend.transaction() as tx:
        store.in_place.refresh_provisional(
            tx, [("checkpoint", 99, "2026-01-01", pid(1)), ("checkpoint", 99, "x", hashed.id)]
        )
    assert (store.get(pid(1)).type, store.get(pid(1)).size) == ("checkpoint", 99)
    assert store.get(hashed.id) == hashed


def test_settle_rekeys_a_provisional_model_to_its_content_id(backend: Backend) -> None:
    store = backend.store
    insert(backend, provisional(1, "my lora"))
    b3, sha = digest("bytes"), digest("sha")
    with backend.transaction() as tx:
        settled = store.in_place.settle(
            tx, pid(1), b3, sha, {"my lora.safetensors": (digest("f"), digest("g"))}
        )
    assert settled == Settled(model_id_from_blake3(b3), merged=False)
    assert store.find(pid(1)) is None
    model = store.get(settled.model_id)
    assert (model.name, model.hashes.blake3, model.hashes.sha256) == ("my lora", b3, sha)
    assert [(f.blake3, f.sha256) for f in model.files] == [(digest("f"), digest("g"))]
    assert names(store, "my lora") == ["my lora"]
    with backend.transaction() as tx:  # settled already: nothing more to do
        assert store.in_place.settle(tx, settled.model_id, b3, sha, {}) is None
        assert store.in_place.settle(tx, pid(404), b3, sha, {}) is None


def test_settle_merges_into_the_model_that_holds_the_same_bytes(backend: Backend) -> None:
    store = backend.store
    library = make_model("in the library")
    store.add(library)
    insert(backend, provisional(1, "copy in place"))
    with backend.transaction() as tx:
        settled = store.in_place.settle(tx, pid(1), library.hashes.blake3, library.hashes.sha256, {})
    assert settled == Settled(library.id, merged=True)
    assert store.find(pid(1)) is None and store.get(library.id) == library
    assert store.count() == 1


def test_settle_keeps_a_64_bit_prefix_collision_apart(backend: Backend) -> None:
    store = backend.store
    b3 = digest("colliding")
    squatter = make_model("squatter", id=model_id_from_blake3(b3))  # same id, other bytes
    store.add(squatter)
    insert(backend, provisional(1))
    with backend.transaction() as tx:
        settled = store.in_place.settle(tx, pid(1), b3, digest("s"), {})
    assert settled == Settled(model_id_from_blake3(b3) + "-" + b3[16:20], merged=False)
    assert store.get(squatter.id) == squatter and store.get(settled.model_id).hashes.blake3 == b3


def test_a_renamed_file_takes_its_model_along(backend: Backend) -> None:
    store = backend.store
    insert(
        backend,
        provisional(1, "old"),
        provisional(2, "named by hand"),
        provisional(3, "set", fmt="sharded-set"),
    )
    store.update(pid(2), name="mine", manual_fields=["name"])
    library = make_model("library model")
    store.add(library)
    with backend.transaction() as tx:
        store.in_place.follow_rename(
            tx, pid(1), "/src/loras/old.safetensors", "/src/sub/new.safetensors", "new"
        )
        store.in_place.follow_rename(
            tx, pid(2), "/src/loras/named by hand.safetensors", "/src/x/y.safetensors", "y"
        )
        store.in_place.follow_rename(
            tx, pid(3), "/src/loras/set.safetensors", "/src/z/set2.safetensors", "set2"
        )
        store.in_place.follow_rename(tx, library.id, "/lib/a.safetensors", "/lib/b.safetensors", "b")
        store.in_place.follow_rename(tx, pid(404), "/a", "/b", "b")
    moved = store.get(pid(1))
    assert (moved.name, moved.rel_dir, [f.path for f in moved.files]) == (
        "new",
        "/src/sub",
        ["new.safetensors"],
    )
    assert names(store, "new") == ["new"]
    kept = store.get(pid(2))
    assert (kept.name, kept.rel_dir, kept.files[0].path) == ("mine", "/src/x", "y.safetensors")
    assert store.get(pid(3)).rel_dir == "/src/loras" and store.get(library.id) == library


def test_states_follow_the_files_in_place(backend: Backend) -> None:
    store = backend.store
    insert(backend, provisional(1))
    library = make_model("library model")
    store.add(library)
    backend.put_files(
        "/src", [("/src/loras/a.safetensors", pid(1)), ("/src/loras/b.safetensors", library.id)]
    )
    assert backend.set_files(["/src/loras/a.safetensors", "/src/loras/b.safetensors"], "missing") == sorted(
        [pid(1), library.id]
    )
    assert (store.get(pid(1)).state, store.get(library.id).state) == ("missing", "ready")
    backend.set_files(["/src/loras/a.safetensors"], "present")
    assert store.get(pid(1)).state == "ready"
    with backend.transaction() as tx:
        store.in_place.refresh_states(tx, [pid(404)])  # unknown ids are no error


def test_only_models_left_without_files_in_place_are_dropped(backend: Backend) -> None:
    store = backend.store
    insert(backend, provisional(1), provisional(2))
    library = make_model("library model")
    store.add(library)
    backend.put_files("/src", [("/src/loras/two.safetensors", pid(2))])
    with backend.transaction() as tx:
        assert store.in_place.drop_orphans(tx, [pid(1), pid(2), library.id, pid(404)]) == 1
    assert (
        store.find(pid(1)) is None and store.find(pid(2)) is not None and store.find(library.id) is not None
    )


def test_files_in_place_give_their_model_other_names(backend: Backend) -> None:
    store = backend.store
    model = make_model("canonical", tags=())
    store.add(model)
    backend.put_files("/src", [("/src/loras/nickname_v3.safetensors", model.id)])
    assert names(store, "nickname_v3") == []
    with backend.transaction() as tx:
        store.in_place.refresh_aliases(tx, [model.id])
    assert names(store, "nickname_v3") == ["canonical"]


def test_a_model_in_place_gets_its_library_copy(backend: Backend) -> None:
    store = backend.store
    insert(backend, provisional(1))
    files = [("w.safetensors", 10, digest("a"), digest("b"))]
    with backend.transaction() as tx:
        store.in_place.attach_library_copy(tx, pid(1), "models/lora/x", files)
    model = store.get(pid(1))
    assert (model.location, model.rel_dir, model.state) == ("library", "models/lora/x", "ready")
    assert [(f.path, f.size, f.blake3, f.sha256) for f in model.files] == files


def test_listing_times_of_models_in_place(backend: Backend) -> None:
    store = backend.store
    insert(backend, provisional(1), provisional(2))
    library = make_model("library model")
    store.add(library)
    source_a = backend.put_files("/a", [("/a/one.safetensors", pid(1)), ("/a/lib.safetensors", library.id)])
    backend.put_files("/b", [("/b/two.safetensors", pid(2))])
    with backend.transaction() as tx:
        store.in_place.restore_times(tx, pid(1), "2020-01-01", "2021-01-01")
        store.in_place.restore_times(tx, library.id, "2020-01-01", "2021-01-01")  # library keeps its own
        assert store.in_place.source_times(tx, 1) == {pid(1): ("2020-01-01", "2021-01-01")}
        assert store.in_place.source_times(tx, 2) == {pid(2): (NOW, NOW)}
        assert store.in_place.source_times(tx, 404) == {}
    assert len(source_a) == 2 and store.get(library.id) == library


def test_headers_refine_uninspected_models_but_not_what_the_user_set(backend: Backend) -> None:
    store = backend.store
    insert(backend, provisional(1), provisional(2, folder="/src/checkpoints", fmt="diffusion-folder"))
    store.update(pid(2), type="vae", manual_fields=["type"])
    backend.put_files("/src", [("/src/loras/one.safetensors", pid(1)), ("/src/checkpoints/x", pid(2))])
    pending = sorted(store.in_place.uninspected(10), key=lambda u: u.path)
    assert [(u.path, u.format, u.rel_dir, u.root) for u in pending] == [
        ("/src/checkpoints/x", "diffusion-folder", "/src/checkpoints", "/src"),
        ("/src/loras/one.safetensors", "single-file", "/src/loras", "/src"),
    ]
    assert len(store.in_place.uninspected(1)) == 1
    meta, warnings = json.dumps({"ss_network_dim": "16"}), json.dumps(["odd"])
    with backend.transaction() as tx:
        store.in_place.apply_headers(
            tx,
            [
                (
                    "checkpoint",
                    "sdxl",
                    "safetensors",
                    "safe",
                    meta,
                    warnings,
                    '["tok one"]' if u.format == "single-file" else "[]",
                    "tok one" if u.format == "single-file" else "",
                    "2026-01-01",
                    u.file_id,
                    u.size,
                    u.mtime_ns,
                    u.inode,
                )
                for u in pending
            ]
            + [(None, "flux1", "gguf", "safe", "{}", "[]", "[]", "", "2026-01-01", 404, 0, 0, 0)],
        )
    one, two = store.get(pid(1)), store.get(pid(2))
    assert (one.type, one.base_model, one.file_format, one.security) == (
        "checkpoint",
        "sdxl",
        "safetensors",
        "safe",
    )
    assert (dict(one.metadata), one.warnings) == ({"ss_network_dim": "16"}, ("odd",))
    assert (two.type, two.base_model) == ("vae", "sdxl")  # the type set by hand stays
    assert one.trigger_words == ("tok one",)
    assert [m.id for m in store.list(ModelQuery(q="tok")).items] == [one.id]


def test_held_in_place_counts_present_copies_of_hashed_models(backend: Backend) -> None:
    store = backend.store
    library, in_place = make_model("library model"), make_model("in place", location="source")
    store.add_many([library, in_place])
    insert(backend, provisional(1))
    backend.put_files(
        "/src",
        [
            ("/src/a.safetensors", library.id),
            ("/src/b.safetensors", library.id),
            ("/src/c.safetensors", in_place.id),
            ("/src/d.safetensors", in_place.id),
            ("/src/p.safetensors", pid(1)),
        ],
    )
    backend.set_files(["/src/d.safetensors"], "missing")
    held = sorted(store.in_place.held_in_place(), key=lambda h: h.name)
    assert held == [
        HeldInPlace(in_place.id, "in place", in_place.size, "source", 1),
        HeldInPlace(library.id, "library model", library.size, "library", 2),
    ]

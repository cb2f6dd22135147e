"""ModelRepository over a real SQLite file: round trips, lookups, updates keeping FTS in sync, cascades."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.errors import Conflict, InvalidInput, ModelNotFound
from comfyui_model_library.core.models import Hashes, ModelFile, ModelQuery, ModelSource

from .conftest import make_model


def fts_ok(db: Database) -> None:
    with db.read() as conn:
        conn.execute("INSERT INTO models_fts(models_fts) VALUES ('integrity-check')")
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"


def names(repo: ModelRepository, q: str, **filters: object) -> list[str]:
    return [m.name for m in repo.list(ModelQuery(q=q, **filters)).items]  # type: ignore[arg-type]


def test_add_get_round_trip(repo: ModelRepository) -> None:
    model = make_model(
        "juggernautXL_v9",
        tags=("zeta", "alpha", "zeta"),
        files=(
            ModelFile("b/second.safetensors", 2, "b" * 64, "c" * 64),
            ModelFile("a/first.safetensors", 1, "d" * 64, "e" * 64),
        ),
        manual_fields=frozenset({"name", "tags"}),
        warnings=("odd header",),
        notes="trigger: jugg",
    )
    repo.add(model, origin=("/downloads/jugg.safetensors", "import"))
    got = repo.get(model.id)
    # Duplicate tags collapse; order of tags and files is kept.
    assert got == model.replace(tags=("zeta", "alpha"))
    assert repo.origins(model.id)[0][:2] == ("/downloads/jugg.safetensors", "import")
    assert repo.count() == 1


def test_add_fills_timestamps(repo: ModelRepository) -> None:
    model = make_model("fresh", added_at="", updated_at="")
    repo.add(model)
    got = repo.get(model.id)
    assert got.added_at and got.updated_at == got.added_at


def test_duplicate_blake3_is_conflict_and_changes_nothing(repo: ModelRepository) -> None:
    first = make_model("first", seed="same")
    repo.add(first)
    with pytest.raises(Conflict, match=first.id):
        repo.add(make_model("second", seed="same"))
    with pytest.raises(Conflict):
        repo.add_many([make_model("x"), make_model("x2", seed="same")])
    assert repo.count() == 1
    assert repo.get(first.id).name == "first"


def test_invalid_values_are_rejected(repo: ModelRepository) -> None:
    with pytest.raises(InvalidInput, match="type"):
        repo.add(make_model("bad", type="spaceship"))
    with pytest.raises(InvalidInput, match="origin kind"):
        repo.add(make_model("bad2"), origin=("/x", "stolen"))
    assert repo.count() == 0


def test_get_missing_names_the_id(repo: ModelRepository) -> None:
    with pytest.raises(ModelNotFound, match="0123456789abcdef"):
        repo.get("0123456789abcdef")
    assert repo.find("0123456789abcdef") is None


def test_hash_lookups(repo: ModelRepository) -> None:
    shared = "f" * 64
    a = make_model("a", files=(ModelFile("vae.safetensors", 5, shared, "1" * 64),))
    b = make_model("b", files=(ModelFile("vae.safetensors", 5, shared, "1" * 64),))
    repo.add_many([a, b])
    assert repo.by_blake3(a.hashes.blake3.upper()) == repo.get(a.id)
    assert repo.by_blake3("0" * 64) is None
    assert [m.id for m in repo.by_sha256(b.hashes.sha256)] == [b.id]
    assert sorted(m.id for m in repo.by_file_hash(shared)) == sorted([a.id, b.id])


def _with_blake3(name: str, blake3: str):  # type: ignore[no-untyped-def]
    return make_model(name, id=blake3[:16], hashes=Hashes(blake3, "9" * 64))


def test_resolve(repo: ModelRepository) -> None:
    a = _with_blake3("Alpha", "abcdef01" + "0" * 56)
    b = _with_blake3("beta", "abcdef02" + "0" * 56)
    c = _with_blake3("beta", "12345678" + "0" * 56)
    repo.add_many([a, b, c])
    assert repo.resolve(a.id).id == a.id
    assert repo.resolve("abcdef01").id == a.id
    assert repo.resolve(" ABCDEF01 ").id == a.id
    assert repo.resolve(f"blake3:{a.hashes.blake3}").id == a.id
    assert repo.resolve(a.hashes.blake3).id == a.id
    assert repo.resolve("alpha").id == a.id  # unique name, any case
    with pytest.raises(InvalidInput) as ambiguous:
        repo.resolve("abcdef")
    assert a.id in str(ambiguous.value) and b.id in str(ambiguous.value)
    with pytest.raises(InvalidInput, match=c.id):
        repo.resolve("beta")
    with pytest.raises(InvalidInput):
        repo.resolve(f"sha256:{'9' * 64}")  # three models share it
    with pytest.raises(ModelNotFound):
        repo.resolve("abcde")  # a prefix shorter than 6 is not an id
    with pytest.raises(ModelNotFound):
        repo.resolve("blake3:" + "e" * 64)
    with pytest.raises(InvalidInput):
        repo.resolve("   ")


def test_update_keeps_tags_and_fts_in_sync(repo: ModelRepository, db: Database) -> None:
    model = make_model("oldname", tags=("old",))
    repo.add(model)
    updated = repo.update(
        model.id,
        name="Shiny New",
        tags=("neon", "retro"),
        type="checkpoint",
        notes="great for posters",
        source=ModelSource(kind="huggingface", repo_id="owner/shiny"),
        metadata={"k": "v"},
        manual_fields=frozenset({"name"}),
        warnings=("w",),
        state="missing",
        rel_dir="models/checkpoint/sdxl/Shiny New",
    )
    assert updated.name == "Shiny New" and updated.tags == ("neon", "retro")
    assert updated.updated_at >= model.updated_at and updated.type == "checkpoint"
    assert updated.source.repo_id == "owner/shiny" and updated.state == "missing"
    assert names(repo, "shiny") == ["Shiny New"]
    assert names(repo, "oldname") == []
    assert names(repo, "retro") == ["Shiny New"]
    assert names(repo, "old") == []
    assert names(repo, "posters") == ["Shiny New"]
    assert names(repo, "owner") == ["Shiny New"]
    assert names(repo, "", tag="neon") == ["Shiny New"]
    assert names(repo, "", tag="old") == []
    fts_ok(db)


@pytest.mark.parametrize(
    "fields",
    [
        {"size": 1},
        {"id": "x"},
        {"type": "nope"},
        {"state": "gone"},
        {"manual_fields": frozenset({"size"})},
        {"tags": "abc"},
    ],
)
def test_update_rejects_bad_fields(repo: ModelRepository, fields: dict[str, object]) -> None:
    model = make_model("m")
    repo.add(model)
    with pytest.raises(InvalidInput):
        repo.update(model.id, **fields)
    assert repo.get(model.id) == model


def test_update_and_delete_missing(repo: ModelRepository) -> None:
    with pytest.raises(ModelNotFound):
        repo.update("feedfeedfeedfeed", name="x")
    with pytest.raises(ModelNotFound):
        repo.delete("feedfeedfeedfeed")
    with pytest.raises(ModelNotFound):
        repo.add_origin("feedfeedfeedfeed", "/x", "import")


def test_delete_cascades_and_keeps_fts_in_sync(repo: ModelRepository, db: Database) -> None:
    keep, gone = make_model("keeper"), make_model("goner")
    repo.add(keep)
    repo.add(gone, origin=("/src/goner.safetensors", "import"))
    repo.delete(gone.id)
    assert repo.find(gone.id) is None
    assert names(repo, "goner") == []
    assert names(repo, "keeper") == ["keeper"]
    for table in ("model_files", "tags", "model_origins"):
        rows = db.execute_read(f"SELECT count(*) FROM {table} WHERE model_id = ?", (gone.id,))
        assert rows[0][0] == 0
    fts_ok(db)


def test_delete_all_by_location(repo: ModelRepository, db: Database) -> None:
    repo.add_many([make_model("lib"), make_model("src", location="source", rel_dir="/mnt/models")])
    assert repo.delete_all(location="library") == 1
    assert [m.name for m in repo.iter_all()] == ["src"]
    assert repo.delete_all() == 1
    assert repo.count() == 0
    fts_ok(db)


def test_origins(repo: ModelRepository) -> None:
    model = make_model("m")
    repo.add(model)
    repo.add_origin(model.id, "/a", "import")
    repo.add_origin(model.id, "/a", "import")  # the same place twice is recorded once
    repo.add_origin(model.id, "/b", "download")
    assert [o[:2] for o in repo.origins(model.id)] == [("/a", "import"), ("/b", "download")]
    with pytest.raises(InvalidInput):
        repo.add_origin(model.id, "/c", "teleport")


def test_iter_all_counts_and_facets(repo: ModelRepository) -> None:
    models = [
        make_model(f"m{i}", type="lora" if i % 3 else "vae", tags=("t1",) if i % 2 else ()) for i in range(25)
    ]
    repo.add_many(models)
    assert sorted(m.id for m in repo.iter_all(batch=7)) == sorted(m.id for m in models)
    assert repo.tag_counts() == [("t1", 12)]
    facets = repo.facet_counts()
    assert dict(facets["type"]) == {"lora": 16, "vae": 9}
    assert dict(facets["location"]) == {"library": 25}


def test_a_page_costs_a_fixed_number_of_queries(repo: ModelRepository, db: Database) -> None:
    repo.add_many([make_model(f"model{i}") for i in range(120)])
    statements: list[str] = []
    with db.read() as conn:
        conn.set_trace_callback(statements.append)
        try:
            page = repo.list(ModelQuery(limit=100))
            all_models = list(repo.iter_all(batch=200))
        finally:
            conn.set_trace_callback(None)
    assert len(page.items) == 100 and all(m.files and m.tags for m in page.items)
    assert len(all_models) == 120
    queries = [s for s in statements if not s.startswith("PRAGMA")]
    assert len(queries) <= 4 + 4  # list: page + count + files + tags; iter_all: page + files + tags + end


def test_concurrent_writers_serialize(repo: ModelRepository, db: Database) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                model = make_model(f"t{n}-{i}")
                repo.add(model)
                repo.update(model.id, tags=(f"thread{n}",))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert repo.count() == 120
    assert dict(repo.tag_counts()) == {f"thread{n}": 20 for n in range(6)}
    fts_ok(db)


def test_bulk_restores_triggers_even_on_failure(repo: ModelRepository, db: Database) -> None:
    repo.add(make_model("before"))
    with pytest.raises(Conflict), repo.bulk():
        repo.add(make_model("inside"))
        repo.add(make_model("dup", seed="d"))
        repo.add(make_model("dup2", seed="d"))
    triggers = {r[0] for r in db.execute_read("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"models_ai", "models_ad", "models_au"} <= triggers
    assert [m.name for m in repo.iter_all()] == ["before"]
    repo.add(make_model("after"))
    assert names(repo, "after") == ["after"]
    fts_ok(db)


def test_broken_row_json_is_reported_as_corrupt(repo: ModelRepository, db: Database) -> None:
    from comfyui_model_library.core.errors import CatalogCorrupt

    model = make_model("m")
    repo.add(model)
    with db.transaction() as conn:
        conn.execute("UPDATE models SET metadata_json = '{broken' WHERE id = ?", (model.id,))
    with pytest.raises(CatalogCorrupt, match=model.id):
        repo.get(model.id)


def test_sqlite_errors_never_escape_a_lookup(repo: ModelRepository) -> None:
    for ref in ['"', "%", "_", "' OR 1=1 --", "\x00", "a" * 10_000]:
        try:
            repo.resolve(ref)
        except (ModelNotFound, InvalidInput):
            pass
        except sqlite3.Error as exc:  # pragma: no cover - the failure this test is for
            pytest.fail(f"{ref!r} raised {exc!r}")

"""Many models added at once are indexed after their insert (``bulk.models_indexed_at_end``), not row by
row through the triggers: the words' index, the name trigrams and the filter counts must end exactly as
the triggers leave them, and a failed batch must leave the triggers and the indexes as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.bulk import INSERT_TRIGGERS
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.repository import INDEX_AT_END_MODELS, ModelRepository
from comfyui_model_library.core.errors import Conflict
from comfyui_model_library.core.models import Model, ModelQuery

from .conftest import make_model

KINDS = [("lora", "sdxl"), ("lora", "sd15"), ("checkpoint", "flux1"), ("vae", "sdxl")]


def _models(count: int, prefix: str = "m") -> list[Model]:
    models = []
    for i in range(count):
        kind, base = KINDS[i % len(KINDS)]
        name = f"{prefix}{i:03d}_{'juggernaut' if i % 3 else 'dreamshaper'}"
        models.append(
            make_model(
                name,
                type=kind,
                base_model=base,
                rel_dir=f"models/{kind}/{base}/{name}",
                tags=("style", f"t{i % 5}"),
                notes=f"note {i}",
                favorite=i % 7 == 0,
            )
        )
    return models


_WORDS = "SELECT m.id FROM models_fts f JOIN models m ON m.rowid = f.rowid WHERE models_fts MATCH ?"
_GRAMS = "SELECT m.id FROM models_trigrams t JOIN models m ON m.rowid = t.rowid WHERE models_trigrams MATCH ?"
_TRUTH = (
    "SELECT type, base_model, location, security, file_format, favorite, count(*) FROM models "
    "GROUP BY 1, 2, 3, 4, 5, 6"
)


def _state(db: Database) -> dict[str, object]:
    """What search reads besides the rows: index checks pass, and what each index answers."""
    with db.read() as conn:
        conn.execute("INSERT INTO models_fts(models_fts) VALUES ('integrity-check')")
        conn.execute("INSERT INTO models_trigrams(models_trigrams) VALUES ('integrity-check')")

        def ids(sql: str, q: str) -> list[str]:
            return sorted(r[0] for r in conn.execute(sql, (q,)))

        words = {q: ids(_WORDS, q) for q in ("jugg*", "dreamshaper", "t3", "note", "lora", "sdxl", "m01*")}
        grams = {q: ids(_GRAMS, q) for q in ("gernau", "amsha", "012_")}
        counts = sorted(tuple(r) for r in conn.execute("SELECT * FROM model_counts WHERE n > 0"))
        truth = sorted(tuple(r) for r in conn.execute(_TRUTH))
        triggers = sorted(r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'"))
    assert counts == truth
    return {"words": words, "grams": grams, "counts": counts, "triggers": triggers}


def _catalog(path: Path) -> tuple[Database, ModelRepository]:
    db = Database(path)
    migrate(db)
    return db, ModelRepository(db)


def test_a_batch_is_indexed_as_the_triggers_index_each_model(tmp_path: Path) -> None:
    models = _models(3 * INDEX_AT_END_MODELS)
    one_db, one_by_one = _catalog(tmp_path / "one.sqlite")
    batch_db, batch = _catalog(tmp_path / "batch.sqlite")
    try:
        for model in models[:5]:  # rows before the batch: only the batch's rows are indexed after it
            one_by_one.add(model)
            batch.add(model)
        for model in models[5:]:
            one_by_one.add(model, origin=(f"/in/{model.name}.safetensors", "adopt"))
        batch.add_many(models[5:], origins={m.id: [(f"/in/{m.name}.safetensors", "adopt", m.added_at)]
                                            for m in models[5:]})  # fmt: skip
        expected = _state(one_db)
        assert expected["words"]["jugg*"] and expected["grams"]["gernau"]  # the queries find something
        assert _state(batch_db) == expected
        found = batch.list(ModelQuery(q="dreamshaper", type="checkpoint")).items
        assert {m.id for m in found} == {
            m.id for m in models if "dreamshaper" in m.name and m.type == "checkpoint"
        }
        assert {m.id for m in batch.list(ModelQuery(q="amsha")).items} == {
            m.id for m in models if "dreamshaper" in m.name
        }
    finally:
        one_db.close()
        batch_db.close()


def test_a_batch_that_conflicts_leaves_the_indexes_and_triggers_as_they_were(
    db: Database, repo: ModelRepository
) -> None:
    first = _models(INDEX_AT_END_MODELS, prefix="a")
    repo.add_many(first)
    before = _state(db)
    clash = _models(2 * INDEX_AT_END_MODELS, prefix="b")
    clash[-1] = first[3]  # already in the catalog: the whole batch is refused
    with pytest.raises(Conflict):
        repo.add_many(clash)
    assert _state(db) == before
    # The triggers are back: a single model added afterwards is indexed row by row.
    late = make_model("zz_late_dreamshaper", type="vae", base_model="sd15")
    repo.add(late)
    after = _state(db)
    assert late.id in after["words"]["dreamshaper"]  # type: ignore[index]
    assert set(INSERT_TRIGGERS) <= {
        r[0] for r in db.execute_read("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    }


def test_a_trigger_named_in_another_case_is_put_back_as_it_was(db: Database, repo: ModelRepository) -> None:
    with db.transaction() as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'model_counts_ai'").fetchone()
        conn.execute("DROP TRIGGER model_counts_ai")
        conn.execute(sql.replace("model_counts_ai", "Model_Counts_AI", 1))
    repo.add_many(_models(INDEX_AT_END_MODELS))
    names = {r[0] for r in db.execute_read("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert "Model_Counts_AI" in names
    repo.add(make_model("one_more"))  # counted by the trigger, row by row
    _state(db)  # the counts still sum the rows


def test_inside_a_bulk_load_only_the_triggers_still_there_are_made_up_for(
    db: Database, repo: ModelRepository
) -> None:
    """``bulk`` drops the words' triggers and rebuilds their indexes at its end: a batch inside it must
    not index the words as well (twice the work), only the counts whose trigger it suspended."""
    statements: list[str] = []
    with repo.bulk():
        with db.transaction() as conn:
            conn.set_trace_callback(statements.append)
        try:
            repo.add_many(_models(2 * INDEX_AT_END_MODELS))
        finally:
            with db.transaction() as conn:
                conn.set_trace_callback(None)
    indexing = [s for s in statements if s.startswith("INSERT INTO") and "SELECT" in s]
    assert any("model_counts" in s for s in indexing)
    assert not any("models_fts" in s or "models_trigrams" in s for s in indexing), indexing
    _state(db)

"""0012: favourites are a word of the search index, kept in step with every write and never found by
typed text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from comfyui_model_library.core.catalog import search
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.catalog.search import build_match, run_search
from comfyui_model_library.core.catalog.search_flags import FAVOURITE, NOT_FAVOURITE
from comfyui_model_library.core.catalog.search_terms import tokenize
from comfyui_model_library.core.models import ModelQuery

from .conftest import make_model


def _names(repo: ModelRepository, query: ModelQuery) -> list[str]:
    return sorted(m.name for m in repo.list(query).items)


def test_a_text_search_of_favourites_follows_each_toggle(repo: ModelRepository, db: Database) -> None:
    models = [make_model(f"neon {i}") for i in range(4)]
    repo.add_many(models)
    assert _names(repo, ModelQuery(q="neon", favorite=True)) == []
    repo.update(models[1].id, favorite=True)
    repo.update(models[3].id, favorite=True)
    assert _names(repo, ModelQuery(q="neon", favorite=True)) == ["neon 1", "neon 3"]
    assert _names(repo, ModelQuery(q="ne", favorite=False)) == ["neon 0", "neon 2"]
    repo.update(models[1].id, favorite=False)
    repo.update(models[0].id, name="neon zero", favorite=True)  # both at once
    assert _names(repo, ModelQuery(q="neon", favorite=True)) == ["neon 3", "neon zero"]
    assert repo.list(ModelQuery(q="neo", favorite=True)).total == 2
    repo.delete(models[3].id)
    assert _names(repo, ModelQuery(q="neon", favorite=True)) == ["neon zero"]
    with repo.bulk():
        repo.add_many([make_model("neon bulk", favorite=True)])
    assert _names(repo, ModelQuery(q="neon", favorite=True)) == ["neon bulk", "neon zero"]
    with db.read() as conn:
        conn.execute("INSERT INTO models_fts(models_fts) VALUES ('integrity-check')")


def test_typed_text_never_finds_a_model_for_being_a_favourite(repo: ModelRepository) -> None:
    repo.add_many([make_model("plain", favorite=True), make_model("other"), make_model(f"x{FAVOURITE}y")])
    for text in (FAVOURITE, NOT_FAVOURITE, FAVOURITE[:1], FAVOURITE[:3], f"plain {FAVOURITE[:2]}"):
        found = _names(repo, ModelQuery(q=text))
        assert "plain" not in found and "other" not in found, (text, found)
    # A name holding the mark is still found by it (the text columns keep it).
    assert _names(repo, ModelQuery(q=f"x{FAVOURITE}y")) == [f"x{FAVOURITE}y"]
    assert _names(repo, ModelQuery(q=f"x{FAVOURITE[:2]}")) == [f"x{FAVOURITE}y"]


def test_words_holding_the_mark_are_ranked_as_other_words_are(repo: ModelRepository, db: Database) -> None:
    """A word kept to the text columns is written ``{name ...} : "word"``: the check that each word of a
    match is rare enough to rank (search._phrases_narrow) must take it as one word, not as ten."""
    repo.add_many([make_model(f"neon x{FAVOURITE}y"), make_model("neon"), make_model("other")])
    ranked: list[str] = []
    with db.read() as conn:
        conn.set_trace_callback(ranked.append)
        try:
            got = run_search(conn, ModelQuery(q=f"neon x{FAVOURITE}y"))
        finally:
            conn.set_trace_callback(None)
    assert [r["name"] for r in got.rows] == [f"neon x{FAVOURITE}y"]
    assert any("bm25(" in s for s in ranked), "two rare words: ranked"


@given(st.text(alphabet=st.sampled_from(f'ab "*:{{}}-^{FAVOURITE[0]}\u00e9\ue001'), max_size=40))
def test_a_match_splits_into_one_phrase_per_typed_word(text: str) -> None:
    match = build_match(text)
    if match is not None:
        phrases = search._PHRASE.findall(match)
        assert " ".join(phrases) == match and len(phrases) == len(tokenize(text))

"""Search: safe FTS5 expressions from any text, filters, sort, pagination, ranking and capped counts."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comfyui_model_library.core.catalog import search
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.catalog.search import build_match, run_search, tokenize
from comfyui_model_library.core.errors import InvalidInput
from comfyui_model_library.core.models import ModelQuery, ModelSource

from .conftest import make_model

JUGG = "juggernautXL_v9_RunDiffusionPhoto2"


@pytest.fixture
def filled(repo: ModelRepository) -> ModelRepository:
    repo.add_many(
        [
            make_model(JUGG, type="checkpoint", base_model="sdxl", tags=("photo", "realistic"), size=7),
            make_model("flux_lora_neon", type="lora", base_model="flux1", tags=("style",), size=3),
            make_model("add-detail-xl", type="lora", base_model="sdxl", tags=("detail",), size=1),
            make_model(
                "anime lineart", type="lora", base_model="sd15", tags=("anime",), size=2, notes="flux vibe"
            ),
            make_model("sdxl_vae", type="vae", base_model="sdxl", tags=(), size=5, security="unknown"),
            make_model("refiner", type="checkpoint", base_model="sdxl_refiner", tags=(), size=6),
            make_model(
                "source one",
                type="embedding",
                base_model="sd15",
                location="source",
                rel_dir="/mnt/x",
                file_format="gguf",
                size=4,
                tags=("anime",),
            ),
        ]
    )
    return repo


def names(repo: ModelRepository, **kw: object) -> list[str]:
    return [m.name for m in repo.list(ModelQuery(**kw)).items]  # type: ignore[arg-type]


def test_build_match_examples() -> None:
    assert build_match("flux lora") == '"flux" "lora"*'
    assert build_match("  ") is None
    assert build_match('"*^') is None
    assert build_match("NEAR(a b) col:* AND OR NOT") == '"NEAR" "a" "b" "col" "AND" "OR" "NOT"*'
    assert build_match("juggernautXL_v9.safetensors") == '"juggernautXL" "v9" "safetensors"*'
    assert tokenize("a\u0301b café-x") == ["\u00e1b", "café", "x"]  # NFC, one word


def test_build_match_limits() -> None:
    with pytest.raises(InvalidInput, match="256"):
        build_match("x" * 257)
    with pytest.raises(InvalidInput, match="words"):
        build_match(" ".join("w" * 17))
    assert build_match(" ".join("w" * 16)) is not None


HOSTILE = [
    '"',
    '""',
    "NEAR(",
    "NEAR(a b, 2)",
    "col:*",
    "name:x",
    "*",
    "^",
    "^x",
    "-x",
    "+",
    "(",
    ")",
    "AND OR NOT",
    "a OR",
    "x\x00y",
    "\x00",
    "'; DROP TABLE models; --",
    "%",
    "_",
    "\\",
    "{name}: x",
    "ЖЖ",
    "🙂",
    "\u0301",
]


@pytest.mark.parametrize("text", [*HOSTILE, "x" * 1_000_000, "a " * 200], ids=lambda t: repr(t[:12]))
@pytest.mark.parametrize("sort", ["relevance", "name", "-size"])
def test_hostile_text_gives_results_or_invalid_input(filled: ModelRepository, text: str, sort: str) -> None:
    try:
        page = filled.list(ModelQuery(q=text, sort=sort))
    except InvalidInput as exc:
        assert exc.http_status == 400
        assert len(text) > 256 or "words" in exc.message
    except sqlite3.Error as exc:  # pragma: no cover - the failure this test is for
        pytest.fail(f"{text[:20]!r} raised {exc!r}")
    else:
        assert page.total >= len(page.items)


_FTS = sqlite3.connect(":memory:")
_FTS.execute(
    "CREATE VIRTUAL TABLE t USING fts5(name, tags_text, type, base_model, repo_id, notes, "
    "tokenize=\"unicode61 remove_diacritics 2\", prefix='1 2 3 4')"
)
_FTS.execute("INSERT INTO t VALUES ('juggernautXL v9', 'a b', 'lora', 'sdxl', 'o/r', 'n')")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_gives_an_expression_sqlite_accepts(text: str) -> None:
    try:
        expr = build_match(text)
    except InvalidInput:
        return
    if expr is not None:
        _FTS.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()
        _FTS.execute("SELECT rowid FROM t WHERE t MATCH ?", (f"name : ({expr})",)).fetchall()
        _FTS.execute("SELECT rowid FROM t WHERE t MATCH ?", (f"({expr}) NOT (name : ({expr}))",)).fetchall()


@pytest.mark.parametrize(
    "typed", ["j", "ju", "jug", "jugger", "juggernautxl", "JUGGERNAUTXL_V", "v9 run", "diffusion", "photo2"]
)
def test_type_ahead_and_inner_words_find_the_name(filled: ModelRepository, typed: str) -> None:
    assert JUGG in names(filled, q=typed)


def test_substring_fallback_is_used_only_when_the_index_finds_nothing(
    filled: ModelRepository, db: Database
) -> None:
    with db.read() as conn:
        assert run_search(conn, ModelQuery(q="ernaut")).strategy == "substring"
        assert run_search(conn, ModelQuery(q="jugg")).strategy == "fts"
        assert run_search(conn, ModelQuery(q="")).strategy == "all"
        assert run_search(conn, ModelQuery(q="ernaut", type="lora")).total == 0


def test_filters(filled: ModelRepository) -> None:
    assert sorted(names(filled, type="lora")) == ["add-detail-xl", "anime lineart", "flux_lora_neon"]
    assert sorted(names(filled, q="xl", type="lora")) == ["add-detail-xl"]
    assert sorted(names(filled, base_model="sdxl")) == [
        "add-detail-xl",
        "juggernautXL_v9_RunDiffusionPhoto2",
        "sdxl_vae",
    ]
    # "sdxl" as an FTS prefilter would also match "sdxl refiner"; the SQL filter keeps it exact.
    assert names(filled, q="refiner", base_model="sdxl") == []
    assert names(filled, q="refiner", base_model="sdxl_refiner") == ["refiner"]
    assert sorted(names(filled, tag="anime")) == ["anime lineart", "source one"]
    assert names(filled, q="anime", tag="anime", location="source") == ["source one"]
    assert names(filled, security="unknown") == ["sdxl_vae"]
    assert names(filled, file_format="gguf") == ["source one"]
    assert names(filled, q="flux", type="vae") == []
    page = filled.list(ModelQuery(q="flux", type="lora"))
    assert page.total == 2 and page.took_ms > 0


def test_sorts(filled: ModelRepository) -> None:
    assert names(filled, sort="size") == [
        "add-detail-xl",
        "anime lineart",
        "flux_lora_neon",
        "source one",
        "sdxl_vae",
        "refiner",
        JUGG,
    ]
    assert names(filled, sort="-size")[0] == JUGG
    assert names(filled, sort="name")[:2] == ["add-detail-xl", "anime lineart"]
    assert names(filled, sort="-name")[0] == "source one"
    assert names(filled, sort="type")[0] in ("refiner", JUGG)
    assert names(filled, q="lora", sort="-name") == ["flux_lora_neon", "anime lineart", "add-detail-xl"]


def test_relevance_prefers_name_over_notes_and_tags(filled: ModelRepository) -> None:
    assert names(filled, q="flux") == ["flux_lora_neon", "anime lineart"]  # name hit, then the notes hit


def test_pagination_is_disjoint_and_complete(repo: ModelRepository) -> None:
    repo.add_many([make_model(f"pony_{i:02d}", tags=("pony",)) for i in range(23)])
    for sort in ("relevance", "name", "-added"):
        seen: list[str] = []
        for offset in range(0, 30, 10):
            page = repo.list(ModelQuery(q="pony", sort=sort, limit=10, offset=offset))
            assert page.total == 23
            seen += [m.id for m in page.items]
        assert len(seen) == len(set(seen)) == 23


def test_broad_matches_list_name_hits_first_and_page_through_all(
    repo: ModelRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "RANK_CAP", 4)
    in_name = [make_model(f"neon_{'x' * i}") for i in range(3)]
    elsewhere = [make_model(f"other{i}", tags=("neon",)) for i in range(6)]
    repo.add_many([*elsewhere, *in_name])
    first = names(repo, q="neon", limit=3)
    assert first == ["neon_", "neon_x", "neon_xx"]  # shortest name first
    seen = []
    for offset in range(0, 9, 2):
        seen += names(repo, q="neon", limit=2, offset=offset)
    assert len(seen) == len(set(seen)) == 9
    assert seen[:3] == first
    # Too many name hits to order: newest first, still complete.
    monkeypatch.setattr(search, "RANK_CAP", 1)
    newest_first = names(repo, q="neon", limit=50)
    assert len(set(newest_first)) == 9
    assert newest_first[:3] == ["neon_xx", "neon_x", "neon_"]  # name hits first, newest first
    paged = [n for offset in range(0, 9, 2) for n in names(repo, q="neon", limit=2, offset=offset)]
    assert paged == newest_first


def test_two_common_words_skip_bm25_but_still_match(
    repo: ModelRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "RANK_CAP", 2)
    repo.add_many([make_model(f"flux lora {i}") for i in range(3)] + [make_model("flux only", type="vae")])
    assert len(names(repo, q="flux lora")) == 3


def test_counts_are_capped_for_broad_matches(
    repo: ModelRepository, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "COUNT_CAP", 5)
    repo.add_many([make_model(f"cap{i}", type="lora" if i % 2 else "vae") for i in range(12)])
    with db.read() as conn:
        broad = run_search(conn, ModelQuery(q="cap"))
        assert (broad.total, broad.total_capped) == (5, True)
        narrow = run_search(conn, ModelQuery(q="cap1"))
        assert (narrow.total, narrow.total_capped) == (3, False)  # cap1, cap10, cap11
        everything = run_search(conn, ModelQuery())
        assert (everything.total, everything.total_capped) == (12, False)  # without text: exact
        filtered = run_search(conn, ModelQuery(q="cap", type="lora", security="safe"))
        assert filtered.total_capped and filtered.total <= 5


@pytest.mark.parametrize(
    "query",
    [
        ModelQuery(sort="random"),
        ModelQuery(type="spaceship"),
        ModelQuery(base_model="sd99"),
        ModelQuery(location="moon"),
        ModelQuery(security="maybe"),
        ModelQuery(file_format="exe"),
        ModelQuery(limit=0),
        ModelQuery(limit=501),
        ModelQuery(limit=True),
        ModelQuery(offset=-1),
        ModelQuery(offset="3"),  # type: ignore[arg-type]
        ModelQuery(tag="t" * 200),
        ModelQuery(q=None),  # type: ignore[arg-type]
    ],
)
def test_invalid_queries_are_rejected(filled: ModelRepository, query: ModelQuery) -> None:
    with pytest.raises(InvalidInput):
        filled.list(query)


def test_repo_id_is_searchable(repo: ModelRepository) -> None:
    repo.add(
        make_model("plain", source=ModelSource(kind="huggingface", repo_id="black-forest-labs/FLUX.1-dev"))
    )
    assert names(repo, q="forest") == ["plain"]

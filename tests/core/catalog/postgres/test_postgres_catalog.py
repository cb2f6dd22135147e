"""What the PostgreSQL catalog adds to the shared contract (tests/core/catalog/conformance/): words split
as SQLite splits them whatever the server's locale, hostile search text, several machines at once (two
adds of the same bytes, two first starts migrating), and a server that cannot be reached."""

from __future__ import annotations

import threading
from unittest import mock

import pytest

from comfyui_model_library.core.catalog.postgres import schema
from comfyui_model_library.core.catalog.postgres.database import PostgresDatabase, check_dsn, redacted
from comfyui_model_library.core.catalog.postgres.documents import document, query
from comfyui_model_library.core.catalog.postgres.schema import MIGRATIONS, migrate
from comfyui_model_library.core.catalog.postgres.store import PostgresCatalog
from comfyui_model_library.core.catalog.rows import INSERT_MODEL, model_params
from comfyui_model_library.core.errors import (
    CatalogTooNew,
    CatalogUnavailable,
    Conflict,
    InvalidConfig,
    InvalidInput,
)
from comfyui_model_library.core.models import ModelFile, ModelQuery
from tests.postgres_server import PostgresServer

from ..conftest import make_model


@pytest.fixture
def store(db: PostgresDatabase) -> PostgresCatalog:
    return PostgresCatalog(db)


def names(store: PostgresCatalog, q: str, **filters: object) -> list[str]:
    return [m.name for m in store.list(ModelQuery(q=q, **filters)).items]  # type: ignore[arg-type]


def test_words_split_and_fold_as_sqlite_does_them() -> None:
    doc = document({"name": "Café_XL-v2", "tags_text": "Ånime", "type": "lora", "notes": ""})
    assert doc == "'cafe':1A 'xl':2A 'v2':3A 'anime':4B 'lora':5C"
    assert query("CAFÉ xl") == "'cafe' & 'xl':*"
    assert query("flux", weights="A") == "'flux':*A"
    assert query("  ---  ") is None


def test_non_ascii_names_are_found_whatever_the_servers_locale(store: PostgresCatalog) -> None:
    store.add_many(
        [make_model("Café_XL-v2"), make_model("日本語モデル"), make_model("Ωmega Λora"), make_model("plain")]
    )
    assert names(store, "cafe") == ["Café_XL-v2"]
    assert names(store, "v2") == ["Café_XL-v2"]
    assert names(store, "日本語モデル") == ["日本語モデル"]
    assert names(store, "ωme") == ["Ωmega Λora"]


def test_hostile_search_text_is_words_never_syntax(store: PostgresCatalog) -> None:
    store.add(make_model("it's a trap"))
    for text in ("'", "\\", "a & b | !c", "x:*", "(((", "it's", "'; DROP TABLE models; --", "%_%", "a<->b"):
        store.list(ModelQuery(q=text))  # never a syntax error
    assert names(store, "it's") == ["it's a trap"]
    assert store.count() == 1


def test_a_nul_character_is_invalid_input_never_a_driver_error(store: PostgresCatalog) -> None:
    """PostgreSQL text cannot hold NUL (SQLite's can): a value holding one, written or looked up, is the
    caller's InvalidInput (HTTP 400), not a psycopg error (500), and the catalog is unharmed."""
    kept = make_model("kept")
    store.add(kept)
    for bad in (
        lambda: store.add(make_model("bad\x00name")),
        lambda: store.add(make_model("tagged", tags=("a\x00b",))),
        lambda: store.update(kept.id, notes="a\x00b"),
        lambda: store.find("a\x00b"),
        lambda: store.resolve("kept\x00"),
        lambda: store.list(ModelQuery(tag="a\x00b")),
    ):
        with pytest.raises(InvalidInput, match="NUL"):
            bad()
    assert store.count() == 1 and store.get(kept.id).notes == ""
    assert names(store, "a\x00b") == []  # search text keeps only its words


def test_a_word_inside_a_name_is_found_by_substring(store: PostgresCatalog) -> None:
    store.add_many([make_model("juggernautXL_v9"), make_model("other")])
    page = store.list(ModelQuery(q="xl"))
    assert [m.name for m in page.items] == ["juggernautXL_v9"] and page.total == 1


def test_a_piece_of_letters_and_digits_counts_as_the_names_holding_it(store: PostgresCatalog) -> None:
    """Counted on the runs of ASCII letters and digits of names (0006): a piece lies inside one run, next
    to other characters or not, and a name holding it twice counts once."""
    names = ["CaféNoirXL", "noirxl-v2", "ΣnoirΣ", "x_noi_r", "NOIRNOIR 2", "Straße-noir9", "other"]
    store.add_many([make_model(name) for name in names])
    for piece in ("oir", "oirx", "ois", "noir9", "irn"):
        page = store.list(ModelQuery(q=piece, limit=50))
        assert page.total == sum(piece in name.lower() for name in names), piece
        assert sorted(m.name for m in page.items) == sorted(n for n in names if piece in n.lower())
    store.update(store.list(ModelQuery(q="other")).items[0].id, name="renamed_noir")  # runs follow it
    assert store.list(ModelQuery(q="oir", limit=50)).total == 6


def test_relevance_puts_names_before_other_fields(store: PostgresCatalog) -> None:
    store.add_many(
        [
            make_model("unrelated", notes="mentions pixel somewhere", tags=()),
            make_model("pixel art xl", tags=()),
            make_model("tagged", tags=("pixel",)),
        ]
    )
    assert names(store, "pixel") == ["pixel art xl", "tagged", "unrelated"]
    past_the_end = store.list(ModelQuery(q="pixel", offset=10))
    assert past_the_end.items == () and past_the_end.total == 3


def test_two_machines_adding_the_same_bytes_get_one_model(postgres_dsn: str, store: PostgresCatalog) -> None:
    """Two stores (two machines' pools) add the same content at once: one wins, the other is a Conflict."""
    other = PostgresCatalog(PostgresDatabase(postgres_dsn))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def add(target: PostgresCatalog, name: str) -> None:
        barrier.wait()
        try:
            target.add(make_model(name, seed="same bytes"))
            outcomes.append("added")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=add, args=(s, n)) for s, n in ((store, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.db.close()
    assert sorted(outcomes) == ["added", "conflict"]
    assert store.count() == 1


def test_first_starts_on_several_machines_migrate_once(postgres_dsn: str) -> None:
    databases = [PostgresDatabase(postgres_dsn, pool_size=1) for _ in range(3)]
    ran: list[list[str]] = []
    barrier = threading.Barrier(len(databases))

    def start(db: PostgresDatabase) -> None:
        barrier.wait()
        ran.append(migrate(db))

    threads = [threading.Thread(target=start, args=(db,)) for db in databases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for db in databases:
        db.close()
    assert sorted(ran, key=len) == [[], [], [m.name for m in MIGRATIONS]]


def test_an_unreachable_server_is_catalog_unavailable_without_the_password(tmp_path: object) -> None:
    dsn = f"postgresql://team:s3cret@/nowhere?host={tmp_path}&connect_timeout=1"
    with pytest.raises(CatalogUnavailable) as caught:
        PostgresDatabase(dsn, connect_timeout=1)
    assert "s3cret" not in str(caught.value) and "docs/teams.md" in str(caught.value)
    assert redacted("postgresql://team:s3cret@db.lan:5433/lib") == "postgresql://team:***@db.lan:5433/lib"
    assert redacted("postgresql://team@db.lan/lib?sslmode=require&password=s3cret") == (
        "postgresql://team@db.lan/lib?sslmode=require&password=***"
    )
    # libpq's several hosts (a standby) and IPv6 addresses are kept as written
    assert (
        redacted("postgresql://team:s3cret@h1:5432,h2:5433/lib")
        == "postgresql://team:***@h1:5432,h2:5433/lib"
    )
    assert redacted("postgresql://team:s3cret@[::1]:5432/lib") == "postgresql://team:***@[::1]:5432/lib"
    assert (
        redacted("postgresql:///lib?host=/run/pg&password=s") == "postgresql:///lib?host=/run/pg&password=***"
    )
    dsn = f"postgresql:///nowhere?host={tmp_path}&password=s3cret&connect_timeout=1"
    with pytest.raises(CatalogUnavailable) as caught:
        PostgresDatabase(dsn, connect_timeout=1)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(InvalidConfig):
        check_dsn("mysql://team@db.lan/lib")


def test_the_catalog_comes_back_with_its_server_without_a_failed_request(
    postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    """A server restarted (an upgrade, a failover) or idle connections dropped (a firewall's timeout):
    while it is down a request is CatalogUnavailable saying what to do; once it is back, the pool's
    dead connections are replaced before use, so no request fails on one."""
    db = PostgresDatabase(postgres_dsn, connect_timeout=1)
    migrate(db)
    store = PostgresCatalog(db)
    try:
        store.add(make_model("kept"))
        name = postgres_dsn.split("/")[3].split("?")[0]
        postgres_server.psql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
            "AND pid <> pg_backend_pid()"
        )
        assert store.count() == 1  # was CatalogUnavailable (AdminShutdown) once per pooled connection
        postgres_server.stop_server()
        try:
            with pytest.raises(CatalogUnavailable, match="Check that the server runs"):
                store.count()
        finally:
            postgres_server.start_server()
        assert [store.count() for _ in range(5)] == [1] * 5
        store.add(make_model("after"))
        assert names(store, "after") == ["after"]
    finally:
        db.close()


def _listed_match_rows(db: PostgresDatabase) -> None:
    """0004's copies of each model's files and tags, kept by triggers, are those rows."""
    with db.read() as conn:
        stale = conn.execute(
            "SELECT id FROM models WHERE files_listed IS DISTINCT FROM model_files_of(id) "
            "OR tags_listed IS DISTINCT FROM model_tags_of(id)"
        ).fetchall()
    assert stale == []


def _names_match_rows(db: PostgresDatabase) -> None:
    """0006's runs of letters and digits of each name (substrings are counted on them), kept by
    triggers, are the rows'; every run is in the vocabulary."""
    with db.read() as conn:
        runs = "SELECT r, rowid FROM model_search, name_runs(name_key) AS r"
        for missing in (f"{runs} EXCEPT SELECT * FROM name_words", f"SELECT * FROM name_words EXCEPT {runs}"):
            assert conn.execute(missing).fetchall() == []
        unknown = "SELECT word FROM name_words EXCEPT SELECT word FROM name_vocab"
        assert conn.execute(unknown).fetchall() == []


def _counts_match_rows(db: PostgresDatabase) -> None:
    """model_counts, model_words (0003), the copies of files and tags (0004) and of names (0006), each
    kept by triggers, hold what the rows say."""
    _listed_match_rows(db)
    _names_match_rows(db)
    with db.read() as conn:
        derived = "SELECT rowid, type, base_model, favorite, strip(doc) AS words FROM model_search"
        for missing in (
            f"{derived} EXCEPT SELECT * FROM model_words",
            f"SELECT * FROM model_words EXCEPT {derived}",
        ):
            assert conn.execute(missing).fetchall() == []
        kept = conn.execute(
            "SELECT type, base_model, location, security, file_format, favorite, n FROM model_counts "
            "WHERE n <> 0 ORDER BY 1, 2, 3, 4, 5, 6"
        ).fetchall()
        real = conn.execute(
            "SELECT type, base_model, location, security, file_format, favorite, count(*) AS n FROM models "
            "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
        ).fetchall()
    assert kept == real


def test_totals_without_text_stay_exact_through_every_change(
    db: PostgresDatabase, store: PostgresCatalog
) -> None:
    """Totals and chip counts without text come from model_counts, text totals from model_words: adds,
    edits, favourites, moves to the library, deletions (one, by location, all) and a bulk load keep both
    equal to the rows."""
    models = [
        make_model(f"m{i}", type="lora" if i % 3 else "vae", base_model="sdxl" if i % 2 else "flux1")
        for i in range(30)
    ]
    store.add_many(models)
    store.add(make_model("in place", location="source"))
    _counts_match_rows(db)
    store.update(models[0].id, type="checkpoint", favorite=True)
    store.update(models[1].id, base_model="sd15", name="renamed")
    store.update(models[2].id, location="source")
    store.update(models[4].id, used_at="2025-01-01T00:00:00+00:00")  # nothing counted changes
    store.update(models[5].id, favorite=True)  # only the favourite
    store.update(models[6].id, tags=["new", "style"])
    store.update(models[7].id, tags=[])
    store.delete(models[3].id)
    _counts_match_rows(db)
    assert store.list(ModelQuery(q="renamed", base_model="sd15")).total == 1
    assert store.list(ModelQuery(q="m", favorite=True, type="checkpoint")).total == 1  # m0
    assert store.list(ModelQuery(q="m5", favorite=True)).total == 1
    assert store.list(ModelQuery(q="m6")).items[0].tags == ("new", "style")
    assert store.list(ModelQuery(type="vae")).total == sum(1 for m in models[4:] if m.type == "vae") + (
        1 if models[2].type == "vae" else 0
    )
    assert store.facets(ModelQuery()).favorites == 2
    assert store.delete_all(location="source") == 2
    _counts_match_rows(db)
    with store.bulk():
        store.add_many([make_model(f"bulk {i}") for i in range(10)])
    _counts_match_rows(db)
    assert store.count() == 38 and store.list(ModelQuery()).total == 38
    store.delete_all()
    _counts_match_rows(db)
    assert store.count() == 0 and store.facets(ModelQuery()).type == {}


def test_machines_adding_and_removing_at_once_keep_counts_exact(
    postgres_dsn: str, db: PostgresDatabase
) -> None:
    """Two machines writing models of the same kinds at once: their counter updates never deadlock and
    the counts stay exact."""
    stores = [PostgresCatalog(db), PostgresCatalog(PostgresDatabase(postgres_dsn))]
    errors: list[BaseException] = []

    def work(store: PostgresCatalog, tag: str) -> None:
        try:
            for round_ in range(15):
                batch = [make_model(f"{tag}{round_}-{i}", type=("lora", "vae")[i % 2]) for i in range(6)]
                store.add_many(batch)
                store.delete(batch[0].id)
                store.update(batch[1].id, favorite=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, t)) for s, t in zip(stores, "ab", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stores[1].db.close()
    assert not errors, errors
    _counts_match_rows(db)
    assert stores[0].count() == 2 * 15 * 5


def test_a_broad_match_pages_name_hits_first_and_every_hit_once(store: PostgresCatalog) -> None:
    """Past RANK_CAP hits the page is not ranked whole: names that hold the word first, then the other
    hits, each newest first; paging through gives every hit exactly once."""
    named = [make_model(f"alpha {i}", tags=()) for i in range(2000)]
    tagged = [make_model(f"beta {i}", tags=("alpha",)) for i in range(700)]
    store.add_many(named + tagged)
    seen: list[str] = []
    for offset in range(0, 2700, 500):
        page = store.list(ModelQuery(q="alpha", limit=500, offset=offset))
        assert page.total == 2700 and not page.total_capped
        seen += [m.name for m in page.items]
    assert len(seen) == len(set(seen)) == 2700
    assert all(name.startswith("alpha") for name in seen[:2000])
    assert seen[0] == "alpha 1999" and seen[2000] == "beta 699"  # newest first in each part


def test_reads_run_on_their_own_and_a_write_inside_one_is_still_one_transaction(
    db: PostgresDatabase,
) -> None:
    """read() runs each statement on its own (no BEGIN and COMMIT around a page of search); a
    transaction() opened inside it is still one transaction, rolled back whole when it raises."""
    with db.read() as conn:
        assert conn.autocommit
        with pytest.raises(RuntimeError), db.transaction() as tx:
            tx.execute("INSERT INTO sources (path, added_at) VALUES ('/a', 'now')")
            tx.execute("INSERT INTO sources (path, added_at) VALUES ('/b', 'now')")
            raise RuntimeError("the second write failed")
        assert conn.execute("SELECT count(*) AS n FROM sources").fetchone() == {"n": 0}
    with db.transaction() as tx:
        assert not tx.autocommit  # the pool's connections are handed out as they were


def test_migrating_a_catalog_copies_each_models_files_and_tags_onto_its_row(postgres_dsn: str) -> None:
    """0004 fills the copies of files and tags (a page reads them with its rows) for the models a catalog
    already holds, in the order they were added."""
    db = PostgresDatabase(postgres_dsn)
    try:
        with mock.patch.object(schema, "MIGRATIONS", MIGRATIONS[:3]):
            migrate(db)
        model = make_model(
            "older",
            tags=("zeta", "alpha"),
            files=(ModelFile("b.gguf", 2, "b" * 64, "c" * 64), ModelFile("a.gguf", 1, "d" * 64, "e" * 64)),
        )
        with db.transaction() as conn:  # as the store wrote rows before 0004
            conn.execute(INSERT_MODEL.replace("?", "%s"), model_params(model))
            for f in model.files:
                conn.execute(
                    "INSERT INTO model_files (model_id, path, size, blake3, sha256) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    (model.id, f.path, f.size, f.blake3, f.sha256),
                )
            for tag in model.tags:
                conn.execute("INSERT INTO tags (model_id, tag) VALUES (%s, %s)", (model.id, tag))
        assert migrate(db) == [
            "0004_listed_files_and_tags",
            "0005_jobs",
            "0006_name_words",
        ]
        got = PostgresCatalog(db).get(model.id)
        assert (got.files, got.tags) == (model.files, model.tags)
        _listed_match_rows(db)
        _names_match_rows(db)  # 0006 copied the names a catalog already holds
    finally:
        db.close()


def test_an_add_writes_each_model_row_once(db: PostgresDatabase, store: PostgresCatalog) -> None:
    """A model's files and tags go in with one statement each, so the triggers keeping the copies on its
    row (0004) find it right and rewrite nothing (one row each time a tag went in was three rows)."""
    files = (ModelFile("a.gguf", 1, "a" * 64, "b" * 64), ModelFile("b.gguf", 2, "c" * 64, "d" * 64))
    with db.transaction() as conn:
        store.add_many([make_model(f"m{i}", tags=("x", "y", "z"), files=files) for i in range(3)])
        row = conn.execute("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'models'")
        assert row.fetchone() == {"n_tup_upd": 0}
    _counts_match_rows(db)


def test_a_machine_older_than_the_shared_catalog_refuses_it(db: PostgresDatabase) -> None:
    """A machine not updated yet, meeting a catalog another machine upgraded, does not open it."""
    with db.transaction() as conn:
        conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('0099_from_the_future', 'x')")
    try:
        with pytest.raises(CatalogTooNew, match=r"newer version .*0099_from_the_future.*same version"):
            migrate(db)
    finally:
        with db.transaction() as conn:
            conn.execute("DELETE FROM _migrations WHERE name = '0099_from_the_future'")

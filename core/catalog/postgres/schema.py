"""The PostgreSQL catalog's schema, versioned as the SQLite one is: named migrations recorded in
``_migrations`` by the transaction that runs them. Several machines may start at once against a fresh
database: a transaction-scoped advisory lock lets one migrate while the others wait, then find nothing to do.

The tables mirror the SQLite catalog's (core/catalog/migrations.py) with PostgreSQL's types, plus
``model_search``: a narrow row per model with what search, filters and sorts read and a ``doc`` tsvector
(the search words, weighted by field, written by the store: see documents.py) under a GIN index that also
serves prefixes, and a trigram index on names for the substring fallback where the ``pg_trgm`` extension
may be created. ``sources`` and ``source_files`` are the in-place
folders' tables, here so that their writes share a transaction with the models' as they do in SQLite.
Migrations 0002 on (schema_reads.py) add what reads are served from: the chips' filters inside the words'
index, ``model_words`` for counting, each model's files and tags copied onto its row, ``name_words``
for counting substrings.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from ..migrations import refuse_newer
from .database import Conn, PostgresDatabase
from .jobs import JOBS_TABLE
from .schema_reads import COUNTED_WORDS, FILTERED_WORDS, LISTED, NAME_WORDS

# A fixed key of our own for pg_advisory_xact_lock: "model-library migrations".
_MIGRATION_LOCK = 0x6D6C_6D69_6772


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


_INITIAL = """
CREATE TABLE models (
    rowid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    base_model TEXT NOT NULL,
    format TEXT NOT NULL,
    file_format TEXT NOT NULL,
    security TEXT NOT NULL,
    size BIGINT NOT NULL,
    location TEXT NOT NULL DEFAULT 'library',
    rel_dir TEXT NOT NULL DEFAULT '',
    blake3 TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    source_json TEXT NOT NULL DEFAULT '{}',
    repo_id TEXT NOT NULL DEFAULT '',
    tags_text TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    manual_fields TEXT NOT NULL DEFAULT '[]',
    metadata_json TEXT NOT NULL DEFAULT '{}',
    warnings_json TEXT NOT NULL DEFAULT '[]',
    state TEXT NOT NULL DEFAULT 'ready',
    added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '',
    trigger_words_json TEXT NOT NULL DEFAULT '[]',
    trigger_text TEXT NOT NULL DEFAULT '',
    extras_json TEXT NOT NULL DEFAULT '',
    about_json TEXT NOT NULL DEFAULT '',
    favorite SMALLINT NOT NULL DEFAULT 0,
    used_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX models_sha256 ON models (sha256);
CREATE INDEX models_name ON models (name);

-- What search, filters and sorts read, one narrow row per model (SQLite's FTS index plays this part):
-- a broad word's hits are rechecked on a few pages instead of the wide rows', and a page's order comes
-- from an index alone; only the page's rows are read from models. The store writes a model's row with
-- its search words (doc: documents.py) when it adds the model or changes a searched field, in one
-- write (a second would leave a dead copy of every row); the trigger below follows other changes.
CREATE TABLE model_search (
    rowid BIGINT PRIMARY KEY REFERENCES models(rowid) ON DELETE CASCADE,
    id TEXT NOT NULL UNIQUE,
    name_key TEXT COLLATE "C" NOT NULL,
    type TEXT NOT NULL,
    base_model TEXT NOT NULL,
    location TEXT NOT NULL,
    security TEXT NOT NULL,
    file_format TEXT NOT NULL,
    favorite SMALLINT NOT NULL,
    added_at TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    used_at TEXT COLLATE "C" NOT NULL,
    name_length INTEGER NOT NULL,
    doc TSVECTOR NOT NULL DEFAULT ''::tsvector
);
CREATE INDEX model_search_doc ON model_search USING gin (doc);
CREATE INDEX model_search_name ON model_search (name_key, id) INCLUDE (rowid);
CREATE INDEX model_search_type_name ON model_search (type, name_key, id) INCLUDE (rowid);
CREATE INDEX model_search_base_name ON model_search (base_model, name_key, id) INCLUDE (rowid);
CREATE INDEX model_search_added ON model_search (added_at, id) INCLUDE (rowid);
CREATE INDEX model_search_size ON model_search (size, id) INCLUDE (rowid);
CREATE INDEX model_search_used ON model_search (used_at, id) INCLUDE (rowid);
CREATE INDEX model_search_location ON model_search (location);
CREATE INDEX model_search_favorite ON model_search (name_key, id) INCLUDE (rowid) WHERE favorite = 1;

CREATE FUNCTION model_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO model_search (rowid, id, name_key, type, base_model, location, security, file_format,
                              favorite, added_at, size, used_at, name_length)
    VALUES (NEW.rowid, NEW.id, lower(NEW.name), NEW.type, NEW.base_model, NEW.location, NEW.security,
            NEW.file_format, NEW.favorite, NEW.added_at, NEW.size, NEW.used_at, length(NEW.name))
    ON CONFLICT (rowid) DO UPDATE SET id = EXCLUDED.id, name_key = EXCLUDED.name_key, type = EXCLUDED.type,
        base_model = EXCLUDED.base_model, location = EXCLUDED.location, security = EXCLUDED.security,
        file_format = EXCLUDED.file_format, favorite = EXCLUDED.favorite, added_at = EXCLUDED.added_at,
        size = EXCLUDED.size, used_at = EXCLUDED.used_at, name_length = EXCLUDED.name_length;
    RETURN NULL;
END
$$;
CREATE TRIGGER models_search_update AFTER UPDATE OF id, name, type, base_model, location, security,
    file_format, favorite, added_at, size, used_at ON models
    FOR EACH ROW EXECUTE FUNCTION model_search_sync();

-- How many models hold each combination of the filters' values: a list's total without text (and the
-- filter chips' counts) is a sum over a few hundred rows, exact, instead of a count over every model.
-- Statement triggers with transition tables keep it: one grouped write per statement, not per row,
-- taking the counters' row locks in one order so that machines writing at once never deadlock.
CREATE TABLE model_counts (
    type TEXT NOT NULL,
    base_model TEXT NOT NULL,
    location TEXT NOT NULL,
    security TEXT NOT NULL,
    file_format TEXT NOT NULL,
    favorite SMALLINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (type, base_model, location, security, file_format, favorite)
);

CREATE FUNCTION model_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO model_counts AS c (type, base_model, location, security, file_format, favorite, n)
    SELECT type, base_model, location, security, file_format, favorite, count(*) FROM added
    GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (type, base_model, location, security, file_format, favorite)
        DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;
CREATE FUNCTION model_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE model_counts AS c SET n = c.n - r.k
    FROM (SELECT type, base_model, location, security, file_format, favorite, count(*) AS k FROM removed
          GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6) AS r
    WHERE (c.type, c.base_model, c.location, c.security, c.file_format, c.favorite)
        = (r.type, r.base_model, r.location, r.security, r.file_format, r.favorite);
    RETURN NULL;
END
$$;
CREATE FUNCTION model_counts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH delta AS (
        SELECT type, base_model, location, security, file_format, favorite, sum(k) AS k FROM (
            SELECT type, base_model, location, security, file_format, favorite, 1 AS k FROM added
            UNION ALL
            SELECT type, base_model, location, security, file_format, favorite, -1 AS k FROM removed
        ) AS d GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(k) <> 0
    )
    INSERT INTO model_counts AS c (type, base_model, location, security, file_format, favorite, n)
    SELECT * FROM delta ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (type, base_model, location, security, file_format, favorite)
        DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;
CREATE TRIGGER model_search_counted_insert AFTER INSERT ON model_search
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION model_counts_added();
CREATE TRIGGER model_search_counted_delete AFTER DELETE ON model_search
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION model_counts_removed();
CREATE TRIGGER model_search_counted_update AFTER UPDATE ON model_search
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION model_counts_changed();

CREATE TABLE model_files (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE ON UPDATE CASCADE,
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    blake3 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (model_id, path)
);
CREATE INDEX model_files_blake3 ON model_files (blake3);
CREATE INDEX model_files_sha256 ON model_files (sha256);

CREATE TABLE tags (
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE ON UPDATE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (model_id, tag)
);
CREATE INDEX tags_tag ON tags (tag);

CREATE TABLE model_origins (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE ON UPDATE CASCADE,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (model_id, path)
);

CREATE TABLE sources (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    read_only SMALLINT NOT NULL DEFAULT 1,
    auto SMALLINT NOT NULL DEFAULT 0,
    app_id TEXT,
    added_at TEXT NOT NULL,
    last_scan_at TEXT,
    state TEXT NOT NULL DEFAULT 'ok'
);
CREATE TABLE source_files (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    source_id BIGINT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    path TEXT NOT NULL UNIQUE,
    size BIGINT NOT NULL,
    mtime_ns BIGINT NOT NULL,
    inode BIGINT NOT NULL,
    device BIGINT NOT NULL,
    model_id TEXT,
    state TEXT NOT NULL DEFAULT 'present',
    blake3 TEXT,
    sha256 TEXT,
    hashed_at TEXT,
    seen_at TEXT NOT NULL,
    inspected SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX source_files_model ON source_files (model_id);
CREATE INDEX source_files_inode ON source_files (device, inode);
"""

# Optional: the substring fallback ("xl" inside "juggernautXL") scans names without it. CREATE EXTENSION
# needs the right to create it (pg_trgm is a trusted extension: a database owner may).
_TRIGRAMS = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS model_search_name_trgm ON model_search USING gin (name_key gin_trgm_ops);
CREATE INDEX IF NOT EXISTS name_vocab_trgm ON name_vocab USING gin (word gin_trgm_ops);
"""


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_initial", _INITIAL),
    Migration("0002_filtered_words", FILTERED_WORDS),
    Migration("0003_counted_words", COUNTED_WORDS),
    Migration("0004_listed_files_and_tags", LISTED),
    Migration("0005_jobs", JOBS_TABLE),
    Migration("0006_name_words", NAME_WORDS),
)


def _statements(script: str) -> list[str]:
    """A script's statements: a ";" at a line's end ends one, except inside a ``$$`` function body."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if not buf.strip() and (not line.strip() or line.strip().startswith("--")):
            continue
        buf += line
        if line.rstrip().endswith(";") and buf.count("$$") % 2 == 0:
            statements.append(buf.strip().rstrip(";"))
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements


def applied(conn: Conn) -> set[str]:
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    return {row["name"] for row in conn.execute("SELECT name FROM _migrations")}


def migrate(db: PostgresDatabase) -> list[str]:
    """Run the pending migrations, one machine at a time; return the names this call ran."""
    ran: list[str] = []
    with db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        done = applied(conn)
        refuse_newer(
            done,
            [m.name for m in MIGRATIONS],
            "on PostgreSQL",
            "Every machine sharing it must run the same version: update this one.",
        )
        for migration in MIGRATIONS:
            if migration.name in done:
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (%s, now()::text)", (migration.name,)
            )
            ran.append(migration.name)
    if ran:
        _try_trigrams(db)
    return ran


def _try_trigrams(db: PostgresDatabase) -> bool:
    """Create the trigram index where allowed; without it the substring fallback still works, slower."""
    try:
        with db.transaction() as conn:
            for statement in _statements(_TRIGRAMS):
                conn.execute(statement)
        return True
    except psycopg.Error:  # no right to create it, or the extension is not installed: left out
        return False

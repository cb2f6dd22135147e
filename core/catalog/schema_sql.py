"""The SQL of the catalog's schema migrations (migrations.py runs them, in order, by name).

Each body is a script of statements (trigger bodies kept whole); a shipped one is never edited: a change
is a new migration at the end.
"""

INITIAL = """
CREATE TABLE models (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    base_model TEXT NOT NULL,
    format TEXT NOT NULL,
    file_format TEXT NOT NULL,
    security TEXT NOT NULL,
    size INTEGER NOT NULL,
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
    updated_at TEXT NOT NULL
);
CREATE INDEX models_type ON models(type);
CREATE INDEX models_base ON models(base_model);
CREATE INDEX models_sha256 ON models(sha256);
CREATE INDEX models_name ON models(name COLLATE NOCASE);
CREATE INDEX models_added ON models(added_at);
CREATE INDEX models_size ON models(size);

CREATE TABLE model_files (
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE ON UPDATE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    blake3 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (model_id, path)
);
CREATE INDEX model_files_blake3 ON model_files(blake3);
CREATE INDEX model_files_sha256 ON model_files(sha256);

CREATE TABLE tags (
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE ON UPDATE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (model_id, tag)
);
CREATE INDEX tags_tag ON tags(tag);

-- Every place a model's bytes were seen coming from (the first import and later duplicates).
CREATE TABLE model_origins (
    id INTEGER PRIMARY KEY,
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE ON UPDATE CASCADE,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,            -- import | download | upload | adopt
    recorded_at TEXT NOT NULL,
    UNIQUE (model_id, path)
);

-- External-content FTS5 index kept in sync by triggers (sqlite-utils' pattern).
CREATE VIRTUAL TABLE models_fts USING fts5(
    name, tags_text, type, base_model, repo_id, notes,
    content='models', content_rowid='rowid',
    tokenize="unicode61 remove_diacritics 2",
    prefix='1 2 3 4'
);
CREATE TRIGGER models_ai AFTER INSERT ON models BEGIN
    INSERT INTO models_fts(rowid, name, tags_text, type, base_model, repo_id, notes)
    VALUES (new.rowid, new.name, new.tags_text, new.type, new.base_model, new.repo_id, new.notes);
END;
CREATE TRIGGER models_ad AFTER DELETE ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, name, tags_text, type, base_model, repo_id, notes)
    VALUES ('delete', old.rowid, old.name, old.tags_text, old.type, old.base_model, old.repo_id, old.notes);
END;
CREATE TRIGGER models_au AFTER UPDATE OF name, tags_text, type, base_model, repo_id, notes ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, name, tags_text, type, base_model, repo_id, notes)
    VALUES ('delete', old.rowid, old.name, old.tags_text, old.type, old.base_model, old.repo_id, old.notes);
    INSERT INTO models_fts(rowid, name, tags_text, type, base_model, repo_id, notes)
    VALUES (new.rowid, new.name, new.tags_text, new.type, new.base_model, new.repo_id, new.notes);
END;

-- App installs we map models into (a ComfyUI folder).
CREATE TABLE apps (
    id TEXT PRIMARY KEY,           -- short stable id derived from the install's resolved root
    kind TEXT NOT NULL DEFAULT 'comfyui',
    root TEXT NOT NULL UNIQUE,
    version TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT 'view',   -- view (links in the library's views/) | direct (into models/)
    created_at TEXT NOT NULL
);

-- Every link we created. Nothing is removed unless it is registered here, lies in link_root, and still
-- points at our file (symlink target, or the same inode for a hardlink).
CREATE TABLE links (
    id INTEGER PRIMARY KEY,
    model_id TEXT NOT NULL,
    file_path TEXT NOT NULL,       -- the model file it points at, relative to the model folder
    link_path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,            -- symlink | hardlink | copy
    relative INTEGER NOT NULL DEFAULT 0,
    target TEXT NOT NULL,          -- absolute path of the library file at creation
    inode INTEGER,                 -- for hardlinks and copies' identity
    device INTEGER,
    app_id TEXT REFERENCES apps(id) ON DELETE CASCADE,
    link_root TEXT NOT NULL,       -- the folder the link may live in
    category TEXT NOT NULL DEFAULT '',
    purpose TEXT NOT NULL DEFAULT 'mapping',   -- mapping | adopt
    created_at TEXT NOT NULL
);
CREATE INDEX links_model ON links(model_id);
CREATE INDEX links_app ON links(app_id);

-- Folders catalogued in place (never written to).
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    read_only INTEGER NOT NULL DEFAULT 1,
    auto INTEGER NOT NULL DEFAULT 0,     -- added automatically from a ComfyUI install
    app_id TEXT,
    added_at TEXT NOT NULL,
    last_scan_at TEXT,
    state TEXT NOT NULL DEFAULT 'ok'     -- ok | unavailable
);
CREATE TABLE source_files (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    path TEXT NOT NULL UNIQUE,           -- absolute
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    device INTEGER NOT NULL,
    model_id TEXT,                       -- the model these bytes belong to (after hashing or header id)
    state TEXT NOT NULL DEFAULT 'present',  -- present | missing
    blake3 TEXT,
    sha256 TEXT,
    hashed_at TEXT,
    seen_at TEXT NOT NULL
);
CREATE INDEX source_files_model ON source_files(model_id);
CREATE INDEX source_files_inode ON source_files(device, inode);

-- Persisted job state, so a restart shows interrupted work.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    params_json TEXT NOT NULL DEFAULT '{}',
    progress_json TEXT NOT NULL DEFAULT '{}',
    result_json TEXT,
    error_json TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- HTTP metadata cache (TTL + ETag) and per-host network state.
CREATE TABLE http_cache (
    key TEXT PRIMARY KEY,
    etag TEXT,
    body BLOB NOT NULL,
    status INTEGER NOT NULL,
    fetched_at REAL NOT NULL,
    expires_at REAL NOT NULL
);

-- Lookups that could not run (offline) and wait for the Hub.
CREATE TABLE pending_lookups (
    model_id TEXT PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE ON UPDATE CASCADE,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL
);

-- Journals for crash-safe multi-step operations (remove, adopt, mapping apply).
CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    op TEXT NOT NULL,
    key TEXT NOT NULL,
    step TEXT NOT NULL,
    data_json TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    UNIQUE (op, key)
);

CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Source files are listed from the walk at once; their headers are read in a second pass.
SOURCE_INSPECTED = """
ALTER TABLE source_files ADD COLUMN inspected INTEGER NOT NULL DEFAULT 0;
CREATE INDEX source_files_uninspected ON source_files(inspected) WHERE inspected = 0;
"""

# Bulk writers (a source's first scan) index their rows in one INSERT ... SELECT, about six times faster
# than the per-row trigger: inside their transaction a kv flag makes the trigger stand aside.
FTS_DEFERRABLE = """
DROP TRIGGER models_ai;
CREATE TRIGGER models_ai AFTER INSERT ON models
WHEN NOT EXISTS (SELECT 1 FROM kv WHERE key = 'fts_deferred') BEGIN
    INSERT INTO models_fts(rowid, name, tags_text, type, base_model, repo_id, notes)
    VALUES (new.rowid, new.name, new.tags_text, new.type, new.base_model, new.repo_id, new.notes);
END;
"""

# Other file names a model's bytes were seen under (duplicates imported later, copies in sources) are
# searchable: a user looking for "juggernautXL_v9" finds the model first imported as "copy-of-juggernaut".
FTS_ALIASES = """
ALTER TABLE models ADD COLUMN aliases TEXT NOT NULL DEFAULT '';
DROP TRIGGER models_ai;
DROP TRIGGER models_ad;
DROP TRIGGER models_au;
DROP TABLE models_fts;
CREATE VIRTUAL TABLE models_fts USING fts5(
    name, tags_text, type, base_model, repo_id, notes, aliases,
    content='models', content_rowid='rowid',
    tokenize="unicode61 remove_diacritics 2",
    prefix='1 2 3 4'
);
CREATE TRIGGER models_ai AFTER INSERT ON models
WHEN NOT EXISTS (SELECT 1 FROM kv WHERE key = 'fts_deferred') BEGIN
    INSERT INTO models_fts(rowid, name, tags_text, type, base_model, repo_id, notes, aliases)
    VALUES (new.rowid, new.name, new.tags_text, new.type, new.base_model, new.repo_id, new.notes,
            new.aliases);
END;
CREATE TRIGGER models_ad AFTER DELETE ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, name, tags_text, type, base_model, repo_id, notes, aliases)
    VALUES ('delete', old.rowid, old.name, old.tags_text, old.type, old.base_model, old.repo_id, old.notes,
            old.aliases);
END;
CREATE TRIGGER models_au AFTER UPDATE OF name, tags_text, type, base_model, repo_id, notes, aliases
ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, name, tags_text, type, base_model, repo_id, notes, aliases)
    VALUES ('delete', old.rowid, old.name, old.tags_text, old.type, old.base_model, old.repo_id, old.notes,
            old.aliases);
    INSERT INTO models_fts(rowid, name, tags_text, type, base_model, repo_id, notes, aliases)
    VALUES (new.rowid, new.name, new.tags_text, new.type, new.base_model, new.repo_id, new.notes,
            new.aliases);
END;
INSERT INTO models_fts(models_fts) VALUES ('rebuild');
"""

# Sort orders with their tie-breaker: paging walks these indexes alone, whatever the offset.
SORT_INDEXES = """
CREATE INDEX models_name_id ON models(name COLLATE NOCASE, id);
CREATE INDEX models_added_id ON models(added_at, id);
CREATE INDEX models_size_id ON models(size, id);
CREATE INDEX models_type_name_id ON models(type, name COLLATE NOCASE, id);
DROP INDEX models_name;
DROP INDEX models_added;
DROP INDEX models_size;
"""

# Issue 15: trigger words (searchable), a preview, the sites a model comes from, a newer version, what
# the sites say (detail only), favourites and "recently used". The preview, the sites and a newer version
# share one JSON column (``extras_json``): a list page parses one value per row, not three.
EXTRAS = """
ALTER TABLE models ADD COLUMN trigger_words_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE models ADD COLUMN trigger_text TEXT NOT NULL DEFAULT '';
ALTER TABLE models ADD COLUMN extras_json TEXT NOT NULL DEFAULT '';
ALTER TABLE models ADD COLUMN about_json TEXT NOT NULL DEFAULT '';
ALTER TABLE models ADD COLUMN favorite INTEGER NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN used_at TEXT NOT NULL DEFAULT '';
CREATE INDEX models_used_id ON models(used_at, id);
CREATE INDEX models_favorite ON models(favorite) WHERE favorite = 1;
DROP TRIGGER models_ai;
DROP TRIGGER models_ad;
DROP TRIGGER models_au;
DROP TABLE models_fts;
CREATE VIRTUAL TABLE models_fts USING fts5(
    name, tags_text, type, base_model, repo_id, notes, aliases, trigger_text,
    content='models', content_rowid='rowid',
    tokenize="unicode61 remove_diacritics 2",
    prefix='1 2 3 4'
);
CREATE TRIGGER models_ai AFTER INSERT ON models
WHEN NOT EXISTS (SELECT 1 FROM kv WHERE key = 'fts_deferred') BEGIN
    INSERT INTO models_fts(rowid, name, tags_text, type, base_model, repo_id, notes, aliases, trigger_text)
    VALUES (new.rowid, new.name, new.tags_text, new.type, new.base_model, new.repo_id, new.notes,
            new.aliases, new.trigger_text);
END;
CREATE TRIGGER models_ad AFTER DELETE ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, name, tags_text, type, base_model, repo_id, notes, aliases,
                           trigger_text)
    VALUES ('delete', old.rowid, old.name, old.tags_text, old.type, old.base_model, old.repo_id, old.notes,
            old.aliases, old.trigger_text);
END;
CREATE TRIGGER models_au AFTER UPDATE OF name, tags_text, type, base_model, repo_id, notes, aliases,
    trigger_text ON models BEGIN
    INSERT INTO models_fts(models_fts, rowid, name, tags_text, type, base_model, repo_id, notes, aliases,
                           trigger_text)
    VALUES ('delete', old.rowid, old.name, old.tags_text, old.type, old.base_model, old.repo_id, old.notes,
            old.aliases, old.trigger_text);
    INSERT INTO models_fts(rowid, name, tags_text, type, base_model, repo_id, notes, aliases, trigger_text)
    VALUES (new.rowid, new.name, new.tags_text, new.type, new.base_model, new.repo_id, new.notes,
            new.aliases, new.trigger_text);
END;
INSERT INTO models_fts(models_fts) VALUES ('rebuild');
"""

# Search tests FTS hits against filters and orders name hits by name, a lookup by rowid per hit: entries
# of just those columns keep the pages such lookups touch (and the cache they fill) a fifth of the rows'.
SEARCH_KEYS = """
CREATE INDEX models_search_keys ON models(rowid, type, base_model, location, security, file_format, name, id);
"""

# A listing's total without text is exact, and counting a million rows through an index cost tens of
# milliseconds: models per combination of the filter columns (a few hundred rows) are kept by triggers,
# so any filter but a tag sums a handful of them. Rows reaching zero stay (they sum to nothing).
MODEL_COUNTS = """
CREATE TABLE model_counts (
    type TEXT NOT NULL,
    base_model TEXT NOT NULL,
    location TEXT NOT NULL,
    security TEXT NOT NULL,
    file_format TEXT NOT NULL,
    favorite INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (type, base_model, location, security, file_format, favorite)
) WITHOUT ROWID;
INSERT INTO model_counts (type, base_model, location, security, file_format, favorite, n)
SELECT type, base_model, location, security, file_format, favorite, count(*) FROM models
GROUP BY type, base_model, location, security, file_format, favorite;
CREATE TRIGGER model_counts_ai AFTER INSERT ON models BEGIN
    INSERT INTO model_counts (type, base_model, location, security, file_format, favorite, n)
    VALUES (new.type, new.base_model, new.location, new.security, new.file_format, new.favorite, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER model_counts_ad AFTER DELETE ON models BEGIN
    UPDATE model_counts SET n = n - 1
    WHERE type = old.type AND base_model = old.base_model AND location = old.location
      AND security = old.security AND file_format = old.file_format AND favorite = old.favorite;
END;
CREATE TRIGGER model_counts_au AFTER UPDATE OF type, base_model, location, security, file_format, favorite
ON models BEGIN
    UPDATE model_counts SET n = n - 1
    WHERE type = old.type AND base_model = old.base_model AND location = old.location
      AND security = old.security AND file_format = old.file_format AND favorite = old.favorite;
    INSERT INTO model_counts (type, base_model, location, security, file_format, favorite, n)
    VALUES (new.type, new.base_model, new.location, new.security, new.file_format, new.favorite, 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
"""

# A word from inside a name ("ernaut") is found by scanning names (search.py): a million cost about a
# hundred milliseconds. Every three letters of each name in an FTS5 trigram index (rowids only, a few
# percent of the catalog) narrow the scan to the names holding all the token's.
NAME_TRIGRAMS = """
CREATE VIRTUAL TABLE models_trigrams USING fts5(
    name, content='models', content_rowid='rowid', tokenize='trigram', detail='none'
);
INSERT INTO models_trigrams(models_trigrams) VALUES ('rebuild');
CREATE TRIGGER models_trigrams_ai AFTER INSERT ON models BEGIN
    INSERT INTO models_trigrams(rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER models_trigrams_ad AFTER DELETE ON models BEGIN
    INSERT INTO models_trigrams(models_trigrams, rowid, name) VALUES ('delete', old.rowid, old.name);
END;
CREATE TRIGGER models_trigrams_au AFTER UPDATE OF name ON models BEGIN
    INSERT INTO models_trigrams(models_trigrams, rowid, name) VALUES ('delete', old.rowid, old.name);
    INSERT INTO models_trigrams(rowid, name) VALUES (new.rowid, new.name);
END;
"""

# The trigram index held rowids only, so each of its candidates was tested by LIKE on its row's name: a
# few thousand candidates (a piece of a common word, "iffus") cost milliseconds of lookups. With positions,
# a phrase of the token's trigrams holds exactly the names containing it (case folded), counted and listed
# from the index alone, for about three times its size (still a few percent of the catalog).
TRIGRAM_POSITIONS = """
DROP TABLE models_trigrams;
CREATE VIRTUAL TABLE models_trigrams USING fts5(
    name, content='models', content_rowid='rowid', tokenize='trigram'
);
INSERT INTO models_trigrams(models_trigrams) VALUES ('rebuild');
"""

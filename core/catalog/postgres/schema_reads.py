"""Migrations 0002 on of the PostgreSQL catalog (schema.py runs them): what its reads are served from,
built from the rows and kept in step by the database itself (an index over the row's own columns,
tables and columns kept by statement triggers), so that no write path of the store can forget them.
Each one came from measuring bench/teams.py at 100,000 models; its comment says what it saved.
"""

# The filters chips set (type, base model, favourite) as a second column of the words' index: a filtered
# text query's index scan yields only the hits that pass them, so its count and page read those rows
# alone ("wa" among SDXL models: 1,427 rows read instead of 9,591). An expression over the row's own
# columns, so there is nothing to keep in step: a query written otherwise is only slower, never wrong.
# search.py's ``FILTER_KEYS`` must stay this expression for the planner to match it (0003's too).
FILTERED_WORDS = """
CREATE INDEX model_search_words ON model_search
    USING gin (doc, (ARRAY['t:' || type, 'b:' || base_model, 'f:' || favorite]));
DROP INDEX model_search_doc;
"""

# The words again, on narrow rows of their own, for counting: a text query's total (up to COUNT_CAP + 1
# hits) reads each hit's row only to see that it is visible (a GIN index cannot tell), and what that
# costs goes by pages. model_search's rows are wide (sort keys, filters, the weighted words); here only
# the words without positions or weights (a count needs neither) and 0002's filters, half the pages: a
# broad word counts about 40% faster. Statement triggers on model_search keep it, as model_counts is kept.
COUNTED_WORDS = """
CREATE TABLE model_words (
    rowid BIGINT PRIMARY KEY,
    type TEXT NOT NULL,
    base_model TEXT NOT NULL,
    favorite SMALLINT NOT NULL,
    words TSVECTOR NOT NULL
);
INSERT INTO model_words (rowid, type, base_model, favorite, words)
    SELECT rowid, type, base_model, favorite, strip(doc) FROM model_search ORDER BY rowid;
CREATE INDEX model_words_words ON model_words
    USING gin (words, (ARRAY['t:' || type, 'b:' || base_model, 'f:' || favorite]));

CREATE FUNCTION model_words_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO model_words AS w (rowid, type, base_model, favorite, words)
    SELECT rowid, type, base_model, favorite, strip(doc) FROM added ORDER BY rowid
    ON CONFLICT (rowid) DO UPDATE SET type = excluded.type, base_model = excluded.base_model,
        favorite = excluded.favorite, words = excluded.words;
    RETURN NULL;
END
$$;
CREATE FUNCTION model_words_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only rows whose words or filters changed: a model used (used_at) rewrites nothing here.
    UPDATE model_words AS w SET type = a.type, base_model = a.base_model, favorite = a.favorite,
        words = strip(a.doc)
    FROM added AS a JOIN removed AS r ON r.rowid = a.rowid
    WHERE w.rowid = a.rowid
        AND (a.type, a.base_model, a.favorite, a.doc)
            IS DISTINCT FROM (r.type, r.base_model, r.favorite, r.doc);
    RETURN NULL;
END
$$;
CREATE FUNCTION model_words_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM model_words AS w USING removed AS r WHERE w.rowid = r.rowid;
    RETURN NULL;
END
$$;
CREATE TRIGGER model_search_words_insert AFTER INSERT ON model_search
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION model_words_added();
CREATE TRIGGER model_search_words_update AFTER UPDATE ON model_search
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION model_words_changed();
CREATE TRIGGER model_search_words_delete AFTER DELETE ON model_search
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION model_words_removed();
"""

# A model's files and tags copied onto its row, so that a page of 50 models reads them with the rows: two
# correlated lookups per model cost a page more than its rows (about 0.8 ms of 2.8 for a list at
# 100,000 models). The store writes them with a new row; statement triggers on model_files and tags
# rewrite them after any other change (a row already right is left alone: an add writes each row once).
LISTED = """
-- Files as one flat text array (path, size, blake3, sha256, the next file's path, ...): a driver parses
-- an array of text faster than a JSON document per row.
ALTER TABLE models ADD COLUMN files_listed TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN tags_listed TEXT[] NOT NULL DEFAULT '{}';

CREATE FUNCTION model_files_of(model TEXT) RETURNS TEXT[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(v ORDER BY f.seq, i), '{}')
    FROM model_files f, unnest(ARRAY[f.path, f.size::text, f.blake3, f.sha256]) WITH ORDINALITY AS c(v, i)
    WHERE f.model_id = model
$$;
CREATE FUNCTION model_tags_of(model TEXT) RETURNS TEXT[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(t.tag ORDER BY t.seq), '{}') FROM tags t WHERE t.model_id = model
$$;
UPDATE models SET files_listed = model_files_of(id), tags_listed = model_tags_of(id);

CREATE FUNCTION models_files_listed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids TEXT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY(SELECT DISTINCT model_id FROM added);
    ELSIF TG_OP = 'DELETE' THEN
        ids := ARRAY(SELECT DISTINCT model_id FROM removed);
    ELSE
        ids := ARRAY(SELECT model_id FROM added UNION SELECT model_id FROM removed);
    END IF;
    UPDATE models AS m SET files_listed = l.files
    FROM (SELECT id, model_files_of(id) AS files FROM unnest(ids) AS id) AS l
    WHERE m.id = l.id AND m.files_listed IS DISTINCT FROM l.files;
    RETURN NULL;
END
$$;
CREATE FUNCTION models_tags_listed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids TEXT[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        ids := ARRAY(SELECT DISTINCT model_id FROM added);
    ELSIF TG_OP = 'DELETE' THEN
        ids := ARRAY(SELECT DISTINCT model_id FROM removed);
    ELSE
        ids := ARRAY(SELECT model_id FROM added UNION SELECT model_id FROM removed);
    END IF;
    UPDATE models AS m SET tags_listed = l.tags
    FROM (SELECT id, model_tags_of(id) AS tags FROM unnest(ids) AS id) AS l
    WHERE m.id = l.id AND m.tags_listed IS DISTINCT FROM l.tags;
    RETURN NULL;
END
$$;
CREATE TRIGGER model_files_listed_insert AFTER INSERT ON model_files
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION models_files_listed();
CREATE TRIGGER model_files_listed_update AFTER UPDATE ON model_files
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION models_files_listed();
CREATE TRIGGER model_files_listed_delete AFTER DELETE ON model_files
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION models_files_listed();
CREATE TRIGGER tags_listed_insert AFTER INSERT ON tags
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION models_tags_listed();
CREATE TRIGGER tags_listed_update AFTER UPDATE ON tags
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION models_tags_listed();
CREATE TRIGGER tags_listed_delete AFTER DELETE ON tags
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION models_tags_listed();
"""

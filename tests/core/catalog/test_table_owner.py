"""One store owns the model tables: no SQL on models, models_fts, models_trigrams, model_files, tags,
model_origins or model_counts outside core/catalog/ (the catalog store, core/catalog/store.py), so a
second backend is one Protocol.

Every string literal of the package's code is read (implicitly concatenated pieces are one literal to
the parser; an f-string's fixed parts are joined around its holes), and a statement naming one of these
tables after FROM, INTO, UPDATE, JOIN or TABLE (any case) is a finding; docstrings are prose, skipped.
Tests and benches are not the package and may look at rows directly.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.package_files import package_files

PACKAGE = Path(__file__).resolve().parents[3]
OWNER = PACKAGE / "core" / "catalog"
MODEL_TABLES = (
    "models",
    "models_fts",
    "models_trigrams",
    "model_files",
    "tags",
    "model_origins",
    "model_counts",
)
STATEMENT = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+(" + "|".join(MODEL_TABLES) + r")\b(?![.\w])", re.IGNORECASE
)


def _literals(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    # Docstrings and other bare string statements are prose, never run.
    skipped: set[int] = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    parts.append(value.value)
                    skipped.add(id(value))
                else:
                    parts.append(" x ")
            found.append((node.lineno, "".join(parts)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            found.append((node.lineno, node.value))
    return found


def model_table_sql(files: list[Path]) -> list[str]:
    """``path:line: table`` for every literal that runs a statement on a model table."""
    hits = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, text in _literals(tree):
            for match in STATEMENT.finditer(" ".join(text.split())):
                hits.append(f"{path.relative_to(PACKAGE)}:{line}: {match.group(0)}")
    return hits


def test_no_sql_on_model_tables_outside_the_catalog() -> None:
    outside = [p for p in package_files(PACKAGE) if OWNER not in p.parents]
    assert len(outside) > 50, "the walk found too few modules: is PACKAGE the package root?"
    hits = model_table_sql(outside)
    assert not hits, (
        "SQL on the model tables outside core/catalog/; ask the catalog store (core/catalog/store.py: "
        "Catalog, InPlaceModels) and put the statement in core/catalog/:\n" + "\n".join(hits)
    )


def test_the_finder_sees_the_catalogs_own_statements() -> None:
    """The finder is not blind: the catalog's own modules hold statements on each kind of table."""
    hits = model_table_sql(sorted(OWNER.glob("*.py")))
    named = {hit.rsplit(" ", 1)[-1] for hit in hits}
    assert set(MODEL_TABLES) <= named, named
    # Each form the finder must catch (a multi-line implicit concatenation, an f-string, a JOIN alias).
    tree = ast.parse(
        'a = ("SELECT id "\n "FROM models WHERE x = 1")\n'
        'b = f"DELETE FROM model_files WHERE id IN ({marks})"\n'
        'c = "SELECT 1 FROM source_files f JOIN tags t ON t.model_id = f.model_id"\n'
        "d = \"INSERT INTO models_fts(models_fts) VALUES ('rebuild')\"\n"
        'e = "select * from model_tags"  # not a model table\n'
        'def f():\n    """Files are imported into models/ here."""\n'
        'g = "delete from tags where model_id = ?"\n'
    )
    texts = [" ".join(text.split()) for _, text in _literals(tree)]
    tables = sorted(m.group(1) for text in texts for m in STATEMENT.finditer(text))
    assert tables == ["model_files", "models", "models_fts", "tags", "tags"]


# Every other table has one owner too (core/catalog/migrations.py creates them all). The sources' tables
# belong to core/sources/; the in-place catalog (core/catalog/in_place.py, rows.py) joins them with the
# model rows in the same transactions, which is why a second catalog backend (core/catalog/postgres/)
# carries both.
OWNERS: dict[str, tuple[str, ...]] = {
    "journal": ("core/catalog/journal.py",),
    "kv": ("core/catalog/",),
    "_migrations": ("core/catalog/",),
    "sources": (
        "core/sources/",
        "core/catalog/in_place.py",
        "core/catalog/rows.py",
        "core/catalog/postgres/",
    ),
    "source_files": (
        "core/sources/",
        "core/catalog/in_place.py",
        "core/catalog/rows.py",
        "core/catalog/postgres/",
    ),
    "links": ("core/links/registry.py",),
    "apps": ("core/links/registry.py",),
    "pending_lookups": ("core/records/pending.py",),
    # The runner's rows: the SQLite table, or (a shared catalog) every machine's in the catalog database.
    "jobs": ("core/job_table.py", "core/catalog/postgres/jobs.py"),
    "http_cache": ("core/net/cache.py",),
}
CREATED = re.compile(r"\bCREATE\s+(?:VIRTUAL\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.IGNORECASE)
ANY_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+(\w+)\b(?![.\w])", re.IGNORECASE)


def table_users(files: list[Path]) -> dict[str, set[str]]:
    """table -> the modules (relative posix paths) with a statement on it."""
    users: dict[str, set[str]] = {}
    for path in files:
        rel = path.relative_to(PACKAGE).as_posix()
        for _, text in _literals(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for match in ANY_TABLE.finditer(" ".join(text.split())):
                users.setdefault(match.group(1).lower(), set()).add(rel)
    return users


def test_every_table_has_one_owner() -> None:
    users = table_users(package_files(PACKAGE))
    migrations = PACKAGE / "core" / "catalog" / "migrations.py"
    created = {
        m.group(1).lower()
        for _, text in _literals(ast.parse(migrations.read_text(encoding="utf-8")))
        for m in CREATED.finditer(text)
    }
    assert set(OWNERS) | set(MODEL_TABLES) <= created, "a table the migrations do not create"
    strays = {
        table: sorted(
            m
            for m in modules - {"core/catalog/migrations.py"}
            if not any(m == owner or (owner.endswith("/") and m.startswith(owner)) for owner in OWNERS[table])
        )
        for table, modules in users.items()
        if table in OWNERS
    }
    strays = {t: m for t, m in strays.items() if m}
    assert not strays, f"SQL on a table outside its owner (ask the owner for it instead): {strays}"
    unowned = created - set(OWNERS) - set(MODEL_TABLES)
    assert not unowned, f"tables with no owner named here: {sorted(unowned)}"

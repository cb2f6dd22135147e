"""An existing catalog upgrades in place: the issue-15 migration keeps every row and its search."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfyui_model_library.core.catalog import migrations
from comfyui_model_library.core.catalog.backup import backups, backups_dir
from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.config import LibraryConfig
from comfyui_model_library.core.errors import CatalogTooNew
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery

from .conftest import make_model


def test_a_catalog_of_the_previous_version_upgrades_with_its_rows_and_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(tmp_path / "catalog.sqlite")
    names = [m.name for m in migrations.MIGRATIONS]
    upgrade = names[names.index("0007_model_extras") :]  # 0007 and the migrations after it
    before = [m for m in migrations.MIGRATIONS if m.name not in upgrade]
    monkeypatch.setattr(migrations, "MIGRATIONS", tuple(before))
    migrations.migrate(db)
    old = make_model("old juggernaut", tags=("photo",))
    with db.transaction() as conn:  # the previous version's insert: no issue-15 columns
        conn.execute(
            "INSERT INTO models (id, name, type, base_model, format, file_format, security, size, location, "
            "rel_dir, blake3, sha256, tags_text, added_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                old.id,
                old.name,
                "lora",
                "sdxl",
                "single-file",
                "safetensors",
                "safe",
                1,
                "library",
                "m/x",
                old.hashes.blake3,
                old.hashes.sha256,
                "photo",
                old.added_at,
                old.updated_at,
            ),
        )
    monkeypatch.undo()
    assert migrations.migrate(db) == upgrade
    assert any("before-0007_model_extras" in p.name for p in backups(backups_dir(db.path)))
    repo = ModelRepository(db)
    got = repo.get(old.id)
    assert (got.trigger_words, got.preview, got.site_origins, got.favorite, got.used_at) == (
        (),
        None,
        (),
        False,
        "",
    )
    assert [m.id for m in repo.list(ModelQuery(q="jugger")).items] == [old.id]
    assert [m.id for m in repo.list(ModelQuery(q="photo")).items] == [old.id]
    assert [m.id for m in repo.list(ModelQuery(q="GGERNAU")).items] == [old.id]  # 0011's trigrams
    # 0009 counted the rows it found: a listing's total.
    assert repo.list(ModelQuery(type="lora", favorite=False)).total == 1
    repo.update(old.id, trigger_words=["zorblax"])
    assert [m.id for m in repo.list(ModelQuery(q="zorblax")).items] == [old.id]
    assert [m.id for m in repo.list(ModelQuery(q="jugger", favorite=False)).items] == [old.id]  # 0012
    repo.update(old.id, favorite=True)
    assert [m.id for m in repo.list(ModelQuery(q="jugger", favorite=True)).items] == [old.id]
    with db.read() as conn:
        conn.execute("INSERT INTO models_fts(models_fts) VALUES ('integrity-check')")
        conn.execute("INSERT INTO models_trigrams(models_trigrams) VALUES ('integrity-check')")
    db.close()


def test_a_catalog_upgraded_by_a_newer_version_is_refused_and_left_untouched(
    library_config: LibraryConfig,
) -> None:
    """Older code would index new rows its own way under the newer triggers (0012's flags: a damaged
    words index): it refuses the catalog, says what to do, and neither writes nor sets it aside."""
    Library.open(library_config).close()
    path = library_config.catalog_path
    db = Database(path)
    with db.transaction() as conn:
        conn.execute("INSERT INTO _migrations (name, applied_at) VALUES ('0099_from_the_future', 'x')")
    db.close()
    before = sorted(p.name for p in path.parent.iterdir()), path.read_bytes()
    with pytest.raises(CatalogTooNew, match=r"newer version .*0099_from_the_future.*\.backups"):
        Library.open(library_config)
    db = Database(path)
    with pytest.raises(CatalogTooNew):
        migrations.pending_migrations(db)  # the read-only open's check
    db.close()
    assert (sorted(p.name for p in path.parent.iterdir()), path.read_bytes()) == before

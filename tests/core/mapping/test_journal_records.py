"""The mapping journal's records: rows written before records had versions (positional link lists) still
read and recover; newer rows are left alone; unreadable rows are discarded; version 2 round-trips."""

from __future__ import annotations

import json
import os
from pathlib import Path

from comfyui_model_library.core.links.registry import LinkRegistry
from comfyui_model_library.core.mapping import service
from comfyui_model_library.core.mapping.config import MappingConfig
from comfyui_model_library.core.mapping.journal import (
    JOURNAL_OP,
    LinkBatch,
    LinkRemoval,
    OldLink,
    PendingLink,
    pending_journal_count,
    read_record,
    resume_pending,
)
from comfyui_model_library.core.models import utcnow

from .support import Env, make_env


def _mapped(tmp_path: Path) -> tuple[Env, str, str]:
    """A library with one model mapped into ComfyUI: (env, link path, its target)."""
    env = make_env(tmp_path)
    env.add("style")
    service.apply(env.db, env.repo, env.root, env.comfy, MappingConfig())
    [record] = LinkRegistry(env.db).all()
    assert os.path.islink(record.link_path)
    return env, record.link_path, record.target


def _row(env: Env, key: str, step: str, data_json: str) -> None:
    """A journal row exactly as an older version wrote it: the JSON text is given literally."""
    with env.db.transaction() as conn:
        conn.execute(
            "INSERT INTO journal(op, key, step, data_json, created_at) VALUES (?,?,?,?,?)",
            (JOURNAL_OP, key, step, data_json, utcnow()),
        )


def test_v1_registered_batch_renames_the_temp_link_over_its_final_name(tmp_path: Path) -> None:
    env, final, target = _mapped(tmp_path)
    temp = os.path.join(os.path.dirname(final), ".style.safetensors.0123abcd.mlib-tmp")
    os.rename(final, temp)  # killed after registering, before the rename
    items = json.dumps([[temp, final, target, False, None, False]])
    _row(env, "app:1", "registered", f'{{"app_id": "app", "link_root": "/x", "items": {items}}}')

    counts = resume_pending(env.db)

    assert counts["finished"] == 1
    assert os.path.islink(final) and os.readlink(final) and not os.path.lexists(temp)
    assert os.path.realpath(final) == os.path.realpath(target)
    assert pending_journal_count(env.db) == 0


def test_v1_pending_link_made_at_its_final_name_is_rolled_back(tmp_path: Path) -> None:
    env, final, target = _mapped(tmp_path)
    LinkRegistry(env.db).unregister(final)  # killed before registering
    items = json.dumps([[final, final, target, False, None, True]])
    _row(env, "app:2", "pending", f'{{"app_id": "app", "link_root": "/x", "items": {items}}}')

    counts = resume_pending(env.db)

    assert counts["rolled_back"] == 1 and not os.path.lexists(final)
    assert pending_journal_count(env.db) == 0


def test_oldest_v1_row_of_three_element_links_drops_its_temp_link(tmp_path: Path) -> None:
    env, final, target = _mapped(tmp_path)
    temp = final + ".old-temp"
    os.symlink(target, temp)
    _row(
        env,
        "app:3",
        "pending",
        json.dumps({"app_id": "app", "link_root": "/x", "items": [[temp, final, target]]}),
    )

    counts = resume_pending(env.db)

    assert counts["rolled_back"] == 1 and not os.path.lexists(temp)
    assert os.path.islink(final), "the registered link is untouched"


def test_v1_removal_row_finishes_the_removal(tmp_path: Path) -> None:
    env, final, _target = _mapped(tmp_path)
    _row(env, "remove:1", "removing", json.dumps({"paths": [final]}))

    counts = resume_pending(env.db)

    assert counts["finished"] == 1 and not os.path.lexists(final)
    assert LinkRegistry(env.db).find(final) is None
    assert pending_journal_count(env.db) == 0


def test_v1_positional_link_reads_as_the_named_one() -> None:
    v1 = ["/c/.a.mlib-tmp", "/c/a", "/lib/a", True, ["/lib/old", "hardlink", 12, 34], False]
    assert PendingLink.from_json(v1) == PendingLink(
        "/c/.a.mlib-tmp", "/c/a", "/lib/a", True, OldLink("/lib/old", "hardlink", 12, 34), False
    )
    assert PendingLink.from_json(v1[:3]) == PendingLink("/c/.a.mlib-tmp", "/c/a", "/lib/a")


def test_version_2_records_round_trip_with_their_name_and_version() -> None:
    batch = LinkBatch(
        "app", "/c", (PendingLink("/c/.t", "/c/a", "/lib/a", True, OldLink("/lib/o", "symlink")),)
    )
    removal = LinkRemoval(("/c/a", "/c/b"))
    for record in (batch, removal):
        data = json.loads(json.dumps(record.to_json()))
        assert data["version"] == 2 and data["record"] == record.RECORD
        assert read_record(data) == record


def test_a_row_from_a_newer_version_is_left_alone(tmp_path: Path) -> None:
    env, final, _target = _mapped(tmp_path)
    _row(env, "remove:9", "removing", json.dumps({"record": "map-removal", "version": 99, "paths": [final]}))

    resume_pending(env.db)

    assert os.path.islink(final), "nothing done on a record this version cannot read"
    assert pending_journal_count(env.db) == 1


def test_an_unreadable_row_is_discarded(tmp_path: Path) -> None:
    env, final, _target = _mapped(tmp_path)
    _row(env, "remove:8", "removing", "{broken")
    _row(env, "app:8", "pending", json.dumps({"items": [["only-one"]]}))

    resume_pending(env.db)

    assert pending_journal_count(env.db) == 0
    assert os.path.islink(final)

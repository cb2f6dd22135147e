"""THREATS.md's invariants, checked on a real library folder after faults. Reusable by every fault test."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import blake3


def check_library_invariants(root: Path, *, full_hash: bool = True) -> None:
    """Raise AssertionError naming the first broken invariant (1, 2 and 6 of THREATS.md)."""
    db = sqlite3.connect(root / "catalog.sqlite")
    try:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        db.execute("INSERT INTO models_fts(models_fts) VALUES('integrity-check')")
        db.execute("INSERT INTO models_trigrams(models_trigrams) VALUES('integrity-check')")
        rows = db.execute("SELECT id, rel_dir, state FROM models WHERE location = 'library'").fetchall()
        known_dirs: set[Path] = set()
        for model_id, rel_dir, state in rows:
            folder = root.joinpath(*rel_dir.split("/"))
            known_dirs.add(folder)
            if state != "ready":
                continue
            for path, size, b3, sha in db.execute(
                "SELECT path, size, blake3, sha256 FROM model_files WHERE model_id = ?", (model_id,)
            ):
                f = folder.joinpath(*path.split("/"))
                assert f.is_file(), f"invariant 1: {f} of ready model {model_id} is missing"
                assert f.stat().st_size == size, f"invariant 1: {f} has the wrong size"
                if full_hash:
                    data = f.read_bytes()
                    assert blake3.blake3(data).hexdigest() == b3, f"invariant 1: {f} blake3 differs"
                    assert hashlib.sha256(data).hexdigest() == sha, f"invariant 1: {f} sha256 differs"
    finally:
        db.close()
    models_dir = root / "models"
    if models_dir.exists():
        for sidecar in models_dir.rglob("metadata.json"):
            assert sidecar.parent in known_dirs, f"invariant 2: {sidecar.parent} has no catalog row"
        for f in models_dir.rglob("*"):
            if f.is_file():
                assert any(d in f.parents for d in known_dirs), f"invariant 2: {f} belongs to no model"

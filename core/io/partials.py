"""Partial downloads on disk: their names, the older names they replace, and the sweep of stale ones.

A partial download is ``<file>.<key>.incomplete`` beside the file it becomes. ``key`` is 16 hex digits of
the SHA-256 of the ETag and size the Hub announced for the file (its ``X-Linked-Etag``, the content's
SHA-256, for a large file; its git blob id for a small one), as huggingface_hub names a blob's partial
``<etag>.incomplete``. The name is the whole record: the bytes under it are a prefix of that content, so a
later attempt that resolves the same ETag resumes them, and one that resolves another ETag (the file
changed on the Hub) starts a fresh partial by construction. Claiming a partial deletes the partials of the
file's other versions, which can never be resumed by this download again.

Partials named before the key (``<file>.incomplete`` with a JSON record ``<file>.incomplete.json`` of the
SHA-256 and size it was a prefix of) are resumed when their record names the same SHA-256 and size as the
Hub announces now (the end-of-download SHA-256 check still guards them), and deleted otherwise.

Kept apart from ``hf`` so that housekeeping at start-up does not load the HTTP stack (httpx pulls in
rich and click, about 10 MiB of a host's resident memory) in a process that may never download.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

PARTIAL_SUFFIX = ".incomplete"  # a file being downloaded: <file>.<key>.incomplete
LEGACY_STATE_SUFFIX = ".incomplete.json"  # the record beside an unkeyed <file>.incomplete (older versions)
MANIFEST_SUFFIX = ".download.json"  # the finished files of a multi-file download
KEY_LENGTH = 16  # hex digits of the key in a partial's name
_MAX_NAME_BYTES = 255  # the longest file name on the filesystems we support


def partial_key(etag: str | None, size: int | None) -> str:
    """The version part of a partial's name: a digest of the announced ETag and size (either may be
    missing; a server without ETags gets a key per size, and the size check at the end)."""
    material = f"{etag or ''}\n{'' if size is None else size}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def partial_path(target: Path, key: str) -> Path:
    """``<target>.<key>.incomplete``; a name too long for the filesystem is shortened (UTF-8 safe) before
    the key, so the key and suffix are always whole."""
    suffix = f".{key}{PARTIAL_SUFFIX}"
    room = _MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    stem = target.name.encode("utf-8")[:room].decode("utf-8", "ignore")
    return target.with_name(stem + suffix)


def claim_partial(target: Path, key: str, *, sha256: str | None, size: int | None) -> Path:
    """The partial file for ``target`` at version ``key`` (it may not exist yet).

    Partials of ``target``'s other versions are deleted. An unkeyed partial from an older version of this
    code is renamed to the keyed name when its record names ``sha256`` (known) and ``size``, and no keyed
    partial exists yet; otherwise it is deleted. Its record is always deleted.
    """
    path = partial_path(target, key)
    try:
        names = os.listdir(target.parent)
    except FileNotFoundError:
        return path
    stem = path.name[: -len(f".{key}{PARTIAL_SUFFIX}")]
    versions = re.compile(re.escape(stem) + rf"\.[0-9a-f]{{{KEY_LENGTH}}}" + re.escape(PARTIAL_SUFFIX))
    for name in names:
        if name != path.name and versions.fullmatch(name):
            (target.parent / name).unlink(missing_ok=True)
    legacy = target.with_name(target.name + PARTIAL_SUFFIX)
    record = target.with_name(target.name + LEGACY_STATE_SUFFIX)
    if legacy.name in names:
        if not path.exists() and _legacy_matches(legacy, record, sha256, size):
            os.replace(legacy, path)
        else:
            legacy.unlink(missing_ok=True)
    if record.name in names:
        record.unlink(missing_ok=True)
    return path


def _legacy_matches(legacy: Path, record: Path, sha256: str | None, size: int | None) -> bool:
    """The older record says ``legacy`` is a prefix of the content with this SHA-256 and size."""
    try:
        state = json.loads(record.read_text("utf-8"))
        have = legacy.lstat()
    except (OSError, ValueError):
        return False
    if not isinstance(state, dict) or sha256 is None or size is None or legacy.is_symlink():
        return False
    return state.get("sha256") == sha256 and state.get("size") == size and have.st_size <= size


def cleanup_stale_partials(tmp_dir: Path, older_than_days: float, *, now: float | None = None) -> list[Path]:
    """Delete partial downloads (and their records) untouched for ``older_than_days``. Never follows links."""
    cutoff = (time.time() if now is None else now) - older_than_days * 86400
    removed: list[Path] = []
    suffixes = (PARTIAL_SUFFIX, LEGACY_STATE_SUFFIX, MANIFEST_SUFFIX)
    for dirpath, _dirs, names in os.walk(tmp_dir, followlinks=False):
        for name in names:
            if not name.endswith(suffixes):
                continue
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if path.is_symlink() or st.st_mtime >= cutoff:
                continue
            path.unlink()
            removed.append(path)
    return removed

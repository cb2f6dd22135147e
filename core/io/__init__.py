"""File I/O for the library: one-read hashing, durable file operations, name validation, drives."""

from __future__ import annotations

from .drives import DriveInfo, DriveLimiter, check_free_space, check_writable, drive_info
from .fileops import (
    SourceStat,
    atomic_write_bytes,
    atomic_write_json,
    check_unchanged,
    commit_file,
    copy_and_hash,
    empty_trash,
    finish_move,
    fsync_dir,
    move_and_hash,
    move_to_trash,
    open_source,
    recover_moves,
)
from .hashing import CHUNK_SIZE, Digests, DualHasher, hash_bytes, hash_fd, hash_file, hash_path
from .paths import confine, is_within, sanitize_component, unique_child, validate_component, validate_relpath

__all__ = [
    "CHUNK_SIZE",
    "Digests",
    "DriveInfo",
    "DriveLimiter",
    "DualHasher",
    "SourceStat",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_free_space",
    "check_unchanged",
    "check_writable",
    "commit_file",
    "confine",
    "copy_and_hash",
    "drive_info",
    "empty_trash",
    "finish_move",
    "fsync_dir",
    "hash_bytes",
    "hash_fd",
    "hash_file",
    "hash_path",
    "is_within",
    "move_and_hash",
    "move_to_trash",
    "open_source",
    "recover_moves",
    "sanitize_component",
    "unique_child",
    "validate_component",
    "validate_relpath",
]

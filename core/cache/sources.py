"""Where the cache copies a model file's bytes from: the library's share today, an S3-compatible store
later, behind one small Protocol. A source copies its bytes into a new file of the cache's and returns
their digests (hashed while copying: the bytes are read once)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..io.copying import copy_and_hash
from ..io.fileops import open_source
from ..io.hashing import Digests
from ..types import ByteProgress, CancelCheck


class ByteSource(Protocol):
    """One file's bytes somewhere the cache can copy them from."""

    def copy_into(
        self, dest: Path, *, progress: ByteProgress | None = None, cancelled: CancelCheck | None = None
    ) -> Digests:
        """Write the bytes to the new file ``dest`` (fsynced) and return their digests."""

    def describe(self) -> str:
        """Where the bytes are, for messages."""


@dataclass(frozen=True)
class FolderFile:
    """A file on a filesystem this machine mounts (the library's share)."""

    path: Path

    def copy_into(
        self, dest: Path, *, progress: ByteProgress | None = None, cancelled: CancelCheck | None = None
    ) -> Digests:
        fd, stat = open_source(self.path)
        try:
            return copy_and_hash(fd, stat, dest, progress=progress, cancelled=cancelled, src_path=self.path)
        finally:
            os.close(fd)

    def describe(self) -> str:
        return str(self.path)

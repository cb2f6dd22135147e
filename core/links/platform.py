"""Every link the library makes or removes goes through this module.

Kinds, in order of preference:

1. a relative symlink, so a library moved together with its views keeps working;
2. an absolute symlink when no relative path exists (a target on another Windows drive);
3. a hardlink where symlinks are refused (Windows without Developer Mode answers ``WinError 1314``;
   some filesystems answer ``EPERM``); the refusal is remembered per folder so it is probed once;
4. a copy, only when the caller allows it (hardlinks fail across drives).

Creation is atomic: the link is made at a temporary name in the destination folder, then renamed over the
final name. Removal never follows a link and never removes a folder: a path is removed only when
``is_our_link`` says it is still the link we made (a symlink resolving to our file, or a regular file with
the inode we recorded). A user's file, a folder or a Windows junction in its place is "not ours".

Windows behaviour (privilege errors, sharing violations of files in use, junctions, ``\\\\?\\`` long paths)
is reached through ``OsOps``, which tests replace with a simulation so Linux CI exercises those paths.
"""

from __future__ import annotations

import errno
import itertools
import ntpath
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import DestinationNotWritable, LinkConflict, StorageError
from ..io.paths import at_or_under

WINERROR_PRIVILEGE_NOT_HELD = 1314
WINERROR_NOT_SAME_DEVICE = 17
WINERROR_INVALID_FUNCTION = 1
WINERROR_SHARING_VIOLATION = 32
WINERROR_LOCK_VIOLATION = 33
IO_REPARSE_TAG_MOUNT_POINT = 0xA0000003
WINDOWS_MAX_PATH = 259
TEMP_MARK = ".mlib-tmp"

StrPath = str | os.PathLike[str]
_SYMLINK_REFUSED_ERRNOS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})
_HARDLINK_REFUSED_ERRNOS = frozenset(
    {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}
)


@dataclass(frozen=True)
class CreatedLink:
    """What was made. ``inode``/``device`` identify hardlinks and copies (the file's own identity)."""

    kind: str  # symlink | hardlink | copy
    relative: bool
    inode: int | None
    device: int | None
    target: str  # the absolute path of the file linked to


class OsOps:
    """The operating-system calls links need. Subclass to simulate another platform or inject faults."""

    is_windows: bool = os.name == "nt"

    def symlink(self, target: str, link: str) -> None:
        os.symlink(target, link)

    def link(self, src: str, dst: str) -> None:
        os.link(src, dst, follow_symlinks=False)

    def copyfile(self, src: str, dst: str) -> None:
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)  # a private (0600) model's copy stays private

    def replace(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def lstat(self, path: str) -> os.stat_result:
        return os.lstat(path)

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def readlink(self, path: str) -> str:
        return os.readlink(path)

    def relpath(self, path: str, start: str) -> str:
        # ntpath.relpath raises ValueError across drives, as os.path.relpath does on Windows.
        if self.is_windows:
            return ntpath.relpath(path, start)
        return fast_relpath(path, start)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def link_destination(link: str, text: str, real_folder: str | None = None) -> str:
    """Where a POSIX symlink at ``link`` whose content is ``text`` points, as the kernel resolves it: a
    relative ``text`` starts from the real path of the link's folder (``real_folder`` when the caller
    has it), not from the spelling ``link`` arrived with. Normalised, not resolved further."""
    if os.path.isabs(text):
        return os.path.normpath(text)
    folder = real_folder if real_folder is not None else os.path.realpath(os.path.dirname(link))
    return os.path.normpath(os.path.join(folder, text))


class LinkReader:
    """Where the symlinks found in a walk point, spelled as the library spells its files. Each folder is
    resolved once (a relative link starts from its folder's real path: the library may be reached through
    a symlink, at another depth); a destination in the library's real folder gets the library's own
    spelling back, so it can be compared with catalog paths."""

    def __init__(self, library_root: StrPath) -> None:
        self.lib = os.path.normpath(os.path.abspath(library_root))
        self.real_lib = os.path.realpath(self.lib)
        self._real: dict[str, str] = {}

    def destination(self, link: str, text: str) -> str:
        folder = os.path.dirname(link)
        real = self._real.get(folder)
        if real is None:
            real = self._real[folder] = os.path.realpath(folder)
        return self.in_library(link_destination(link, text, real))

    def in_library(self, path: str) -> str:
        """``path`` in the library's spelling when it lies in the library's real folder, else as it is."""
        if self.real_lib == self.lib or at_or_under(path, self.lib) or not at_or_under(path, self.real_lib):
            return path
        return os.path.join(self.lib, os.path.relpath(path, self.real_lib))


def fast_relpath(path: str, start: str) -> str:
    """posixpath.relpath for absolute paths, without its abspath/normpath work on every call."""
    if not (path.startswith("/") and start.startswith("/")):
        return os.path.relpath(path, start)
    p = [c for c in path.split("/") if c and c != "."]
    s = [c for c in start.split("/") if c and c != "."]
    if ".." in p or ".." in s:
        return os.path.relpath(path, start)
    i = 0
    while i < len(p) and i < len(s) and p[i] == s[i]:
        i += 1
    return "/".join([".."] * (len(s) - i) + p[i:]) or "."


def long_path(path: str) -> str:
    """The ``\\\\?\\`` form of an absolute Windows path longer than MAX_PATH; other paths unchanged."""
    if len(path) <= WINDOWS_MAX_PATH or path.startswith("\\\\?\\"):
        return path
    path = path.replace("/", "\\")
    if path.startswith("\\\\"):
        return "\\\\?\\UNC\\" + path[2:]
    return "\\\\?\\" + path


def strip_long_prefix(path: str) -> str:
    if path.startswith("\\\\?\\UNC\\"):
        return "\\\\" + path[8:]
    if path.startswith("\\\\?\\"):
        return path[4:]
    return path


def is_junction(st: os.stat_result) -> bool:
    return getattr(st, "st_reparse_tag", 0) == IO_REPARSE_TAG_MOUNT_POINT


def _winerror(exc: OSError) -> int | None:
    value = getattr(exc, "winerror", None)
    return value if isinstance(value, int) else None


def _symlink_refused(exc: OSError) -> bool:
    return _winerror(exc) == WINERROR_PRIVILEGE_NOT_HELD or exc.errno in _SYMLINK_REFUSED_ERRNOS


def _hardlink_refused(exc: OSError) -> bool:
    return (
        _winerror(exc) in (WINERROR_NOT_SAME_DEVICE, WINERROR_INVALID_FUNCTION)
        or exc.errno in _HARDLINK_REFUSED_ERRNOS
    )


def _in_use(exc: OSError) -> bool:
    return _winerror(exc) in (WINERROR_SHARING_VIOLATION, WINERROR_LOCK_VIOLATION) or exc.errno == errno.EBUSY


# Temporary names: eight hex digits as before, counted up from a random start per process (an adoption
# of 10,000 files asked the kernel for random bytes 10,000 times, on the thread every other step waits
# for); a forked child starts afresh.
_temp_count = itertools.count(secrets.randbits(32))


def _new_temp_count() -> None:
    global _temp_count
    _temp_count = itertools.count(secrets.randbits(32))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_temp_count)


def temp_name_for(link: str | os.PathLike[str]) -> str:
    """A fresh temporary name beside ``link`` (hidden, never a model extension, so hosts ignore it)."""
    folder, name = os.path.split(os.fspath(link))
    return os.path.join(folder, f".{name}.{next(_temp_count) & 0xFFFFFFFF:08x}{TEMP_MARK}")


def inside_root(path: StrPath, root: StrPath) -> bool:
    """``path`` lies below ``root``, both lexically and once the parent folders are resolved.

    The parent is resolved (not the path itself: it may be a link) so a folder deeper down swapped for a
    symlink to somewhere else (``views/loras -> /home/u/Documents``) does not pass. One link is allowed
    in an install's own ``models`` folder (the only root direct mapping links into; the library's views
    are ours and never hold one): a category folder right below it that is itself a symlink
    (``models/loras -> /mnt/big/loras``, how many users put a category on another disk, and ComfyUI
    follows it); below it, the same rule holds from its real folder. Removals still touch only a link
    that points at our file.
    """
    norm_path, norm_root = os.path.normpath(os.path.abspath(path)), os.path.normpath(os.path.abspath(root))
    case = os.path.normcase  # all of these are absolute and normalised already: only the case to fold
    if norm_path == norm_root or not at_or_under(case(norm_path), case(norm_root)):
        return False
    real_parent = case(os.path.realpath(os.path.dirname(norm_path)))
    if at_or_under(real_parent, case(os.path.realpath(norm_root))):
        return True
    first = os.path.relpath(norm_path, norm_root).split(os.sep, 1)
    category = os.path.join(norm_root, first[0])
    if len(first) < 2 or os.path.basename(norm_root) != "models" or not os.path.islink(category):
        return False
    return at_or_under(real_parent, case(os.path.realpath(category)))


def prune_empty_dirs(folder: StrPath, link_root: StrPath) -> None:
    """rmdir empty folders from ``folder`` up to (not including) ``link_root/<category>``."""
    root = os.path.normpath(link_root)
    current = os.path.normpath(folder)
    while os.path.dirname(current) != root and inside_root(Path(current), Path(root)):
        try:
            os.rmdir(current)
        except OSError:
            return
        current = os.path.dirname(current)


class LinkMaker:
    """Creates, checks and removes links through ``ops``. Thread-safe; remembers folders without symlinks."""

    def __init__(self, ops: OsOps | None = None, *, retries: int = 5, retry_delay: float = 0.05) -> None:
        self.ops = ops or OsOps()
        self.retries = retries
        self.retry_delay = retry_delay
        self._no_symlinks: set[str] = set()
        self._lock = threading.Lock()

    # -- paths -------------------------------------------------------------------------------------------
    def _p(self, path: StrPath) -> str:
        text = os.fspath(path)
        return long_path(text) if self.ops.is_windows else text

    def symlinks_refused_in(self, folder: StrPath) -> bool:
        with self._lock:
            return os.fspath(folder) in self._no_symlinks

    # -- creation ----------------------------------------------------------------------------------------
    def make_link_at(
        self,
        target: StrPath,
        link: StrPath,
        *,
        allow_copy: bool = False,
        prefer_relative: bool = True,
        real_folders: dict[str, str] | None = None,
        target_id: tuple[int, int] | None = None,
    ) -> CreatedLink:
        """Make a link at exactly ``link`` (which must not exist). Symlink, else hardlink, else copy.

        ``real_folders``: the caller's cache of folders' real paths, for a batch of links made in a few
        folders (a real path takes an lstat per component of the folder's path). A link written from a
        cached one is checked to land on ``target`` (two stats; one when the caller gives the target's
        ``(st_dev, st_ino)`` as ``target_id``) and written again from a fresh real path if not: a folder
        moved behind a symlink mid-batch keeps its inodes, so nothing else notices."""
        target, link = os.fspath(target), os.fspath(link)
        folder = os.path.dirname(link)
        if not self.symlinks_refused_in(folder):
            cached = real_folders is not None and folder in real_folders
            text, relative = self._symlink_text(target, folder, prefer_relative, real_folders)
            try:
                self.ops.symlink(text if relative else self._p(text), self._p(link))
                if (
                    real_folders is not None
                    and cached
                    and relative
                    and not self._lands_on(link, target, target_id)
                ):
                    del real_folders[folder]  # the folder moved: its real path is found anew
                    self.ops.unlink(self._p(link))
                    text, relative = self._symlink_text(target, folder, prefer_relative, real_folders)
                    self.ops.symlink(text if relative else self._p(text), self._p(link))
                return CreatedLink("symlink", relative, None, None, target)
            except OSError as exc:
                if not _symlink_refused(exc):
                    raise self._creation_error(link, exc) from exc
                with self._lock:
                    self._no_symlinks.add(folder)
        try:
            self.ops.link(self._p(target), self._p(link))
            st = self.ops.stat(self._p(target))
            return CreatedLink("hardlink", False, st.st_ino, st.st_dev, target)
        except OSError as exc:
            if not (_hardlink_refused(exc) and allow_copy):
                if _hardlink_refused(exc):
                    raise StorageError(
                        f"Cannot link {link} to {target}: symlinks are not allowed there and hardlinks "
                        f"failed ({exc.strerror or exc}). Enable Developer Mode (Windows), put the library "
                        "on the same drive, or allow copies."
                    ) from exc
                raise self._creation_error(link, exc) from exc
        try:
            self.ops.copyfile(self._p(target), self._p(link))
            st = self.ops.lstat(self._p(link))
        except OSError as exc:
            raise self._creation_error(link, exc) from exc
        return CreatedLink("copy", False, st.st_ino, st.st_dev, target)

    def _symlink_text(
        self, target: str, folder: str, prefer_relative: bool, real_folders: dict[str, str] | None = None
    ) -> tuple[str, bool]:
        if prefer_relative:
            try:
                # From the folder's real path: the kernel resolves a relative link from there, and a
                # category folder is often a symlink to another disk (models/loras -> /mnt/big/loras).
                if self.ops.is_windows:
                    start = folder
                elif real_folders is None:
                    start = os.path.realpath(folder)
                elif (start := real_folders.get(folder, "")) == "":
                    start = real_folders[folder] = os.path.realpath(folder)
                return self.ops.relpath(target, start), True
            except ValueError:
                pass  # another drive: only an absolute link can reach it
        return str(target), False

    def _lands_on(self, link: str, target: str, target_id: tuple[int, int] | None = None) -> bool:
        """``link`` resolves to ``target`` (``target_id``: its ``(st_dev, st_ino)``, known already)."""
        try:
            landed = self.ops.stat(self._p(link))
            if target_id is None:
                st = self.ops.stat(self._p(target))
                target_id = (st.st_dev, st.st_ino)
        except OSError:
            return False
        return (landed.st_dev, landed.st_ino) == target_id

    @staticmethod
    def _creation_error(link: StrPath, exc: OSError) -> StorageError:
        if exc.errno in (errno.EACCES, errno.EROFS):
            return DestinationNotWritable(
                f"Cannot create the link {link}: the folder is not writable ({exc.strerror}). "
                "Check its permissions or choose another place for the links."
            )
        return StorageError(f"Cannot create the link {link}: {exc}. Check the folder and retry.")

    def create_link(
        self,
        target: Path,
        link: Path,
        *,
        allow_copy: bool = False,
        prefer_relative: bool = True,
        replace_ours: bool = False,
    ) -> CreatedLink:
        """Make ``link`` point at ``target`` atomically (temp name + rename).

        An existing path at ``link`` is replaced only with ``replace_ours=True``, and the caller must have
        checked it is ours; anything else raises LinkConflict.
        """
        link.parent.mkdir(parents=True, exist_ok=True)
        if not replace_ours and self.exists(link):
            raise LinkConflict(
                f"{link} already exists; it was left as it is. Rename or remove it, then retry."
            )
        temp = Path(temp_name_for(link))
        created = self.make_link_at(target, temp, allow_copy=allow_copy, prefer_relative=prefer_relative)
        try:
            self.commit(temp, link)
        except BaseException:
            self.discard_temp(temp)
            raise
        return created

    def commit(self, temp: StrPath, link: StrPath) -> None:
        """Rename a temporary link over its final name (retrying while Windows reports the file in use)."""
        self._retry(lambda: self.ops.replace(self._p(temp), self._p(link)), link)

    def discard_temp(self, temp: StrPath) -> None:
        try:
            self.ops.unlink(self._p(temp))
        except FileNotFoundError:
            pass

    def _retry(self, action: Callable[[], None], path: StrPath) -> None:
        for attempt in range(self.retries + 1):
            try:
                action()
                return
            except OSError as exc:
                if not _in_use(exc):
                    raise
                if attempt == self.retries:
                    raise StorageError(
                        f"{path} is in use by another program (ComfyUI may be loading it). "
                        "Close it or wait for the generation to finish, then retry."
                    ) from exc
                self.ops.sleep(self.retry_delay * (attempt + 1))

    # -- identity ----------------------------------------------------------------------------------------
    def exists(self, path: StrPath) -> bool:
        try:
            self.ops.lstat(self._p(path))
        except FileNotFoundError:
            return False
        return True

    def symlink_destination(self, link: StrPath) -> str | None:
        """Where a symlink points (absolute, normalised, not resolved further), or None if not a symlink."""
        try:
            st = self.ops.lstat(self._p(link))
            if not stat.S_ISLNK(st.st_mode) or is_junction(st):
                return None
            text = strip_long_prefix(self.ops.readlink(self._p(link)))
        except OSError:
            return None
        if self.ops.is_windows:
            return str(ntpath.normpath(ntpath.join(ntpath.dirname(os.fspath(link)), text)))
        return link_destination(os.fspath(link), text)

    def is_our_link(
        self,
        link: StrPath,
        expected_target: StrPath,
        kind: str,
        inode: int | None = None,
        device: int | None = None,
    ) -> bool:
        """True only for the link we made. Never follows ``link``; folders and junctions are never ours."""
        try:
            st = self.ops.lstat(self._p(link))
        except OSError:
            return False
        if is_junction(st) or stat.S_ISDIR(st.st_mode):
            return False
        if kind == "symlink":
            destination = self.symlink_destination(link)
            return destination is not None and self._same_file_path(destination, os.fspath(expected_target))
        if kind in ("hardlink", "copy"):
            return (
                stat.S_ISREG(st.st_mode) and inode is not None and (st.st_ino, st.st_dev) == (inode, device)
            )
        return False

    def _same_file_path(self, a: str, b: str) -> bool:
        pathmod = ntpath if self.ops.is_windows else os.path
        if pathmod.normcase(pathmod.normpath(a)) == pathmod.normcase(pathmod.normpath(b)):
            return True
        # The same file reached through another spelling (a symlinked parent folder, a moved library
        # whose relative links still resolve): compare real paths, only if both exist.
        try:
            sa, sb = self.ops.stat(self._p(a)), self.ops.stat(self._p(b))
        except OSError:
            return False
        return (sa.st_ino, sa.st_dev) == (sb.st_ino, sb.st_dev)

    def resolves(self, link: StrPath) -> bool:
        """The link leads to an existing regular file (follows it; for health checks only)."""
        try:
            return stat.S_ISREG(self.ops.stat(self._p(link)).st_mode)
        except OSError:
            return False

    # -- removal -----------------------------------------------------------------------------------------
    def remove_link(
        self,
        link: StrPath,
        expected_target: StrPath,
        kind: str,
        inode: int | None = None,
        device: int | None = None,
    ) -> str:
        """Unlink ``link`` if it is still ours. -> ``"removed"``, ``"missing"`` or ``"not_ours"``."""
        if not self.exists(link):
            return "missing"
        if not self.is_our_link(link, expected_target, kind, inode, device):
            return "not_ours"
        try:
            self._retry(lambda: self.ops.unlink(self._p(link)), link)
        except FileNotFoundError:
            return "missing"
        return "removed"


_DEFAULT = LinkMaker()


def default_maker() -> LinkMaker:
    return _DEFAULT


def create_link(
    target: Path,
    link: Path,
    *,
    allow_copy: bool = False,
    prefer_relative: bool = True,
    replace_ours: bool = False,
) -> CreatedLink:
    return _DEFAULT.create_link(
        target, link, allow_copy=allow_copy, prefer_relative=prefer_relative, replace_ours=replace_ours
    )


def is_our_link(
    link: Path, expected_target: Path, kind: str, inode: int | None = None, device: int | None = None
) -> bool:
    return _DEFAULT.is_our_link(link, expected_target, kind, inode, device)


def remove_link(
    link: Path, expected_target: Path, kind: str, inode: int | None = None, device: int | None = None
) -> str:
    return _DEFAULT.remove_link(link, expected_target, kind, inode, device)

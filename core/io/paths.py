"""The one validator for every file name and path that comes from outside (THREATS.md #4 and #5).

Names reach the library from upload requests, Hugging Face repo paths, ``Content-Disposition`` headers,
user edits and import requests. Each is an attack surface:

* **Traversal**: ``../../custom_nodes/x/__init__.py`` or ``..\\..\\x`` writes Python the host will
  import. Separators of *both* systems are refused in a single name, and ``.``/``..`` always.
* **Absolute and drive paths**: ``/etc/x``, ``C:evil`` (drive-relative on Windows), ``\\\\host\\share``
  (UNC). ``:`` and ``\\`` are refused, so none can be spelled in a name.
* **Windows device names**: ``CON``, ``NUL``, ``COM1``, ``LPT¹`` - also with an extension (``nul.txt``)
  and in any case - open a device instead of a file on Windows; a library synced to a Windows machine
  must not contain them.
* **Silent renames**: Windows drops a trailing dot or space, so ``model.`` and ``model`` collide.
* **Control characters and NUL**: truncate C strings, spoof terminal output and logs.
* **Overlong names**: over 255 UTF-8 bytes fails on every common filesystem, half-way through a write.
* **Symlinks out of a root**: an allowed import folder containing ``link -> /home/u/.ssh``. Containment
  is therefore checked on *resolved* paths (:func:`confine`), never by string prefix (``/lib2`` starts
  with ``/lib``).

:func:`validate_component` refuses; :func:`sanitize_component` repairs a display name into a safe one.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from ..errors import InvalidInput, UnsafePath

MAX_NAME_BYTES = 255
# Path separators, drive colons and <>:"|?* (Windows), and control characters: Unicode's Cc category,
# which is exactly U+0000-U+001F and U+007F-U+009F (a stable set), so one C-speed class finds them all.
_REFUSED_CHARS = re.compile('[<>:"|?*/\\\\\x00-\x1f\x7f-\x9f]')
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"0123456789", "¹", "²", "³"]]
)


def _is_reserved(name: str) -> bool:
    # Windows looks at the part before the first dot, ignoring trailing spaces: "nul.txt", "Con .x".
    return name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED


def validate_component(name: str) -> str:
    """Return ``name`` if it is a safe single file or folder name on POSIX and Windows; else UnsafePath."""
    shown = repr(name)[:80]
    if not isinstance(name, str) or name == "":
        raise UnsafePath("the name is empty; give a file or folder name")
    if name in (".", ".."):
        raise UnsafePath(f"{shown} is not a file name; give a name without '.' or '..'")
    bad = sorted(set(_REFUSED_CHARS.findall(name)))
    if bad:
        listed = " ".join(repr(ch) for ch in bad)
        raise UnsafePath(
            f"the name {shown} contains {listed}, not allowed in file names (path separators, "
            'drive colons, control characters and <>:"|?* are refused); rename it and try again'
        )
    if name[-1] in ". ":
        raise UnsafePath(f"the name {shown} ends with a dot or space, which Windows drops; remove it")
    if _is_reserved(name):
        raise UnsafePath(f"the name {shown} is a reserved device name on Windows; choose another name")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise UnsafePath(
            f"the name {shown} is {size} bytes long in UTF-8; the limit is {MAX_NAME_BYTES}; shorten it"
        )
    return name


def _cut_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def sanitize_component(name: str, fallback: str = "model", max_bytes: int = 120) -> str:
    """Make a safe, readable file name from any text (a model title, an uploaded name).

    Forbidden and control characters become ``_``, leading/trailing dots and spaces go, reserved device
    names get a ``_`` prefix, and the result is cut to ``max_bytes`` of UTF-8 (keeping a short extension).
    The result always passes :func:`validate_component`; an empty result becomes ``fallback``.
    """
    max_bytes = max(1, min(max_bytes, MAX_NAME_BYTES))
    text = unicodedata.normalize("NFC", str(name))
    text = _REFUSED_CHARS.sub("_", text)
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be written anywhere
    text = text.strip(". ")
    if _is_reserved(text):
        text = f"_{text}"
    if len(text.encode("utf-8")) > max_bytes:
        stem, dot, ext = text.rpartition(".")
        if dot and stem and 0 < len(ext.encode("utf-8")) <= 16 < max_bytes:
            text = _cut_utf8(stem, max_bytes - len(ext.encode("utf-8")) - 1).rstrip(". ") + "." + ext
        else:
            text = _cut_utf8(text, max_bytes)
        text = text.rstrip(". ")
    try:
        return validate_component(text)
    except UnsafePath:
        pass  # empty (the name was only dots, spaces or nothing)
    try:
        return validate_component(fallback)
    except UnsafePath:
        return "model"


def validate_relpath(rel: str) -> PurePosixPath:
    """Validate a relative path with ``/`` separators (an HF repo path, an upload with folders)."""
    shown = repr(rel)[:120]
    if not isinstance(rel, str) or rel == "":
        raise UnsafePath("the path is empty; give a relative path such as 'unet/model.safetensors'")
    if "\\" in rel:
        raise UnsafePath(f"the path {shown} contains a backslash; use '/' between folders")
    if rel.startswith("/"):
        raise UnsafePath(f"the path {shown} is absolute; give a path relative to the model folder")
    parts = rel.split("/")
    if any(part == "" for part in parts):
        raise UnsafePath(f"the path {shown} has an empty folder name ('//' or a trailing '/')")
    for part in parts:
        validate_component(part)
    return PurePosixPath(*parts)


def at_or_under(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies below it: the one containment test, on strings taken as they are
    (already absolute and normalised, e.g. from ``realpath``), without a system call, for loops over
    thousands of paths. The two variants below normalise first."""
    if path == folder:
        return True
    return path.startswith(folder if folder.endswith(os.sep) else folder + os.sep)


def lexically_at_or_under(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """:func:`at_or_under` once both are made absolute and normalised (``..`` folded, case folded where
    the system ignores case), links not followed: where a path is judged by its name (a folder named in a
    yaml file, a host's folder list), or where links were resolved already."""
    return at_or_under(_normal(path), _normal(folder))


def is_within(path: Path | str, root: Path | str) -> bool:
    """True when ``path`` resolves (following links) to ``root`` or somewhere under it."""
    try:  # resolved paths are absolute and normalised: only the case is left to fold
        resolved, resolved_root = os.fspath(Path(path).resolve()), os.fspath(Path(root).resolve())
        return at_or_under(os.path.normcase(resolved), os.path.normcase(resolved_root))
    except (OSError, RuntimeError):
        return False  # a link loop or unreadable folder is never "inside"


def _normal(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.abspath(path))


def confine(path: Path | str, roots: Sequence[Path | str]) -> Path:
    """Resolve ``path`` (it must exist; links followed) and return it if it lies inside one of ``roots``."""
    try:
        resolved = Path(path).resolve(strict=True)
    except FileNotFoundError as exc:
        raise InvalidInput(f"{path} does not exist; check the path and try again") from exc
    except (OSError, RuntimeError) as exc:
        raise UnsafePath(f"{path} cannot be resolved ({exc}); it may be a symbolic link loop") from exc
    for root in roots:
        try:
            if lexically_at_or_under(resolved, Path(root).resolve()):
                return resolved
        except (OSError, RuntimeError):
            continue
    raise UnsafePath(
        f"{path} is outside the folders models may be imported from ({some_folders(roots)}); add its "
        "folder to the settings' Central Model Library > Library > Import roots, or move the file into one "
        "of them"
    )


def some_folders(roots: Sequence[Path | str], shown: int = 3) -> str:
    """The first roots by name and how many more: a message is one sentence, not a wall of folders."""
    names = [os.fspath(r) for r in roots]
    if not names:
        return "none configured"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _with_suffix_number(name: str, number: int) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    tail = f"-{number}" + (f".{ext}" if ext else "")
    budget = MAX_NAME_BYTES - len(tail.encode("utf-8"))
    return _cut_utf8(stem, budget).rstrip(". ") + tail


def unique_child(parent: Path, name: str) -> Path:
    """``parent/name`` if free, else ``name-2``, ``name-3``, ... before the extension (deterministic)."""
    validate_component(name)
    parent = Path(parent)
    candidate = parent / name
    number = 1
    while os.path.lexists(candidate):
        number += 1
        if number > 100_000:
            raise UnsafePath(f"no free name like {name!r} in {parent}; clean the folder up")
        candidate = parent / _with_suffix_number(name, number)
    return candidate

"""Our section of a ComfyUI ``extra_model_paths.yaml``: write, read, check, remove.

The user's file is parsed with ruamel.yaml but never re-serialised: our section is generated from a dict
we build and spliced in as a marked block at the end. So the user's comments, quoting and indentation stay
byte for byte, and removing the block gives back exactly the file they had (or no file, if we created it).
An unmarked ``comfyui_model_library`` section (markers edited away) is taken out with a ruamel round-trip.

Threats (THREATS.md #12): only known model categories are written, never ``custom_nodes`` (the host imports
Python from it); names and paths with newlines or NULs are rejected; values are single strings (ComfyUI
breaks on lists). Every write keeps a backup (``extra_model_paths.yaml.bak``) and is atomic.
"""

from __future__ import annotations

import functools
import io
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from ..errors import InvalidConfig, StorageError, UnsafePath
from ..io.fileops import atomic_write_bytes
from .categories import MODEL_CATEGORIES, OUR_SECTION, is_category_name
from .yaml_file import parse_document, read_document, safe_yaml, yaml_problem

SECTION = OUR_SECTION  # the name every library used before sections were named per library


@functools.lru_cache(maxsize=16)
def _marks(section: str) -> tuple[str, str, re.Pattern[str], re.Pattern[str]]:
    """(begin line, end line, the marked block, an unmarked top-level key) of one section name."""
    name = re.escape(section)
    block = re.compile(
        r"^# >>> " + name + r" managed by comfyui-model-library \[(?P<flag>\w*)\] >>>\r?\n"
        r"(?P<body>.*?)^# <<< " + name + r" <<<(?:\r?\n)?",
        re.MULTILINE | re.DOTALL,
    )
    # At a line's start, or right after a byte-order mark opening the file (kept: it is not the section's).
    unmarked = re.compile(r"(?:^|(?<=\A\ufeff))" + name + r"[ \t]*:.*(?:\r?\n|$)", re.MULTILINE)
    begin = "# >>> " + section + " managed by comfyui-model-library [{flag}] >>>"
    return begin, "# <<< " + section + " <<<", block, unmarked


_FORBIDDEN_CHARS = ("\n", "\r", "\x00")


def build_section(
    base_path: Path, categories: Mapping[str, str], section_name: str = SECTION
) -> dict[str, str]:
    """Our section as plain strings, validated: known model categories only, no newlines anywhere."""
    base = str(base_path)
    if not Path(base).is_absolute():
        raise UnsafePath(f"The view folder {base!r} must be an absolute path.")
    section = {"base_path": base}
    for category, folder in sorted(categories.items()):
        if not is_category_name(category):
            raise InvalidConfig(
                f"{category!r} is not a ComfyUI model category; use one of {', '.join(MODEL_CATEGORIES)}."
            )
        if not isinstance(folder, str) or not folder:
            raise InvalidConfig(f"The folder for {category!r} must be a non-empty string.")
        section[category] = folder
    for key, value in section.items():
        if any(c in key or c in value for c in _FORBIDDEN_CHARS):
            raise UnsafePath(
                f"Refusing to write {key!r}: names and paths in {section_name} may not hold newlines."
            )
    return section


def _render_block(
    section: Mapping[str, str], flag: str, newline: str, indent: str = "", name: str = SECTION
) -> str:
    begin, end, _block, _unmarked = _marks(name)
    buf = io.StringIO()
    safe_yaml().dump({name: dict(section)}, buf)
    body = buf.getvalue().replace("\r\n", "\n")
    lines = [begin.format(flag=flag), *(indent + b for b in body.rstrip("\n").split("\n")), end]
    return newline.join(lines) + newline


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"Cannot read {path} ({exc}); check its permissions and retry.") from exc


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidConfig(f"{path} is not UTF-8 text; fix its encoding and retry.") from exc


def read_section(path: Path, name: str = SECTION) -> dict[str, str] | None:
    """Our section as ComfyUI would read it, or None when absent."""
    document = read_document(path)
    if document is None:
        return None
    section = document.get(name)
    if not isinstance(section, dict):
        return None
    return {str(k): str(v) for k, v in section.items()}


def section_matches(path: Path, base_path: Path, categories: Mapping[str, str], name: str = SECTION) -> bool:
    try:
        return read_section(path, name) == build_section(base_path, categories, name)
    except InvalidConfig:
        return False


def _write(path: Path, old: bytes | None, new_text: str) -> None:
    # The user's file may be a symlink (a shared config): write where it points, never replace the link;
    # the backup goes beside the file the user sees. And keep its mode and owner: a 0600 root-owned file
    # (a `sudo` run) would lock ComfyUI out of it.
    target = writable_target(path)
    try:
        before = os.stat(target) if os.path.exists(target) else None
        if old is not None:
            atomic_write_bytes(path.with_name(path.name + ".bak"), old)
        atomic_write_bytes(target, new_text.encode("utf-8"))
        _keep_mode(target, before)
    except OSError as exc:
        raise StorageError(f"Cannot write {path} ({exc}); check the folder's permissions and retry.") from exc


def writable_target(path: Path) -> Path:
    """Where writing ``path`` lands: itself, or the existing regular file a symlink points at. A link
    that dangles, or points at something else or at a file the user cannot write, is refused: nothing
    is ever created at a link's target (a folder or file the user never asked for)."""
    if not os.path.islink(path):
        return path
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except OSError:
        raise StorageError(
            f"{path} is a link to {target}, which does not exist; nothing was written. Create that file "
            "(it may be empty), or replace the link with a file, and retry."
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise StorageError(f"{path} is a link to {target}, which is not a regular file; nothing was written.")
    if not os.access(target, os.W_OK):
        raise StorageError(
            f"{path} is a link to {target}, which this user cannot write; nothing was written. Make it "
            "writable, or map without the yaml (view folders are registered live inside ComfyUI)."
        )
    return target


def _keep_mode(path: Path, before: os.stat_result | None) -> None:
    mode = stat.S_IMODE(before.st_mode) if before is not None else 0o644
    os.chmod(path, mode)
    if before is not None and hasattr(os, "chown"):
        try:
            os.chown(path, before.st_uid, before.st_gid)
        except OSError:
            pass  # not ours to change (not root): the mode alone is kept


_TOP_LEVEL_RE = re.compile(r"^\S", re.MULTILINE)  # the next key, comment or marker at column 0


def _without_unmarked_section(text: str, path: Path, name: str = SECTION) -> str:
    """Remove an unmarked top-level ``comfyui_model_library`` key (written by hand or by an old version).

    Cut out as text, from its key to the next top-level line, so the rest of the file (comments,
    quoting, indentation) stays byte for byte; checked by parsing, with a ruamel round-trip only when the
    text is too unusual to cut (a flow mapping, an anchor)."""
    before = parse_document(text, path)
    expected = {k: v for k, v in before.items() if k != name}
    match = _marks(name)[3].search(text)
    if match:
        following = _TOP_LEVEL_RE.search(text, match.end())
        end = following.start() if following else len(text)
        cut = text[: match.start()] + text[end:]
        try:
            if parse_document(cut, path) == expected:
                return cut
        except InvalidConfig:
            pass
    return _round_trip_without_section(text, path, name)


def _round_trip_without_section(text: str, path: Path, name: str = SECTION) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML()  # round-trip: keeps the user's comments and sections
    yaml.width = 1 << 16
    yaml.preserve_quotes = True
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        raise InvalidConfig(f"{path} is not valid YAML ({yaml_problem(exc)}); fix it and retry.") from exc
    del data[name]
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


_END_MARKER_RE = re.compile(r"^\.\.\.[ \t]*(?:#.*)?(?:\r?\n)?(?:\s*(?:#.*)?(?:\r?\n)?)*\Z", re.MULTILINE)


def _top_indent(text: str) -> str:
    """The column of the document's top-level keys: a file may indent all of them (valid YAML, and
    ComfyUI reads it); our keys must line up with them. Comments (our markers) may sit at any column."""
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.nodes import MappingNode

    try:
        node = safe_yaml().compose(text)
    except YAMLError:
        return ""
    if isinstance(node, MappingNode) and not node.flow_style and node.value:
        column: int = node.value[0][0].start_mark.column
        return " " * column
    return ""


def write_section(path: Path, base_path: Path, categories: Mapping[str, str], name: str = SECTION) -> bool:
    """Add or update our section ``name``. Returns False when the file already says exactly this."""
    section = build_section(base_path, categories, name)
    block_re = _marks(name)[2]
    if os.path.islink(path):
        writable_target(path)  # a dangling link: refused before anything is read or made
    raw = _read_bytes(path)
    text = "" if raw is None else _decode(raw, path)
    before = parse_document(text, path)
    newline = "\r\n" if "\r\n" in text else "\n"
    match = block_re.search(text)
    if match:
        if before.get(name) == section:
            return False
        block = _render_block(section, match["flag"], newline, _top_indent(text), name)
        new_text = text[: match.start()] + block + text[match.end() :]
    else:
        if name in before:
            text = _without_unmarked_section(text, path, name)
        end_marker = _END_MARKER_RE.search(text)
        if end_marker:  # a document closed by "...": our block goes inside it, before the marker
            at = end_marker.start()
            new_text = text[:at] + _render_block(section, "", newline, _top_indent(text), name) + text[at:]
        else:
            if raw is None:
                flag, prefix = "created", ""
            elif text and not text.endswith("\n"):
                flag, prefix = "joined", newline
            else:
                flag, prefix = "", ""
            new_text = text + prefix + _render_block(section, flag, newline, _top_indent(text), name)
    try:
        after = parse_document(new_text, path)
    except InvalidConfig:
        after = {}  # reported below, in the user's terms: the file itself was valid
    expected = {k: v for k, v in before.items() if k != name}
    if after.get(name) != section or {k: v for k, v in after.items() if k != name} != expected:
        raise InvalidConfig(
            f"Adding our section to {path} would change the meaning of the rest of the file (it may end "
            "inside a flow mapping or block); nothing was written. Add a final newline or fix the file."
        )
    _write(path, raw, new_text)
    return True


def remove_section(path: Path, name: str = SECTION) -> bool:
    """Take our section ``name`` out. The user's file becomes byte-identical to before we added it."""
    raw = _read_bytes(path)
    if raw is None:
        return False
    text = _decode(raw, path)
    match = _marks(name)[2].search(text)
    if match:
        start = match.start()
        if match["flag"] == "joined":
            start -= 2 if text[:start].endswith("\r\n") else 1
        new_text = text[: max(start, 0)] + text[match.end() :]
        if match["flag"] == "created" and not new_text.strip() and not os.path.islink(path):
            atomic_write_bytes(path.with_name(path.name + ".bak"), raw)
            os.unlink(path)
            return True
    elif name in parse_document(text, path):
        new_text = _without_unmarked_section(text, path, name)
    else:
        return False
    _write(path, raw, new_text)
    return True


def library_sections(path: Path) -> dict[str, str]:
    """Every section a comfyui-model-library wrote into the file: name -> its ``base_path``."""
    document = read_document(path)
    if document is None:
        return {}
    return {
        str(key): str(value.get("base_path", ""))
        for key, value in document.items()
        if (key == SECTION or str(key).startswith(SECTION + "_")) and isinstance(value, dict)
    }

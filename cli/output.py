"""How the CLI speaks: one JSON document with ``--json``, readable lines otherwise, progress on a TTY."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


def emit_json(doc: Any, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    json.dump(doc, out, ensure_ascii=False, indent=2, sort_keys=False, default=str)
    out.write("\n")


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def printable(text: object) -> str:
    """Text from strangers (a workflow's names, urls) for a terminal: control and format characters
    (escape sequences, bidi overrides) shown as escapes, never sent raw."""
    import unicodedata

    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


class ProgressBar:
    """A one-line progress bar on stderr, only when stderr is a terminal. Rate-limited redraws."""

    def __init__(self, label: str, *, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, done: int, total: int, stage: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        width = 30
        frac = done / total if total else 0.0
        filled = int(width * min(1.0, frac))
        rate = done / max(1e-6, now - self._start)
        line = (
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {frac * 100:5.1f}% "
            f"{human_size(done)}/{human_size(total)} {human_size(rate)}/s {stage[:30]:<30}"
        )
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def model_line(m: dict[str, Any]) -> str:
    tags = f"  [{', '.join(m.get('tags') or [])}]" if m.get("tags") else ""
    return (
        f"{m['id']}  {m['type']:<15} {m['base_model']:<10} {human_size(m['size']):>10}  {m['name']}"
        f"{'  (pickle)' if m.get('security') == 'pickle' else ''}{tags}"
    )


def print_model_detail(m: dict[str, Any], write: Callable[[str], object] = print) -> None:
    write(f"{m['name']}  ({m['id']})")
    for key in ("type", "base_model", "format", "file_format", "security", "location", "state"):
        write(f"  {key:<12} {m.get(key)}")
    write(f"  {'size':<12} {human_size(m['size'])} ({m['size']} bytes)")
    write(f"  {'blake3':<12} {m['hashes']['blake3']}")
    write(f"  {'sha256':<12} {m['hashes']['sha256']}")
    if m.get("dir"):
        write(f"  {'dir':<12} {m['dir']}")
    src = m.get("source") or {}
    if src.get("repo_id"):
        write(
            f"  {'source':<12} {src['repo_id']} {src.get('filename', '')} ({src.get('match')}, "
            f"confidence {src.get('confidence')})"
        )
    if m.get("tags"):
        write(f"  {'tags':<12} {', '.join(m['tags'])}")
    if m.get("notes"):
        write(f"  {'notes':<12} {m['notes']}")
    if m.get("trigger_words"):
        write(f"  {'triggers':<12} {', '.join(printable(w) for w in m['trigger_words'])}")
    if m.get("favorite"):
        write(f"  {'favorite':<12} yes")
    for origin in m.get("origins") or []:
        name = " / ".join(printable(x) for x in (origin.get("model_name"), origin.get("version_name")) if x)
        write(f"  {origin['site']:<12} {printable(origin['url'])}{'  ' + name if name else ''}")
    update = m.get("update")
    if update:
        version, url = printable(update["version_name"]), printable(update["url"])
        write(f"  {'update':<12} {version} on {update['site']}: {url}")
    about = m.get("about") or {}
    if about.get("creator") or about.get("license"):
        creator, license_ = printable(about.get("creator") or "?"), printable(about.get("license") or "?")
        write(f"  {'about':<12} by {creator}; license {license_}")
    if m.get("preview"):
        write(f"  {'preview':<12} {m['preview']['source']}")
    for w in m.get("warnings") or []:
        write(f"  warning: {w}")
    write("  files:")
    for f in m.get("files", []):
        write(f"    {f['path']}  {human_size(f['size'])}")
    links = m.get("links") or []
    if links:
        write("  links:")
        for link in links:
            write(f"    {link['path']}  ({link['kind']})")

"""Civitai's HTML descriptions as plain text (THREATS #15): text stays text, nothing is ever rendered.

The stdlib ``html.parser`` walks the markup: tags and attributes are dropped (so ``<img onerror=...>`` and
``href="javascript:..."`` vanish), entities are decoded, block elements (``<p>``, ``<br>``, ``<li>``, ...)
become line breaks, and what ``<script>``, ``<style>`` and the like contain is dropped with them. Input and
output are both capped, so a megabyte of markup costs a bounded parse.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_TEXT = 20_000
MAX_HTML = 400_000

_SKIP = frozenset({"script", "style", "noscript", "template", "iframe", "object", "svg", "math", "head"})
_BLOCK = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "tr", "table", "blockquote", "pre", "hr", "section", "article",
        "h1", "h2", "h3", "h4", "h5", "h6", "dd", "dt", "figure", "figcaption",
    }
)  # fmt: skip
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "source", "wbr", "area", "base", "col"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.size = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCK:
            self._add("\n- " if tag == "li" else "\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._add("\n")  # <br/>; a self-closed <script/> opens nothing to skip

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK and tag not in _VOID:
            self._add("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self._add(re.sub(r"\s+", " ", data))

    def _add(self, text: str) -> None:
        if self.size <= MAX_TEXT * 2:
            self.parts.append(text)
            self.size += len(text)


def html_to_text(html: str, *, limit: int = MAX_TEXT) -> str:
    """Plain text of an HTML fragment: no tags, entities decoded, paragraphs as blank-line breaks."""
    if not html:
        return ""
    parser = _TextParser()
    parser.feed(html[:MAX_HTML])
    parser.close()
    text = _CONTROL.sub("", "".join(parser.parts))
    lines = [line.strip() for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text[:limit]

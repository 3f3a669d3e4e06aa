"""Keeping a secret (the upstream API key) out of text that reaches a
reader or a log.

An upstream's error message may echo what it was sent, and not always as
sent: in another case, in full-width (Unicode compatibility) forms, glued
inside a word (``key_sk-..._invalid``), or split by zero-width or control
characters.  ``redact`` matches the secret after normalizing both texts the
same way (NFKC, case folding, format and control characters dropped), and
replaces the original characters that matched, so whatever shape the
secret takes in the text, none of it is left.

A secret shorter than ``MIN_GLUED`` characters (a dummy key: ``x``) is
matched only as a whole word, so that it cannot eat letters of other words.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MIN_GLUED", "REDACTED", "redact"]

REDACTED = "[redacted]"
MIN_GLUED = 8
_IGNORED = frozenset({"Cf", "Cc"})
"""Unicode categories dropped before matching: format (zero-width space,
joiners, bidi marks, soft hyphen) and control characters."""


def _fold(char: str) -> str:
    return unicodedata.normalize("NFKC", char).casefold()


def _folded(text: str) -> tuple[str, list[int]]:
    """``text`` normalized, and for each of its characters the index of the
    original character it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if unicodedata.category(char) in _IGNORED:
            continue
        for folded in _fold(char):
            chars.append(folded)
            origin.append(index)
    return "".join(chars), origin


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (as the module says)
    replaced by ``[redacted]``."""
    if not secret or not text:
        return text
    key, _ = _folded(secret)
    if not key:
        return text
    folded, origin = _folded(text)
    if len(key) < MIN_GLUED:
        spans = [(m.start(), m.end()) for m in re.finditer(rf"(?<![\w-]){re.escape(key)}(?![\w-])", folded)]
    else:
        spans = []
        start = folded.find(key)
        while start != -1:
            spans.append((start, start + len(key)))
            start = folded.find(key, start + len(key))
    if not spans:
        return text
    pieces: list[str] = []
    position = 0
    for start, end in spans:
        first, last = origin[start], origin[end - 1] + 1
        if first < position:  # overlaps the previous match (one original character folded into several)
            first = position
        pieces.append(text[position:first])
        pieces.append(REDACTED)
        position = last
    pieces.append(text[position:])
    return "".join(pieces)

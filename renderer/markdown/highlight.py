"""Syntax highlighting of finished code blocks, once per block, with Pygments.

The output is built from the code's text by Pygments, which escapes it, and
holds only ``<span class="hl-...">`` elements: the allowlist keeps exactly
these (``ATTRIBUTE_VALUES`` in ``sanitize``), so it needs no sanitizing pass
and the client's re-check keeps it.  Unknown languages stay plain.
"""

from __future__ import annotations

import functools

from pygments import format as format_tokens
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import Name, Operator, Punctuation, Text, Whitespace
from pygments.util import ClassNotFound

from ..sanitizer.clean import normalize_text

__all__ = ["CLASS_PREFIX", "highlight_code"]

CLASS_PREFIX = "hl-"
_FORMATTER = HtmlFormatter(nowrap=True, classprefix=CLASS_PREFIX)
# Tokens written as plain text, not as spans: plain names, punctuation,
# operators and whitespace, most tokens of most code.  Every span costs the
# browser a box to lay out, and showing a 300-line block is one task: with
# these plain it has a third of the spans and fits in a frame.
_UNSTYLED = frozenset({Name, Operator, Punctuation, Text, Whitespace, Text.Whitespace})


@functools.lru_cache(maxsize=128)
def _lexer(language: str) -> Lexer | None:
    try:
        return get_lexer_by_name(language.lower(), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def highlight_code(code: str, language: str) -> str | None:
    """The highlighted inside of ``<code>``, or ``None`` for an unknown language."""
    lexer = _lexer(language) if language else None
    if lexer is None:
        return None
    tokens = lexer.get_tokens(normalize_text(code))
    return str(format_tokens(((Text if kind in _UNSTYLED else kind, value) for kind, value in tokens), _FORMATTER))

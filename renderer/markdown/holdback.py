"""What the chat configuration's preview holds back, beside ``preview``'s rules.

Kept apart from ``preview`` (the inline completion of a line being typed)
so that each can change on its own; ``tail`` applies both, this one last:

* a formula still being typed (``math.hold_open_math``): half a formula is
  never converted, nor shown as Markdown text;
* a bare URL at the very end of the text (linkify would make a link of it
  with an address still arriving).
"""

from __future__ import annotations

import re

from .math import hold_open_math

__all__ = ["hold_back", "hold_typed_url"]

# A bare URL (or www. name) that the last line ends with: it may go on.
_TYPED_URL = re.compile(r"(?<![^\s(<*_~\[])(?:[Hh][Tt][Tt][Pp][Ss]?:(?://)?|[Ww]{3}\.)\S*\Z")


def hold_typed_url(source: str) -> str:
    """``source`` cut before a URL its last line ends with (no newline after it)."""
    if not source or source.endswith("\n"):
        return source
    match = _TYPED_URL.search(source, source.rfind("\n") + 1)
    return source[: match.start()] if match else source


def hold_back(source: str) -> str:
    """``source`` without what is still being typed and must not show yet."""
    return hold_typed_url(hold_open_math(source))

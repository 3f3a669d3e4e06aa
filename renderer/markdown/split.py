"""Cutting a pending list or table into items that preview one by one.

A list that keeps growing (or a table) is the tail until it ends.  Rendering
the whole of it at every update would cost its size at every token; instead
the preview renders each complete item once, on its own, and splices the
pieces into one list (or table), so an update costs one item.

Only tight lists are cut: an item rendered alone cannot know that a blank
line between two other items made the whole list loose.

A paragraph being typed on one line is cut the same way into sentences, at
a space after ``.``, ``!``, ``?``, ``:`` or ``;`` where the sentence before
closes every code span, emphasis, link and parenthesis it opens, and the
next one does not start like a block.

Whatever precedes a blank line and a last line that starts a new block (it
is not indented and not a list item) is previewed once, and only the last
line at each update.

The splice is a preview device: committed blocks are always rendered whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markdown_it.token import Token

from .commit import Block

__all__ = ["Split", "find_split", "new_block_start", "sentence_cuts", "splice", "splice_sentences"]

_LIST_OPENING = re.compile(r"<(?:ul|ol)\b[^>]*>\n")
_TABLE_OPENING = re.compile(r".*?<tbody>\n", re.DOTALL)
_TABLE_CLOSING = "</tbody>\n</table>\n"
_SENTENCE_END = re.compile(r"[.!?:;] +(?=[^-+*#>|=`~\d\s])")
# After a blank line, a line that starts like this may continue a list.
_CONTINUES = re.compile(r"[ \t]|(?:[-+*]|\d{1,9}[.)])(?:[ \t]|\Z)")
_PAIRS = (("[", "]"), ("(", ")"))
_DELIMITER = re.compile(r"[*_~`]")


@dataclass(frozen=True, slots=True)
class Split:
    """Where and how a pending list or table is cut into items."""

    cuts: tuple[int, ...]
    """Offsets in the pending text where items start."""
    prefix: str
    """Source put before each item to render it alone (a table's header)."""
    opening: re.Pattern[str]
    """What an item's HTML starts with that the spliced whole has once."""
    closing: str
    """What an item's HTML ends with that the spliced whole has once."""


def _offsets(lines: Sequence[str], starts: Sequence[int]) -> tuple[int, ...]:
    ends = [0]
    for line in lines:
        ends.append(ends[-1] + len(line) + 1)
    return tuple(ends[start] for start in starts)


def find_split(tokens: Sequence[Token], blocks: Sequence[Block], lines: Sequence[str]) -> Split | None:
    """How to cut the pending text when it is a single tight list or a table."""
    if len(blocks) != 1 or blocks[0].start != 0:
        return None
    kind = blocks[0].type
    if kind in ("bullet_list_open", "ordered_list_open"):
        if any(not line.strip() for line in lines):
            return None
        items = [token.map[0] for token in tokens if token.type == "list_item_open" and token.level == 1 and token.map]
        closing = "</ul>\n" if kind == "bullet_list_open" else "</ol>\n"
        return Split(_offsets(lines, items), "", _LIST_OPENING, closing) if len(items) > 1 else None
    if kind == "table_open":
        body = next((index for index, token in enumerate(tokens) if token.type == "tbody_open"), len(tokens))
        rows = [token.map[0] for token in tokens[body:] if token.type == "tr_open" and token.map]
        if len(rows) < 2:
            return None
        cuts = _offsets(lines, rows)
        return Split(cuts, "\n".join(lines[: rows[0]]) + "\n", _TABLE_OPENING, _TABLE_CLOSING)
    return None


def splice(parts: Sequence[str], split: Split) -> str | None:
    """Join the items' HTML into one list or table; ``None`` if an item does
    not have the expected shape (the caller then renders the whole)."""
    joined = []
    for index, html in enumerate(parts):
        if index > 0:
            opening = split.opening.match(html)
            if opening is None:
                return None
            html = html[opening.end() :]
        if index < len(parts) - 1:
            if not html.endswith(split.closing):
                return None
            html = html[: -len(split.closing)]
        joined.append(html)
    return "".join(joined)


def _balanced(piece: str, closed: Callable[[str], bool]) -> bool:
    """Whether inline markup in ``piece`` cannot reach past its end."""
    if "<" in piece or "\\" in piece or "&" in piece:
        return False
    for opening, closing in _PAIRS:
        if piece.count(opening) != piece.count(closing):
            return False
    return not _DELIMITER.search(piece) or closed(piece)


def sentence_cuts(line: str, closed: Callable[[str], bool]) -> list[int]:
    """Where a one-line paragraph can be cut into sentences that render alone;
    ``closed`` tells whether a piece leaves emphasis or a code span open (as
    markdown-it pairs them: ``**2. `` has an even count and is open)."""
    cuts = [0]
    for end in _SENTENCE_END.finditer(line):
        if _balanced(line[cuts[-1] : end.end()], closed):
            cuts.append(end.end())
    return cuts


def splice_sentences(parts: Sequence[str], sources: Sequence[str], opening: str = "<p>") -> str | None:
    """Join sentences rendered as paragraphs into one paragraph, putting back
    the spaces each source ended with; ``None`` if one is not a paragraph.
    ``opening``: the paragraph's start tag as the renderer writes it."""
    joined = []
    for index, (html, source) in enumerate(zip(parts, sources, strict=True)):
        if not html.startswith(opening) or not html.endswith("</p>\n") or html.count("<p") != 1:
            return None
        if index > 0:
            html = html[len(opening) :]
        if index < len(parts) - 1:
            html = html[:-5] + source[len(source.rstrip(" ")) :]
        joined.append(html)
    return "".join(joined)


def new_block_start(source: str) -> int:
    """Where a last line that cannot continue what is before the blank line
    above it starts (0 if there is none): the text before it previews alone."""
    start = source.rfind("\n\n") + 2
    if start < 2 or start == len(source) or "\n" in source[start:] or _CONTINUES.match(source, start):
        return 0
    return start

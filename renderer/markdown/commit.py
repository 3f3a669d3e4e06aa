"""Pure functions deciding which prefix of a growing Markdown text is final.

CommonMark decides block structure line by line: a block closes when a line
arrives that cannot continue it, and nothing later reopens it.  So a block is
final once the lines that closed it are complete (end with a newline), with
one caveat: a GFM table header needs the line after it (the delimiter row),
so the line after a closing line must be complete too.

Given the top-level blocks of the complete lines (``n`` of them), a block
spanning lines ``[start, end)`` is final when

1. it is a closed fence, or a heading or thematic break and line ``end`` is
   complete (a heading-looking line can still become a table header);
2. it is neither a list nor an indented code block (the only blocks that
   continue past a blank line) and line ``end`` is a complete blank line;
3. the next block starts at line ``k`` and lines ``k`` and ``k + 1`` are
   complete.

A final block makes every block before it final too, so the final prefix
ends after the last final block.  Reference definitions have no tokens; they
are committed with the block they precede or follow, and a definition that
arrives after a committed link uses it is handled by the engine (``replace``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markdown_it.token import Token

__all__ = ["Block", "final_lines", "open_fence", "top_level_spans"]

_CONTINUES_AFTER_BLANK = frozenset({"bullet_list_open", "ordered_list_open", "code_block"})
_SELF_CLOSING = frozenset({"heading_open", "hr", "fence"})


@dataclass(frozen=True, slots=True)
class Block:
    """A top-level block of the parsed complete lines."""

    type: str
    """The type of its first token (``paragraph_open``, ``fence``, ...)."""
    start: int
    """Its first line."""
    end: int
    """The line after its last line."""
    token: Token
    """Its first token."""


def top_level_spans(tokens: Sequence[Token]) -> list[Block]:
    """The top-level blocks of a block-level token stream, with their lines."""
    return [
        Block(token.type, token.map[0], token.map[1], token)
        for token in tokens
        if token.level == 0 and token.nesting >= 0 and token.map is not None
    ]


def _is_blank(lines: Sequence[str], index: int) -> bool:
    return not lines[index].strip(" \t")


def _is_closed_fence(block: Block) -> bool:
    """A fence is closed when its content misses its last line (the closing one)."""
    return block.token.content.count("\n") == block.end - block.start - 2


def final_lines(blocks: Sequence[Block], lines: Sequence[str]) -> int:
    """How many leading complete ``lines`` no further input can change."""
    n = len(lines)
    final = 0
    for index, block in enumerate(blocks):
        end = block.end
        if block.type == "fence" and end <= n and _is_closed_fence(block):
            final = max(final, end)  # its complete closing line ends it; nothing can reopen it
        elif block.type in _SELF_CLOSING and end < n:
            final = max(final, end)
        if block.type not in _CONTINUES_AFTER_BLANK and end < n and _is_blank(lines, end):
            final = max(final, end + 1)
        if index + 1 < len(blocks) and blocks[index + 1].start + 1 < n:
            final = max(final, blocks[index + 1].start)
    return final


def open_fence(blocks: Sequence[Block], n: int) -> Block | None:
    """The first block, when it is a fence still waiting for its closing line."""
    if blocks and blocks[0].type == "fence" and blocks[0].end >= n and not _is_closed_fence(blocks[0]):
        return blocks[0]
    return None

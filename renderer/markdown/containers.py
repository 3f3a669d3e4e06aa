"""Container tags written around Markdown, kept as one element.

A model writes ``<details><summary>More</summary>``, a blank line, Markdown,
a blank line, ``</details>``.  CommonMark makes that three blocks: an HTML
block that opens ``<details>``, the Markdown, an HTML block that closes it.
Sanitized one block at a time, the first would be closed at once (an empty
disclosure) and the Markdown shown below it.  So the blocks from an HTML
block that leaves a container tag open to the HTML block that closes it are
one group, rendered and sanitized together (still sanitized: the group is
one well-formed fragment, like any block).

A container left open for more than ``MAX_GROUP`` blocks is not a group:
its opening block stands alone as before.  That bounds what a stream holds
back while it waits for the end tag (its tail stays small), and the rule is
the same for a stream and for the one-shot renderer, so both agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it.token import Token

__all__ = ["CONTAINER_TAGS", "MAX_GROUP", "container_delta", "container_groups"]

CONTAINER_TAGS = ("details", "div")
"""Allowed elements that may hold Markdown between their tags."""

MAX_GROUP = 64
"""Blocks after an opening tag within which its end tag must come."""

_TAG = re.compile(r"<(/?)(?:" + "|".join(CONTAINER_TAGS) + r")(?=[\s/>])[^>]*>", re.IGNORECASE)


def container_delta(token: Token) -> int:
    """How many container elements an HTML block opens (minus those it closes)."""
    if token.type != "html_block":
        return 0
    return sum(-1 if match[1] else 1 for match in _TAG.finditer(token.content))


def container_groups(heads: Sequence[Token], *, at_end: bool) -> list[tuple[int, int | None]]:
    """The runs ``[first, last)`` of top-level blocks (given by their first
    tokens) that form one container each.

    ``at_end``: ``heads`` are all the blocks of the document.  Otherwise (a
    stream's pending text, whose last blocks may still change) a container
    whose end is not decided yet is returned as ``(first, None)``, and it is
    the last group.
    """
    groups: list[tuple[int, int | None]] = []
    index = 0
    while index < len(heads):
        depth = container_delta(heads[index])
        if depth <= 0:
            index += 1
            continue
        end = index + 1
        while end < len(heads) and end - index <= MAX_GROUP and depth > 0:
            depth += container_delta(heads[end])
            end += 1
        if depth <= 0:
            groups.append((index, end))
            index = end
        elif end - index > MAX_GROUP and (at_end or len(heads) > index + MAX_GROUP + 2):
            index += 1  # not closed within reach: the opening block stands alone
        else:
            groups.append((index, len(heads) if at_end else None))
            break
    return groups

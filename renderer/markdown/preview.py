"""What the tail preview renders: the pending text, made safe to show half-typed.

The preview must not mislead: no heading that flips back into a paragraph,
no link whose URL is still arriving.  It should also not flicker: ``**bo``
shown as literal asterisks, then bold, then literal again.  So the last,
incomplete line is adjusted before rendering:

* a line that could still turn into or out of a block marker (``#``, ``-``,
  ``1.``, a table delimiter row, a fence) is left out until it says more;
* a line that may be a link reference definition is left out (its URL is
  not complete before the line is);
* the last paragraph is shown as it will most likely look once finished
  (:mod:`renderer.markdown.complete`): emphasis, strikethrough and code
  spans left open are closed, the text of a link still being typed shows as
  plain text (its URL only once it is complete), an image or an HTML tag
  still being typed is left out.

The preview also drops the line breaks markdown-it writes after block tags
(``</li>\n``): a DOM keeps them as text nodes of their own, so without them
a new list item or table row is an ``append`` that means the same as a string
and as a DOM.

When the text only grew by plain words (no character that Markdown could
read as markup), the new words are escaped into the tail where the last ones
went, without rendering anything.

None of this changes what is committed; it only shapes the preview.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..sanitizer.clean import escape_text
from .complete import FENCE_OPENING, Completer
from .holdback import hold_back
from .ops import split_open
from .render import default_parser

__all__ = ["compact", "complete_inline", "hold_partial_line", "plain_growth", "preview_source"]

# A partial line that could still turn into, or out of, a heading, setext
# underline, thematic break, list item, fence or table delimiter row.
_AMBIGUOUS_LINE = re.compile(r"[ \t]*(?:[-+*=_#`~|:>]|\d{1,9}[.)]?|[ \t])*")
# A line that may start a link reference definition (possibly inside a
# quote or list item).
_DEFINITION_START = re.compile(r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)?\[")
# Text that cannot start, end or change any Markdown construct mid-line
# (no linkify, no typographer: letters, digits, spaces and plain punctuation).
# (No ";": it can complete an entity; no "<": letters can complete a tag.)
_PLAIN = re.compile(r"[^\W_]|[ ,.:?!']")
_PLAIN_RUN = re.compile(r"(?:[^\W_]|[ ,.:?!'])+")
_LAST_PLAIN_RUN = re.compile(r"(?:[^\W_]|[ ,.:?!'])+\Z")
# A line break after a block-level tag: layout whitespace, not content.
_BLOCK_TAG_NEWLINE = re.compile(
    r"(</(?:blockquote|details|div|dl|dd|dt|figcaption|figure|h[1-6]|li|ol|p|pre|summary|table|tbody|td|tfoot|th|thead|tr|ul)>"
    r"|<(?:blockquote|dl|hr|li|ol|table|tbody|tfoot|thead|tr|ul)\b[^<>]*>)\n"
)


def hold_partial_line(pending: str, partial_start: int) -> bool:
    """Whether the preview should leave out the incomplete last line."""
    partial = pending[partial_start:]
    # A fence opening's info string is still arriving (without its newline it reads as inline code).
    if _AMBIGUOUS_LINE.fullmatch(partial) or FENCE_OPENING.match(partial):
        return True
    blank = pending.rfind("\n\n", 0, partial_start)
    run_start = blank + 2 if blank >= 0 else 0
    return _may_define(pending, run_start) or _may_define(partial, 0)


def _may_define(text: str, start: int) -> bool:
    """Whether the line at ``start`` may still be a link reference definition:
    ``[`` whose label is open, or closed and followed by ``:`` (or nothing yet)."""
    opening = _DEFINITION_START.match(text, start)
    if opening is None:
        return False
    close = text.find("]", opening.end())
    return close < 0 or text[close + 1 : close + 2] in ("", ":")


def complete_inline(line: str, completer: Completer | None = None) -> str:
    """One line of paragraph text as it will most likely look once finished
    (see :mod:`renderer.markdown.complete`)."""
    return (completer or Completer(default_parser())).complete(line, {})


def preview_source(
    pending: str, completer: Completer | None = None, references: Mapping[str, Any] | None = None
) -> str:
    """The text whose rendering is the tail preview: the lines that may still
    change their block left out, what is still being typed held back
    (``holdback``), the last paragraph completed."""
    # What is still being typed and must not show (half a formula, a URL
    # still arriving) goes first, so the completion closes only what shows.
    shown = hold_back(_shown(pending))
    return (completer or Completer(default_parser())).complete(shown, references or {})


def _shown(pending: str) -> str:
    """The pending text without the lines that may still change their block."""
    partial_start = pending.rfind("\n") + 1
    line_start = pending.rfind("\n", 0, max(partial_start - 1, 0)) + 1
    last_line = pending[line_start:partial_start]
    partial = pending[partial_start:]
    # A table row shows when complete, not cell by cell.
    in_table = "|" in last_line or partial.lstrip(" ").startswith("|")
    if partial and not in_table and not hold_partial_line(pending, partial_start):
        return pending
    line_before = pending[pending.rfind("\n", 0, max(line_start - 1, 0)) + 1 : line_start]
    if "|" in last_line and "|" not in line_before and not last_line.lstrip(" ").startswith("#"):
        return pending[:line_start]  # may become a table header when its delimiter row arrives
    return pending[:partial_start]


def plain_growth(old_raw: str, raw: str, old_source: str | None, source: str, tail: str) -> str | None:
    """The new tail when the pending text only grew by plain words at the end
    of its last line and the preview keeps the same shape (``None`` if not):
    the words go, escaped, where the previous words are, in the innermost
    element the preview leaves open."""
    if old_source is None or not tail or not old_raw or not raw.startswith(old_raw):
        return None
    added = raw[len(old_raw) :]
    closers = old_source[len(old_raw) :]
    if (
        not _PLAIN_RUN.fullmatch(added)
        or not _PLAIN.fullmatch(old_raw[-1])
        or old_raw[-1] == " "
        or not old_source.startswith(old_raw)
        or source != raw + closers
        or "<" in raw[raw.rfind("\n") + 1 :]
    ):
        return None
    body, run = split_open(tail)
    last_words = _LAST_PLAIN_RUN.search(old_raw[-8:])
    if not run or last_words is None or not body.endswith(escape_text(last_words.group())):
        return None
    return body + escape_text(added) + run


def compact(html: str) -> str:
    """The preview HTML without layout line breaks after block tags."""
    return _BLOCK_TAG_NEWLINE.sub(r"\1", html)

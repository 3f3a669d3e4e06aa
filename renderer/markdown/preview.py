"""What the tail preview renders: the pending text, made safe to show half-typed.

The preview must not mislead: no heading that flips back into a paragraph,
no link whose URL is still arriving.  It should also not flicker: ``**bo``
shown as literal asterisks, then bold, then literal again.  So the last,
incomplete line is adjusted before rendering:

* a line that could still turn into or out of a block marker (``#``, ``-``,
  ``1.``, a table delimiter row, a fence) is left out until it says more;
* a line that may be a link reference definition is left out (its URL is
  not complete before the line is);
* a link or image still being typed is cut off where it starts, so it
  appears whole, with its final URL, once it is complete;
* emphasis, strikethrough and code spans left open are closed, so the text
  shows in its final style as it arrives.

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

from ..sanitizer.clean import escape_text
from .ops import split_open

__all__ = ["compact", "complete_inline", "hold_partial_line", "plain_growth", "preview_source"]

# A partial line that could still turn into, or out of, a heading, setext
# underline, thematic break, list item, fence or table delimiter row.
_AMBIGUOUS_LINE = re.compile(r"[ \t]*(?:[-+*=_#`~|:>]|\d{1,9}[.)]?|[ \t])*")
# A line that may start a link reference definition (possibly inside a
# quote or list item).
_DEFINITION_START = re.compile(r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)?\[")
# A fence opening (possibly in a quote or list item): its info string is
# still arriving, and without its newline it reads as inline code.
_FENCE_START = re.compile(r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*(?:`{3,}|~{3,})")
# A link or image at the end of the line whose destination is not closed yet.
_OPEN_LINK = re.compile(r"!?\[[^\[\]\n]{0,500}(?:\](?:\([^()\n]{0,2000})?)?\Z")
_CODE_RUN = re.compile(r"`+")
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
_EMPHASIS = re.compile(r"\\.|~~|\*\*|\*")
# Markers further back than this are left alone: probably not emphasis.
_REACH = 300


def hold_partial_line(pending: str, partial_start: int) -> bool:
    """Whether the preview should leave out the incomplete last line."""
    partial = pending[partial_start:]
    if _AMBIGUOUS_LINE.fullmatch(partial) or _FENCE_START.match(partial):
        return True
    blank = pending.rfind("\n\n", 0, partial_start)
    run_start = blank + 2 if blank >= 0 else 0
    return bool(_DEFINITION_START.match(pending, run_start) or _DEFINITION_START.match(partial))


def _mask_code(line: str) -> tuple[str, re.Match[str] | None]:
    """The line with code span contents blanked out, and the backtick run of
    a code span left open (if it is near enough to be worth closing)."""
    masked = list(line)
    opener: re.Match[str] | None = None
    for run in _CODE_RUN.finditer(line):
        if opener is None:
            opener = run
        elif len(run.group()) == len(opener.group()):
            masked[opener.end() : run.start()] = "x" * (run.start() - opener.end())
            opener = None
    if opener is not None and len(line) - opener.start() > _REACH:
        opener = None
    return "".join(masked), opener


def _close(line: str, opener: re.Match[str]) -> str:
    """Close what ``opener`` opened; drop it if nothing follows it yet."""
    if not line[opener.end() :].strip():
        return line[: opener.start()]
    return line + opener.group()


def complete_inline(line: str) -> str:
    """Close the emphasis, strikethrough and code spans a line leaves open,
    and cut off a link still being typed."""
    link = _OPEN_LINK.search(line)
    if link is not None:
        line = line[: link.start()]
    masked, code = _mask_code(line)
    if code is not None:
        return _close(line, code)
    stack: list[re.Match[str]] = []
    for marker in _EMPHASIS.finditer(masked):
        text = marker.group()
        if text.startswith("\\"):
            continue
        before = masked[marker.start() - 1 : marker.start()]
        after = masked[marker.end() : marker.end() + 1]
        if stack and stack[-1].group() == text and before.strip():
            stack.pop()
        elif not after or after.strip():
            stack.append(marker)
    for marker in reversed(stack):
        if len(line) - marker.start() > _REACH:
            break
        line = _close(line.rstrip() if line[marker.end() :].strip() else line, marker)
    return line


def preview_source(pending: str) -> str:
    """The text whose rendering is the tail preview."""
    partial_start = pending.rfind("\n") + 1
    line_start = pending.rfind("\n", 0, max(partial_start - 1, 0)) + 1
    last_line = pending[line_start:partial_start]
    partial = pending[partial_start:]
    # A table row shows when complete, not cell by cell.
    in_table = "|" in last_line or partial.lstrip(" ").startswith("|")
    if partial and not in_table and not hold_partial_line(pending, partial_start):
        return pending[:partial_start] + complete_inline(partial)
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

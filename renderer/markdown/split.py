"""Cutting a pending list or table into items that preview one by one.

A list that keeps growing (or a table) is the tail until it ends.  Rendering
the whole of it at every update would cost its size at every token; instead
the preview renders each complete item once, on its own, and splices the
pieces into one list (or table), so an update costs one item.

Only tight lists are cut: an item rendered alone cannot know that a blank
line between two other items made the whole list loose.

A paragraph being typed on one line is cut the same way into sentences, at
a space after ``.``, ``!``, ``?``, ``:`` or ``;`` where nothing in the text
before can read past the cut (``self_contained``: every code span, link and
emphasis it opens ends in it, in plain forms) and the next sentence does not
start like a block; so is a list item's first line (``splice_item``).  The
completer reads only the last sentence of a paragraph, for the same reason.

The last item of a list is cut the same way when its lines after the first
are one tight nested list (``nested_list``): its first line and the nested
items before the last are previewed once, and the last nested item is cut
again, so that an update costs the last nested item, not the whole item.
The same reading cuts a pending list whose items the engine has not cut yet
(``list_items``: its last line is not complete, or it has one item).

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

__all__ = [
    "Split",
    "find_split",
    "item_content",
    "list_head",
    "list_items",
    "may_be_sanitized",
    "nested_list",
    "new_block_start",
    "self_contained",
    "sentence_cuts",
    "splice",
    "splice_item",
    "splice_nested",
    "splice_sentences",
]

_LIST_OPENING = re.compile(r"<(?:ul|ol)\b[^>]*>\n")
_TABLE_OPENING = re.compile(r".*?<tbody>\n", re.DOTALL)
_TABLE_CLOSING = "</tbody>\n</table>\n"
_SENTENCE_END = re.compile(r"[.!?:;] +(?=[^-+*#>|=`~\d\s])")
_FENCE = re.compile(r"```|~~~")
# After a blank line, a line that starts like this may continue a list.
_CONTINUES = re.compile(r"[ \t]|(?:[-+*]|\d{1,9}[.)])(?:[ \t]|\Z)")
# What lets a sentence's inline markup read past its end (``self_contained``).
_REACHES = re.compile(r"[<$\\&]|\[\^")
_EMPHASIS = re.compile(r"[*_~]")
_CODE_OR_BRACKET = re.compile(r"[`\[\]]")
_BACKTICK_RUN = re.compile(r"`+")
_DESTINATION = re.compile(r"[^\s()<>\[\]`\"'\\]*\)")
# A list item's first line: indentation, marker, the spaces before its
# content (1 to 4: with more, the content would be indented code).
_ITEM_START = re.compile(r"( {0,3})([-+*]|\d{1,9}[.)])( {1,4})(?=\S)")
_THEMATIC_BREAK = re.compile(r" {0,3}(?:(?:\*[ ]*){3,}|(?:-[ ]*){3,}|(?:_[ ]*){3,})\Z")
# What a nested item is never cut for: tabs (columns), a table, raw HTML and
# what the sanitizer must see (math, footnotes): each piece would be
# sanitized alone, the whole item as one; a reference definition (it would
# serve the links of the pieces rendered before it).
_NOT_NESTED = re.compile(r"[\t|<$\\]|\[\^|\]:")
_ITEM_CLOSING = re.compile(r"</li>\n</(?:ul|ol)>\n\Z")


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


def list_items(source: str, *, interrupting: bool = False) -> tuple[tuple[str, ...], Split] | None:
    """``source`` cut into the items of the one tight list it is, read from
    the text alone (``None`` if it may be anything else: it is rendered whole).

    Conservative on purpose: the items start at the same indentation with
    markers of one kind (same bullet, or same delimiter after the number),
    every other line is indented at least to its item's content column (so
    it belongs to that item), no line is blank (but a last empty one), and
    nothing in it is kept out by ``_NOT_NESTED``.  ``interrupting``: the
    list follows a paragraph line, so its first item must be able to
    interrupt it (not empty, and numbered 1 if ordered)."""
    if not _ITEM_START.match(source) or _NOT_NESTED.search(source):
        return None  # (the first test is cheap: most text is no list)
    lines = source.split("\n")
    items: list[list[str]] = []
    indent, kind, column = "", "", 0
    for number, line in enumerate(lines, 1):
        start = _ITEM_START.match(line)
        if start is not None and (not items or start.group(1) == indent) and not _THEMATIC_BREAK.match(line):
            marker = start.group(2)
            if not items and interrupting and (start.group(1) or (marker[-1] in ".)" and int(marker[:-1]) != 1)):
                return None
            if items and _kind(marker) != kind:
                return None  # another list
            indent, kind, column = start.group(1), _kind(marker), start.end()
            items.append([line])
        elif items and line.startswith(" " * column) and line.strip():
            items[-1].append(line)
        elif items and not line and number == len(lines):
            items[-1].append(line)  # the newline the list ends with
        else:
            return None
    if not items:
        return None
    closing = "</ul>\n" if kind in "-+*" else "</ol>\n"
    return tuple("\n".join(item) for item in items), Split((), "", _LIST_OPENING, closing)


def list_head(text: str) -> tuple[str, str]:
    """``text`` cut after its first block when that may be a list that a
    blank line and a new block end: the list and the blocks after it,
    which then render alone.  ``("", text)`` when the cut is not sure: a
    line after the blank that may continue a list, a definition after it
    (the list's links may look it up), or a fence in the list (one its
    last item leaves open holds the blank lines)."""
    blank = text.find("\n\n")
    if blank < 0:
        return text, ""
    rest = text[blank + 2 :].lstrip("\n")
    if _CONTINUES.match(rest) or "]:" in rest or _FENCE.search(text, 0, blank):
        return "", text
    return text[: blank + 1], rest


def nested_list(item: str) -> tuple[str, str] | None:
    """A list item's first line and, with the item's indentation removed,
    the lines after it, when those are one tight list (``list_items`` with
    ``interrupting``) and the first line does not open a table; ``None``
    otherwise.

    markdown-it then renders the item as its first line's paragraph
    (hidden: the list is tight) followed by the nested list: the item's
    content column is where the nested lines' blocks start, and the nested
    list ends the first line's paragraph.  So the first line can be
    rendered alone, as a one-item list, and spliced with the nested list's
    HTML (``splice_nested``)."""
    head, _, rest = item.partition("\n")
    first = _ITEM_START.match(head)
    if first is None or not rest.strip("\n") or _NOT_NESTED.search(item):
        return None
    indent = " " * first.end()
    lines = rest.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.startswith(indent) and (line or number < len(lines)):
            return None
    nested = "\n".join(line[len(indent) :] for line in lines)
    return (head, nested) if list_items(nested, interrupting=True) is not None else None


def _kind(marker: str) -> str:
    """What a list marker must share with its siblings: the bullet, or the
    delimiter after the number."""
    return marker[-1]


def splice_nested(head: str, nested: str) -> str | None:
    """The HTML of a list item from that of its first line alone (a one-item
    list) and that of its nested list; ``None`` if the first line is not a
    paragraph (its item's HTML does not read ``<li ...>text</li>``)."""
    closing = _ITEM_CLOSING.search(head)
    body = head.find(">", head.find("<li")) + 1
    if closing is None or head.count("<li") != 1 or body >= closing.start() or head[body] == "\n":
        return None
    # markdown-it writes a line break before a block after a hidden paragraph.
    return head[: closing.start()] + "\n" + nested + head[closing.start() :]


def item_content(line: str) -> int | None:
    """Where the content of a list item's first line starts (``None`` if
    ``line`` is not one line that starts an item)."""
    start = _ITEM_START.match(line)
    return None if start is None or "\n" in line else start.end()


def splice_item(head: str, gap: str, parts: Sequence[str], sources: Sequence[str], opening: str = "<p>") -> str | None:
    """The HTML of a one-line list item from that of its marker and first
    sentence alone (``head``: a one-item list; ``gap``: the spaces its source
    ends with) and that of its other sentences, each rendered as a paragraph
    (``sources``: theirs); ``None`` if the first sentence is not a paragraph
    (its item's HTML does not read ``<li ...>text</li>``)."""
    closing = _ITEM_CLOSING.search(head)
    body = head.find(">", head.find("<li")) + 1
    if closing is None or head.count("<li") != 1 or body >= closing.start() or head[body] == "\n":
        return None
    rest = splice_sentences(parts, sources, opening)
    if rest is None:
        return None
    return head[: closing.start()] + gap + rest[len(opening) : -5] + head[closing.start() :]


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


def self_contained(piece: str, closed: Callable[[str], bool]) -> bool:
    """Whether no inline construct in ``piece`` (a sentence and the spaces
    after it) can reach past its end, whatever text follows: then markdown-it
    reads ``piece + rest`` as ``piece`` followed by ``rest`` read alone.

    markdown-it's inline rules read forward only.  What can read across the
    spaces ``piece`` ends with is a code span looking for its closer, a link
    or image looking for its label's ``]``, its destination and title, or a
    reference label, raw HTML or an autolink (``<``), a formula (``$``),
    something escaped or an entity (``\\``, ``&``), a footnote (``[^``);
    and emphasis pairs an opener left open with a later closer.  So a piece
    is a cut only if

    * it has none of ``<``, ``$``, ``\\``, ``&``, ``[^``;
    * each backtick run that opens a code span meets its closer (the next
      run of its length) in the piece, at top level or in a link's text;
    * each ``[`` meets its ``]`` in the piece with no other bracket between
      (not even in a code span: the completer counts brackets roughly), and
      the ``]`` is followed by ``(``, a plain destination and ``)`` (no
      space, quote, bracket, parenthesis or backtick in it), or by neither
      ``(`` nor ``[`` (a shortcut reference, or text); no ``]`` is alone;
    * ``://`` (a bare URL: linkify reads on through backticks and
      brackets) is only in a code span or a destination;
    * ``closed`` (markdown-it's own scan of the piece, with the references
      in use) finds no emphasis opener left unmatched.

    Every read then stops inside the piece, so the rest cannot change how
    the piece reads, and the rest reads as it would alone: emphasis looks
    back one character (a space either way) and pairs only with openers
    left open."""
    if _REACHES.search(piece) or not _links_and_code_close(piece):
        return False
    return not _EMPHASIS.search(piece) or closed(piece)


def may_be_sanitized(sentence: str) -> bool:
    """Whether markdown-it may read raw HTML, a formula or a footnote in
    ``sentence``: the sanitizer would see the sentence's paragraph, and
    rewrite what the sentences before it hold (``<img ... />`` as
    ``<img ...>``), so the paragraph is not rendered piecewise."""
    return _REACHES.search(sentence) is not None


def _run_end(text: str, start: int) -> int:
    """Where the backtick run at ``start`` ends."""
    end = start + 1
    while end < len(text) and text[end] == "`":
        end += 1
    return end


def _code_end(text: str, start: int) -> int:
    """Where the code span opened by the backtick run at ``start`` ends (its
    closer: the next run of the same length), -1 if nothing closes it."""
    length = _run_end(text, start) - start
    for run in _BACKTICK_RUN.finditer(text, start + length):
        if len(run.group()) == length:
            return run.end()
    return -1


def _links_and_code_close(piece: str) -> bool:
    """Whether every code span, link and image in ``piece`` ends in it, in
    the plain forms ``self_contained`` allows, and no bare URL (``://``,
    which linkify reads on, backticks and brackets included) is outside
    them."""
    inert: list[tuple[int, int]] = []  # code spans and destinations
    position = 0
    while (found := _CODE_OR_BRACKET.search(piece, position)) is not None:
        start = found.start()
        if found.group() == "`":
            position = _code_end(piece, start)
            if position < 0:
                return False
            inert.append((start, position))
            continue
        if found.group() == "]":
            return False
        # A link's (or an image's) text: code spans in it, no other bracket.
        inner = start + 1
        while True:
            found = _CODE_OR_BRACKET.search(piece, inner)
            if found is None or found.group() == "[":
                return False
            if found.group() == "]":
                break
            inner = _code_end(piece, found.start())
            if inner < 0 or "[" in piece[found.start() : inner] or "]" in piece[found.start() : inner]:
                return False
            inert.append((found.start(), inner))
        position = found.end()
        if piece.startswith("(", position):
            destination = _DESTINATION.match(piece, position + 1)
            if destination is None:
                return False
            inert.append((position, destination.end()))
            position = destination.end()
        elif piece.startswith("[", position):
            return False  # a full reference link: its label is read too
    start = piece.find("://")
    while start >= 0:
        if not any(begin < start and start + 3 <= end for begin, end in inert):
            return False
        start = piece.find("://", start + 1)
    return True


def sentence_cuts(line: str, closed: Callable[[str], bool], cuts: Sequence[int] = (0,)) -> list[int]:
    """Where a paragraph's inline text can be cut into sentences, each of
    which reads alone as it reads in the whole (``self_contained``); it then
    renders alone, and is completed alone.  ``closed`` tells whether a piece
    leaves emphasis or a code span open (as markdown-it pairs them:
    ``**2. `` has an even count and is open).  ``cuts``: cuts already known
    in a prefix of ``line`` that ends after the last one (the search goes on
    from the last)."""
    found = list(cuts)
    for end in _SENTENCE_END.finditer(line, found[-1]):
        if self_contained(line[found[-1] : end.end()], closed):
            found.append(end.end())
    return found


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

"""What an unfinished paragraph would most likely look like once finished.

The tail preview shows the text as it arrives.  A paragraph still being
typed leaves inline markup open (``**bo``), which markdown-it renders as
literal markers until the closer arrives: a flash of raw Markdown.  This
module reads which markup is open the way markdown-it itself does, then
edits the paragraph so that it renders in its final style:

* emphasis and strikethrough: markdown-it's own delimiter scan (left- and
  right-flanking runs, the rule of three) and its pairing
  (``balance_pairs.processDelimiters``) name the openers left unmatched;
  a closer is appended for each, innermost first;
* a code span: the first backtick run no later run of its length matches
  opens a code span that swallows the rest (backslash escapes respected);
  a run of its length closes it, before the emphasis it sits in;
* a link still being typed loses its brackets and destination: its text
  shows as plain text (nothing clickable) until it is complete; an image
  still being typed is left out (finished, it shows no text at all);
* a trailing HTML tag, comment or autolink not yet complete is left out (the
  sanitizer judges it once it is whole), as is a trailing run of markers
  that neither closes anything nor has text after it (``word **``).

The edits are made on the paragraph's inline text (container prefixes such
as ``> `` and list markers stripped, lines joined) and mapped back to the
source, so lazily continued lines and multi-line paragraphs are one unit.
Only the preview is edited; committed blocks never are.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import backtick, html_inline, image, link
from markdown_it.rules_inline import emphasis as emphasis_rule
from markdown_it.rules_inline import strikethrough as strikethrough_rule
from markdown_it.rules_inline.balance_pairs import processDelimiters
from markdown_it.rules_inline.state_inline import StateInline

from .render import starts_html_block
from .split import sentence_cuts

__all__ = ["Completer", "Edit", "last_paragraph"]

# Characters without which a paragraph's inline text has nothing to complete.
_SPECIAL = re.compile(r"[*_~`\[<\\]")
_MARKER_RUN = re.compile(r"[*_~]+\Z")
_BACKSLASHES = re.compile(r"\\+\Z")
_BACKTICKS = re.compile(r"`+\Z")
# What may follow ``<`` in a construct that is not complete yet: an open or
# closing tag (attributes half typed), a comment, a declaration, a processing
# instruction, CDATA, or an autolink (URL or e-mail address).
_ATTRIBUTE = r"""[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^\s"'=<>`]*|'[^']*'?|"[^"]*"?)?)?"""
_PARTIAL_HTML = re.compile(
    r"<(?:"
    rf"[A-Za-z][A-Za-z0-9-]*(?:\s+{_ATTRIBUTE})*\s*/?"
    r"|/(?:[A-Za-z][A-Za-z0-9-]*\s*)?"
    r"|!(?:-(?:-(?:(?!-->)[\s\S])*)?)?"
    r"|![A-Za-z][^>]*"
    r"|!\[(?:C(?:D(?:A(?:T(?:A(?:\[(?:(?!\]\]>)[\s\S])*)?)?)?)?)?)?"
    r"|\?(?:(?!\?>)[\s\S])*"
    r"|[A-Za-z][A-Za-z0-9.+-]{1,31}:[^\s<>]*"
    r"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+(?:@[A-Za-z0-9.-]*)?"
    r")?\Z"
)
# Text growth that cannot change what is open or how it closes, after a
# letter or digit (and maybe spaces): letters, digits, spaces, plain
# punctuation.
_INERT = re.compile(r"(?:[^\W_]|[ ,.;:?'])+")
_WORD_END = re.compile(r"[^\W_]")

# Lines around the paragraph being typed.
_BLANK = re.compile(r"[ \t>]*\Z")
_HEADING = re.compile(r"[ \t>]*#{1,6}(?:[ \t]|\Z)")
FENCE_OPENING = re.compile(r"[ \t>]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*(?:```|~~~)")
"""A line that opens a fence (possibly in a quote or list item), as ``match``es it."""
_BREAK = re.compile(r"[ \t>]*(?:(?:[-*_][ \t]*){3,}|=+[ \t]*|-+[ \t]*)\Z")
_ITEM = re.compile(r"[ \t>]*(?:[-+*]|\d{1,9}[.)])(?:[ \t]+|\Z)")
_QUOTE = re.compile(r"[ \t>]*")
_HEADING_MARK = re.compile(r"[ \t>]*#{1,6}(?:[ \t]+|\Z)")
_MAX_LINES = 40


@dataclass(frozen=True, slots=True)
class Edit:
    """How to show a paragraph's inline text: spans left out, closers added."""

    cuts: tuple[tuple[int, int], ...] = ()
    """``(start, end)`` spans of the text left out, in order."""
    closers: str = ""
    """Appended after what is kept (its trailing whitespace dropped, so that
    they close: a closer must follow a non-space)."""
    strip: bool = True
    """Whether trailing whitespace goes before the closers (not in code)."""
    whole: bool = True
    """Whether the text is kept to its end (no construct at its end is cut
    off), so that inert growth cannot change the edit."""


NO_EDIT = Edit()


@dataclass(slots=True)
class _Scan:
    """What one inline pass over a text found open."""

    state: StateInline
    open_code: list[tuple[int, int]] = field(default_factory=list)
    """Backtick runs no later run matched: ``(start, length)``."""
    brackets: list[int] = field(default_factory=list)
    """``[`` where the link rule failed."""
    images: set[int] = field(default_factory=set)
    """``!`` where the image rule failed."""
    angles: list[int] = field(default_factory=list)
    """``<`` where the autolink and HTML rules failed."""
    positions: dict[int, int] = field(default_factory=dict)
    """Token index of each emphasis or strikethrough marker -> its offset."""


def _scan(md: MarkdownIt, text: str, env: dict[str, Any]) -> _Scan:
    """markdown-it's inline tokenizer over ``text`` (its own rules, in its
    own order), noting where the rules that pair things failed, then its
    pairing of emphasis delimiters."""
    state = StateInline(text, md, env, [])
    scan = _Scan(state)
    rules = md.inline.ruler.getRules("")
    tokens = state.tokens
    end = state.posMax
    max_nesting = md.options["maxNesting"]
    while state.pos < end:
        pos = state.pos
        ok = False
        if state.level < max_nesting:
            for rule in rules:
                count = len(tokens)
                ok = rule(state, False)
                if ok:
                    if rule is backtick:
                        if len(tokens) == count or tokens[-1].type != "code_inline":
                            scan.open_code.append((pos, state.pos - pos))
                    elif rule is emphasis_rule.tokenize or rule is strikethrough_rule.tokenize:
                        offset, index = state.pos, len(tokens) - 1
                        while offset > pos:
                            offset -= len(tokens[index].content)
                            scan.positions[index] = offset
                            index -= 1
                    break
                char = text[pos]
                if rule is link and char == "[":
                    scan.brackets.append(pos)
                elif rule is image and char == "!":
                    scan.images.add(pos)
                elif rule is html_inline and char == "<":
                    scan.angles.append(pos)
        if ok:
            if state.pos >= end:
                break
            continue
        state.append_pending(text[pos])
        state.pos += 1
    processDelimiters(state, state.delimiters)
    return scan


def _label_end(text: str, start: int) -> int:
    """Where the bracket opened at ``start`` closes (-1 if it does not):
    brackets nest, backslash escapes and code spans are skipped roughly."""
    depth = 0
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _open_destination(rest: str) -> bool:
    """Whether ``rest`` (after a link's ``]``) is a destination or a
    reference label still being typed: ``(`` or ``[`` that nothing closes."""
    if not rest:
        return True
    if rest[0] == "[":
        return "]" not in rest
    if rest[0] != "(":
        return False
    depth = 0
    index = 0
    while index < len(rest):
        char = rest[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return False
        elif char == "\n" and index > 0 and rest[index - 1] == "\n":
            return False
        index += 1
    return True


def _matched_closers(scan: _Scan) -> set[int]:
    """Offsets of every character of the emphasis closers that matched."""
    delimiters = scan.state.delimiters
    tokens = scan.state.tokens
    found: set[int] = set()
    for opener in delimiters:
        if opener.end >= 0:
            index = delimiters[opener.end].token
            offset = scan.positions.get(index)
            if offset is not None:
                found.update(range(offset, offset + len(tokens[index].content)))
    return found


def _tail_cut(scan: _Scan, text: str, code: tuple[int, int] | None) -> int | None:
    """Where the text must end for what is at its end to show as it will
    (``None``: keep all of it)."""
    cuts: list[int] = []
    if code is not None:
        start, length = code
        content = text[start + length :]
        closing = _BACKTICKS.search(content)
        if closing is not None and len(closing.group()) < length:
            # Most likely its closer arriving: left out until it is whole.
            content = content[: closing.start()]
            cuts.append(start + length + closing.start())
        if not content.strip():
            cuts.append(start)  # nothing to show in it yet
        limit = start
    else:
        limit = len(text)
    for bracket in scan.brackets:
        if bracket >= limit:
            break
        close = _label_end(text, bracket)
        if bracket - 1 in scan.images and (close < 0 or _open_destination(text[close + 1 :])):
            cuts.append(bracket - 1)  # an image shows no text when finished: none before
        elif close >= 0 and _open_destination(text[close + 1 :]):
            cuts.append(close)
    if code is None:
        if scan.angles and _PARTIAL_HTML.match(text, scan.angles[-1]):
            cuts.append(scan.angles[-1])
        stripped = len(text.rstrip())
        run = _MARKER_RUN.search(text, 0, stripped)
        if run is not None:
            start = run.start()
            escapes = _BACKSLASHES.search(text, 0, start)
            if escapes is not None and len(escapes.group()) % 2:
                start += 1  # the first marker is escaped: text
            if start < run.end() and not _matched_closers(scan).intersection(range(start, run.end())):
                cuts.append(start)
        escapes = _BACKSLASHES.search(text, 0, stripped)
        if escapes is not None and len(escapes.group()) % 2:
            cuts.append(stripped - 1)
    return min(cuts) if cuts else None


def _closers(scan: _Scan, brackets: list[tuple[int, int]], end: int) -> tuple[str, list[tuple[int, int]]]:
    """Closers for the openers left unmatched, innermost first, and the
    openers to leave out instead: those with no text after them once the
    link brackets ``brackets`` are left out (``**[`` shows nothing yet).  An
    opener that could also have closed (``snake*case``) is most likely
    literal, and left alone."""
    tokens = scan.state.tokens
    openers = []
    for delimiter in scan.state.delimiters:
        if delimiter.open and delimiter.end == -1 and not delimiter.close:
            offset = scan.positions.get(delimiter.token)
            if offset is not None:
                openers.append((offset, len(tokens[delimiter.token].content), chr(delimiter.marker)))
    text = scan.state.src
    dropped: list[tuple[int, int]] = []
    bound = end
    while openers:
        offset, length, _ = openers[-1]
        after = offset + length
        shown = text[after:bound]
        for start, stop in brackets:
            if after <= start < bound:
                shown = shown.replace(text[start:stop], "", 1)
        if shown.strip(" \t\n*_~"):
            break
        dropped.insert(0, (offset, after))
        bound = offset
        openers.pop()
    closers = "".join(marker * 2 if marker == "~" else marker for _, _, marker in reversed(openers))
    return closers, dropped


def _open_brackets(scan: _Scan, text: str, limit: int) -> list[tuple[int, int]]:
    """``[`` of links whose text is still being typed (left out: the text shows plain)."""
    cuts = []
    for bracket in scan.brackets:
        if bracket >= limit:
            break
        if _label_end(text, bracket) < 0:
            cuts.append((bracket, bracket + 1))
    return cuts


def edit_inline(md: MarkdownIt, text: str, env: dict[str, Any]) -> Edit:
    """The edit that shows ``text`` (a paragraph's inline content, possibly
    unfinished) as it will most likely look once finished."""
    if not _SPECIAL.search(text):
        return NO_EDIT
    end = len(text)
    while True:
        kept = text[:end]
        scan = _scan(md, kept, env)
        code = scan.open_code[0] if scan.open_code else None
        cut = _tail_cut(scan, kept, code)
        if cut is None:
            break
        end = cut
    cuts = [] if end == len(text) else [(end, len(text))]
    if code is not None:
        start, length = code
        # The emphasis around the code span, as it reads with the span closed.
        outer = _scan(md, kept[: start + 1], env)
        content = kept[start + length :]
        closer = (" " if content.endswith("`") else "") + "`" * length
        whole = not cuts
        brackets = _open_brackets(outer, kept, start)
        closers, dropped = _closers(outer, brackets, start + 1)
        cuts[:0] = sorted(brackets + dropped)
        return Edit(tuple(cuts), closer + closers, whole=whole, strip=False)
    brackets = _open_brackets(scan, kept, end)
    closers, dropped = _closers(scan, brackets, end)
    cuts[:0] = sorted(brackets + dropped)
    if not cuts and not closers:
        return NO_EDIT
    return Edit(tuple(cuts), closers, whole=end == len(text))


def open_markup_closed(md: MarkdownIt, text: str, env: dict[str, Any]) -> bool:
    """Whether nothing in ``text`` can pair with markup after it: no
    emphasis opener or code span left open, no link or tag half typed."""
    if not _SPECIAL.search(text):
        return True
    scan = _scan(md, text, env)
    if scan.open_code or scan.angles:
        return False
    for bracket in scan.brackets:
        close = _label_end(text, bracket)
        if close < 0 or _open_destination(text[close + 1 :]):
            return False
    return not any(delimiter.open and delimiter.end == -1 for delimiter in scan.state.delimiters)


@dataclass(frozen=True, slots=True)
class Paragraph:
    """The inline text of the last paragraph of a source, and where each of
    its lines comes from."""

    text: str
    starts: tuple[int, ...]
    """Offset in ``text`` where each line starts."""
    origins: tuple[int, ...]
    """Offset in the source of each line's first character in ``text``."""
    end: int
    """Offset in the source where the paragraph ends."""
    html: bool
    """Whether it may be an HTML block (only a trailing tag is cut then)."""

    def source_offset(self, offset: int) -> int:
        line = bisect.bisect_right(self.starts, offset) - 1
        return self.origins[line] + offset - self.starts[line]


def last_paragraph(source: str) -> Paragraph | None:
    """The paragraph the source ends in (``None`` if it ends in something
    else: a blank line, a heading underline, an open fence, a table, an
    indented code block)."""
    end = len(source) - 1 if source.endswith("\n") else len(source)
    if end <= 0 or ("|" in source[source.rfind("\n", 0, end) + 1 : end]):
        return None
    if ("```" in source or "~~~" in source) and _inside_fence(source, end):
        return None
    lines: list[tuple[int, int, int]] = []  # (line start, content start, line end)
    line_end = end
    line_start = source.rfind("\n", 0, line_end) + 1
    first = True
    while True:
        line = source[line_start:line_end]
        if _BLANK.match(line) or "|" in line:
            break
        if FENCE_OPENING.match(line) or (not first and (_HEADING.match(line) or _BREAK.match(line))):
            break
        heading = _HEADING_MARK.match(line) if first else None
        item = _ITEM.match(line)
        prefix = heading or item or _QUOTE.match(line)
        assert prefix is not None
        lines.append((line_start, line_start + prefix.end(), line_end))
        first = False
        if heading or item or line_start == 0 or len(lines) >= _MAX_LINES:
            break
        line_end = line_start - 1
        line_start = source.rfind("\n", 0, line_end) + 1
    if not lines:
        return None
    lines.reverse()
    head_start, head_content, _ = lines[0]
    head = source[head_start:head_content]
    if not _ITEM.match(head) and len(head.expandtabs(4)) - len(head.lstrip(" \t").expandtabs(4)) >= 4:
        return None  # indented code (or a continuation the preview leaves alone)
    parts, starts, origins = [], [], []
    offset = 0
    for _, content, stop in lines:
        starts.append(offset)
        origins.append(content)
        parts.append(source[content:stop])
        offset += stop - content + 1
    html = starts_html_block(source[head_content : lines[0][2]])
    return Paragraph("\n".join(parts), tuple(starts), tuple(origins), end, html)


def _inside_fence(source: str, end: int) -> bool:
    """Whether ``source[:end]`` ends inside a fenced code block (roughly:
    an odd number of fence lines)."""
    count = 0
    start = 0
    while start < end:
        stop = source.find("\n", start, end)
        stop = end if stop < 0 else stop
        if FENCE_OPENING.match(source, start, stop):
            count += 1
        start = stop + 1
    return count % 2 == 1


class Completer:
    """Completes the last paragraph of a preview source; remembers its last
    answer, so that a paragraph growing by plain words costs no parsing.

    Only the paragraph's last sentence is read at each update: the text
    after its last cut (``split.sentence_cuts``), where nothing before can
    reach past (``split.self_contained``), is completed as if it were the
    whole paragraph, and the edit moved back in place.  markdown-it reads
    the paragraph as the sentences before that cut followed by the rest
    read alone, and every edit is made from what the rest holds (openers
    left open, brackets, tags and runs at its end): the sentences before
    close all they open and end in a space, so they add none."""

    def __init__(self, md: MarkdownIt) -> None:
        self._md = md
        self._last: tuple[str, int, Edit] | None = None
        self._closed: dict[tuple[str, int], bool] = {}
        self._cuts: tuple[str, int, list[int]] = ("", 0, [0])
        """The last paragraph text cut into sentences, the references' count then, its cuts."""

    def edit(self, text: str, references: Mapping[str, Any]) -> Edit:
        """The edit for a paragraph's inline text."""
        last = self._last
        if (
            last is not None
            and last[2].whole
            and last[1] == len(references)
            and text.startswith(last[0])
            and _WORD_END.fullmatch(last[0].rstrip()[-1:])
            and _INERT.fullmatch(text, len(last[0]))
        ):
            edit = last[2]
        else:
            edit = edit_inline(self._md, text, {"references": dict(references)})
        self._last = (text, len(references), edit)
        return edit

    def complete(self, source: str, references: Mapping[str, Any]) -> str:
        """``source`` with its last paragraph shown as it will most likely
        look once finished (only its last sentence read)."""
        paragraph = last_paragraph(source)
        if paragraph is None or not _SPECIAL.search(paragraph.text):
            return source
        start = self.last_sentence(paragraph.text, references)
        edit = self.edit(paragraph.text[start:], references)
        if start and edit is not NO_EDIT:
            edit = replace(edit, cuts=tuple((begin + start, end + start) for begin, end in edit.cuts))
        return _apply(source, paragraph, edit)

    def complete_whole(self, source: str, references: Mapping[str, Any]) -> str:
        """``complete``, reading the whole last paragraph."""
        paragraph = last_paragraph(source)
        if paragraph is None or not _SPECIAL.search(paragraph.text):
            return source
        return _apply(source, paragraph, self.edit(paragraph.text, references))

    def last_sentence(self, text: str, references: Mapping[str, Any]) -> int:
        """Where the last sentence of a paragraph's inline text starts: its
        last cut, found from the cuts of the previous text when it grew."""
        known, count, cuts = self._cuts
        if count != len(references) or not text.startswith(known[: cuts[-1] + 1]):
            cuts = [0]
        cuts = sentence_cuts(text, lambda piece: self.closed(piece, references), cuts)
        self._cuts = (text, len(references), cuts)
        return cuts[-1]

    def closed(self, text: str, references: Mapping[str, Any] | None = None) -> bool:
        """Whether ``text`` leaves no inline markup open, read with
        ``references`` (cached)."""
        key = (text, len(references) if references else 0)
        known = self._closed.get(key)
        if known is None:
            if len(self._closed) > 4096:
                self._closed.clear()
            known = self._closed[key] = open_markup_closed(self._md, text, {"references": dict(references or {})})
        return known


def _apply(source: str, paragraph: Paragraph, edit: Edit) -> str:
    """``source`` with ``edit`` made to its last paragraph."""
    if paragraph.html:
        edit = Edit(tuple(cut for cut in edit.cuts if cut[1] == len(paragraph.text)), "")
    if edit is NO_EDIT or (not edit.cuts and not edit.closers):
        return source
    pieces = []
    position = 0
    for start, stop in edit.cuts:
        begin = paragraph.source_offset(start)
        pieces.append(source[position:begin])
        position = paragraph.end if stop >= len(paragraph.text) else paragraph.source_offset(stop)
    pieces.append(source[position : paragraph.end])
    body = "".join(pieces)
    if edit.closers:
        body = (body.rstrip() if edit.strip else body) + edit.closers
    return body + source[paragraph.end :]

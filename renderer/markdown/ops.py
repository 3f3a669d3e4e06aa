"""Ops: what the engine emits, and the reference assembler that applies them.

An answer is shown as two parts: the *committed* HTML, which only ever grows,
and the *tail*, the in-progress preview that each update may change.

======== ================================================================
kind     effect
======== ================================================================
block    append ``html`` to the committed part
tail     replace the tail with ``html`` (``""`` clears it)
replace  replace everything with ``html``; the tail becomes ``""``
append   insert ``html`` into the tail just before its trailing run of end
         tags, i.e. as the last children of the tail's innermost open
         element; the html may start with end tags that step out of that
         element first (see :func:`apply_append`)
commit   the tail, as it is, becomes committed; the tail becomes ``""``
======== ================================================================

``append`` and ``commit`` exist so that a growing code block, list or table
costs bytes in proportion to what is new, not to its whole size.

:class:`Tail` is this table as code, written once: whoever keeps an answer
(the reference :class:`Document`, a stream store, a store's reader) applies
ops through it.  It keeps the tail and says what each op does to the
committed part, which a store keeps as a log: a ``commit`` is logged as the
``block`` it made, since a reader resuming later may not hold the tail it
promoted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "OP_KINDS",
    "Document",
    "Op",
    "OpKind",
    "Part",
    "Tail",
    "apply_append",
    "assemble",
    "assemble_parts",
    "diff_tail",
    "split_open",
]

OpKind = Literal["block", "tail", "replace", "append", "commit"]
OP_KINDS: frozenset[str] = frozenset({"block", "tail", "replace", "append", "commit"})

HTML_WHITESPACE = " \t\n\f\r"
VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)

_END_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9]*)>")
_END_TAG_UNIT = re.compile(r"</([A-Za-z][A-Za-z0-9]*)>[ \t\n\f\r]*")
# A tag of serialized (well-formed, sanitized) HTML; attribute values may
# hold ``>`` inside quotes.
_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9]*)"
    r"(?:\s+[^\s\"'>/=]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*\s*/?>"
)


@dataclass(frozen=True, slots=True)
class Op:
    """One change to an answer's HTML."""

    kind: OpKind
    """Which change; see the module docstring."""
    html: str = ""
    """Sanitized HTML the change carries (empty for ``commit``)."""


def split_open(html: str) -> tuple[str, str]:
    """Split ``html`` into its body and the run of end tags that closes it.

    Scans from the end (a regex anchored at the end would rescan the whole
    tail at every update)."""
    start = end = len(html)
    while True:
        end = len(html[:end].rstrip(HTML_WHITESPACE))
        opening = html.rfind("</", 0, end)
        if opening < 0 or not _END_TAG.fullmatch(html, opening, end):
            return html[:start], html[start:]
        start = end = opening


def _units(run: str) -> list[tuple[str, str]]:
    """The end tags of a trailing run, innermost first, each with the
    whitespace after it: ``[("code", "</code>"), ("pre", "</pre>\\n")]``."""
    return [(match.group(1).lower(), match.group()) for match in _END_TAG_UNIT.finditer(run)]


def _unclosed(html: str) -> list[str] | None:
    """The elements ``html`` opens and leaves open, outermost first; ``None``
    if it closes an element it did not open."""
    opened: list[str] = []
    for tag in _TAG.finditer(html):
        name = tag.group(2).lower()
        if tag.group(1):
            if not opened or opened[-1] != name:
                return None
            opened.pop()
        elif name not in VOID_ELEMENTS and not tag.group().endswith("/>"):
            opened.append(name)
    return opened


def apply_append(tail: str, html: str) -> str:
    """The tail after ``append`` of ``html``; ``ValueError`` if it does not fit.

    ``html`` is inserted before the tail's trailing run of end tags.  It may
    start with end tags, each closing the tail's innermost open element
    (whitespace between them is text of the element stepped into); the rest
    may leave elements open, which the new trailing run closes.  A client does
    the same by moving up one element per leading end tag, then parsing the
    rest in an inert template and appending its nodes there.  This covers a
    ``**bold**`` that ends (``</strong> and``), a new list item
    (``</li>\\n<li>b``) or table row, and text that grows inside a new element.
    """
    body, run = split_open(tail)
    units = _units(run)
    popped = 0
    rest = html
    while (match := _END_TAG.match(rest)) is not None:
        if popped == len(units) or units[popped][0] != match.group(1).lower():
            raise ValueError(f"append closes {match.group()!r}, which is not open there")
        if units[popped][1] != match.group():
            # Whitespace after the end tag would move in the string but not in
            # a DOM (where it is a node of its own): not expressible as append.
            raise ValueError(f"append closes {match.group()!r}, which is followed by whitespace")
        popped += 1
        rest = rest[match.end() :]
        stripped = rest.lstrip(HTML_WHITESPACE)
        if not stripped.startswith("</"):
            break
        rest = stripped
    opened = _unclosed(rest)
    if opened is None:
        raise ValueError("append closes an element inside it that it did not open")
    # Elements re-opened where they were closed keep their end tag's
    # whitespace (``</li>\\n``); new ones are closed without any.
    reopened = list(reversed(units[:popped]))
    closing = [
        reopened[index][1] if index < len(reopened) and reopened[index][0] == name else f"</{name}>"
        for index, name in enumerate(opened)
    ]
    return body + html + "".join(reversed(closing)) + "".join(unit for _, unit in units[popped:])


def _pieces(html: str) -> list[str]:
    """Cut appended html before each end tag that closes an element opened
    outside it, so that every piece starts with its closing end tags."""
    pieces: list[str] = []
    start = depth = 0
    leading_end = 0  # where the piece's run of leading end tags ends, if still in it
    for tag in _TAG.finditer(html):
        in_leading = leading_end >= 0 and not html[leading_end : tag.start()].strip(HTML_WHITESPACE)
        if tag.group(1) and depth == 0:
            if not in_leading:
                pieces.append(html[start : tag.start()])
                start = tag.start()
            leading_end = tag.end()
            continue
        leading_end = -1
        if tag.group(1):
            depth -= 1
        elif tag.group(2).lower() not in VOID_ELEMENTS and not tag.group().endswith("/>"):
            depth += 1
    pieces.append(html[start:])
    return [piece for piece in pieces if piece]


def diff_tail(old: str, new: str) -> list[Op]:
    """The ops that turn the tail ``old`` into ``new``: ``append`` ops when the
    new tail only adds at the old one's innermost open elements, else a ``tail``."""
    if new == old:
        return []
    old_body, _ = split_open(old)
    if old and new.startswith(old_body):
        ops = [Op("append", piece) for piece in _pieces(new[len(old_body) : len(split_open(new)[0])])]
        tail = old
        try:
            for op in ops:
                tail = apply_append(tail, op.html)
        except ValueError:
            pass
        if ops and tail == new:
            return ops
    return [Op("tail", new)]


class Tail:
    """An answer's in-progress tail, and what each op does to the answer.

    Holds only the tail: the committed part is the caller's to keep (a
    ``Document`` joins it; a store keeps it as a log of ops), so ``apply``
    returns what the op does to it.
    """

    __slots__ = ("html",)

    def __init__(self, html: str = "") -> None:
        self.html = html
        """The tail's current HTML (``""``: no tail)."""

    def apply(self, kind: str, html: str) -> Op | None:
        """Apply one op to the tail; returns what it does to the committed
        part, as a ``block`` (append) or ``replace`` op, or ``None`` when only
        the tail changed.  A ``commit`` returns the ``block`` it made.

        An unknown kind, or an ``append`` that does not fit the tail, is a
        ``ValueError`` and leaves the tail as it was."""
        if kind == "tail":
            self.html = html
        elif kind == "append":
            self.html = apply_append(self.html, html)
        elif kind == "block":
            return Op("block", html)
        elif kind == "commit":
            block, self.html = self.html, ""
            return Op("block", block)
        elif kind == "replace":
            self.html = ""
            return Op("replace", html)
        else:
            raise ValueError(f"unknown op kind: {kind!r}")
        return None


class Document:
    """Applies ops in order, as a client does: the reference semantics."""

    def __init__(self) -> None:
        self._committed: list[str] = []
        self._tail = Tail()

    @property
    def committed(self) -> str:
        """The HTML that no later op (but ``replace``) changes."""
        if len(self._committed) > 1:
            self._committed = ["".join(self._committed)]
        return self._committed[0] if self._committed else ""

    @property
    def tail(self) -> str:
        """The in-progress tail."""
        return self._tail.html

    @property
    def html(self) -> str:
        """What the answer shows now: committed plus tail."""
        return self.committed + self.tail

    def apply(self, op: Op) -> None:
        """Apply one op; an unknown kind is a ``ValueError``."""
        done = self._tail.apply(op.kind, op.html)
        if done is None:
            return
        if done.kind == "replace":
            self._committed = [done.html]
        else:
            self._committed.append(done.html)


def _as_op(item: Op | Mapping[str, str]) -> Op | None:
    """An op, or an SSE event dict ``{"event": kind, "data": html}``; events
    that carry no HTML (``error``, ``done``, ``part``) give ``None``."""
    if isinstance(item, Op):
        return item
    kind = item.get("event", "message")
    if kind not in OP_KINDS:
        return None
    return Op(kind, item.get("data", ""))  # type: ignore[arg-type]


@dataclass(slots=True)
class Part:
    """One part of an answer as :func:`assemble_parts` builds it."""

    kind: str
    """``answer``, ``reasoning``, ``tool_call``, ``refusal`` or ``notice``."""
    html: str
    """Its HTML, committed + tail."""
    meta: dict[str, Any] = field(default_factory=dict)
    """The rest of its ``part`` event (``part`` number, ``name`` and ``id`` of a tool call, ``at``)."""


def assemble_parts(ops: Iterable[Op | Mapping[str, str]]) -> list[Part]:
    """The parts that events build: each ``part`` event (data
    ``{"part": n, "kind": ...}``) opens the next part, and ops apply to the
    part open last.  Ops before any ``part`` event build an ``answer`` part."""
    parts: list[tuple[str, dict[str, Any], Document]] = []
    for item in ops:
        if not isinstance(item, Op) and item.get("event") == "part":
            meta = json.loads(item.get("data", "{}"))
            parts.append((str(meta.pop("kind", "answer")), meta, Document()))
            continue
        op = _as_op(item)
        if op is None:
            continue
        if not parts:
            parts.append(("answer", {"part": 0}, Document()))
        parts[-1][2].apply(op)
    return [Part(kind, document.html, meta) for kind, meta, document in parts]


def assemble(ops: Iterable[Op | Mapping[str, str]]) -> str:
    """The HTML that ``ops`` (or SSE events as dicts) build, committed +
    tail: the answer text's, when the events have parts (see
    :func:`assemble_parts`)."""
    return "".join(part.html for part in assemble_parts(ops) if part.kind == "answer")

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
         element first (see :func:`appendable`)
commit   the tail, as it is, becomes committed; the tail becomes ``""``
======== ================================================================

``append`` and ``commit`` exist so that a growing code block, list or table
costs bytes in proportion to what is new, not to its whole size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Document", "Op", "OpKind", "appendable", "assemble", "diff_tail", "split_open"]

OpKind = Literal["block", "tail", "replace", "append", "commit"]
OP_KINDS: frozenset[str] = frozenset({"block", "tail", "replace", "append", "commit"})

HTML_WHITESPACE = " \t\n\f\r"
VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)

# The end tags (and the whitespace between them) that close a serialized
# fragment: ``</code></pre>\n``.  It must start with ``</`` so that trailing
# whitespace *inside* the innermost element stays part of the body.
_TRAILING_END_TAGS = re.compile(r"(?:</[A-Za-z][A-Za-z0-9]*>[ \t\n\f\r]*)+\Z")
_END_TAG = re.compile(r"</([A-Za-z][A-Za-z0-9]*)>")
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
    """Split ``html`` into its body and the run of end tags that closes it."""
    match = _TRAILING_END_TAGS.search(html)
    if match is None:
        return html, ""
    return html[: match.start()], match.group()


def _open_stack(run: str) -> list[str]:
    """The elements a trailing run closes, outermost first."""
    return [name.lower() for name in reversed(_END_TAG.findall(run))]


def appendable(html: str, run: str) -> bool:
    """Whether ``append`` of ``html`` to a tail closed by ``run`` means the same
    in a DOM as inserting the string.

    The html may first step out of open elements with end tags (whitespace
    between them is text in the element stepped into); what remains must
    re-open exactly the elements it stepped out of and close everything else
    it opens, so that the tail's trailing run is unchanged.  This is what a
    new list item (``</li>\\n<li>b``) or table row looks like.
    """
    stack = _open_stack(run)
    popped: list[str] = []
    rest = html
    while (match := _END_TAG.match(rest)) is not None:
        name = match.group(1).lower()
        if not stack or stack[-1] != name:
            return False
        popped.append(stack.pop())
        rest = rest[match.end() :]
        stripped = rest.lstrip(HTML_WHITESPACE)
        if stripped.startswith("</"):
            rest = stripped  # the whitespace is text of the element stepped into
    opened: list[str] = []
    for tag in _TAG.finditer(rest):
        closing, name = tag.group(1), tag.group(2).lower()
        if closing:
            if not opened or opened[-1] != name:
                return False
            opened.pop()
        elif name not in VOID_ELEMENTS and not tag.group().endswith("/>"):
            opened.append(name)
    return opened == popped[::-1]


def diff_tail(old: str, new: str) -> list[Op]:
    """The ops that turn the tail ``old`` into ``new``: an ``append`` when the
    new tail only adds to the old one's innermost open element, else a ``tail``."""
    if new == old:
        return []
    old_body, old_run = split_open(old)
    new_body, new_run = split_open(new)
    if old and old_run == new_run and new_body.startswith(old_body):
        added = new_body[len(old_body) :]
        if appendable(added, old_run):
            return [Op("append", added)]
    return [Op("tail", new)]


class Document:
    """Applies ops in order, as a client does: the reference semantics."""

    def __init__(self) -> None:
        self._committed: list[str] = []
        self.tail = ""

    @property
    def committed(self) -> str:
        """The HTML that no later op (but ``replace``) changes."""
        if len(self._committed) > 1:
            self._committed = ["".join(self._committed)]
        return self._committed[0] if self._committed else ""

    @property
    def html(self) -> str:
        """What the answer shows now: committed plus tail."""
        return self.committed + self.tail

    def apply(self, op: Op) -> None:
        """Apply one op; an unknown kind is a ``ValueError``."""
        kind, html = op.kind, op.html
        if kind == "block":
            self._committed.append(html)
        elif kind == "tail":
            self.tail = html
        elif kind == "replace":
            self._committed = [html]
            self.tail = ""
        elif kind == "append":
            body, run = split_open(self.tail)
            self.tail = body + html + run
        elif kind == "commit":
            self._committed.append(self.tail)
            self.tail = ""
        else:
            raise ValueError(f"unknown op kind: {kind!r}")


def _as_op(item: Op | Mapping[str, str]) -> Op | None:
    """An op, or an SSE event dict ``{"event": kind, "data": html}``; events
    that carry no HTML (``error``, ``done``) give ``None``."""
    if isinstance(item, Op):
        return item
    kind = item.get("event", "message")
    if kind not in OP_KINDS:
        return None
    return Op(kind, item.get("data", ""))  # type: ignore[arg-type]


def assemble(ops: Iterable[Op | Mapping[str, str]]) -> str:
    """The HTML that ``ops`` (or SSE events as dicts) build, committed + tail."""
    document = Document()
    for item in ops:
        op = _as_op(item)
        if op is not None:
            document.apply(op)
    return document.html

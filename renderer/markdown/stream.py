"""MarkdownStream: the incremental engine, Markdown chunks in, ops out.

The text not yet committed (``pending``) is examined at each flush and
whenever a blank line completes: the blocks that no further input can change
(see ``_commit``) are rendered and sanitized once and sent as ``block`` ops
(a tight list from the items its preview rendered,
``TailPreview.whole_list``).  What is left is the tail, previewed at each
flush (``_tail.TailPreview``) and sent as ``append`` ops when it only grew
(the common case), else as a whole ``tail``.

An open fenced code block at the head of the pending text is handled line by
line: its complete lines are final, so each costs only its own escaping.
When the closing fence arrives the tail is brought up to the final HTML by
appends and promoted with ``commit``; when appends cannot get there (a
highlighted language), the tail is cleared with ``tail ""`` and the block is
sent whole, so a client never moves thousands of highlighted nodes.

A reference definition that arrives after a committed link used its label
re-renders the committed blocks that looked the label up in vain and sends
the whole answer once as ``replace``.  LLM answers rarely do this (footnote
style links at the end); the cost is one full render when they do.  A hostile
answer that defines its labels one by one, each after more text, would make
that quadratic (every definition re-sending everything): a ``replace`` is
sent at once only while the replaces sent so far stay under a quarter of the
committed HTML (``REPLACE_SHARE``), else it waits for more text or for
``close``.  The replaces sent while streaming then add up to at most 1.25x
the final HTML, plus at most one at ``close``: 2.25x the final HTML whatever
the input (``tests/test_engine.py``), and the stale regions are re-rendered
only when a replace is sent.

The tail has a budget of the same kind.  A preview that only grew costs its
new bytes (``append``), but one that changed before its end (a link whose
text was shown plain, inline HTML) is sent again whole as ``tail``: a
hostile paragraph (hundreds of links on one line) fed a few characters at a
time would send itself again at every chunk, quadratic.  A whole ``tail`` is
sent only while the whole tails sent so far, this one included, stay under
twice the committed HTML plus this tail, plus 4 KB so that a short answer
keeps every update (``TAIL_SHARE``, ``TAIL_ALLOWANCE``); else it waits
until the answer has grown enough.  The whole tails then add up to about
twice the final HTML plus 4 KB, sent at sizes that grow geometrically
rather than at every chunk.  A preview is only a preview, so skipping one is safe: the reader
keeps the previous one (of an earlier text: nothing the text did not say),
or an empty tail if a block was committed from it meanwhile, and ``close``
still converges.  ``append`` ops are always sent.

Footnotes (chat configuration) are numbered in the order of their first
reference and listed at the end of the answer, so they are settled at
``close``: the list of footnotes is sent as the last ``block``, or, when a
reference came before its definition (and so was committed as text), the
whole answer is sent once as ``replace``.

A container tag written around Markdown (``<details>`` ... ``</details>``)
is one block (``.containers``): nothing in it is committed before its end
tag, and it is previewed whole meanwhile.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt

from ..sanitizer.clean import DEFAULT_SANITIZER, escape_text
from .commit import Block, final_lines, open_fence, top_level_spans
from .containers import container_groups
from .ops import Op, diff_tail
from .render import References, code_html, default_parser, fence_language, render_blocks, render_markdown
from .split import find_split, list_head
from .tail import TailPreview

__all__ = ["DEFAULT_INTERVAL", "PREVIEW_BUDGET", "REPLACE_SHARE", "TAIL_ALLOWANCE", "TAIL_SHARE", "MarkdownStream"]

DEFAULT_INTERVAL = 0.1
"""Seconds between two re-renders of the tail: ten updates a second look
fluid and keep the cost of previews well below the cost of the text."""

PREVIEW_BUDGET = 1024
"""Characters of pending text a preview may re-render at the full update rate;
a larger tail (a long list or table) is re-rendered proportionally less often,
so that previews cost a bounded amount of CPU per second whatever its size."""

REPLACE_SHARE = 0.25
"""A ``replace`` is sent while streaming only if the replaces already sent are
at most this share of the committed HTML; otherwise it is deferred."""

TAIL_SHARE = 2.0
"""A preview is sent as a whole ``tail`` only if the whole tails sent so far,
this one included, stay under this multiple of the committed HTML plus this
tail (plus ``TAIL_ALLOWANCE``); otherwise it is deferred (``append`` ops are
always sent)."""

TAIL_ALLOWANCE = 4096
"""Characters of whole ``tail`` previews allowed beyond ``TAIL_SHARE``: a short
answer (or the start of one, when nothing is committed yet) is not held back."""


@dataclass(slots=True)
class _Region:
    """A committed piece of source and the HTML of its top-level blocks."""

    text: str
    html: list[str]
    missed: set[str]
    """Labels its links looked up that were not defined yet."""
    stale: bool = False
    """A label it missed is now defined: re-rendered at the next ``replace``."""


@dataclass(slots=True)
class _OpenFence:
    """A fenced code block at the head of the pending text, still open."""

    opening: str
    """Its opening line, to ask the parser whether a line closes it."""
    marker: str
    indent: int
    prefix: str
    suffix: str
    scanned: int
    """Offset in the pending text of its first line not yet read."""
    body: list[str] = field(default_factory=list)
    """The escaped content of its complete lines."""

    @classmethod
    def at(cls, md: MarkdownIt, pending: str, info: str, markup: str) -> _OpenFence:
        opening = pending[: pending.index("\n")]
        empty = code_html("", fence_language(info))
        split = empty.index("</code>")
        return cls(
            opening=opening,
            marker=markup[0],
            indent=len(opening) - len(opening.lstrip(" ")),
            prefix=empty[:split],
            suffix=empty[split:],
            scanned=len(opening) + 1,
        )

    def may_close(self, line: str) -> bool:
        return line.lstrip(" \t").startswith(self.marker)

    def content(self, md: MarkdownIt, line: str) -> str | None:
        """The content a complete line adds, or ``None`` if it closes the fence."""
        if self.indent == 0 and not self.may_close(line):
            return line + "\n"
        tokens = md.block.parse(f"{self.opening}\n{line}\n", md, {"references": {}}, []) or []
        return tokens[0].content or None

    def html(self, partial: str) -> str:
        shown = "" if self.indent or self.may_close(partial) else escape_text(partial)
        return self.prefix + "".join(self.body) + shown + self.suffix


def _outside_containers(final: int, blocks: list[Block]) -> int:
    """``final`` moved back to the start of a container it falls inside (or
    that is still open), so that a container is committed whole."""
    for first, last in container_groups([block.token for block in blocks], at_end=False):
        start = blocks[first].start
        if start < final and (last is None or final < blocks[last - 1].end):
            final = start
    return final


class MarkdownStream:
    """Incremental Markdown renderer for one answer.

    ``feed`` and ``close`` return ops (see :mod:`renderer.markdown.ops`); applied in
    order they converge to exactly ``render_markdown`` of the whole text.

    The tail is re-rendered at most every ``interval`` seconds of ``clock``
    (less often for a tail over ``PREVIEW_BUDGET`` characters; ``interval``
    may be a function, asked at each feed: a server paces its answers by the
    load, ``renderer.server.pacing``); chunks fed
    in between are only buffered (``feed`` returns ``[]``), and a caller whose
    source goes quiet calls ``flush`` to show what it has.  ``interval=0``
    renders at every feed.  ``sanitizer`` (default: the bleach policy) is
    the gate all HTML passes; give ``render_markdown`` the same one for the
    two to agree.
    """

    def __init__(
        self,
        *,
        interval: float | Callable[[], float] = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        parser: MarkdownIt | None = None,
        sanitizer: Callable[[str], str] | None = None,
    ) -> None:
        self._md = parser or default_parser()
        self._sanitize = sanitizer or DEFAULT_SANITIZER
        self._interval = interval if callable(interval) else lambda: interval
        self._clock = clock
        self._last_flush = -math.inf
        self._pending = ""
        self._incoming: list[str] = []
        self._incoming_size = 0
        self._last_char = ""
        """The last character fed (a blank line may be completed across chunks)."""
        self._carriage_return = False
        self._scanned = 0
        self._fence: _OpenFence | None = None
        self._tail = ""
        self._tail_preview = TailPreview(self._md, self._sanitize)
        self._regions: list[_Region] = []
        self._references = References()
        self._env: dict[str, Any] = {"references": self._references, "footnote_section": False}
        self._closed = False
        self._committed_size = 0
        """Characters of committed HTML (as last rendered)."""
        self._replaced = 0
        """Characters sent in ``replace`` ops so far."""
        self._stale = False
        """A ``replace`` is owed (deferred by ``REPLACE_SHARE``)."""
        self._tails_sent = 0
        """Characters sent in whole ``tail`` previews so far (see ``TAIL_SHARE``)."""

    def feed(self, chunk: str) -> list[Op]:
        """Add text; returns the ops it causes (none while coalescing)."""
        if self._closed:
            raise RuntimeError("feed() after close()")
        if self._carriage_return or "\r" in chunk or "\0" in chunk:
            chunk = self._normalize(chunk)
        ends_block = self._ends_block(chunk)
        self._incoming.append(chunk)
        self._incoming_size += len(chunk)
        self._last_char = chunk[-1:] or self._last_char
        if self._interval_over():
            return self.flush()
        if ends_block:
            ops = self._commit_final()
            return ops + self._update_tail(committed=True) if ops else ops
        if "\n" in chunk and self._fence is None:
            self._take_incoming()  # a pending list's items are rendered as they complete (other text: nothing)
            self._tail_preview.render_complete_items(self._pending, self._references)
        return []

    @property
    def backlog(self) -> int:
        """Characters not committed yet: what the next flush re-renders."""
        return len(self._pending) + self._incoming_size

    def due(self, chunk: str = "") -> bool:
        """Whether feeding ``chunk`` may render (else it is only buffered)."""
        return self._interval_over() or self._ends_block(chunk)

    def _interval_over(self) -> bool:
        return self._clock() - self._last_flush >= self._wait()

    def _ends_block(self, chunk: str) -> bool:
        """Whether ``chunk`` completes a blank line: what precedes it is
        committed now, whatever the interval, so that committing an answer
        is spread over its blocks rather than left to its end (when many
        answers end together, that would be one burst of work)."""
        return "\n" in chunk and "\n\n" in self._last_char + chunk

    def _wait(self) -> float:
        """How long after a flush the next one waits: longer for a large tail
        (an open code block is cheap to update, whatever its size)."""
        if self._fence is not None:
            return self._interval()
        return self._interval() * max(1.0, (len(self._pending) + self._incoming_size) / PREVIEW_BUDGET)

    def _take_incoming(self) -> None:
        """Move buffered chunks into the pending text (joined once per flush:
        adding to a long string at every chunk would copy it every time)."""
        if self._incoming:
            self._pending += "".join(self._incoming)
            self._incoming.clear()
            self._incoming_size = 0

    def flush(self) -> list[Op]:
        """Commit what is final and bring the tail up to date now."""
        ops = self._commit_final()
        return ops + self._update_tail(committed=bool(ops))

    def _commit_final(self) -> list[Op]:
        """Take the buffered text and commit the blocks now final."""
        self._take_incoming()
        ops: list[Op] = []
        while self._advance(ops):
            pass
        return ops

    def _update_tail(self, *, committed: bool) -> list[Op]:
        """Re-render the tail; the ops that bring the client's up to date
        (``committed``: blocks were just committed from what it previewed)."""
        self._last_flush = self._clock()
        tail = self._preview()
        ops = diff_tail(self._tail, tail)
        if ops and ops[0].kind == "tail" and tail:
            if self._tails_sent + len(tail) > TAIL_SHARE * (self._committed_size + len(tail)) + TAIL_ALLOWANCE:
                # Deferred (see TAIL_SHARE): the reader keeps the preview of an
                # earlier text, or none if a block was committed from it since.
                self._tail_preview.forget_tail()  # its next preview starts afresh
                if not committed or not self._tail:
                    return []
                ops, tail = [Op("tail", "")], ""
            else:
                self._tails_sent += len(tail)
        self._tail = tail
        return ops

    def close(self) -> list[Op]:
        """End of input: everything left becomes committed; the tail is ``""``."""
        if self._closed:
            return []
        self._closed = True
        self._take_incoming()
        if self._carriage_return:
            self._pending += "\n"
        ops: list[Op] = []
        # Everything left is final: one render, without first asking which
        # blocks are (answers often end together: this is their last burst).
        text, self._pending, self._fence = self._pending, "", None
        self._commit(text, ops, from_tail=True)
        self._replace(ops, final=True)  # late reference definitions still owed
        self._settle_footnotes(ops)
        return ops

    def _settle_footnotes(self, ops: list[Op]) -> None:
        """Send the list of footnotes, or the whole answer if a reference
        was committed before its definition arrived (a ``replace``)."""
        footnotes = self._env.get("footnotes")
        if not footnotes or not (footnotes.get("list") or footnotes.get("refs")):
            return
        sent = "".join(part for region in self._regions for part in region.html)
        whole = render_markdown(
            "".join(region.text for region in self._regions), parser=self._md, sanitizer=self._sanitize
        )
        if whole.startswith(sent):
            ops += [Op("block", whole[len(sent) :])] if len(whole) > len(sent) else []
        else:
            ops.append(Op("replace", whole))

    def _normalize(self, chunk: str) -> str:
        """Newlines and NUL as markdown-it normalizes them; a CR at the end of a
        chunk waits for the next one, which may start with its LF."""
        if self._carriage_return:
            chunk = "\r" + chunk
        self._carriage_return = chunk.endswith("\r")
        if self._carriage_return:
            chunk = chunk[:-1]
        return chunk.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")

    def _advance(self, ops: list[Op]) -> bool:
        """One step: commit final blocks or enter/leave an open fence.
        Returns whether it made progress (so the caller loops)."""
        if self._fence is not None:
            return self._advance_fence(ops)
        complete = self._pending.rfind("\n") + 1
        if complete <= self._scanned:
            return False
        self._scanned = complete
        source = self._pending[:complete]
        lines = source.split("\n")[:-1]
        tokens = self._md.block.parse(source, self._md, {"references": {}}, []) or []
        blocks = top_level_spans(tokens)
        final = _outside_containers(final_lines(blocks, lines), blocks)
        self._tail_preview.split = find_split(tokens, blocks, lines) if not final else None
        fence = open_fence(blocks, len(lines)) if not final else None
        if fence is not None:
            final = fence.start
            if final == 0:
                self._fence = _OpenFence.at(self._md, self._pending, fence.token.info, fence.token.markup)
                return True
        if not final:
            return False
        offset = sum(len(line) + 1 for line in lines[:final])
        self._commit(self._pending[:offset], ops)
        self._pending, self._scanned = self._pending[offset:], 0
        self._tail_preview.forget_pieces()
        return True

    def _advance_fence(self, ops: list[Op]) -> bool:
        """Read the open fence's new complete lines; commit it when one closes it."""
        fence = self._fence
        assert fence is not None
        while (newline := self._pending.find("\n", fence.scanned)) >= 0:
            content = fence.content(self._md, self._pending[fence.scanned : newline])
            fence.scanned = newline + 1
            if content is None:
                text, self._pending = self._pending[: fence.scanned], self._pending[fence.scanned :]
                self._fence, self._scanned = None, 0
                self._commit(text, ops, from_tail=True)
                return True
            fence.body.append(escape_text(content))
        return False

    def _preview(self) -> str:
        """The tail's HTML: an open fence's own, or the pending text's preview."""
        if self._fence is not None:
            partial = self._pending.rfind("\n") + 1
            return self._fence.html(self._pending[max(partial, self._fence.scanned) :])
        return self._tail_preview.html(self._pending, self._references, self._tail)

    def _commit(self, text: str, ops: list[Op], *, from_tail: bool = False) -> None:
        """Render and sanitize ``text`` once and commit it: as ``block`` ops, or,
        ``from_tail``, by bringing the tail up to it and promoting it.  A
        tight list whose items the preview has rendered is assembled from
        them (``TailPreview.whole_list``)."""
        known = len(self._references)
        self._references.missed = set()
        head, rest = list_head(text)
        whole = self._tail_preview.whole_list(head, self._references) if head else None
        if whole is not None:
            html = [self._sanitize(whole)]
            html += self._render(rest) if rest else []
            missed = self._tail_preview.missed | self._references.missed
        else:
            html = self._render(text)
            missed = self._references.missed
        self._regions.append(_Region(text, html, missed))
        self._committed_size += sum(map(len, html))
        if from_tail:
            grown = diff_tail(self._tail, "".join(html))
            if self._tail and all(op.kind == "append" for op in grown):
                ops += [*grown, Op("commit")]  # the tail needed at most its last bytes
            else:
                # Sent whole, as blocks: a client need not move the tail's nodes
                # (a highlighted code block can be thousands of them).
                ops += [Op("tail", "")] if self._tail else []
                ops += [Op("block", part) for part in html if part]
            self._tail = ""
            self._tail_preview.forget_tail()
        else:
            ops += [Op("block", part) for part in html if part]
        if len(self._references) > known:
            self._refresh(set(list(self._references)[known:]))
        self._replace(ops)

    def _render(self, text: str) -> list[str]:
        """The HTML of ``text``'s top-level blocks, each sanitized."""
        return render_blocks(self._md, self._md.parse(text, self._env), self._env, self._sanitize)

    def _refresh(self, labels: set[str]) -> None:
        """Mark the committed regions that missed one of the new ``labels``."""
        for region in self._regions[:-1]:
            if not region.stale and region.missed & labels:
                region.stale = self._stale = True

    def _replace(self, ops: list[Op], *, final: bool = False) -> None:
        """Re-render the stale regions and send the whole answer as ``replace``,
        if one is owed and (unless ``final``) the budget allows it now."""
        if not self._stale or (not final and self._replaced > REPLACE_SHARE * self._committed_size):
            return
        for region in self._regions:
            if region.stale:
                self._references.missed = set()
                size = sum(map(len, region.html))
                region.html = self._render(region.text)
                region.missed, region.stale = self._references.missed, False
                self._committed_size += sum(map(len, region.html)) - size
        html = "".join(part for region in self._regions for part in region.html)
        self._replaced += len(html)
        self._stale = False
        ops.append(Op("replace", html))
        if not final:
            self._tail = ""
            self._tail_preview.forget_tail()

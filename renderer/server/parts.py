"""An answer's parts: what a source yields besides answer text, and the
``<think>`` splitter.

A source yields the answer text as ``str`` (as it always has) and, when it
has them, the other kinds of piece below: reasoning, a refusal, tool-call
deltas, why the answer ended (``Finish``) and token counts (``Usage``).
Generation (``renderer.server.generation``) turns consecutive pieces of one
kind into one *part* of the answer, each Markdown rendered and sanitized by
its own engine, and opens each part on the wire with a ``part`` event
(docs/server.md, "Parts").

Open-weight models often put their reasoning in the content, between
``<think>`` and ``</think>``.  :class:`ThinkSplitter` recognizes the pair
at the very start of the content only (leading whitespace allowed), with
either tag cut anywhere across chunks; a ``<think>`` anywhere later is prose.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..markdown.stream import DEFAULT_INTERVAL, MarkdownStream
from ..sanitizer.clean import DEFAULT_SANITIZER, Sanitizer

__all__ = [
    "FINISH_REASONS",
    "NOTICES",
    "PART_KINDS",
    "Finish",
    "Part",
    "PartWriter",
    "Piece",
    "Reasoning",
    "Refusal",
    "ThinkSplitter",
    "ToolCallDelta",
    "Usage",
    "done_reason",
    "split_think",
]

PART_KINDS: Final = frozenset({"answer", "reasoning", "tool_call", "refusal", "notice"})
"""The kinds of part an answer may have."""

FINISH_REASONS: Final = {
    "stop": "complete",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
"""An OpenAI ``finish_reason`` -> the ``done`` reason it ends the stream with."""


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Reasoning text (``delta.reasoning_content``, ``delta.reasoning``, or
    what a model wrote between ``<think>`` tags)."""

    text: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """Refusal text (``delta.refusal``)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of one tool call (``delta.tool_calls[i]``)."""

    index: int
    """Which call of the answer (calls stream one after another)."""
    name: str | None = None
    """The function's name, when this piece carries it (usually the first)."""
    call_id: str | None = None
    """The upstream's id of the call, when this piece carries it."""
    arguments: str = ""
    """More of the arguments' JSON text."""


@dataclass(frozen=True, slots=True)
class Finish:
    """Why the upstream ended the answer (its raw ``finish_reason``)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of the answer (the final chunk's ``usage``)."""

    prompt_tokens: int
    completion_tokens: int


Piece = str | Reasoning | Refusal | ToolCallDelta | Finish | Usage
"""What a source yields: ``str`` is answer text."""


def done_reason(finish: str | None) -> str:
    """The ``done`` reason for an upstream's ``finish_reason`` (``None``, or
    one this server does not know: ``complete``)."""
    return FINISH_REASONS.get(finish or "stop", "complete")


_OPEN = "<think>"
_CLOSE = "</think>"


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """Content text in, answer text and :class:`Reasoning` out.

    States: *start* (only whitespace, or a prefix of ``<think>``, seen so
    far: held back), *thinking* (inside the tags: reasoning, a possible
    beginning of ``</think>`` held back), *after* (just after ``</think>``:
    whitespace dropped), *answer* (everything is answer text, verbatim)."""

    __slots__ = ("_held", "_state")

    def __init__(self) -> None:
        self._state = "start"
        self._held = ""

    def feed(self, text: str) -> list[str | Reasoning]:
        out: list[str | Reasoning] = []
        text = self._held + text
        self._held = ""
        while text:
            if self._state == "start":
                stripped = text.lstrip()
                if not stripped or (len(stripped) < len(_OPEN) and _OPEN.startswith(stripped)):
                    self._held = text
                    return out
                if stripped.startswith(_OPEN):
                    self._state, text = "thinking", stripped[len(_OPEN) :]
                    continue
                self._state = "answer"
            if self._state == "answer":
                out.append(text)
                return out
            if self._state == "after":
                text = text.lstrip()
                if text:
                    self._state = "answer"
                continue
            # thinking
            end = text.find(_CLOSE)
            if end >= 0:
                if end:
                    out.append(Reasoning(text[:end]))
                self._state, text = "after", text[end + len(_CLOSE) :]
                continue
            keep = _partial_suffix(text, _CLOSE)
            if len(text) > keep:
                out.append(Reasoning(text[: len(text) - keep]))
            self._held = text[len(text) - keep :]
            return out
        return out

    def close(self) -> list[str | Reasoning]:
        """What is still held back, at the end of the content."""
        held, self._held = self._held, ""
        if not held:
            return []
        if self._state == "thinking":
            return [Reasoning(held)]
        if self._state == "start" and held.strip():
            return [held]  # "<thi" and nothing more: prose
        return []


async def split_think(source: AsyncIterator[Piece]) -> AsyncIterator[Piece]:
    """``source`` with ``<think>...</think>`` at the start of its answer text
    turned into :class:`Reasoning` (other pieces pass through)."""
    splitter = ThinkSplitter()
    try:
        async for piece in source:
            if isinstance(piece, str):
                for out in splitter.feed(piece):
                    yield out
            else:
                yield piece
        for out in splitter.close():
            yield out
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


NOTICES: Final = {
    "length": "*The answer was cut at the length limit.*",
    "content_filter": "*The answer was stopped by the model's content filter.*",
}
"""The notice part an answer ends with, by ``done`` reason."""

TOOL_FENCE = "````"
"""Tool-call arguments are shown as a JSON code block in this fence (four
backticks: JSON text cannot end it early)."""


@dataclass(slots=True)
class Part:
    """One part of an answer as generation wrote it."""

    kind: str
    """One of ``PART_KINDS``."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What its ``part`` event says besides kind and number (a tool call's ``name`` and ``id``)."""
    _pieces: list[str] = field(default_factory=list)

    def write(self, text: str) -> None:
        """Add text (kept in pieces: adding to one string would copy it at every token)."""
        self._pieces.append(text)

    @property
    def text(self) -> str:
        """Its Markdown source (for a tool call: the arguments' JSON text)."""
        if len(self._pieces) > 1:
            self._pieces[:] = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""


Event = tuple[str, str]
"""An event to publish: name and data."""


class PartWriter:
    """Pieces in, the stream's events out: one engine per part, a ``part``
    event before each part but a leading answer, and the final ``done``.

    The first part, when it is answer text, opens without an event, so an
    answer that is only text is exactly the events it always was.  A part
    ends (its engine closed: all committed, the tail empty) before the next
    one opens, so a stream's one tail is always its open part's."""

    def __init__(
        self,
        *,
        interval: float | Callable[[], float] = DEFAULT_INTERVAL,
        sanitizer: Sanitizer = DEFAULT_SANITIZER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._sanitizer = sanitizer
        self._clock = clock
        self._start = clock()
        self._engine: MarkdownStream | None = None
        self._key: object = None
        self.parts: list[Part] = []
        """The parts so far, with their source text."""
        self.finish: str | None = None
        """The upstream's ``finish_reason``, once it sent one."""
        self.usage: Usage | None = None

    @property
    def answer(self) -> str:
        """The answer text (the ``answer`` parts' source)."""
        return "".join(part.text for part in self.parts if part.kind == "answer")

    @property
    def reasoning(self) -> str:
        return "".join(part.text for part in self.parts if part.kind == "reasoning")

    def _at(self) -> float:
        return round(self._clock() - self._start, 3)

    def _ops(self, ops: Sequence[Any]) -> list[Event]:
        return [(op.kind, op.html) for op in ops]

    def open(self, kind: str, text: str = "", *, key: object = None, **meta: Any) -> list[Event]:
        """Close the open part, open one of ``kind``, and write ``text`` to it."""
        events = self._close_part()
        number = len(self.parts)
        self.parts.append(Part(kind, meta))
        if number or kind != "answer":
            data = {"part": number, "kind": kind, **{k: v for k, v in meta.items() if v is not None}, "at": self._at()}
            events.append(("part", json.dumps(data)))
        self._engine = MarkdownStream(interval=self._interval, sanitizer=self._sanitizer)
        self._key = key
        if kind == "tool_call":
            events += self._ops(self._engine.feed(f"{TOOL_FENCE}json\n"))
        return events + self._write(text)

    def _write(self, text: str) -> list[Event]:
        if not text or self._engine is None:
            return []
        self.parts[-1].write(text)
        return self._ops(self._engine.feed(text))

    def _close_part(self) -> list[Event]:
        engine, self._engine = self._engine, None
        if engine is None:
            return []
        events: list[Event] = []
        if self.parts[-1].kind == "tool_call":
            events += self._ops(engine.feed(f"\n{TOOL_FENCE}\n"))
        return events + self._ops(engine.close())

    def _into(self, kind: str, text: str, key: object = None, **meta: Any) -> list[Event]:
        if self._engine is not None and self.parts[-1].kind == kind and self._key == key:
            return self._write(text)
        return self.open(kind, text, key=key, **meta)

    def feed(self, piece: Piece) -> list[Event]:
        """The events one piece causes."""
        if isinstance(piece, str):
            return self._into("answer", piece) if piece else []
        if isinstance(piece, Reasoning):
            return self._into("reasoning", piece.text) if piece.text else []
        if isinstance(piece, Refusal):
            return self._into("refusal", piece.text) if piece.text else []
        if isinstance(piece, ToolCallDelta):
            return self._into("tool_call", piece.arguments, ("call", piece.index), name=piece.name, id=piece.call_id)
        if isinstance(piece, Finish):
            self.finish = piece.reason
        elif isinstance(piece, Usage):
            self.usage = piece
        return []

    def backlog(self, piece: Piece | None = None) -> int:
        """Characters the next call re-renders (with ``piece``: ``feed(piece)``
        would, 0 if it would only buffer it)."""
        engine = self._engine
        if engine is None:
            return 0
        if piece is None:
            return engine.backlog
        text = piece if isinstance(piece, str) else getattr(piece, "text", getattr(piece, "arguments", ""))
        return engine.backlog + len(text) if engine.due(text) else 0

    def flush(self) -> list[Event]:
        """The open part's tail brought up to date (a source went quiet)."""
        return [] if self._engine is None else self._ops(self._engine.flush())

    def end(self, reason: str | None = None, message: str | None = None) -> list[Event]:
        """Close the open part and end the stream: a notice part if the
        reason calls for one, ``error`` if ``message``, then ``done``.
        ``reason`` ``None``: as the upstream's ``finish_reason`` says."""
        if reason is None:
            reason = done_reason(self.finish)
        events = self._close_part()
        if reason in NOTICES:
            events += self.open("notice", NOTICES[reason])
            events += self._close_part()
        if message is not None:
            events.append(("error", json.dumps({"message": message})))
        done: dict[str, Any] = {"reason": reason}
        if len(self.parts) > 1 or any(part.kind != "answer" for part in self.parts):
            done["at"] = self._at()  # when the last part ended (how long reasoning took)
        if self.usage is not None:
            done["usage"] = {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
            }
        events.append(("done", json.dumps(done)))
        return events

"""Ways of cutting a text into chunks, and a driver that streams them.

A helper module for tests, not a test. Every engine fixture runs whole, one
character at a time, in fixed sizes and at random split points; the random
ones come from an ``rng`` the caller seeds per example, so that a failure
names a chunking that can be rebuilt exactly (the label says which).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from markdown_it import MarkdownIt

from renderer import MarkdownStream
from renderer.markdown.ops import Document, Op

FIXED_SIZES = (1, 2, 3, 7)
RANDOM_CHUNKINGS = 10


@dataclass(frozen=True, slots=True)
class Chunking:
    """One way of cutting a text."""

    label: str
    """A short name for failure messages: ``whole``, ``size-3``, ``random-4``."""
    chunks: tuple[str, ...]
    """The pieces, in order; they join back to the text."""


def cut(text: str, size: int) -> tuple[str, ...]:
    """Cut ``text`` into pieces of ``size`` characters (the last may be shorter)."""
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def cut_at(text: str, positions: Sequence[int]) -> tuple[str, ...]:
    """Cut ``text`` at the given offsets (any order, duplicates give empty chunks)."""
    bounds = [0, *sorted(positions), len(text)]
    return tuple(text[a:b] for a, b in itertools.pairwise(bounds))


def random_chunks(text: str, rng: random.Random) -> tuple[str, ...]:
    """Cut ``text`` like a model's token stream: mostly short, uneven pieces.

    The typical piece size varies between chunkings so that some cut almost
    everywhere and some rarely; now and then an empty chunk appears, as
    streaming APIs do send empty deltas.
    """
    mean = rng.choice((1, 2, 3, 4, 6, 10, 20))
    pieces: list[str] = []
    i = 0
    while i < len(text):
        if rng.random() < 0.03:
            pieces.append("")
        step = rng.randint(1, 2 * mean)
        pieces.append(text[i : i + step])
        i += step
    return tuple(pieces)


def chunkings(text: str, rng: random.Random) -> Iterator[Chunking]:
    """Yield the chunkings every fixture runs with.

    Whole, fixed sizes 1, 2, 3 and 7, then ten random ones drawn from ``rng``.
    """
    yield Chunking("whole", (text,))
    for size in FIXED_SIZES:
        yield Chunking(f"size-{size}", cut(text, size))
    for n in range(RANDOM_CHUNKINGS):
        yield Chunking(f"random-{n}", random_chunks(text, rng))


@dataclass(slots=True)
class StreamRun:
    """What streaming a text produced."""

    document: Document
    """The assembled document after ``close()``."""
    states: list[str]
    """``Document.html`` after each ``feed`` (what a reader saw meanwhile)."""
    ops: list[Op]
    """Every op, in order, from all feeds and the close."""


def stream(chunks: Sequence[str], parser: MarkdownIt | None = None) -> StreamRun:
    """Feed ``chunks`` to a fresh MarkdownStream, close it, and assemble the ops.

    The engine re-renders at every feed (``interval=0``): with its default
    coalescing, a test that feeds faster than ten chunks a second would see
    almost no intermediate state at all.
    """
    engine = MarkdownStream(interval=0, parser=parser)
    document = Document()
    states: list[str] = []
    all_ops: list[Op] = []
    for chunk in chunks:
        ops = engine.feed(chunk)
        for op in ops:
            document.apply(op)
        all_ops.extend(ops)
        states.append(document.html)
    ops = engine.close()
    for op in ops:
        document.apply(op)
    all_ops.extend(ops)
    return StreamRun(document, states, all_ops)


def run_stream(text: str, chunks: Sequence[str]) -> tuple[str, list[str]]:
    """Stream ``text`` cut as ``chunks``; return the final HTML and the states after each feed."""
    assert "".join(chunks) == text, "the chunks do not join back to the text"
    run = stream(chunks)
    return run.document.html, run.states


def describe(text: str, chunking: Chunking) -> str:
    """A reproduction recipe for a failure message."""
    return f"text={text!r}\nchunking {chunking.label}: {list(chunking.chunks)!r}"


def shrink(chunks: Sequence[str], fails: Callable[[Sequence[str]], bool]) -> tuple[str, ...]:
    """Merge adjacent chunks while ``fails`` still holds: fewer cuts, same failure.

    Greedy and quadratic, which is fine for the short texts of fixtures; it
    turns a 100-chunk failure into the two or three cuts that matter.
    """
    current = list(chunks)
    merged = True
    while merged and len(current) > 1:
        merged = False
        for i in range(len(current) - 1):
            candidate = [*current[:i], current[i] + current[i + 1], *current[i + 2 :]]
            if fails(candidate):
                current = candidate
                merged = True
                break
    return tuple(current)

"""Generations: the per-answer loop from a source through the engine into
the store; here, where its engine work runs.

No clocks: which thread did the work is what is asserted (the loop-lag
numbers are in ``bench/looplag.py``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from renderer import assemble, render_markdown
from renderer.sanitizer.clean import BleachSanitizer, Cleaned
from renderer.server.generation import OFFLOAD_CHARS, Generations
from renderer.server.store.memory import MemoryStore


class ThreadRecordingSanitizer(BleachSanitizer):
    """The default sanitizer, noting the size of each input and the thread that cleaned it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, str]] = []

    def clean(self, html: str) -> Cleaned:
        self.calls.append((len(html), threading.current_thread().name))
        return super().clean(html)


async def pieces(text: str, size: int) -> AsyncIterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


async def generate(text: str, sanitizer: ThreadRecordingSanitizer, size: int = 12) -> str:
    store = MemoryStore()
    generations = Generations(store, sanitizer=sanitizer)
    stream_id = await generations.start(pieces(text, size))
    subscription = await store.subscribe(stream_id)
    events = [event async for event in subscription]
    assert events[-1].event == "done"
    return assemble({"event": event.event, "data": event.data} for event in events)


HOSTILE = [
    pytest.param("<b>" * 3000 + "\n\nend\n", id="b-repeated-in-one-line"),
    pytest.param("word " * 2000 + "\n", id="one-huge-paragraph"),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_large_uncommitted_render_runs_in_an_engine_thread_not_the_event_loop(text: str) -> None:
    sanitizer = ThreadRecordingSanitizer()
    html = asyncio.run(generate(text, sanitizer))
    assert html == render_markdown(text)
    large = [thread for size, thread in sanitizer.calls if size > OFFLOAD_CHARS]
    assert large, "the input was meant to need a large render"
    assert all(thread.startswith("renderer-engine") for thread in large)


def test_a_small_answer_stays_on_the_event_loop() -> None:
    text = "Hello **world**, a short answer.\n\n- one\n- two\n"
    sanitizer = ThreadRecordingSanitizer()
    html = asyncio.run(generate(text, sanitizer, size=3))
    assert html == render_markdown(text)
    assert sanitizer.calls
    assert {thread for _, thread in sanitizer.calls} == {threading.main_thread().name}

"""Pacing: the previews of all live answers share a fixed CPU budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from renderer import assemble, render_markdown
from renderer.markdown.stream import MarkdownStream
from renderer.server.generation import Generations
from renderer.server.pacing import PREVIEW_SHARE, Pacer
from renderer.server.store.memory import MemoryStore


def test_the_interval_grows_with_live_answers_times_the_cost_of_a_preview() -> None:
    pacer = Pacer(0.1)
    pacer.cost = 0.001
    assert pacer.interval() == 0.1
    for _ in range(400):
        pacer.started()
    assert pacer.live == 400
    assert abs(pacer.interval() - 400 * 0.001 / PREVIEW_SHARE) < 1e-9
    pacer.timed(lambda: None)  # a cheap preview lowers the average cost, and the interval
    assert 1.0 < pacer.interval() < 400 * 0.001 / PREVIEW_SHARE
    for _ in range(400):
        pacer.ended()
    assert pacer.interval() == 0.1  # never below the base


def test_a_preview_that_costs_more_stretches_the_interval() -> None:
    pacer = Pacer(0.1)
    for _ in range(1000):
        pacer.started()
    before = pacer.interval()
    pacer.timed(sum, range(200_000))  # a preview that takes some CPU
    assert pacer.cost > 0
    assert pacer.interval() > before


def test_base_zero_renders_at_every_feed_whatever_the_load() -> None:
    pacer = Pacer(0)
    for _ in range(100):
        pacer.started()
    pacer.timed(sum, range(100_000))
    assert pacer.interval() == 0


def test_the_engine_asks_a_callable_interval_at_each_feed() -> None:
    now = [0.0]
    interval = [0.0]
    stream = MarkdownStream(interval=lambda: interval[0], clock=lambda: now[0])
    assert stream.feed("a") != []  # interval 0: renders
    interval[0] = 10.0
    now[0] = 5.0
    assert stream.feed("b") == []  # only buffers: 5 s < 10 s since the last render
    interval[0] = 1.0
    assert stream.feed("c") != []


async def paced(text: str, size: int) -> AsyncIterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]
        await asyncio.sleep(0)


def test_generations_count_live_answers_and_converge_under_pacing() -> None:
    text = "# Title\n\nSome **bold** text and `code`, then a list:\n\n- one\n- two\n\nThe end.\n"

    async def main() -> tuple[list[str], list[int]]:
        store = MemoryStore()
        generations = Generations(store)
        ids = [await generations.start(paced(text, 3)) for _ in range(20)]
        live = [generations.pacer.live]
        htmls = []
        for stream_id in ids:
            subscription = await store.subscribe(stream_id)
            events = [event async for event in subscription]
            htmls.append(assemble({"event": event.event, "data": event.data} for event in events))
        for _ in range(1000):  # the tasks forget their answers just after "done"
            if not len(generations):
                break
            await asyncio.sleep(0)
        live.append(generations.pacer.live)
        return htmls, live

    htmls, live = asyncio.run(main())
    assert htmls == [render_markdown(text)] * 20
    assert live == [20, 0]

"""MemoryStore against the stream-store contract (renderer/store/base.py).

Each test runs its own event loop with ``asyncio.run``; time is an injected
clock, so TTLs are tested without sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from renderer import MarkdownStream, assemble
from renderer.server.store import BadEventId, Event, MemoryStore, SlowReader, StreamNotFound

DONE = json.dumps({"reason": "complete"})


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(test(), timeout=10))


def as_dicts(events: list[Event]) -> list[dict[str, str]]:
    return [{"event": e.event, "data": e.data} for e in events]


async def drain(subscription: Any, limit: int = 10_000) -> list[Event]:
    """Every event until the subscription ends (bounded)."""
    events = []
    for _ in range(limit):
        try:
            events.append(await asyncio.wait_for(anext(subscription), 2))
        except StopAsyncIteration:
            return events
    raise AssertionError("subscription did not end")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- ids, log and replay ------------------------------------------------------


def test_replay_from_the_start_has_the_whole_log_and_the_tail() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        block = await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "tail", "<p>t</p>")
        events, done = await store.read(sid)
        assert (events, done) == ([block, Event("tail", "<p>t</p>")], False)

    run(test)


def test_replace_clears_the_tail_and_is_logged() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "tail", "<p>t</p>")
        replace = await store.publish(sid, "replace", "<p>all</p>")
        events, _ = await store.read(sid)
        assert events[-1] == replace
        assert assemble(as_dicts(events)) == "<p>all</p>"

    run(test)


def _ops_of(text: str) -> list[tuple[str, str]]:
    """An engine run that renders at every chunk, with blocks, tails, appends
    and commits in it."""
    stream = MarkdownStream(interval=0)
    ops = []
    for start in range(0, len(text), 3):
        ops += stream.feed(text[start : start + 3])
    ops += stream.close()
    return [(op.kind, op.html) for op in ops]


RESUME_TEXT = "# Title\n\nA paragraph that grows.\n\n```\nx = 1\ny = 2\n```\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nThe end."


async def _live_events(store: MemoryStore, ops: list[tuple[str, str]]) -> tuple[str, list[Event]]:
    """Publish ops with a reader that keeps up; returns the stream and what it read."""
    sid = await store.create()
    reader = await store.subscribe(sid)
    events = []
    for kind, html in ops:
        await store.publish(sid, kind, html)
        events.append(await anext(reader))
    await store.publish(sid, "done", DONE)
    events.append(await anext(reader))
    reader.close()
    return sid, events


def test_minimal_stale_tail_after_done() -> None:
    """The smallest case of the bug above: a reader held block 1 and tail
    ``<p>a</p>``; the tail was committed and the stream ended; it resumes
    after id 1 and gets the commit as a block, but nothing clears its tail."""

    async def test() -> tuple[str, str]:
        store = MemoryStore()
        sid = await store.create()
        held = [await store.publish(sid, "block", "<p>1</p>"), await store.publish(sid, "tail", "<p>a</p>")]
        await store.publish(sid, "commit", "")
        await store.publish(sid, "done", DONE)
        rest, done = await store.read(sid, held[0].id)
        assert done
        return assemble(as_dicts(held + rest)), "<p>1</p><p>a</p>"

    got, expected = run(test)
    assert got == expected  # got: '<p>1</p><p>a</p><p>a</p>'


# --- readers behind: collapse and cut-off ---------------------------------------


def test_a_reader_past_max_pending_is_cut_off_and_told_once() -> None:
    async def test() -> None:
        store = MemoryStore(max_pending=3)
        sid = await store.create()
        reader = await store.subscribe(sid)
        calls = []
        reader.on_cut_off = lambda: calls.append(1)
        for n in range(3):
            await store.publish(sid, "block", f"<p>{n}</p>")
        assert calls == [] and store.subscriptions == 1
        await store.publish(sid, "block", "<p>3</p>")
        assert calls == [1]
        assert store.subscriptions == 0  # freed at once, not when the reader comes back
        await store.publish(sid, "block", "<p>4</p>")
        assert calls == [1]
        with pytest.raises(SlowReader):
            await anext(reader)
        # The reader may resume from what it had.
        events, _ = await store.read(sid, None)
        assert len(events) == 5
        reader.close()

    run(test)


def test_a_pending_read_is_woken_by_a_cut_off() -> None:
    async def test() -> None:
        store = MemoryStore(max_pending=1)
        sid = await store.create()
        reader = await store.subscribe(sid)
        waiting = asyncio.ensure_future(anext(reader))
        await asyncio.sleep(0)
        # Two events before the reader runs again: one more than it may hold.
        await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "block", "<p>2</p>")
        with pytest.raises(SlowReader):
            await asyncio.wait_for(waiting, 2)
        reader.close()

    run(test)


# --- end of a stream ------------------------------------------------------------


def test_subscription_ends_after_done() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        reader = await store.subscribe(sid)
        block = await store.publish(sid, "block", "<p>1</p>")
        done = await store.publish(sid, "done", DONE)
        assert await drain(reader) == [block, done]
        assert store.subscriptions == 0
        late = await store.subscribe(sid)
        assert await drain(late) == [block, done]

    run(test)


# --- limits -----------------------------------------------------------------------


def test_finished_streams_expire_after_the_ttl() -> None:
    async def test() -> None:
        clock = Clock()
        store = MemoryStore(ttl=60, clock=clock)
        sid = await store.create()
        await store.publish(sid, "block", "<p>1</p>")
        clock.now += 3600  # a live stream never expires
        assert (await store.read(sid))[1] is False
        await store.publish(sid, "done", DONE)
        lingering = await store.subscribe(sid)
        clock.now += 59.9
        assert (await store.read(sid))[1] is True
        clock.now += 0.1
        with pytest.raises(StreamNotFound):
            await store.read(sid)
        with pytest.raises(StreamNotFound):
            await store.subscribe(sid)
        with pytest.raises(KeyError):  # StreamNotFound is a KeyError
            await store.is_done(sid)
        assert store.subscriptions == 0
        lingering.close()

    run(test)


def test_is_done_refuses_a_malformed_id_on_a_live_stream() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        with pytest.raises(BadEventId):
            await store.is_done(sid, "abc")

    run(test)


# --- subscriptions are freed --------------------------------------------------------


# --- batches: take_ready, wait, finished ------------------------------------------------


def test_take_ready_gives_what_is_queued_up_to_the_limit() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        reader = await store.subscribe(sid)
        assert reader.take_ready(10) == []
        published = [await store.publish(sid, "block", f"<p>{n}</p>") for n in range(5)]
        assert reader.take_ready(2) == published[:2]
        assert reader.take_ready(10) == published[2:]
        assert reader.take_ready(10) == []
        assert not reader.finished
        reader.close()
        assert reader.finished

    run(test)


def test_a_batch_that_ends_with_done_finishes_the_subscription() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        reader = await store.subscribe(sid)
        block = await store.publish(sid, "block", "<p>1</p>")
        done = await store.publish(sid, "done", DONE)
        assert not reader.finished  # events are still waiting
        assert reader.take_ready(10) == [block, done]
        assert reader.finished
        assert store.subscriptions == 0
        await asyncio.wait_for(reader.wait(), 2)  # returns at once: nothing more will come

    run(test)


def test_wait_returns_when_an_event_arrives_and_may_be_cancelled_without_loss() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        reader = await store.subscribe(sid)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.wait(), 0.001)
        waiting = asyncio.ensure_future(reader.wait())
        await asyncio.sleep(0)
        block = await store.publish(sid, "block", "<p>1</p>")
        await asyncio.wait_for(waiting, 2)
        assert reader.take_ready(5) == [block]
        reader.close()

    run(test)


def test_take_ready_after_a_cut_off_is_slow_reader_and_wait_returns() -> None:
    async def test() -> None:
        store = MemoryStore(max_pending=1)
        sid = await store.create()
        reader = await store.subscribe(sid)
        await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "block", "<p>2</p>")
        await asyncio.wait_for(reader.wait(), 2)
        assert not reader.finished  # a cut-off is not a normal end
        with pytest.raises(SlowReader):
            reader.take_ready(10)
        reader.close()

    run(test)

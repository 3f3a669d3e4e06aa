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
from renderer.store import Event, MemoryStore, SlowReader, StreamNotFound
from renderer.store.memory import StoreFull

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


def test_ids_are_given_only_to_events_that_change_committed_html_or_end_the_stream() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        published = [
            await store.publish(sid, "block", "<p>a</p>"),
            await store.publish(sid, "tail", "<p>b</p>"),
            await store.publish(sid, "append", "c"),
            await store.publish(sid, "commit", ""),
            await store.publish(sid, "replace", "<p>x</p>"),
            await store.publish(sid, "error", '{"message": "m"}'),
            await store.publish(sid, "done", DONE),
        ]
        ids = [event.id for event in published]
        assert [i is not None for i in ids] == [True, False, False, True, True, False, True]
        numbered = [int(i) for i in ids if i is not None]
        assert numbered == sorted(numbered) and len(set(numbered)) == len(numbered)

    run(test)


def test_replay_after_an_id_gives_only_the_log_after_it_then_the_current_tail() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        first = await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "tail", "<p>old</p>")
        second = await store.publish(sid, "block", "<p>2</p>")
        third = await store.publish(sid, "block", "<p>3</p>")
        await store.publish(sid, "tail", "<p>now</p>")
        subscription = await store.subscribe(sid, first.id)
        got = [await anext(subscription) for _ in range(3)]
        assert got == [second, third, Event("tail", "<p>now</p>")]
        assert await store.read(sid, first.id) == (got, False)
        subscription.close()

    run(test)


def test_replay_from_the_start_has_the_whole_log_and_the_tail() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        block = await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "tail", "<p>t</p>")
        events, done = await store.read(sid)
        assert (events, done) == ([block, Event("tail", "<p>t</p>")], False)

    run(test)


def test_resume_on_a_live_stream_ends_with_the_current_tail_even_when_empty() -> None:
    """A resuming reader may hold a stale tail: it must be told the tail is gone."""

    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        block = await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "tail", "<p>t</p>")
        await store.publish(sid, "tail", "")
        events, _ = await store.read(sid, block.id)
        assert events == [Event("tail", "")]

    run(test)


def test_append_updates_the_tail_that_a_resuming_reader_gets() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        await store.publish(sid, "tail", "<p>ab</p>")
        await store.publish(sid, "append", "cd")
        events, _ = await store.read(sid)
        assert events == [Event("tail", "<p>abcd</p>")]

    run(test)


def test_commit_is_logged_as_the_block_it_made() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        live = await store.subscribe(sid)
        await store.publish(sid, "tail", "<pre><code>x\n</code></pre>")
        commit = await store.publish(sid, "commit", "")
        assert commit.event == "commit" and commit.id is not None
        assert [await anext(live) for _ in range(2)] == [Event("tail", "<pre><code>x\n</code></pre>"), commit]
        events, _ = await store.read(sid)
        assert events == [Event("block", "<pre><code>x\n</code></pre>", commit.id)]
        live.close()

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


def test_a_reader_that_resumes_while_the_stream_is_live_builds_the_same_html() -> None:
    ops = _ops_of(RESUME_TEXT)
    expected = assemble([{"event": kind, "data": html} for kind, html in ops])

    async def test() -> None:
        kinds = {kind for kind, _ in ops}
        assert {"block", "tail", "append", "commit"} <= kinds, kinds
        for cut in range(len(ops) + 1):
            store = MemoryStore()
            sid = await store.create()
            reader = await store.subscribe(sid)
            seen: list[Event] = []
            for kind, html in ops[:cut]:
                await store.publish(sid, kind, html)
                seen.append(await anext(reader))
            reader.close()
            last = next((e.id for e in reversed(seen) if e.id is not None), None)
            if last is None:
                seen = []  # nothing to resume from: a client starts over
            resumed = await store.subscribe(sid, last)
            for kind, html in ops[cut:]:
                await store.publish(sid, kind, html)
            await store.publish(sid, "done", DONE)
            rest = await drain(resumed)
            assert assemble(as_dicts(seen + rest)) == expected, f"cut after {cut} ops"

    run(test)


def test_a_reader_that_resumes_after_done_builds_the_same_html() -> None:
    ops = _ops_of(RESUME_TEXT)
    expected = assemble([{"event": kind, "data": html} for kind, html in ops])

    async def test() -> None:
        store = MemoryStore()
        sid, events = await _live_events(store, ops)
        failures = []
        for cut in range(len(events)):
            seen = events[:cut]
            last = next((e.id for e in reversed(seen) if e.id is not None), None)
            if last is None:
                seen = []
            rest = await drain(await store.subscribe(sid, last))
            if assemble(as_dicts(seen + rest)) != expected:
                failures.append(cut)
        assert not failures, f"wrong HTML after resuming at cuts {failures}"

    run(test)


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


def test_tail_and_append_collapse_into_one_tail_for_a_reader_behind() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        reader = await store.subscribe(sid)
        block = await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "tail", "<p>a</p>")
        await store.publish(sid, "append", "b")
        await store.publish(sid, "append", "c")
        await store.publish(sid, "tail", "<ul><li>x</li></ul>")
        await store.publish(sid, "append", "y")
        commit = await store.publish(sid, "commit", "")
        await store.publish(sid, "tail", "<p>z</p>")
        got = [await anext(reader) for _ in range(4)]
        assert got == [block, Event("tail", "<ul><li>xy</li></ul>"), commit, Event("tail", "<p>z</p>")]
        assert assemble(as_dicts(got)) == "<p>1</p><ul><li>xy</li></ul><p>z</p>"
        reader.close()

    run(test)


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


def test_tails_do_not_count_towards_max_pending_while_they_collapse() -> None:
    async def test() -> None:
        store = MemoryStore(max_pending=2)
        sid = await store.create()
        reader = await store.subscribe(sid)
        reader.on_cut_off = lambda: pytest.fail("cut off")
        await store.publish(sid, "block", "<p>1</p>")
        for n in range(50):
            await store.publish(sid, "tail" if n % 2 else "append", f"<p>{n}</p>" if n % 2 else "x")
        assert store.subscriptions == 1
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


def test_nothing_may_be_published_after_done() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        await store.publish(sid, "done", DONE)
        with pytest.raises(ValueError):
            await store.publish(sid, "block", "<p>late</p>")

    run(test)


def test_is_done_only_when_nothing_is_left_to_read() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        first = await store.publish(sid, "block", "<p>1</p>")
        assert not await store.is_done(sid)
        assert not await store.is_done(sid, first.id)
        done = await store.publish(sid, "done", DONE)
        assert await store.is_done(sid)
        assert await store.is_done(sid, done.id)
        assert not await store.is_done(sid, first.id)

    run(test)


def test_cancel_calls_the_generator_back_until_done() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        calls = []
        store.on_cancel(sid, lambda: calls.append(1))
        assert await store.cancel(sid) is True
        assert calls == [1]
        await store.publish(sid, "done", json.dumps({"reason": "cancelled"}))
        assert await store.cancel(sid) is False
        assert calls == [1]

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


def test_store_full_at_max_live_and_room_again_after_done() -> None:
    async def test() -> None:
        store = MemoryStore(max_live=2)
        first = await store.create()
        await store.create()
        with pytest.raises(StoreFull):
            await store.create()
        await store.publish(first, "done", DONE)
        assert store.live == 1
        await store.create()
        assert store.live == 2

    run(test)


@pytest.mark.parametrize("method", ["subscribe", "read", "is_done", "publish", "cancel"])
def test_unknown_stream_is_stream_not_found(method: str) -> None:
    async def test() -> None:
        store = MemoryStore()
        calls = {
            "subscribe": lambda: store.subscribe("nope"),
            "read": lambda: store.read("nope"),
            "is_done": lambda: store.is_done("nope"),
            "publish": lambda: store.publish("nope", "block", "x"),
            "cancel": lambda: store.cancel("nope"),
        }
        with pytest.raises(StreamNotFound):
            await calls[method]()

    run(test)


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("abc", id="letters"),
        pytest.param("-1", id="negative"),
        pytest.param("1.5", id="decimal"),
        pytest.param(" 1", id="space"),
        pytest.param("1\n", id="newline"),
        pytest.param("\u0661", id="arabic-indic-digit"),
        pytest.param("\u00b2", id="superscript-two"),
        pytest.param("9" * 19, id="too-long"),
        pytest.param("1" * 10_000, id="huge"),
    ],
)
@pytest.mark.parametrize(
    ("method", "done"),
    [
        pytest.param("subscribe", False, id="subscribe"),
        pytest.param("read", False, id="read"),
        pytest.param("is_done", True, id="is_done-when-done"),
    ],
)
def test_malformed_ids_are_value_errors(bad_id: str, method: str, done: bool) -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        await store.publish(sid, "block", "<p>1</p>")
        if done:
            await store.publish(sid, "done", DONE)
        with pytest.raises(ValueError):
            await getattr(store, method)(sid, bad_id)
        assert store.subscriptions == 0

    run(test)


def test_is_done_refuses_a_malformed_id_on_a_live_stream() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        with pytest.raises(ValueError):
            await store.is_done(sid, "abc")

    run(test)


# --- subscriptions are freed --------------------------------------------------------


def test_subscriptions_count_back_to_zero_after_close() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        readers = [await store.subscribe(sid) for _ in range(10)]
        assert store.subscriptions == 10
        for reader in readers:
            reader.close()
            reader.close()  # idempotent
        assert store.subscriptions == 0
        await store.publish(sid, "block", "<p>after</p>")  # nobody to push to

    run(test)


def test_close_wakes_a_pending_read() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        reader = await store.subscribe(sid)
        waiting = asyncio.ensure_future(anext(reader))
        await asyncio.sleep(0)
        assert not waiting.done()
        reader.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, 2)
        assert store.subscriptions == 0

    run(test)


def test_a_cancelled_read_loses_no_event() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        reader = await store.subscribe(sid)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(anext(reader), 0.001)
        block = await store.publish(sid, "block", "<p>1</p>")
        assert await asyncio.wait_for(anext(reader), 2) == block
        reader.close()

    run(test)


def test_store_close_ends_every_subscription() -> None:
    async def test() -> None:
        store = MemoryStore()
        sid = await store.create()
        readers = [await store.subscribe(sid) for _ in range(3)]
        store.close()
        assert store.subscriptions == 0
        for reader in readers:
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(reader), 2)

    run(test)


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

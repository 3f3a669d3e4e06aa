"""RedisStore against the stream-store contract, and what only a shared
store has to keep: several processes on one Redis, cancel from any of them,
leases of generators that die, and Redis going away mid-stream.

The contract scenarios of ``test_store_memory.py`` run here against both
stores (``memory`` and ``redis``), so the two are held to the same
behaviour.  A real ``redis-server`` runs on a free port (no fakeredis); two
``RedisStore`` instances on it stand for two processes.  Each test runs its
own event loop with ``asyncio.run``; every wait is bounded, and waiting for a
Redis reader to catch up polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from redis_server import RedisServer, redis_server_or_skip

redis_server_or_skip()

from renderer import MarkdownStream, assemble  # noqa: E402
from renderer.store import Event, MemoryStore, SlowReader, StreamNotFound, StreamStore  # noqa: E402
from renderer.store.memory import StoreFull  # noqa: E402
from renderer.store.redis import RedisStore, parse_id  # noqa: E402

DONE = json.dumps({"reason": "complete"})
WAIT = 5.0
"""Seconds any single wait may take before it is a failure."""


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with RedisServer() as server:
        yield server.url


class Stores:
    """Makes stores of one kind inside a test's loop, and closes them after it."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self._made: list[StreamStore] = []

    def make(self, **options: Any) -> Any:
        store: StreamStore
        if self.kind == "memory":
            store = MemoryStore(**options)
        else:
            store = RedisStore(self.url, **options)
        self._made.append(store)
        return store

    def run(self, test: Callable[[], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            try:
                return await asyncio.wait_for(test(), timeout=20)
            finally:
                await close_all(self._made)
                self._made.clear()

        return asyncio.run(main())

    def order(self, event_id: str) -> Any:
        return int(event_id) if self.kind == "memory" else parse_id(event_id)


async def close_all(stores: list[Any]) -> None:
    for store in stores:
        if isinstance(store, RedisStore):
            await store.aclose()
        else:
            store.close()


@pytest.fixture(params=["memory", "redis"])
def stores(request: pytest.FixtureRequest) -> Stores:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    return Stores(request.param, url)


@pytest.fixture
def redis_stores(redis_url: str) -> Stores:
    return Stores("redis", redis_url)


def as_dicts(events: list[Event]) -> list[dict[str, str]]:
    return [{"event": e.event, "data": e.data} for e in events]


async def drain(subscription: Any, limit: int = 10_000) -> list[Event]:
    """Every event until the subscription ends (bounded)."""
    events = []
    for _ in range(limit):
        try:
            events.append(await asyncio.wait_for(anext(subscription), WAIT))
        except StopAsyncIteration:
            return events
    raise AssertionError("subscription did not end")


async def caught_up(store: Any, stream_id: str) -> None:
    """Until this process's Redis reader has pushed every event written so far
    (a memory store pushes while publishing: at once)."""
    if not isinstance(store, RedisStore):
        return
    target = (await store._meta(stream_id)).pos
    deadline = time.monotonic() + WAIT
    while (follower := store._followers.get(stream_id)) is not None and follower.pos != target:
        assert time.monotonic() < deadline, "the Redis reader did not catch up"
        await asyncio.sleep(0.005)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)


def _ops_of(text: str) -> list[tuple[str, str]]:
    stream = MarkdownStream(interval=0)
    ops = []
    for start in range(0, len(text), 3):
        ops += stream.feed(text[start : start + 3])
    ops += stream.close()
    return [(op.kind, op.html) for op in ops]


RESUME_TEXT = "# Title\n\nA paragraph that grows.\n\n```\nx = 1\ny = 2\n```\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nThe end."
OPS = _ops_of(RESUME_TEXT)
EXPECTED = assemble([{"event": kind, "data": html} for kind, html in OPS])


# --- the contract, for both stores: ids, log and replay ------------------------------


def test_ids_are_given_only_to_events_that_change_committed_html_or_end_the_stream(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
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
        ordered = [stores.order(i) for i in ids if i is not None]
        assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered)

    stores.run(test)


def test_replay_after_an_id_gives_only_the_log_after_it_then_the_current_tail(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        first = await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "tail", "<p>old</p>")
        second = await store.publish(sid, "block", "<p>2</p>")
        third = await store.publish(sid, "block", "<p>3</p>")
        await store.publish(sid, "tail", "<p>now</p>")
        subscription = await store.subscribe(sid, first.id)
        got = [await asyncio.wait_for(anext(subscription), WAIT) for _ in range(3)]
        assert got == [second, third, Event("tail", "<p>now</p>")]
        assert await store.read(sid, first.id) == (got, False)
        subscription.close()

    stores.run(test)


def test_resume_on_a_live_stream_ends_with_the_current_tail_even_when_empty(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        block = await store.publish(sid, "block", "<p>1</p>")
        await store.publish(sid, "tail", "<p>t</p>")
        await store.publish(sid, "tail", "")
        assert await store.read(sid, block.id) == ([Event("tail", "")], False)
        assert await store.read(sid) == ([block], False)

    stores.run(test)


def test_append_updates_the_tail_that_a_resuming_reader_gets(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        await store.publish(sid, "tail", "<p>ab</p>")
        await store.publish(sid, "append", "cd")
        events, _ = await store.read(sid)
        assert events == [Event("tail", "<p>abcd</p>")]

    stores.run(test)


def test_commit_is_logged_as_the_block_it_made(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        live = await store.subscribe(sid)
        await store.publish(sid, "tail", "<pre><code>x\n</code></pre>")
        commit = await store.publish(sid, "commit", "")
        assert commit.event == "commit" and commit.id is not None
        got = [await asyncio.wait_for(anext(live), WAIT) for _ in range(2)]
        assert got == [Event("tail", "<pre><code>x\n</code></pre>"), commit]
        events, _ = await store.read(sid)
        assert events == [Event("block", "<pre><code>x\n</code></pre>", commit.id)]
        live.close()

    stores.run(test)


def test_a_reader_that_resumes_while_the_stream_is_live_builds_the_same_html(stores: Stores) -> None:
    async def test() -> None:
        assert {"block", "tail", "append", "commit"} <= {kind for kind, _ in OPS}
        store = stores.make(max_live=len(OPS) + 1)
        for cut in range(len(OPS) + 1):
            sid = await store.create()
            reader = await store.subscribe(sid)
            seen: list[Event] = []
            for kind, html in OPS[:cut]:
                await store.publish(sid, kind, html)
                seen.append(await asyncio.wait_for(anext(reader), WAIT))
            reader.close()
            last = next((e.id for e in reversed(seen) if e.id is not None), None)
            if last is None:
                seen = []  # nothing to resume from: a client starts over
            resumed = await store.subscribe(sid, last)
            for kind, html in OPS[cut:]:
                await store.publish(sid, kind, html)
            await store.publish(sid, "done", DONE)
            rest = await drain(resumed)
            assert assemble(as_dicts(seen + rest)) == EXPECTED, f"cut after {cut} ops"

    stores.run(test)


def test_a_reader_that_resumes_after_done_builds_the_same_html(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        reader = await store.subscribe(sid)
        events = []
        for kind, html in OPS:
            await store.publish(sid, kind, html)
            events.append(await asyncio.wait_for(anext(reader), WAIT))
        await store.publish(sid, "done", DONE)
        events += await drain(reader)
        failures = []
        for cut in range(len(events)):
            seen = events[:cut]
            last = next((e.id for e in reversed(seen) if e.id is not None), None)
            if last is None:
                seen = []
            rest = await drain(await store.subscribe(sid, last))
            if assemble(as_dicts(seen + rest)) != EXPECTED:
                failures.append(cut)
        assert not failures, f"wrong HTML after resuming at cuts {failures}"

    stores.run(test)


# --- readers behind: collapse and cut-off ----------------------------------------------


def test_tail_and_append_collapse_into_one_tail_for_a_reader_behind(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
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
        await caught_up(store, sid)
        got = reader.take_ready(10)
        assert got == [block, Event("tail", "<ul><li>xy</li></ul>"), commit, Event("tail", "<p>z</p>")]
        reader.close()

    stores.run(test)


def test_a_reader_past_max_pending_is_cut_off_told_once_and_freed_at_once(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make(max_pending=3)
        sid = await store.create()
        reader = await store.subscribe(sid)
        calls = []
        reader.on_cut_off = lambda: calls.append(1)
        for n in range(3):
            await store.publish(sid, "block", f"<p>{n}</p>")
        await caught_up(store, sid)
        assert calls == [] and store.subscriptions == 1
        await store.publish(sid, "block", "<p>3</p>")
        await caught_up(store, sid)
        await until(lambda: calls == [1], "the reader was not cut off")
        assert store.subscriptions == 0
        await store.publish(sid, "block", "<p>4</p>")
        assert calls == [1]
        with pytest.raises(SlowReader):
            reader.take_ready(10)
        events, _ = await store.read(sid)
        assert len(events) == 5
        reader.close()

    stores.run(test)


def test_tails_do_not_count_towards_max_pending_while_they_collapse(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make(max_pending=2)
        sid = await store.create()
        reader = await store.subscribe(sid)
        reader.on_cut_off = lambda: pytest.fail("cut off")
        await store.publish(sid, "block", "<p>1</p>")
        for n in range(50):
            await store.publish(sid, "tail" if n % 2 else "append", f"<p>{n}</p>" if n % 2 else "x")
        await caught_up(store, sid)
        assert store.subscriptions == 1
        reader.close()

    stores.run(test)


# --- end of a stream ------------------------------------------------------------------


def test_subscription_ends_after_done_and_a_late_reader_gets_the_whole_log(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        reader = await store.subscribe(sid)
        block = await store.publish(sid, "block", "<p>1</p>")
        done = await store.publish(sid, "done", DONE)
        assert await drain(reader) == [block, done]
        assert store.subscriptions == 0
        assert await drain(await store.subscribe(sid)) == [block, done]

    stores.run(test)


def test_nothing_may_be_published_after_done(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        await store.publish(sid, "done", DONE)
        with pytest.raises(ValueError):
            await store.publish(sid, "block", "<p>late</p>")

    stores.run(test)


def test_is_done_only_when_nothing_is_left_to_read(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        first = await store.publish(sid, "block", "<p>1</p>")
        assert not await store.is_done(sid)
        assert not await store.is_done(sid, first.id)
        done = await store.publish(sid, "done", DONE)
        assert await store.is_done(sid)
        assert await store.is_done(sid, done.id)
        assert not await store.is_done(sid, first.id)

    stores.run(test)


def test_cancel_calls_the_generator_back_until_done(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        calls = []
        store.on_cancel(sid, lambda: calls.append(1))
        assert await store.cancel(sid) is True
        assert calls == [1]
        await store.publish(sid, "done", json.dumps({"reason": "cancelled"}))
        assert await store.cancel(sid) is False
        assert calls == [1]

    stores.run(test)


def test_store_full_at_max_live_and_room_again_after_done(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make(max_live=2)
        first = await store.create()
        await store.create()
        with pytest.raises(StoreFull):
            await store.create()
        await store.publish(first, "done", DONE)
        assert store.live == 1
        await store.create()

    stores.run(test)


@pytest.mark.parametrize("method", ["subscribe", "read", "is_done", "publish", "cancel"])
def test_unknown_stream_is_stream_not_found(stores: Stores, method: str) -> None:
    async def test() -> None:
        store = stores.make()
        calls = {
            "subscribe": lambda: store.subscribe("nope"),
            "read": lambda: store.read("nope"),
            "is_done": lambda: store.is_done("nope"),
            "publish": lambda: store.publish("nope", "block", "x"),
            "cancel": lambda: store.cancel("nope"),
        }
        with pytest.raises(StreamNotFound):
            await calls[method]()

    stores.run(test)


MALFORMED_EVERYWHERE = [
    pytest.param("abc", id="letters"),
    pytest.param("-1", id="negative"),
    pytest.param("1.5", id="decimal"),
    pytest.param(" 1", id="space"),
    pytest.param("1\n", id="newline"),
    pytest.param("\u0661", id="arabic-indic-digit"),
    pytest.param("\u00b2", id="superscript-two"),
    pytest.param("1" * 10_000, id="huge"),
]


@pytest.mark.parametrize("bad_id", MALFORMED_EVERYWHERE)
@pytest.mark.parametrize("method", ["subscribe", "read", "is_done"])
def test_malformed_ids_are_value_errors(stores: Stores, bad_id: str, method: str) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        await store.publish(sid, "block", "<p>1</p>")
        with pytest.raises(ValueError):
            await getattr(store, method)(sid, bad_id)
        await store.publish(sid, "done", DONE)
        with pytest.raises(ValueError):
            await getattr(store, method)(sid, bad_id)
        assert store.subscriptions == 0

    stores.run(test)


# --- subscriptions are freed --------------------------------------------------------------


def test_subscriptions_count_back_to_zero_after_close(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        readers = [await store.subscribe(sid) for _ in range(10)]
        assert store.subscriptions == 10
        for reader in readers:
            reader.close()
            reader.close()  # idempotent
        assert store.subscriptions == 0
        await store.publish(sid, "block", "<p>after</p>")  # nobody to push to

    stores.run(test)


def test_close_wakes_a_pending_read(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        reader = await store.subscribe(sid)
        waiting = asyncio.ensure_future(anext(reader))
        await asyncio.sleep(0)
        assert not waiting.done()
        reader.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, WAIT)
        assert store.subscriptions == 0

    stores.run(test)


def test_a_cancelled_read_loses_no_event(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        reader = await store.subscribe(sid)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(anext(reader), 0.001)
        block = await store.publish(sid, "block", "<p>1</p>")
        assert await asyncio.wait_for(anext(reader), WAIT) == block
        reader.close()

    stores.run(test)


def test_store_close_ends_every_subscription(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        readers = [await store.subscribe(sid) for _ in range(3)]
        store.close()
        assert store.subscriptions == 0
        for reader in readers:
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(reader), WAIT)

    stores.run(test)


def test_take_ready_gives_what_is_queued_up_to_the_limit_and_done_finishes(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        reader = await store.subscribe(sid)
        assert reader.take_ready(10) == []
        published = [await store.publish(sid, "block", f"<p>{n}</p>") for n in range(5)]
        done = await store.publish(sid, "done", DONE)
        await caught_up(store, sid)
        await asyncio.wait_for(reader.wait(), WAIT)
        assert reader.take_ready(2) == published[:2]
        assert not reader.finished
        assert reader.take_ready(10) == [*published[2:], done]
        assert reader.finished
        assert store.subscriptions == 0
        await asyncio.wait_for(reader.wait(), WAIT)

    stores.run(test)


# --- Redis only: ids and the one reader per stream ---------------------------------------


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("1", id="no-sequence"),
        pytest.param("1-", id="empty-sequence"),
        pytest.param("-0", id="empty-ms"),
        pytest.param("1-2-3", id="three-parts"),
        pytest.param("18446744073709551616-0", id="ms-past-64-bits"),
        pytest.param("0-18446744073709551616", id="seq-past-64-bits"),
        pytest.param("0x1-0", id="hex"),
        pytest.param("1-0 ", id="trailing-space"),
        pytest.param("\u0661-0", id="arabic-indic-digit"),
        pytest.param("+", id="redis-special-plus"),
        pytest.param("$", id="redis-special-dollar"),
    ],
)
def test_redis_ids_must_be_entry_ids(bad_id: str) -> None:
    with pytest.raises(ValueError):
        parse_id(bad_id)


def test_redis_ids_order_as_ms_then_sequence() -> None:
    assert parse_id("5-10") > parse_id("5-9") > parse_id("4-99")
    assert parse_id(None) == parse_id("") == (0, 0)
    assert parse_id("18446744073709551615-18446744073709551615") == (2**64 - 1, 2**64 - 1)


def test_one_redis_reader_per_stream_whatever_the_subscriptions(redis_stores: Stores) -> None:
    async def test() -> None:
        store = redis_stores.make()
        first, second = await store.create(), await store.create()
        readers = [await store.subscribe(first) for _ in range(5)] + [await store.subscribe(second) for _ in range(3)]
        assert store.followers == 2
        tasks = [follower.task for follower in store._followers.values()]
        block = await store.publish(first, "block", "<p>1</p>")
        for reader in readers[:5]:
            assert await asyncio.wait_for(anext(reader), WAIT) == block
        for reader in readers:
            reader.close()
        assert store.followers == 0
        await asyncio.wait(tasks, timeout=WAIT)
        assert all(task.done() for task in tasks)

    redis_stores.run(test)


def test_a_stream_that_ends_stops_its_reader(redis_stores: Stores) -> None:
    async def test() -> None:
        store = redis_stores.make()
        sid = await store.create()
        reader = await store.subscribe(sid)
        await store.publish(sid, "done", DONE)
        assert [e.event for e in await drain(reader)] == ["done"]
        await until(lambda: store.followers == 0, "the reader did not stop")

    redis_stores.run(test)


# --- Redis only: several processes on one Redis ------------------------------------------


def test_published_in_one_process_read_and_resumed_in_another(redis_stores: Stores) -> None:
    async def test() -> None:
        a, b = redis_stores.make(), redis_stores.make()
        sid = await a.create()
        live = await b.subscribe(sid)
        half = len(OPS) // 2
        for kind, html in OPS[:half]:
            await a.publish(sid, kind, html)
        await caught_up(b, sid)
        seen = live.take_ready(10_000)
        live.close()
        last = next(e.id for e in reversed(seen) if e.id is not None)
        resumed = await a.subscribe(sid, last)  # back to the generating process
        for kind, html in OPS[half:]:
            await a.publish(sid, kind, html)
        await a.publish(sid, "done", DONE)
        rest = await drain(resumed)
        assert assemble(as_dicts(seen + rest)) == EXPECTED
        ids = [e.id for e in seen + rest if e.id is not None]
        assert len(ids) == len(set(ids)), "an event came twice"
        whole = await drain(await b.subscribe(sid))
        assert assemble(as_dicts(whole)) == EXPECTED

    redis_stores.run(test)


def test_cancel_from_another_process_reaches_the_generator(redis_stores: Stores) -> None:
    async def test() -> None:
        a, b = redis_stores.make(), redis_stores.make()
        sid = await a.create()
        cancelled = asyncio.Event()
        a.on_cancel(sid, cancelled.set)
        assert await b.cancel(sid) is True
        await asyncio.wait_for(cancelled.wait(), WAIT)
        await a.publish(sid, "done", json.dumps({"reason": "cancelled"}))
        assert await b.cancel(sid) is False

    redis_stores.run(test)


def test_readers_of_a_generator_that_went_away_get_error_and_done_after_the_lease(redis_stores: Stores) -> None:
    lease = 0.5

    async def test() -> None:
        a, b, c = (redis_stores.make(lease=lease) for _ in range(3))
        sid = await a.create()
        block = await a.publish(sid, "block", "<p>1</p>")
        readers = [await b.subscribe(sid), await b.subscribe(sid), await c.subscribe(sid)]
        for reader in readers:
            assert await asyncio.wait_for(anext(reader), WAIT) == block
        await asyncio.sleep(lease * 1.5)  # longer than the lease, which is refreshed: nothing ends
        assert [reader.take_ready(10) for reader in readers] == [[], [], []]
        gone = time.monotonic()
        await a.aclose()  # as a process that died: no more leases, no done
        ends = [await drain(reader) for reader in readers]
        assert time.monotonic() - gone < lease * 4
        for events in ends:  # two processes followed it; one ended it
            assert [e.event for e in events][-2:] == ["error", "done"]
            assert json.loads(events[-1].data) == {"reason": "error"}
            assert "message" in json.loads(events[-2].data)
        log, done = await b.read(sid)
        assert done and log[0] == block and [e.event for e in log] == ["block", "done"]  # ended once

    redis_stores.run(test)


# --- Redis only: Redis going away ---------------------------------------------------------


def test_redis_restarted_without_its_data_ends_readers_with_an_error() -> None:
    async def test(server: RedisServer) -> None:
        a, b = RedisStore(server.url), RedisStore(server.url, retries=10)
        try:
            sid = await a.create()
            await a.publish(sid, "block", "<p>1</p>")
            reader = await b.subscribe(sid)
            await asyncio.to_thread(server.restart)
            events = await drain(reader)
            assert [e.event for e in events] == ["block", "error"]
            with pytest.raises(StreamNotFound):
                await a.publish(sid, "block", "<p>2</p>")
            with pytest.raises(StreamNotFound):
                await b.subscribe(sid)
            assert await b.health()
        finally:
            await close_all([a, b])

    with RedisServer() as server:
        asyncio.run(asyncio.wait_for(test(server), 20))


def test_redis_that_stays_down_ends_readers_with_an_error_and_health_says_so() -> None:
    async def test(server: RedisServer) -> None:
        a, b = RedisStore(server.url), RedisStore(server.url, retries=2)
        try:
            sid = await a.create()
            await a.publish(sid, "block", "<p>1</p>")
            reader = await b.subscribe(sid)
            assert await b.health()
            await asyncio.to_thread(server.stop)
            started = time.monotonic()
            events = await drain(reader)
            assert [e.event for e in events] == ["block", "error"]
            assert time.monotonic() - started < 10
            assert not await b.health()
            assert b.followers == 0 and b.subscriptions == 0
        finally:
            await close_all([a, b])

    with RedisServer() as server:
        asyncio.run(asyncio.wait_for(test(server), 20))


def test_redis_restarted_with_its_data_lets_readers_resume_cleanly() -> None:
    async def test(server: RedisServer) -> None:
        a, b = RedisStore(server.url), RedisStore(server.url, retries=10)
        try:
            sid = await a.create()
            first = await a.publish(sid, "block", "<p>1</p>")
            reader = await b.subscribe(sid)
            assert await asyncio.wait_for(anext(reader), WAIT) == first
            await asyncio.to_thread(server.restart)
            second = await a.publish(sid, "block", "<p>2</p>")
            done = await a.publish(sid, "done", DONE)
            assert await drain(reader) == [second, done]
        finally:
            await close_all([a, b])

    with RedisServer(persist=True) as server:
        asyncio.run(asyncio.wait_for(test(server), 20))

"""RedisStore against the stream-store contract, and what only a shared
store has to keep: several processes on one Redis, cancel from any of them,
leases of generators that die, and Redis going away mid-stream.

The contract scenarios both stores keep are in ``test_store_contract.py``.
A real ``redis-server`` runs on a free port (no fakeredis); two
``RedisStore`` instances on it stand for two processes.  Each test runs its
own event loop with ``asyncio.run``; every wait is bounded, and waiting for a
Redis reader to catch up polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import cast

import pytest
from redis_server import RedisServer, redis_server_or_skip

redis_server_or_skip()

import redis.asyncio as aioredis  # noqa: E402
from store_helpers import DONE, EXPECTED, OPS, WAIT, Stores, as_dicts, caught_up, close_all, drain, until  # noqa: E402

from renderer import assemble  # noqa: E402
from renderer.server.store import BadEventId, Event, StoreUnavailable, StreamNotFound  # noqa: E402
from renderer.server.store.redis import RedisStore, parse_id  # noqa: E402

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_stores(redis_url: str) -> Stores:
    return Stores("redis", redis_url)


# --- Redis only: ids and the one reader per process -------------------------------------


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
    with pytest.raises(BadEventId):
        parse_id(bad_id)


def test_redis_ids_order_as_ms_then_sequence() -> None:
    assert parse_id("5-10") > parse_id("5-9") > parse_id("4-99")
    assert parse_id(None) == parse_id("") == (0, 0)
    assert parse_id("18446744073709551615-18446744073709551615") == (2**64 - 1, 2**64 - 1)


def test_one_redis_reader_per_process_whatever_the_streams_and_subscriptions(redis_stores: Stores) -> None:
    async def test() -> None:
        store = redis_stores.make()
        first, second = await store.create(), await store.create()
        readers = [await store.subscribe(first) for _ in range(5)] + [await store.subscribe(second) for _ in range(3)]
        assert store.followers == 2 and store.readers == 1
        tasks = [reader.task for reader in store._readers]
        block = await store.publish(first, "block", "<p>1</p>")
        for reader in readers[:5]:
            assert await asyncio.wait_for(anext(reader), WAIT) == block
        for reader in readers:
            reader.close()
        assert store.followers == 0
        await asyncio.wait(tasks, timeout=WAIT)  # it leaves at the end of its round
        assert all(task.done() for task in tasks) and store.readers == 0

    redis_stores.run(test)


async def redis_connections(url: str) -> int:
    """Connections Redis has open, besides the one asking."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        return len(cast(list[object], await client.client_list())) - 1
    finally:
        await client.aclose()


def test_300_streams_in_one_process_each_deliver_exactly_their_events_over_few_connections(
    redis_server: RedisServer,
) -> None:
    count = 300

    async def test() -> None:
        writer, store = RedisStore(redis_server.url), RedisStore(redis_server.url)
        try:
            sids = [await writer.create() for _ in range(count)]
            first = [await writer.publish(sid, "block", f"<p>{n}</p>") for n, sid in enumerate(sids)]
            subscriptions = [await store.subscribe(sid) for sid in sids]
            assert store.followers == count and store.readers == 2  # 200 streams per reader
            published: list[list[Event]] = [[event] for event in first]
            for round_ in range(3):  # interleaved: every stream gets a block in each round (blocks are not coalesced)
                for n, sid in enumerate(sids):
                    published[n].append(await writer.publish(sid, "block", f"<p>{n}.{round_}</p>"))
            # Both stores together, while 300 streams are followed: a reader
            # per 200 streams, not a connection per stream.
            assert await redis_connections(redis_server.url) <= 12
            for n, sid in enumerate(sids):
                published[n].append(await writer.publish(sid, "done", DONE))
            for n, subscription in enumerate(subscriptions):
                assert await drain(subscription) == published[n], n
            await until(lambda: store.followers == 0, "the streams were not let go")
        finally:
            await close_all([writer, store])

    asyncio.run(asyncio.wait_for(test(), 60))


def test_a_stream_followed_while_the_reader_is_blocked_gets_its_events_without_waiting_for_the_block(
    redis_stores: Stores,
) -> None:
    async def test() -> None:
        writer, store = redis_stores.make(), redis_stores.make()
        # A block far past any wait here: the new stream's events can only
        # come in time if the blocked XREAD is woken up.
        store._block_ms = 600_000
        store._redis.connection_pool.connection_kwargs["socket_timeout"] = 700.0
        quiet, later = await writer.create(), await writer.create()
        before = await writer.publish(later, "block", "<p>before</p>")
        idle = await store.subscribe(quiet)
        probe = aioredis.Redis.from_url(redis_stores.url, decode_responses=True)
        try:
            deadline = time.monotonic() + WAIT
            while int(cast(dict[str, int], await probe.info("clients"))["blocked_clients"]) < 1:
                assert time.monotonic() < deadline, "the reader never blocked"
                await asyncio.sleep(0.005)
        finally:
            await probe.aclose()
        subscription = await store.subscribe(later)
        assert store.readers == 1
        live = [
            await writer.publish(later, "tail", "<p>a</p>"),
            await writer.publish(later, "block", "<p>after</p>"),
            await writer.publish(later, "done", DONE),
        ]
        assert await drain(subscription) == [before, *live]
        assert idle.take_ready(10) == []
        idle.close()

    redis_stores.run(test)


def test_a_dead_writer_ends_its_streams_readers_and_not_the_others_in_the_same_reader(
    redis_stores: Stores,
) -> None:
    lease = 0.5

    async def test() -> None:
        dying, alive, store = (redis_stores.make(lease=lease) for _ in range(3))
        lost = [await dying.create() for _ in range(3)]
        kept = [await alive.create() for _ in range(3)]
        for sid in lost:
            await dying.publish(sid, "block", "<p>1</p>")
        subscriptions = {sid: await store.subscribe(sid) for sid in lost + kept}
        assert store.readers == 1
        await dying.aclose()  # as a process that died: no more leases, no done
        for sid in lost:
            events = await drain(subscriptions[sid])
            assert [e.event for e in events] == ["block", "error", "done"]
            assert json.loads(events[-1].data) == {"reason": "error"}
        for sid in kept:  # quiet as long, but their writer renews their leases
            published = [await alive.publish(sid, "block", "<p>2</p>"), await alive.publish(sid, "done", DONE)]
            assert await drain(subscriptions[sid]) == published

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


def count_xranges(store: RedisStore) -> list[tuple[str, str]]:
    """The (start, end) of every XRANGE ``store`` sends from now on."""
    ranges: list[tuple[str, str]] = []
    xrange = store._redis.xrange

    async def counting(key: str, start: str, end: str) -> object:
        ranges.append((start, end))
        return await xrange(key, start, end)

    store._redis.xrange = counting  # type: ignore[method-assign,assignment]  # a spy on the client
    return ranges


def test_the_readers_of_a_finished_answer_share_one_replay_from_redis(redis_stores: Stores) -> None:
    async def test() -> None:
        writer, readers = redis_stores.make(), redis_stores.make()
        sid = await writer.create()
        for kind, html in OPS:
            await writer.publish(sid, kind, html)
        await writer.publish(sid, "done", DONE)
        ranges = count_xranges(readers)
        replays = await asyncio.gather(*(readers.subscribe(sid) for _ in range(50)))
        for replay in replays:
            assert assemble(as_dicts(await drain(replay))) == EXPECTED
        assert len(ranges) == 1, ranges  # one XRANGE for 50 readers
        whole = await drain(await readers.subscribe(sid))
        ids = [e.id for e in whole if e.id is not None]
        resumed = await drain(await readers.subscribe(sid, ids[len(ids) // 2]))
        assert [e.id for e in resumed if e.id is not None] == ids[len(ids) // 2 + 1 :]
        assert len(ranges) == 1  # a resumer is served from the same copy

    redis_stores.run(test)


def test_a_live_answer_replay_reads_from_redis_only_what_is_new(redis_stores: Stores) -> None:
    async def test() -> None:
        writer, readers = redis_stores.make(), redis_stores.make()
        sid = await writer.create()
        half = len(OPS) // 2
        for kind, html in OPS[:half]:
            await writer.publish(sid, kind, html)
        ranges = count_xranges(readers)
        first = await readers.subscribe(sid)
        for kind, html in OPS[half:]:
            await writer.publish(sid, kind, html)
        await caught_up(readers, sid)
        second = await readers.subscribe(sid)
        await writer.publish(sid, "done", DONE)
        for reader in (first, second):
            assert assemble(as_dicts(await drain(reader))) == EXPECTED
        assert len(ranges) == 2
        assert ranges[0][0] == "-" and ranges[1][0] == f"({ranges[0][1]}"  # the second read only the new entries

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
            assert [e.event for e in events] == ["block", "error", "done"]
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
            assert [e.event for e in events] == ["block", "error", "done"]
            assert time.monotonic() - started < 10
            assert not await b.health()
            assert b.followers == 0 and b.subscriptions == 0
        finally:
            await close_all([a, b])

    with RedisServer() as server:
        asyncio.run(asyncio.wait_for(test(server), 20))


async def command_calls(url: str) -> dict[str, int]:
    """Calls of each command the Redis server has run (``INFO commandstats``)."""
    client = aioredis.Redis.from_url(url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}


def test_a_flush_is_one_script_call_and_the_writer_reads_its_own_answer_without_asking_redis() -> None:
    async def test(server: RedisServer) -> None:
        store = RedisStore(server.url, lease=600)  # no lease renewal during the test
        try:
            await store.publish(await store.create(), "block", "<p>0</p>")  # the script is loaded
            sid = await store.create()
            before = await command_calls(server.url)
            reader = await store.subscribe(sid)
            await store.publish_many(sid, [("block", "<p>a</p>"), ("tail", "<p>b</p>"), ("append", "c")])
            after = await command_calls(server.url)
            assert after["evalsha"] - before["evalsha"] == 1
            assert after.get("hgetall", 0) == before.get("hgetall", 0)
            assert after.get("xrange", 0) == before.get("xrange", 0)
            await store.publish(sid, "done", DONE)
            assert assemble(as_dicts(await drain(reader))) == "<p>a</p><p>bc</p>"
        finally:
            await close_all([store])

    with RedisServer() as server:
        asyncio.run(asyncio.wait_for(test(server), 20))


@pytest.mark.parametrize("method", ["create", "publish", "subscribe", "read", "is_done", "cancel"])
def test_calls_while_redis_is_down_raise_store_unavailable_not_a_redis_error(method: str) -> None:
    async def test(server: RedisServer) -> None:
        store, other = RedisStore(server.url), RedisStore(server.url)
        try:
            sid = await store.create()
            first = await store.publish(sid, "block", "<p>1</p>")
            await asyncio.to_thread(server.stop)
            calls: dict[str, Callable[[], Awaitable[object]]] = {
                "create": lambda: store.create(),
                "publish": lambda: store.publish(sid, "block", "<p>2</p>"),
                # (the writer's own store knows the stream: it asks Redis nothing to subscribe)
                "subscribe": lambda: other.subscribe(sid, first.id),
                "read": lambda: store.read(sid, first.id),
                "is_done": lambda: store.is_done(sid, first.id),
                "cancel": lambda: store.cancel(sid),
            }
            with pytest.raises(StoreUnavailable):
                await calls[method]()
            assert not await store.health()
            assert store.subscriptions == 0 and other.subscriptions == 0
        finally:
            await close_all([store, other])

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

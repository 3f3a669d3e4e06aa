"""The stream-store contract (``renderer/store/base.py``), held against every
store: the memory store always, the Redis store when a real ``redis-server``
can run (a free port, no fakeredis).  Each test runs its own event loop with
``asyncio.run``; every wait is bounded, and waiting for a Redis reader to
catch up polls a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from store_helpers import DONE, EXPECTED, OPS, WAIT, Stores, as_dicts, caught_up, drain, until

from renderer import assemble
from renderer.server.store import (
    BadEventId,
    ClientLimit,
    Event,
    MemoryStore,
    SlowReader,
    StoreError,
    StoreFull,
    StoreUnavailable,
    StreamEnded,
    StreamNotFound,
    StreamStore,
    Subscription,
)
from renderer.server.store.base import ID_EVENTS


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def stores(request: pytest.FixtureRequest) -> Stores:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    return Stores(request.param, url)


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


@pytest.mark.parametrize("size", [1, 2, 3, 100])
def test_ops_published_in_batches_read_as_if_published_one_by_one(stores: Stores, size: int) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        reader = await store.subscribe(sid)
        ops = [*OPS, ("done", DONE)]
        published: list[Event] = []
        for start in range(0, len(ops), size):
            published += await store.publish_many(sid, ops[start : start + size])
        assert [(e.event, e.data) for e in published] == ops
        assert [e.id is not None for e in published] == [kind in ID_EVENTS for kind, _ in ops]
        live = await drain(reader)  # (a reader may skip a tail that a newer one replaced)
        assert [(e.event, e.data, e.id) for e in live if e.id] == [(e.event, e.data, e.id) for e in published if e.id]
        assert assemble(as_dicts(live)) == EXPECTED
        assert assemble(as_dicts(await drain(await store.subscribe(sid)))) == EXPECTED
        with pytest.raises(StreamEnded):
            await store.publish_many(sid, [("block", "<p>late</p>")])

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
        with pytest.raises(StreamEnded):
            await store.publish(sid, "block", "<p>late</p>")

    stores.run(test)


def test_an_append_that_does_not_fit_the_tail_is_refused_and_changes_nothing(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        await store.publish(sid, "tail", "<p>a</p>\n")
        with pytest.raises(ValueError):
            await store.publish(sid, "append", "</div>")
        await store.publish(sid, "append", "b")
        commit = await store.publish(sid, "commit", "")
        assert (await store.read(sid))[0] == [Event("block", "<p>ab</p>\n", commit.id)]

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
def test_malformed_ids_are_bad_event_ids(stores: Stores, bad_id: str, method: str) -> None:
    async def test() -> None:
        store = stores.make()
        sid = await store.create()
        await store.publish(sid, "block", "<p>1</p>")
        with pytest.raises(BadEventId):
            await getattr(store, method)(sid, bad_id)
        await store.publish(sid, "done", DONE)
        with pytest.raises(BadEventId):
            await getattr(store, method)(sid, bad_id)
        assert store.subscriptions == 0

    stores.run(test)


@pytest.mark.parametrize("method", ["subscribe", "read", "is_done"])
def test_an_unknown_stream_is_stream_not_found_whatever_the_id(stores: Stores, method: str) -> None:
    async def test() -> None:
        store = stores.make()
        with pytest.raises(StreamNotFound):
            await getattr(store, method)("nope", "abc")

    stores.run(test)


# --- the errors and the interface ------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "standard"),
    [
        pytest.param(StreamNotFound, KeyError, id="not-found-is-a-key-error"),
        pytest.param(BadEventId, ValueError, id="bad-id-is-a-value-error"),
        pytest.param(StreamEnded, ValueError, id="ended-is-a-value-error"),
        pytest.param(StoreFull, Exception, id="full"),
        pytest.param(StoreUnavailable, Exception, id="unavailable"),
        pytest.param(SlowReader, Exception, id="slow-reader"),
    ],
)
def test_every_store_error_is_a_store_error_and_subclasses_the_standard_one_it_means(
    error: type[Exception], standard: type[Exception]
) -> None:
    assert issubclass(error, StoreError) and issubclass(error, standard)


def test_the_interfaces_are_abstract_and_the_memory_store_implements_them() -> None:
    with pytest.raises(TypeError, match="abstract"):
        StreamStore()  # type: ignore[abstract]
    with pytest.raises(TypeError, match="abstract"):
        Subscription()  # type: ignore[abstract]
    assert isinstance(MemoryStore(), StreamStore)


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


def test_a_client_at_its_limit_gets_client_limit_others_do_not_and_room_again_after_done(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make(max_live=10, max_per_client=2)
        first = await store.create(client="198.51.100.1")
        await store.create(client="198.51.100.1")
        with pytest.raises(ClientLimit):
            await store.create(client="198.51.100.1")
        await store.create(client="198.51.100.2")
        await store.publish(first, "done", DONE)
        await store.create(client="198.51.100.1")

    stores.run(test)


def test_concurrent_creates_cannot_all_pass_the_limits(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make(max_live=20, max_per_client=8)
        one = await asyncio.gather(*(store.create(client="a") for _ in range(60)), return_exceptions=True)
        assert sum(isinstance(result, str) for result in one) == 8
        assert all(isinstance(result, str | ClientLimit) for result in one)
        many = await asyncio.gather(*(store.create(client=f"c{n}") for n in range(60)), return_exceptions=True)
        assert sum(isinstance(result, str) for result in many) == 12  # 20 in all
        assert all(isinstance(result, str | StoreFull) for result in many)

    stores.run(test)


def test_a_stream_knows_its_owner(stores: Stores) -> None:
    async def test() -> None:
        store = stores.make()
        mine = await store.create(owner="token:abc")
        nobodys = await store.create()
        assert await store.owner(mine) == "token:abc"
        assert await store.owner(nobodys) == ""
        with pytest.raises(StreamNotFound):
            await store.owner("nope")

    stores.run(test)

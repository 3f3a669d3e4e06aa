"""Limits and faults with the Redis store.

Limits: two server processes on one Redis count together, atomically: 40
sequential and 60 concurrent POSTs from one client get exactly its 8; 700
concurrent POSTs from 700 clients get exactly what is left of the 200.
Faults: a Redis ``maxmemory`` spell in the middle of an answer ends it
(``error`` then ``done``) and leaves nothing counted; a spell long enough to
outlast the retries abandons the answer, which readers then end; out of
memory at create is a 503; an answer whose keys vanish (eviction) ends its
readers with an ``error`` and ``done``, and an evicting policy is warned
about.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from redis_server import RedisServer
from serve_process import Served
from server_fixtures import TIMEOUT, ControlledSource, ServerThread, SSERead, fetch, read_sse, run

from renderer.server.config import Config
from renderer.server.generation import STORE_FAILED
from renderer.server.state import default_sources
from renderer.server.store.redis import RedisStore

pytestmark = [pytest.mark.redis, pytest.mark.slow]

LONG_MESSAGE = " ".join(f"word{n}" for n in range(400))
"""Echoed at one token per 0.5 s: answers stay live for the whole test."""


def chat(client: str) -> dict[str, Any]:
    return {
        "body": json.dumps({"message": LONG_MESSAGE, "source": "echo"}),
        "headers": {"Content-Type": "application/json", "X-Forwarded-For": client},
    }


@pytest.fixture
def two_processes(redis_server: RedisServer) -> Iterator[tuple[Served, Served]]:
    flags = [
        "--store",
        redis_server.url,
        "--source",
        "echo",
        "--token-delay",
        "0.5",
        "--max-streams",
        "200",
        "--max-streams-per-client",
        "8",
        "--max-connections-per-client",
        "0",
        "--trusted-proxy",
        "127.0.0.1",  # so that the test can speak for many clients (X-Forwarded-For)
    ]
    with Served(*flags) as a, Served(*flags) as b:
        yield a, b


def test_limits_are_counted_together_and_atomically_across_two_processes(two_processes: tuple[Served, Served]) -> None:
    a, b = two_processes
    servers = [a, b]

    async def post(n: int, client: str) -> int:
        response = await fetch(servers[n % 2].url("/api/chat"), "POST", **chat(client), timeout=4 * TIMEOUT)
        return int(response.code)

    async def test() -> None:
        sequential = [await post(n, "203.0.113.1") for n in range(40)]
        assert sequential.count(201) == 8 and sequential.count(429) == 32, sequential

        concurrent = await asyncio.gather(*(post(n, "203.0.113.2") for n in range(60)))
        assert concurrent.count(201) == 8 and concurrent.count(429) == 52, concurrent

        many = await asyncio.gather(*(post(n, f"10.{n // 250}.{n % 250}.1") for n in range(700)))
        assert many.count(201) == 200 - 16 and many.count(503) == 700 - 184, sorted(set(many))

    run(test(), timeout=12 * TIMEOUT)


# --- faults ----------------------------------------------------------------------------------


def redis_client(server: RedisServer) -> Any:
    import redis

    return redis.Redis.from_url(server.url, decode_responses=True)


@pytest.fixture
def faulty(redis_server: RedisServer) -> Iterator[tuple[ServerThread, ControlledSource, Any]]:
    config = Config(token_delay=0, store=redis_server.url, lease=1.0, max_streams=2, max_streams_per_client=2)
    gate = ControlledSource(pause_at=1)
    client = redis_client(redis_server)
    try:
        # interval 0: every token's ops are written at once, so the spell hits a write mid-answer.
        with ServerThread(config, sources={**default_sources(config), "gated": gate}, interval=0) as server:
            yield server, gate, client
    finally:
        client.config_set("maxmemory", 0)
        client.close()


async def start(server: ServerThread, source: str = "gated") -> str:
    body = json.dumps({"message": "a short answer in a few tokens", "source": source})
    response = await fetch(server.url("/api/chat"), "POST", body=body)
    assert response.code == 201, (response.code, response.body)
    return str(json.loads(response.body)["id"])


async def start_with_a_reader(server: ServerThread) -> tuple[str, asyncio.Future[SSERead]]:
    """A gated answer and its SSE reader, once the reader is connected."""
    stream_id = await start(server)
    reader = asyncio.ensure_future(read_sse(server.port, f"/api/streams/{stream_id}/events", timeout=3 * TIMEOUT))
    await server.until(lambda: server.state.metrics.readers == 1, "the reader to connect")
    return stream_id, reader


async def until_logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2 * TIMEOUT
    while not any(text in record.getMessage() for record in caplog.records):
        assert loop.time() < deadline, f"never logged: {text!r}"
        await asyncio.sleep(0.01)


def ends_with_error_then_done(events: list[Any]) -> tuple[str, str]:
    kinds = [event.event for event in events]
    assert kinds[-2:] == ["error", "done"], kinds
    return json.loads(events[-2].data)["message"], json.loads(events[-1].data)["reason"]


def no_silent_task_deaths(caplog: pytest.LogCaptureFixture) -> None:
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "Task exception was never retrieved" in m or " died" in m], messages


def test_a_maxmemory_spell_mid_answer_ends_it_with_error_then_done_and_leaves_no_zombie(
    faulty: tuple[ServerThread, ControlledSource, Any], caplog: pytest.LogCaptureFixture
) -> None:
    server, gate, redis = faulty

    async def test() -> None:
        _, reader = await start_with_a_reader(server)
        redis.config_set("maxmemory", 1)  # everything that writes is refused: OOM
        await server.acall(gate.release_all)
        await until_logged(caplog, "refused its last events")
        redis.config_set("maxmemory", 0)  # the spell is over: the retries of the last events succeed
        events = (await reader).events
        message, reason = ends_with_error_then_done(events)
        assert (message, reason) == (STORE_FAILED, "error")
        store = server.state.store
        assert isinstance(store, RedisStore) and store.live == 0
        assert redis.zcard("renderer:live") == 0
        for _ in range(2):  # max_streams is 2: nothing of the ended answer is still counted
            await start(server, "echo")

    with caplog.at_level(logging.INFO):
        run(test(), timeout=6 * TIMEOUT)
    no_silent_task_deaths(caplog)


def test_a_spell_that_outlasts_the_retries_abandons_the_answer_and_readers_still_get_done(
    faulty: tuple[ServerThread, ControlledSource, Any], caplog: pytest.LogCaptureFixture
) -> None:
    server, gate, redis = faulty

    async def test() -> None:
        stream_id, reader = await start_with_a_reader(server)
        redis.config_set("maxmemory", 1)
        await server.acall(gate.release_all)
        await until_logged(caplog, "abandoning it to its readers")
        message, reason = ends_with_error_then_done((await reader).events)  # its reader gave up: error, done
        assert reason == "error"
        redis.config_set("maxmemory", 0)
        # A reader that comes now finds an answer nobody writes, and ends it.
        late = await read_sse(server.port, f"/api/streams/{stream_id}/events", timeout=3 * TIMEOUT)
        message, reason = ends_with_error_then_done(late.events)
        assert "nothing wrote to it" in message and reason == "error"
        poll = json.loads((await fetch(server.url(f"/api/streams/{stream_id}/poll"))).body)
        assert poll["done"]
        for _ in range(2):  # the abandoned answer is not counted
            await start(server, "echo")

    with caplog.at_level(logging.INFO):
        run(test(), timeout=8 * TIMEOUT)
    no_silent_task_deaths(caplog)


def test_out_of_memory_when_starting_an_answer_is_a_503(faulty: tuple[ServerThread, ControlledSource, Any]) -> None:
    server, _, redis = faulty

    async def test() -> None:
        await start(server, "echo")  # the store has listened and checked its policy
        redis.config_set("maxmemory", 1)
        response = await fetch(server.url("/api/chat"), "POST", body=json.dumps({"message": "hi", "source": "echo"}))
        redis.config_set("maxmemory", 0)
        assert response.code == 503
        assert response.headers["Retry-After"]
        assert json.loads(response.body) == {"error": "the stream store is unavailable; retry later"}

    run(test())


def test_an_answer_whose_keys_vanish_ends_its_readers_with_error_then_done(
    faulty: tuple[ServerThread, ControlledSource, Any],
) -> None:
    server, gate, redis = faulty

    async def test() -> None:
        stream_id, reader = await start_with_a_reader(server)
        redis.delete(*(f"renderer:{stream_id}:{key}" for key in ("events", "meta", "lease")))  # as eviction would
        message, reason = ends_with_error_then_done((await reader).events)
        assert message == "the stream store lost this answer" and reason == "error"
        await server.acall(gate.release_all)
        assert (await fetch(server.url(f"/api/streams/{stream_id}/poll"))).code == 404
        store = server.state.store
        assert isinstance(store, RedisStore)
        await server.until(lambda: store.live == 0, "the writer to find it gone")
        for _ in range(2):  # the lost answer no longer counts
            await start(server, "echo")

    run(test(), timeout=6 * TIMEOUT)


def test_an_evicting_memory_policy_is_warned_about(redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    redis = redis_client(redis_server)
    redis.config_set("maxmemory-policy", "allkeys-lru")
    redis.close()

    async def test() -> None:
        store = RedisStore(redis_server.url)
        try:
            stream_id = await store.create()
            await store.publish(stream_id, "done", json.dumps({"reason": "complete"}))
        finally:
            await store.aclose()

    run(test())
    assert any("maxmemory-policy is allkeys-lru" in record.getMessage() for record in caplog.records)

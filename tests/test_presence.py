"""Idle-reader cancel (renderer/server/presence.py): an answer that no reader
follows for Config.idle_cancel seconds is cancelled and its upstream
connection closed; a reader that is there, or comes back in time, keeps it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import pytest
from fake_upstream import STALL, FakeUpstream, Reply, chunk, role_chunk
from test_parts import running
from tornado import httpclient

from renderer.server.config import Config
from renderer.server.presence import Presence

TIMEOUT = 10.0


class Timers:
    """A call_later that runs nothing by itself: the test fires timers."""

    def __init__(self) -> None:
        self.pending: list[tuple[asyncio.TimerHandle, Callable[[], None]]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(10**9, lambda: None, (), asyncio.get_event_loop())
        self.pending.append((handle, callback))
        return handle

    def fire(self) -> None:
        live = [(handle, callback) for handle, callback in self.pending if not handle.cancelled()]
        self.pending = []
        for handle, callback in live:
            handle.cancel()
            callback()


def presence_case(steps: Callable[[Presence, Timers, list[str]], None]) -> list[str]:
    stopped: list[str] = []

    async def run() -> None:
        timers = Timers()
        presence = Presence(60.0, call_later=timers)
        steps(presence, timers, stopped)

    asyncio.run(run())
    return stopped


def test_a_watched_stream_with_no_reader_is_stopped_when_its_timer_fires() -> None:
    def steps(presence: Presence, timers: Timers, stopped: list[str]) -> None:
        presence.watch("s", lambda: stopped.append("s"))
        timers.fire()

    assert presence_case(steps) == ["s"]


def test_a_reader_holds_the_timer_off_and_its_leaving_restarts_it() -> None:
    def steps(presence: Presence, timers: Timers, stopped: list[str]) -> None:
        presence.watch("s", lambda: stopped.append("s"))
        presence.enter("s")
        presence.enter("s")
        timers.fire()
        assert stopped == []
        presence.leave("s")
        timers.fire()
        assert stopped == []  # one reader is still there
        presence.leave("s")
        presence.enter("s")  # came back in time: the timer is off again
        timers.fire()
        assert stopped == []
        presence.leave("s")
        timers.fire()

    assert presence_case(steps) == ["s"]


class RecordedRemote:
    """A ``presence.Remote`` that notes what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def enter(self, stream_id: str) -> None:
        self.calls.append(("enter", stream_id))

    async def leave(self, stream_id: str, idle: float) -> None:
        self.calls.append(("leave", stream_id))

    async def mark(self, stream_id: str, idle: float) -> None:
        self.calls.append(("mark", stream_id))

    async def seen(self, stream_id: str) -> bool:
        return False


def test_only_readers_of_answers_generated_elsewhere_are_counted_remotely() -> None:
    async def run() -> list[tuple[str, str]]:
        remote = RecordedRemote()
        presence = Presence(60.0, call_later=Timers(), remote=remote)
        presence.watch("here", lambda: None)  # generated in this process: its readers are seen here
        for stream_id in ("here", "elsewhere", "elsewhere", "here"):
            presence.enter(stream_id)
        for stream_id in ("elsewhere", "here", "elsewhere", "here"):
            presence.leave(stream_id)
        await asyncio.gather(*asyncio.all_tasks() - {asyncio.current_task()})
        return remote.calls

    calls = asyncio.run(run())
    assert sorted(calls) == [("enter", "elsewhere")] * 2 + [("leave", "elsewhere")] * 2


def test_an_ended_stream_is_not_stopped() -> None:
    def steps(presence: Presence, timers: Timers, stopped: list[str]) -> None:
        presence.watch("s", lambda: stopped.append("s"))
        presence.unwatch("s")
        timers.fire()

    assert presence_case(steps) == []


# --- end to end: the upstream connection closes ------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


def config(fake: FakeUpstream) -> Config:
    return Config(upstream=fake.url, source="upstream", model="m", idle_cancel=0.2)


async def start(port: int) -> str:
    client = httpclient.AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(
            f"http://127.0.0.1:{port}/api/chat",
            method="POST",
            body=json.dumps({"message": "hi"}),
            headers={"Content-Type": "application/json"},
        )
    finally:
        client.close()
    return str(json.loads(response.body)["id"])


async def done_of(port: int, stream_id: str) -> dict[str, object]:
    client = httpclient.AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(f"http://127.0.0.1:{port}/api/streams/{stream_id}/poll?wait=5")
    finally:
        client.close()
    events = json.loads(response.body)["events"]
    assert events[-1]["event"] == "done"
    return dict(json.loads(events[-1]["data"]))


def test_an_answer_nobody_reads_is_cancelled_and_its_upstream_closed(fake: FakeUpstream) -> None:
    fake.reply = Reply([role_chunk(), chunk("Hello"), STALL])

    async def scenario() -> None:
        closed = fake.watch_close()
        async with running(config(fake)) as (port, state):
            stream_id = await start(port)
            await asyncio.wait_for(closed.wait(), TIMEOUT)
            assert await done_of(port, stream_id) == {"reason": "cancelled"}
            assert "renderer_idle_cancelled_total 1.0" in state.metrics.exposition().decode()

    asyncio.run(scenario())


def test_a_closed_tab_stops_the_answer(fake: FakeUpstream) -> None:
    fake.reply = Reply([role_chunk(), chunk("Hello there"), STALL])

    async def scenario() -> None:
        closed = fake.watch_close()
        async with running(config(fake)) as (port, state):
            stream_id = await start(port)
            reader = await asyncio.open_connection("127.0.0.1", port)
            _, writer = reader
            writer.write(f"GET /api/streams/{stream_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            for _ in range(1000):  # until the reader is counted
                if state.presence.readers(stream_id):
                    break
                await asyncio.sleep(0.01)
            assert state.presence.readers(stream_id) == 1
            writer.close()  # the tab closes
            await asyncio.wait_for(closed.wait(), TIMEOUT)
            assert (await done_of(port, stream_id))["reason"] == "cancelled"

    asyncio.run(scenario())

"""Many readers, a reader that stops reading, and readers that come and go.

* 100 readers follow one answer; one of them never reads.  That one is cut
  off (its connection closed, ``renderer_slow_readers_cut_off_total`` up by
  one) while the 99 others get the whole answer, exactly.
* 1,000 connect/disconnect cycles on a live answer leave nothing behind: no
  subscription, no reader, no task.

The answer comes from a source the test releases once every reader is
subscribed, a paragraph at a time, and the server renders each piece at
once (generations with interval 0), so a reader that keeps up is never more
than a few events behind: only the stuck one piles events up.  The server's
listening socket has a small SO_SNDBUF (inherited by accepted sockets), or
the kernel would take a few MB for the stuck reader before a write blocks.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from server_fixtures import (
    TIMEOUT,
    ControlledSource,
    RawResponse,
    ServerThread,
    cut_off_stuck_reader,
    fetch,
    open_stuck_reader,
    post_chat,
    read_sse,
    read_until_closed,
    run,
)

from renderer import assemble, render_markdown
from renderer.server import handlers
from renderer.server.config import Config

pytestmark = pytest.mark.slow  # hundreds of connections, a thousand reconnects

READERS = 100
PARAGRAPHS = 40
LONG_ANSWER = "".join(
    f"Paragraph {n}: " + " ".join(f"word{(n * 7 + i) % 101}" for i in range(300)) + "\n\n" for n in range(PARAGRAPHS)
)


def paragraphs(text: str) -> list[str]:
    return re.findall(r".*?\n\n", text, re.DOTALL)


assert "".join(paragraphs(LONG_ANSWER)) == LONG_ANSWER


async def metric(server: ServerThread, name: str) -> float:
    response = await fetch(server.url("/metrics"))
    assert response.code == 200
    match = re.search(rf"^{name} (\S+)$", response.body.decode(), re.M)
    assert match, name
    return float(match.group(1))


def test_a_reader_that_stops_reading_is_cut_off_while_99_others_get_the_answer() -> None:
    control = ControlledSource(pause_at=0, delay=0.005, split=paragraphs, text=lambda _: LONG_ANSWER)
    config = Config(token_delay=0, max_pending=8, heartbeat=30)
    expected = render_markdown(LONG_ANSWER)

    async def test(server: ServerThread) -> None:
        store, metrics = server.memory_store, server.state.metrics
        assert await metric(server, "renderer_slow_readers_cut_off_total") == 0
        sid = await post_chat(server, "the long answer, please", source="paragraphs")
        path = f"/api/streams/{sid}/events"
        stuck = await open_stuck_reader(server.port, path)
        try:
            readers = [asyncio.ensure_future(read_sse(server.port, path)) for _ in range(READERS - 1)]
            await server.until(lambda: store.subscriptions == READERS, "every reader to subscribe")
            await server.acall(lambda: control.answers[0].released.set())
            results = await asyncio.wait_for(asyncio.gather(*readers), 4 * TIMEOUT)
            await server.until(lambda: metrics.cut_off >= 1, "the stuck reader to be cut off")
            received = await read_until_closed(stuck)
        finally:
            stuck.close()
        assert 0 < received < len(expected), received
        for result in results:
            assert result.status == 200 and result.ended
            assert result.events[-1].event == "done"
            assert json.loads(result.events[-1].data) == {"reason": "complete"}
            assert assemble(result.dicts) == expected
        assert await metric(server, "renderer_slow_readers_cut_off_total") == 1
        await server.until(lambda: store.subscriptions == 0, "every subscription to be freed")

    with ServerThread(config, sources={"paragraphs": control}, interval=0, sndbuf=4096) as server:
        run(test(server), timeout=6 * TIMEOUT)


def test_a_reader_that_is_cut_off_is_let_go() -> None:
    control = ControlledSource(pause_at=0, delay=0.002, split=paragraphs, text=lambda _: LONG_ANSWER)
    config = Config(token_delay=0, max_pending=4, heartbeat=30)

    async def test(server: ServerThread) -> None:
        store, metrics = server.memory_store, server.state.metrics
        sid = await post_chat(server, "the long answer, please", source="paragraphs")
        baseline = await server.tasks()
        stuck = await open_stuck_reader(server.port, f"/api/streams/{sid}/events")
        try:
            await server.until(lambda: store.subscriptions == 1, "the reader to subscribe")
            await server.acall(lambda: control.answers[0].released.set())
            await server.until(lambda: metrics.cut_off == 1, "the reader to be cut off")
            await read_until_closed(stuck)
        finally:
            stuck.close()
        await server.until(lambda: store.is_done(sid), "the answer to end")
        await server.until(lambda: metrics.readers == 0, "the reader gauge to come back to 0", timeout=3)
        assert await server.tasks() <= baseline

    with ServerThread(config, sources={"paragraphs": control}, interval=0, sndbuf=4096) as server:
        run(test(server))


def test_a_reader_that_never_reads_a_finished_answer_is_cut_off_after_a_bound_of_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A done answer has no live events to fall behind on (``max_pending``
    never trips): what bounds the reader is ``WRITE_BYTES`` unsent and
    ``write_timeout``.  It then resumes from an id and gets the rest."""
    monkeypatch.setattr(handlers, "WRITE_BYTES", 4096)
    config = Config(token_delay=0, heartbeat=30, write_timeout=1.0, max_message=200_000, max_body=400_000)
    message = LONG_ANSWER * 2

    async def test(server: ServerThread) -> None:
        metrics = server.state.metrics
        sid = await post_chat(server, message)
        whole = await read_sse(server.port, f"/api/streams/{sid}/events")
        assert whole.ended and assemble(whole.dicts) == render_markdown(message)
        frames = sum(len(event.data) for event in whole.events)
        received = await cut_off_stuck_reader(server, f"/api/streams/{sid}/events")
        assert 0 < received < frames // 4, (received, frames)
        await server.until(lambda: metrics.readers == 0, "the reader to be let go")
        ids = [event.id for event in whole.events if event.id]
        resumed = await read_sse(
            server.port, f"/api/streams/{sid}/events", headers={"Last-Event-ID": ids[len(ids) // 2]}
        )
        assert resumed.ended and resumed.events[-1].event == "done"

    with ServerThread(config, sndbuf=4096) as server:
        run(test(server), timeout=4 * TIMEOUT)


def test_a_thousand_readers_that_come_and_go_leave_nothing_behind() -> None:
    control = ControlledSource(pause_at=30, text=lambda _: LONG_ANSWER)  # a live answer, paused with a log and a tail
    config = Config(token_delay=0, heartbeat=30)
    cycles, concurrency = 1000, 20

    async def test(server: ServerThread) -> None:
        store, metrics = server.memory_store, server.state.metrics
        sid = await post_chat(server, "the long answer, please", source="gated")
        await server.acall(lambda: control.answers[0].wait_paused())
        path = f"/api/streams/{sid}/events"
        baseline = await server.tasks()
        assert await server.acall(lambda: store.subscriptions) == 0

        async def come_and_go(n: int) -> None:
            response = await RawResponse.open(server.port, "GET", path)
            try:
                assert response.status == 200
                if n % 2:  # half leave at once, half after their first bytes
                    assert await response.read_chunk()
            finally:
                await response.close()

        async def worker(start: int) -> None:
            for n in range(start, cycles, concurrency):
                await come_and_go(n)

        await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(concurrency))), 6 * TIMEOUT)
        await server.until(lambda: store.subscriptions == 0, "every subscription to be freed")
        await server.until(lambda: metrics.readers == 0, "the reader gauge to come back to 0")
        tasks = server.tasks
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while (now := await tasks()) > baseline and loop.time() < deadline:
            await asyncio.sleep(0.005)
        assert now <= baseline, f"{now - baseline} tasks left behind"
        assert await metric(server, "renderer_open_readers") == 0
        # The answer itself was not disturbed.
        await server.acall(control.release_all)
        whole = await read_sse(server.port, path)
        assert assemble(whole.dicts) == render_markdown(LONG_ANSWER)

    with ServerThread(config, sources={"gated": control}) as server:
        run(test(server), timeout=8 * TIMEOUT)

"""What a reader costs the server is bounded on every transport, not only SSE.

* A WebSocket reader that never reads a finished answer is closed with 4408
  once ``WRITE_BYTES`` are unsent past ``write_timeout``; what it got is a
  prefix of the answer, and a new connection from its last id gets exactly
  the rest.
* A long-poll response carries about ``WRITE_BYTES`` of events: a big answer
  comes in several responses (``done`` false until the last) that together
  carry exactly its events.  A poller that does not read its response is
  cut off after ``write_timeout``.

The server's listening socket has a small SO_SNDBUF and the stuck clients a
small SO_RCVBUF, so that the kernel does not take the bytes the test means
to leave unsent (see test_server_load.py, which checks the same for SSE).
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from server_fixtures import (
    TIMEOUT,
    ServerThread,
    cut_off_stuck_reader,
    fetch,
    open_stuck_reader,
    post_chat,
    run,
)
from tornado import websocket

from renderer import assemble, render_markdown
from renderer.server import handlers
from renderer.server.config import Config
from renderer.server.store.base import Event

LONG_ANSWER = "".join(
    f"Paragraph {n}: " + " ".join(f"word{(n * 7 + i) % 101}" for i in range(300)) + "\n\n" for n in range(80)
)
"""About 170 KB of Markdown: 80 paragraphs, one ``block`` event each."""

CONFIG = Config(token_delay=0, heartbeat=30, write_timeout=0.5, max_message=200_000, max_body=400_000)

WS_UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)

Message = dict[str, Any]


async def read_ws(server: ServerThread, path: str) -> list[Message]:
    """Every message of a WebSocket, read as a client that keeps up."""
    connection = await websocket.websocket_connect(server.url(path, "ws"))
    messages: list[Message] = []
    try:
        for _ in range(100_000):
            message = await asyncio.wait_for(connection.read_message(), TIMEOUT)
            if message is None:
                return messages
            assert isinstance(message, str)
            messages.append(json.loads(message))
    finally:
        connection.close()
    raise AssertionError("endless websocket")


async def read_raw_ws(sock: socket.socket) -> tuple[list[Message], int, str]:
    """Read a WebSocket from a raw socket up to its close frame: the text
    messages before it, the close code and the reason (server frames are
    unmasked and unfragmented)."""
    loop = asyncio.get_running_loop()
    buffer = b""

    async def at_least(size: int) -> None:
        nonlocal buffer
        while len(buffer) < size:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), TIMEOUT)
            assert data, "the connection closed before the close frame"
            buffer += data

    while b"\r\n\r\n" not in buffer:
        await at_least(len(buffer) + 1)
    head, _, buffer = buffer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    messages: list[Message] = []
    for _ in range(100_000):
        await at_least(2)
        opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
        if length >= 126:
            start += 2 if length == 126 else 8
            await at_least(start)
            length = int.from_bytes(buffer[2:start], "big")
        await at_least(start + length)
        payload, buffer = buffer[start : start + length], buffer[start + length :]
        if opcode == 0x1:
            messages.append(json.loads(payload))
        elif opcode == 0x8:
            return messages, int.from_bytes(payload[:2], "big"), payload[2:].decode()
    raise AssertionError("no close frame")


async def finished_answer(server: ServerThread) -> tuple[str, list[Message]]:
    """A ``LONG_ANSWER`` read to its end, and its events as a reader from
    the start gets them once it is done (blocks, then ``done``, all with ids)."""
    sid = await post_chat(server, LONG_ANSWER)
    await read_ws(server, f"/api/streams/{sid}/ws")
    whole = await read_ws(server, f"/api/streams/{sid}/ws")
    assert whole[-1]["event"] == "done" and all(message["id"] for message in whole)
    assert assemble(whole) == render_markdown(LONG_ANSWER)
    return sid, whole


def test_a_websocket_reader_that_never_reads_is_cut_off_and_resumes_with_exactly_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handlers, "WRITE_BYTES", 4096)

    async def test(server: ServerThread) -> None:
        metrics = server.state.metrics
        sid, whole = await finished_answer(server)
        path = f"/api/streams/{sid}/ws"
        total = sum(len(json.dumps(message)) for message in whole)

        stuck = await open_stuck_reader(server.port, path, WS_UPGRADE)
        try:
            await server.until(lambda: metrics.cut_off == 1, "the WebSocket reader that never reads to be cut off")
            received, code, reason = await read_raw_ws(stuck)
        finally:
            stuck.close()
        assert code == 4408 and "lastEventId" in reason, (code, reason)
        assert received and sum(len(json.dumps(message)) for message in received) < total // 4
        assert received == whole[: len(received)]  # a prefix, each message whole
        await server.until(lambda: metrics.readers == 0, "the reader to be let go")

        last_id = received[-1]["id"]
        resumed = await read_ws(server, f"{path}?lastEventId={last_id}")
        assert resumed[0] == {"id": None, "event": "tail", "data": ""}  # a resuming reader's stale tail cleared
        assert received + resumed[1:] == whole
        assert metrics.cut_off == 1

    with ServerThread(CONFIG, sndbuf=4096) as server:
        run(test(server))


def test_a_long_poll_over_the_byte_cap_comes_in_several_responses_that_carry_exactly_the_events() -> None:
    async def test(server: ServerThread) -> None:
        sid, whole = await finished_answer(server)
        largest = max(len(json.dumps(message)) for message in whole)
        pages: list[dict[str, object]] = []
        after = ""
        for _ in range(100):
            response = await fetch(server.url(f"/api/streams/{sid}/poll{after}"))
            assert response.code == 200, response.body
            assert len(response.body) < handlers.WRITE_BYTES + largest + 100
            page = json.loads(response.body)
            pages.append(page)
            if page["done"]:
                break
            ids = [event["id"] for event in page["events"] if event["id"]]
            after = f"?after={ids[-1]}&wait=1"
        else:
            raise AssertionError("the polls never got to done")
        assert len(pages) >= 2, len(pages)
        events = [event for page in pages for event in page["events"]]  # type: ignore[attr-defined]
        assert [event for event in events if event["id"]] == whole
        assert assemble(events) == render_markdown(LONG_ANSWER)

    with ServerThread(CONFIG) as server:
        run(test(server))


def test_a_poller_that_does_not_read_its_response_is_cut_off() -> None:
    async def test(server: ServerThread) -> None:
        sid, _ = await finished_answer(server)
        received = await cut_off_stuck_reader(server, f"/api/streams/{sid}/poll")
        assert 0 < received < handlers.WRITE_BYTES

    with ServerThread(CONFIG, sndbuf=4096) as server:
        run(test(server))


def block(n: int, size: int = 10) -> Event:
    return Event("block", "x" * size, str(n))


@pytest.mark.parametrize(
    ("events", "limit", "sizes", "more"),
    [
        pytest.param([block(1), block(2), block(3)], 10_000, [3], False, id="under-the-cap"),
        pytest.param([block(1), block(2), block(3)], 1, [1, 1, 1], True, id="one-event-a-page"),
        pytest.param([block(1, 5_000)], 1, [1], False, id="one-event-over-the-cap"),
        pytest.param([Event("tail", ""), block(1), block(2)], 1, [2, 1], True, id="cut-after-an-id"),
        pytest.param([block(1), block(2), Event("tail", "t")], 1, [1, 2], True, id="the-tail-with-the-last"),
        pytest.param([], 1, [0], False, id="nothing"),
    ],
)
def test_poll_pages_end_after_an_id_and_keep_the_trailing_tail(
    events: list[Event], limit: int, sizes: list[int], more: bool
) -> None:
    """``poll_page`` over and over, as a client polls from the last id it got."""
    pages: list[int] = []
    rest = events
    for _ in range(len(events) + 1):
        frames, cut = handlers.poll_page(rest, limit)
        pages.append(len(frames))
        assert [json.loads(frame) for frame in frames] == [handlers.event_json(event) for event in rest[: len(frames)]]
        rest = rest[len(frames) :]
        assert cut == bool(rest)
        if not cut:
            break
    assert pages == sizes
    assert (len(pages) > 1) == more

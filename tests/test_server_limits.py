"""Bad input, limits, cancel and shutdown (Must-show 5).

Every bad request gets the right status and a JSON ``{"error": "..."}`` body
with no stack trace, and the server keeps serving; over a limit a client
gets 429 or 503 with ``Retry-After``; ``cancel`` ends a stream with ``done``
``cancelled``; SIGTERM ends open streams with their final events and the
process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_fixtures import (
    TIMEOUT,
    ControlledSource,
    RawResponse,
    ServerThread,
    fetch,
    finished_stream,
    post_chat,
    read_sse,
    run,
)
from sse_client import SSEParser
from tornado import websocket

from renderer import assemble, render_markdown
from renderer.server.config import Config
from renderer.server.sources import tokens
from renderer.server.state import default_sources

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Config(token_delay=0, heartbeat=5, max_body=4096, max_message=1000)

LONG_ANSWER = "\n\n".join(f"Paragraph {n} of a long answer, with *some* words in it." for n in range(60))


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    sources = {**default_sources(CONFIG), "gated": ControlledSource()}
    with ServerThread(CONFIG, sources=sources) as running:
        yield running


@pytest.fixture(scope="module")
def stream_id(server: ServerThread) -> str:
    """A finished stream, for the rows that need a real one."""

    return finished_stream(server)


def chat(body: object) -> bytes:
    return json.dumps(body).encode()


# (method, path, body, headers, status); {sid} is a real, finished stream.
BAD_REQUESTS = [
    pytest.param("POST", "/api/chat", b"{not json", {}, 400, id="invalid-json"),
    pytest.param("POST", "/api/chat", b'{"message": "\xff"}', {}, 400, id="invalid-utf8"),
    pytest.param("POST", "/api/chat", b"", {}, 400, id="empty-body"),
    pytest.param("POST", "/api/chat", b"[1, 2]", {}, 400, id="json-array"),
    pytest.param("POST", "/api/chat", b'"hello"', {}, 400, id="json-string"),
    pytest.param("POST", "/api/chat", b"null", {}, 400, id="json-null"),
    pytest.param("POST", "/api/chat", chat({}), {}, 400, id="no-message"),
    pytest.param("POST", "/api/chat", chat({"message": 5}), {}, 400, id="message-not-a-string"),
    pytest.param("POST", "/api/chat", chat({"message": None}), {}, 400, id="message-null"),
    pytest.param("POST", "/api/chat", chat({"messages": "x"}), {}, 400, id="messages-not-a-list"),
    pytest.param("POST", "/api/chat", chat({"messages": []}), {}, 400, id="messages-empty"),
    pytest.param("POST", "/api/chat", chat({"messages": ["hi"]}), {}, 400, id="messages-of-strings"),
    pytest.param(
        "POST", "/api/chat", chat({"messages": [{"role": "robot", "content": "x"}]}), {}, 400, id="messages-bad-role"
    ),
    pytest.param(
        "POST",
        "/api/chat",
        chat({"messages": [{"role": "user", "content": 5}]}),
        {},
        400,
        id="messages-content-not-a-string",
    ),
    pytest.param("POST", "/api/chat", chat({"messages": [{"role": "user"}]}), {}, 400, id="messages-no-content"),
    pytest.param("POST", "/api/chat", chat({"message": ""}), {}, 400, id="empty-message"),
    pytest.param("POST", "/api/chat", chat({"message": " \n\t "}), {}, 400, id="blank-message"),
    pytest.param(
        "POST", "/api/chat", chat({"message": "x" * (CONFIG.max_message + 1)}), {}, 400, id="message-over-max-message"
    ),
    pytest.param(
        "POST",
        "/api/chat",
        chat({"messages": [{"role": "user", "content": "x" * 600}] * 2}),
        {},
        400,
        id="messages-together-over-max-message",
    ),
    pytest.param(
        "POST", "/api/chat", chat({"message": "x", "pad": "y" * CONFIG.max_body}), {}, 413, id="body-over-max-body"
    ),
    pytest.param(
        "POST",
        "/api/chat",
        chat({"message": "x", "pad": "y" * (5 * CONFIG.max_body)}),
        {},
        413,
        id="body-over-four-times-max-body",
    ),
    pytest.param("POST", "/api/chat", chat({"message": "hi", "source": "nope"}), {}, 400, id="unknown-source"),
    pytest.param("POST", "/api/chat", chat({"message": "hi", "source": 5}), {}, 400, id="source-not-a-string"),
    pytest.param("GET", "/api/streams/nope/events", None, {}, 404, id="unknown-stream-events"),
    pytest.param("GET", "/api/streams/nope/ndjson", None, {}, 404, id="unknown-stream-ndjson"),
    pytest.param("GET", "/api/streams/nope/poll", None, {}, 404, id="unknown-stream-poll"),
    pytest.param("POST", "/api/streams/nope/cancel", b"", {}, 404, id="unknown-stream-cancel"),
    pytest.param(
        "GET", "/api/streams/nope/events", None, {"Last-Event-ID": "abc"}, 404, id="unknown-stream-with-bad-id"
    ),
    pytest.param("GET", "/api/streams/bad.id/events", None, {}, 404, id="stream-id-with-a-dot"),
    pytest.param("GET", "/api/streams/{sid}/events", None, {"Last-Event-ID": "abc"}, 400, id="malformed-last-event-id"),
    pytest.param("GET", "/api/streams/{sid}/events", None, {"Last-Event-ID": "-1"}, 400, id="negative-last-event-id"),
    pytest.param("GET", "/api/streams/{sid}/events?lastEventId=1.5", None, {}, 400, id="malformed-query-id"),
    pytest.param("GET", "/api/streams/{sid}/ndjson", None, {"Last-Event-ID": "x"}, 400, id="malformed-id-ndjson"),
    pytest.param("GET", "/api/streams/{sid}/poll?after=x", None, {}, 400, id="malformed-after"),
    pytest.param("GET", "/api/streams/{sid}/poll?wait=soon", None, {}, 400, id="malformed-wait"),
    pytest.param("GET", "/api/chat", None, {}, 405, id="get-chat"),
    pytest.param("PUT", "/api/chat", b"{}", {}, 405, id="put-chat"),
    pytest.param("DELETE", "/api/streams/{sid}/events", None, {}, 405, id="delete-events"),
    pytest.param("POST", "/api/streams/{sid}/poll", b"", {}, 405, id="post-poll"),
    pytest.param("GET", "/api/streams/{sid}/cancel", None, {}, 405, id="get-cancel"),
    pytest.param("GET", "/nope", None, {}, 404, id="unknown-path"),
    pytest.param("POST", "/api/nope", b"{}", {}, 404, id="unknown-api-path"),
    pytest.param("GET", "/api/streams/{sid}/ws", None, {}, 400, id="ws-without-upgrade"),
    pytest.param("POST", "/api/streams/{sid}/ws", b"", {}, 405, id="post-ws"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), BAD_REQUESTS)
def test_bad_requests_get_a_json_error_and_the_server_keeps_serving(
    server: ServerThread,
    stream_id: str,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
) -> None:
    async def test() -> None:
        url = server.url(path.replace("{sid}", stream_id))
        response = await fetch(url, method, body=body, headers=headers)
        assert response.code == status, response.body
        assert response.headers["Content-Type"].split(";")[0] == "application/json"
        error = json.loads(response.body)
        assert set(error) == {"error"} and isinstance(error["error"], str) and error["error"]
        assert b"Traceback" not in response.body and b'File "' not in response.body
        # ...and the server still serves.
        health = await fetch(server.url("/healthz"))
        assert health.code == 200

    run(test())


def test_a_body_past_the_server_limit_sent_raw_gets_413_json(server: ServerThread) -> None:
    """The same limit as a client that declares the length and waits for an answer before sending."""

    async def test() -> tuple[int, str]:
        size = 5 * CONFIG.max_body
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(
                f"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {size}\r\n\r\n".encode()
            )
            await writer.drain()
            head = await asyncio.wait_for(reader.read(4096), TIMEOUT)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
        status_line, _, rest = head.decode("latin-1").partition("\r\n")
        return int(status_line.split()[1]), rest

    status, rest = run(test())  # now: 400 and no headers at all
    assert status == 413
    assert "application/json" in rest


def test_websocket_to_an_unknown_stream_is_closed_with_4404(server: ServerThread) -> None:
    async def test() -> None:
        connection = await websocket.websocket_connect(server.url("/api/streams/nope/ws", "ws"))
        try:
            assert await asyncio.wait_for(connection.read_message(), TIMEOUT) is None
            assert connection.close_code == 4404
        finally:
            connection.close()

    run(test())


def test_a_good_request_succeeds_after_the_table(server: ServerThread) -> None:
    async def test() -> None:
        sid = await post_chat(server, "# still *serving*")
        sse = await read_sse(server.port, f"/api/streams/{sid}/events")
        assert assemble(sse.dicts) == render_markdown("# still *serving*")

    run(test())


# -- concurrency limits ---------------------------------------------------------------


def _gated_server(config: Config) -> tuple[ServerThread, ControlledSource]:
    control = ControlledSource()
    return ServerThread(config, sources={"gated": control}), control


def test_a_client_over_max_streams_per_client_gets_429_with_retry_after() -> None:
    server, control = _gated_server(Config(token_delay=0, max_streams_per_client=2, max_streams=10))

    async def test() -> None:
        first = await post_chat(server, "one", source="gated")
        await post_chat(server, "two", source="gated")
        response = await fetch(server.url("/api/chat"), "POST", body=chat({"message": "three", "source": "gated"}))
        assert response.code == 429
        assert response.headers["Content-Type"].startswith("application/json")
        assert "error" in json.loads(response.body)
        # One answer ends: the client may start another.
        await server.acall(lambda: control.answers[0].released.set())
        await server.until(lambda: server.state.store.is_done(first), "the first answer to end")
        await server.until(lambda: server.state.generations.count("127.0.0.1") < 2, "its generation to be forgotten")
        await post_chat(server, "three", source="gated")
        await server.acall(control.release_all)

    with server:
        run(test())


def test_over_max_streams_gets_503_with_retry_after() -> None:
    server, control = _gated_server(Config(token_delay=0, max_streams=3, max_streams_per_client=8))

    async def test() -> None:
        for n in range(3):
            await post_chat(server, f"answer {n}", source="gated")
        response = await fetch(server.url("/api/chat"), "POST", body=chat({"message": "four", "source": "gated"}))
        assert response.code == 503
        assert response.headers["Content-Type"].startswith("application/json")
        assert "error" in json.loads(response.body)
        await server.acall(control.release_all)

    with server:
        run(test())


@pytest.mark.parametrize(
    ("config", "status"),
    [
        pytest.param(Config(token_delay=0, max_streams_per_client=0), 429, id="per-client"),
        pytest.param(Config(token_delay=0, max_streams=0), 503, id="global"),
    ],
)
def test_over_a_limit_the_answer_carries_retry_after(config: Config, status: int) -> None:
    async def test(server: ServerThread) -> None:
        response = await fetch(server.url("/api/chat"), "POST", body=chat({"message": "hi", "source": "echo"}))
        assert response.code == status
        assert int(response.headers.get("Retry-After", "0")) > 0

    with ServerThread(config) as server:
        run(test(server))


# -- cancel, and readers that leave ---------------------------------------------------------


def test_cancel_ends_a_live_stream_with_done_cancelled_and_keeps_what_was_generated() -> None:
    control = ControlledSource(pause_at=25)
    prefix = "".join(tokens(LONG_ANSWER)[:25])

    async def test(server: ServerThread) -> None:
        sid = await post_chat(server, LONG_ANSWER, source="gated")
        await server.acall(lambda: control.answers[0].wait_paused())
        reading = asyncio.ensure_future(read_sse(server.port, f"/api/streams/{sid}/events"))
        await server.until(lambda: server.memory_store.subscriptions == 1, "the reader to subscribe")
        response = await fetch(server.url(f"/api/streams/{sid}/cancel"), "POST", body=b"")
        assert response.code == 202
        assert json.loads(response.body) == {"id": sid, "cancelled": True}
        sse = await asyncio.wait_for(reading, TIMEOUT)
        assert sse.ended
        assert sse.events[-1].event == "done"
        assert json.loads(sse.events[-1].data) == {"reason": "cancelled"}
        assert assemble(sse.dicts) == render_markdown(prefix)
        again = await fetch(server.url(f"/api/streams/{sid}/cancel"), "POST", body=b"")
        assert again.code == 200 and json.loads(again.body)["cancelled"] is False

    with ServerThread(Config(token_delay=0), sources={"gated": control}) as server:
        run(test(server))


def test_a_reader_that_leaves_does_not_stop_generation() -> None:
    control = ControlledSource(pause_at=10)

    async def test(server: ServerThread) -> None:
        sid = await post_chat(server, LONG_ANSWER, source="gated")
        await server.acall(lambda: control.answers[0].wait_paused())
        first = await read_sse(server.port, f"/api/streams/{sid}/events", limit=1)
        assert first.events
        await server.until(lambda: server.memory_store.subscriptions == 0, "the reader to be noticed gone")
        await server.acall(lambda: control.answers[0].released.set())
        whole = await read_sse(server.port, f"/api/streams/{sid}/events")
        assert json.loads(whole.events[-1].data) == {"reason": "complete"}
        assert assemble(whole.dicts) == render_markdown(LONG_ANSWER)

    with ServerThread(Config(token_delay=0), sources={"gated": control}) as server:
        run(test(server))


# -- graceful shutdown ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # type: ignore[no-any-return]


def test_sigterm_ends_open_streams_with_done_and_exits_0() -> None:
    port = _free_port()
    message = "\n\n".join(f"Sentence number {n} of an answer that takes a while." for n in range(200))

    async def test() -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "renderer",
            "serve",
            "--port",
            str(port),
            "--token-delay",
            "0.05",
            "--source",
            "echo",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)  # type: ignore[union-attr]
            assert b"serving on" in line, line
            response = await fetch(f"http://127.0.0.1:{port}/api/chat", "POST", body=chat({"message": message}))
            assert response.code == 201
            sid = json.loads(response.body)["id"]
            opened = await RawResponse.open(port, "GET", f"/api/streams/{sid}/events")
            try:
                assert opened.status == 200
                parser = SSEParser()
                events = []
                for _ in range(10_000):  # until the first event: the stream is open and live
                    events += parser.feed(await opened.read_chunk())
                    if events:
                        break
                proc.send_signal(signal.SIGTERM)
                for _ in range(100_000):
                    chunk = await opened.read_chunk()
                    if not chunk:
                        break
                    events += parser.feed(chunk)
                events += parser.close()
            finally:
                await opened.close()
            assert events[-1].event == "done", [e.event for e in events[-3:]]
            assert json.loads(events[-1].data)["reason"] in ("error", "cancelled")
            assert 0 < len(assemble([e.as_dict() for e in events])) < len(render_markdown(message))
            status = await asyncio.wait_for(proc.wait(), 10)
            assert status == 0
            stderr = await proc.stderr.read()  # type: ignore[union-attr]
            assert b"Traceback" not in stderr, stderr.decode(errors="replace")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    run(test())

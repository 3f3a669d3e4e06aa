"""A real server on a free loopback port, and real clients for it.

A helper module for tests, not a test.

``ServerThread`` runs ``make_app(...)`` behind a Tornado ``HTTPServer`` in a
background thread with its own event loop, set up as ``renderer.server.app.serve``
sets it up (same ``max_body_size``), so a test's clients run in the test's
own loop (``asyncio.run``) and the server's tasks can be counted apart from
them.  ``server.acall(fn)`` runs ``fn`` (or awaits it, if it is a coroutine
function) in the server's loop: the only safe way to look at its state.

``ControlledSource`` is a source the test steps: every answer waits at a
gate (before its first token by default) until the test releases it, and
says when it is waiting, so a test can act at a known point of an answer
without sleeping.

Clients: ``fetch`` (Tornado's AsyncHTTPClient, whole responses or streamed
through a callback), ``RawResponse`` (a request over a raw asyncio socket,
for exact bytes and for disconnecting at a chosen point), ``read_sse``, and
``open_stuck_reader`` (a request whose client never reads, with a tiny
receive buffer) with ``read_until_closed``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sse_client import SSEEvent, SSEParser
from tornado import httpclient, httputil, web

from renderer.server.access import Authenticator
from renderer.server.config import Config
from renderer.server.generation import Generations
from renderer.server.sources import Message, last_user_message, tokens
from renderer.server.state import AppState
from renderer.server.store.base import StreamStore
from renderer.server.store.memory import MemoryStore
from renderer.server.testing import ServerThread as BaseServerThread

__all__ = [
    "TIMEOUT",
    "Answer",
    "ControlledSource",
    "RawResponse",
    "ServerThread",
    "cut_off_stuck_reader",
    "fetch",
    "open_stuck_reader",
    "post_chat",
    "read_sse",
    "read_until_closed",
]

TIMEOUT = 10.0
"""Seconds any single wait in these tests may take before it is a failure."""


class ServerThread(BaseServerThread):
    """``with ServerThread(Config(...)) as server:`` -- a live server on ``server.port``."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        store: StreamStore | None = None,
        sources: dict[str, Any] | None = None,
        interval: float | None = None,
        sndbuf: int | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        """``interval``: replace the generations' preview interval (0: every
        token's ops at once, which makes the events of an answer
        deterministic).  ``sndbuf``: SO_SNDBUF of the listening socket, which
        accepted sockets inherit (Linux): without it the kernel lets a few MB
        pile up for a reader that does not read before a write blocks."""
        super().__init__(
            config or Config(token_delay=0),
            store=store,
            sources=sources,
            name="test server",
            authenticator=authenticator,
        )
        self._interval = interval
        self._sndbuf = sndbuf

    def build(self) -> web.Application:
        app = super().build()
        if self._interval is not None:
            state: AppState = app.state  # type: ignore[attr-defined]
            state.generations = Generations(state.store, interval=self._interval)
        return app

    def bind(self) -> list[socket.socket]:
        sockets = super().bind()
        if self._sndbuf is not None:
            for sock in sockets:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._sndbuf)
        return sockets

    @property
    def memory_store(self) -> MemoryStore:
        """The server's store: the memory store, unless the test passed another."""
        store = self.state.store
        assert isinstance(store, MemoryStore), store
        return store

    async def until(self, predicate: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = TIMEOUT) -> None:
        """Wait (bounded) until ``predicate()`` (awaited, if it gives an
        awaitable), evaluated in the server's loop, holds: for counters the
        server updates when it notices something."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await self.acall(predicate):
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)

    async def tasks(self) -> int:
        """How many tasks the server's loop has (this probe's own excluded)."""
        return await self.acall(lambda: len(asyncio.all_tasks()) - 1)  # type: ignore[no-any-return]


# -- a source the test steps ----------------------------------------------------


@dataclass(eq=False)
class Answer:
    """One answer of a ControlledSource; lives in the server's loop."""

    text: str
    pause_at: int
    released: asyncio.Event = field(default_factory=asyncio.Event)
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_paused(self) -> None:
        await asyncio.wait_for(self.paused.wait(), TIMEOUT)


class ControlledSource:
    """A source factory: each answer is the user's message, token by token,
    that stops before token ``pause_at`` until ``release``d."""

    def __init__(
        self,
        *,
        pause_at: int = 0,
        delay: float = 0.0,
        text: Callable[[Sequence[Message]], str] = last_user_message,
        split: Callable[[str], list[str]] = tokens,
    ) -> None:
        """``text``: the answer to a conversation (default: echo the user);
        ``split``: how it is cut into the pieces yielded (default: tokens);
        ``delay``: seconds between pieces once released."""
        self.pause_at = pause_at
        self.delay = delay
        self.text = text
        self.split = split
        self.answers: list[Answer] = []

    def __call__(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        answer = Answer(self.text(messages), self.pause_at)
        self.answers.append(answer)
        return self._stream(answer)

    async def _stream(self, answer: Answer) -> AsyncIterator[str]:
        try:
            pieces = self.split(answer.text)
            for index, piece in enumerate(pieces):
                if index == answer.pause_at:
                    answer.paused.set()
                    await answer.released.wait()
                yield piece
                await asyncio.sleep(self.delay)
            if answer.pause_at >= len(pieces):
                answer.paused.set()
                await answer.released.wait()
        finally:
            answer.finished.set()

    def release_all(self) -> None:
        """In the server's loop: let every answer run to its end."""
        for answer in self.answers:
            answer.released.set()


# -- clients ----------------------------------------------------------------------


async def fetch(
    url: str,
    method: str = "GET",
    *,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    streaming_callback: Callable[[bytes], None] | None = None,
    timeout: float = TIMEOUT,
) -> httpclient.HTTPResponse:
    """One request with Tornado's AsyncHTTPClient; errors are responses, not raised.
    A body is sent as JSON unless ``headers`` say otherwise (Tornado's client
    would label it a form, which the server refuses: 415)."""
    if body is not None and not any(name.lower() == "content-type" for name in headers or {}):
        headers = {**(headers or {}), "Content-Type": "application/json"}
    client = httpclient.AsyncHTTPClient(force_instance=True)
    try:
        return await client.fetch(
            httpclient.HTTPRequest(
                url,
                method,
                headers=headers,
                body=body,
                streaming_callback=streaming_callback,
                request_timeout=timeout,
                allow_nonstandard_methods=True,
            ),
            raise_error=False,
        )
    finally:
        client.close()


async def post_chat(server: ServerThread, message: str | None = None, *, source: str = "echo", **fields: Any) -> str:
    """Start an answer; returns its stream id."""
    payload = dict(fields, source=source)
    if message is not None:
        payload["message"] = message
    response = await fetch(server.url("/api/chat"), "POST", body=json.dumps(payload))
    assert response.code == 201, (response.code, response.body)
    return json.loads(response.body)["id"]  # type: ignore[no-any-return]


def finished_stream(server: ServerThread, message: str = "hello") -> str:
    """The id of an answer that was started and read to its end."""

    async def make() -> str:
        sid = await post_chat(server, message)
        await read_sse(server.port, f"/api/streams/{sid}/events")
        return sid

    return run(make())  # type: ignore[no-any-return]


class RawResponse:
    """An HTTP/1.1 request over a raw asyncio socket; the body is read by the
    caller, as it comes, and the connection closed whenever it likes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status = 0
        self.headers = httputil.HTTPHeaders()
        self.raw_head = b""
        self._chunked = False
        self._remaining: int | None = None
        self._eof = False

    @classmethod
    async def open(
        cls,
        port: int,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        timeout: float = TIMEOUT,
    ) -> RawResponse:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        response = cls(reader, writer)
        try:
            head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
            for name, value in (headers or {}).items():
                head.append(f"{name}: {value}")
            if body or method in ("POST", "PUT"):
                head.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            await asyncio.wait_for(response._read_head(), timeout)
        except BaseException:
            await response.close()
            raise
        return response

    async def _read_head(self) -> None:
        self.raw_head = await self.reader.readuntil(b"\r\n\r\n")
        lines = self.raw_head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ", 2)[1])
        self.headers = httputil.HTTPHeaders.parse("\r\n".join(lines[1:]))
        self._chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        if "Content-Length" in self.headers:
            self._remaining = int(self.headers["Content-Length"])
        if self.status in (204, 304) or (not self._chunked and self._remaining is None and self.status < 200):
            self._remaining = 0

    async def read_chunk(self, timeout: float = TIMEOUT) -> bytes:
        """The next piece of the body; ``b""`` at its end."""
        return await asyncio.wait_for(self._read_chunk(), timeout)

    async def _read_chunk(self) -> bytes:
        if self._eof:
            return b""
        if self._chunked:
            size = int((await self.reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await self.reader.readline()  # the blank line after the last chunk (no trailers)
                self._eof = True
                return b""
            data = await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            return data
        if self._remaining is not None:
            if self._remaining == 0:
                self._eof = True
                return b""
            data = await self.reader.read(min(self._remaining, 65536))
            if not data:
                raise ConnectionError("body cut short")
            self._remaining -= len(data)
            return data
        data = await self.reader.read(65536)
        self._eof = not data
        return data

    async def body(self, timeout: float = TIMEOUT) -> bytes:
        """The rest of the body."""
        parts: list[bytes] = []
        for _ in range(1_000_000):
            part = await self.read_chunk(timeout)
            if not part:
                return b"".join(parts)
            parts.append(part)
        raise AssertionError("endless body")

    async def close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)
        except (ConnectionError, OSError):
            pass


@dataclass
class SSERead:
    """What one SSE connection gave."""

    status: int
    headers: httputil.HTTPHeaders
    events: list[SSEEvent]
    parser: SSEParser
    ended: bool
    """Whether the server ended the response (rather than the client leaving)."""
    first_bytes: bytes = b""

    @property
    def dicts(self) -> list[dict[str, str]]:
        return [event.as_dict() for event in self.events]

    @property
    def last_id(self) -> str | None:
        ids = [event.id for event in self.events if event.id is not None]
        return ids[-1] if ids else None


async def read_sse(
    port: int,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes = b"",
    limit: int | None = None,
    until: Callable[[SSEEvent], bool] | None = None,
    timeout: float = TIMEOUT,
) -> SSERead:
    """Read an SSE response over a raw socket: to its end, or until ``limit``
    events (or an event for which ``until`` holds) have come, then disconnect."""
    response = await RawResponse.open(port, method, path, headers=headers, body=body, timeout=timeout)
    parser = SSEParser()
    events: list[SSEEvent] = []
    first = b""
    ended = False
    try:
        if response.status != 200 or (limit is not None and limit <= 0):
            ended = response.status != 200
            if ended:
                first = await response.body(timeout)
            return SSERead(response.status, response.headers, events, parser, ended, first)
        for _ in range(1_000_000):
            chunk = await response.read_chunk(timeout)
            if not first:
                first = chunk
            if not chunk:
                events += parser.close()
                ended = True
                break
            for event in parser.feed(chunk):
                events.append(event)
                if (limit is not None and len(events) >= limit) or (until is not None and until(event)):
                    return SSERead(response.status, response.headers, events, parser, False, first)
        return SSERead(response.status, response.headers, events, parser, ended, first)
    finally:
        await response.close()


def run(coroutine: Awaitable[Any], timeout: float = 4 * TIMEOUT) -> Any:
    """``asyncio.run`` with an overall bound."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


async def open_stuck_reader(port: int, path: str, headers: str = "") -> socket.socket:
    """A client that sends its request (``headers``: more header lines, each
    ending in CRLF) and never reads, with a tiny receive buffer."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.setblocking(False)
    await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), TIMEOUT)
    await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    return sock


async def cut_off_stuck_reader(server: ServerThread, path: str) -> int:
    """Open a reader of ``path`` that never reads, wait for the server to cut
    it off (the first cut-off of ``server``), and return the bytes it had
    been sent by then."""
    stuck = await open_stuck_reader(server.port, path)
    try:
        await server.until(lambda: server.state.metrics.cut_off == 1, f"the stuck reader of {path} to be cut off")
        return await read_until_closed(stuck)
    finally:
        stuck.close()


async def read_until_closed(sock: socket.socket) -> int:
    """Read what the server left in the buffers; returns the byte count once
    the server has closed the connection (bounded)."""
    loop = asyncio.get_running_loop()
    total = 0
    for _ in range(100_000):
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), TIMEOUT)
        except ConnectionResetError:
            return total
        if not data:
            return total
        total += len(data)
    raise AssertionError("the stuck reader's connection was never closed")

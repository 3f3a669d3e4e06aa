"""A real OpenAI-compatible chat server on a loopback port, for tests.

It runs in its own thread with its own event loop, so the test's loop holds
only the client's tasks: "nothing left running" can then be asserted
exactly.  Each test says what the next answer looks like with a
:class:`Reply`: status, headers, and the body as steps, each written and
flushed on its own (one HTTP chunk each).  Tornado's client joins chunks
that arrive together, so a test that needs the client to read two pieces
apart puts a :class:`Pause` between them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tornado import httpserver, iostream, testing, web

__all__ = [
    "CLOSE",
    "DONE",
    "STALL",
    "FakeUpstream",
    "Gate",
    "Pause",
    "Reply",
    "Request",
    "Step",
    "chunk",
    "delta_chunk",
    "finish_chunk",
    "role_chunk",
    "sse_body",
    "usage_chunk",
]

STALL_LIMIT = 10.0
"""Seconds a stalled answer waits at most for its client to leave (a bound,
so that a broken test cannot hang the server thread)."""


class _Step:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


STALL = _Step("STALL")
"""Send nothing more until the client closes the connection."""
CLOSE = _Step("CLOSE")
"""Drop the connection here, mid-answer."""
DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Pause:
    """Wait this long before the next step: a slow model, not a sync point."""

    seconds: float


def _event(delta: dict[str, Any], finish: str | None, eol: str) -> bytes:
    payload = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload, ensure_ascii=False)}{eol}{eol}".encode()


def chunk(content: str | None, *, eol: str = "\n") -> bytes:
    """One ``chat.completion.chunk`` as a ``data:`` event, as OpenAI sends it."""
    return _event({"content": content}, None, eol)


def delta_chunk(delta: dict[str, Any], finish: str | None = None, *, eol: str = "\n") -> bytes:
    """A chunk with any delta: ``{"reasoning_content": ...}``, ``{"tool_calls": [...]}``, ``{"refusal": ...}``."""
    return _event(delta, finish, eol)


def usage_chunk(prompt: int, completion: int, *, eol: str = "\n") -> bytes:
    """The final chunk of ``stream_options.include_usage``: no choices, the token counts."""
    payload = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }
    return f"data: {json.dumps(payload)}{eol}{eol}".encode()


def role_chunk(*, eol: str = "\n") -> bytes:
    """The first chunk OpenAI sends: a role, no content."""
    return _event({"role": "assistant", "content": ""}, None, eol)


def finish_chunk(reason: str = "stop", *, eol: str = "\n") -> bytes:
    """The last chunk before ``[DONE]``: an empty delta and the reason."""
    return _event({}, reason, eol)


def sse_body(pieces: Sequence[str], *, eol: str = "\n", done: bool = True) -> bytes:
    """A whole answer: a role-only first chunk, the pieces, a finishing
    chunk, then ``[DONE]``."""
    body = role_chunk(eol=eol) + b"".join(chunk(piece, eol=eol) for piece in pieces) + finish_chunk(eol=eol)
    if done:
        body += f"data: [DONE]{eol}{eol}".encode()
    return body


class Gate:
    """Send nothing more until the test calls ``release()`` (bounded by
    STALL_LIMIT); ``reached`` is set when the answer gets here, so a test
    knows what the client has been sent (a sync point, not a sleep)."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._open = threading.Event()

    def release(self) -> None:
        self._open.set()

    def wait_reached(self, timeout: float = STALL_LIMIT) -> None:
        if not self.reached.wait(timeout):
            raise AssertionError("the answer never reached its gate")


Step = bytes | Pause | _Step | Gate
"""One step of a reply: bytes to send, a pause, a gate, ``STALL`` or ``CLOSE``."""


@dataclass
class Reply:
    """What the server answers to the next chat request."""

    steps: Sequence[Step] = ()
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/event-stream"})


@dataclass(frozen=True)
class Request:
    """A chat request as the server received it."""

    path: str
    headers: dict[str, str]
    body: Any


class _ChatHandler(web.RequestHandler):
    def initialize(self, fake: FakeUpstream) -> None:
        self.fake = fake
        self.gone = asyncio.Event()

    async def post(self) -> None:
        fake = self.fake
        task = asyncio.current_task()
        if task is not None:
            fake._answers.add(task)
            task.add_done_callback(fake._answers.discard)
        fake.requests.append(Request(self.request.path, dict(self.request.headers), json.loads(self.request.body)))
        reply = fake.reply
        self.set_status(reply.status)
        for name, value in reply.headers.items():
            self.set_header(name, value)
        for step in reply.steps:
            if step is STALL:
                try:
                    await asyncio.wait_for(self.gone.wait(), STALL_LIMIT)
                except TimeoutError:
                    pass
                return
            if isinstance(step, Pause):
                try:
                    await asyncio.wait_for(self.gone.wait(), step.seconds)
                except TimeoutError:
                    continue
                return
            if isinstance(step, Gate):
                step.reached.set()
                released = asyncio.ensure_future(asyncio.to_thread(step._open.wait, STALL_LIMIT))
                gone = asyncio.ensure_future(self.gone.wait())
                await asyncio.wait({released, gone}, return_when=asyncio.FIRST_COMPLETED)
                gone.cancel()
                if self.gone.is_set():
                    return
                continue
            if step is CLOSE:
                self.request.connection.close()  # type: ignore[union-attr]
                return
            assert isinstance(step, bytes)
            self.write(step)
            try:
                await self.flush()
            except iostream.StreamClosedError:
                return  # the client left; that is what some tests want

    def on_connection_close(self) -> None:
        self.gone.set()
        self.fake._connection_closed()


class FakeUpstream:
    """The server; a context manager that starts and stops its thread."""

    def __init__(self) -> None:
        self.reply = Reply()
        self.requests: list[Request] = []
        self._socket, self.port = testing.bind_unused_port()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), name="fake upstream")
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._watchers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._lock = threading.Lock()
        self._answers: set[asyncio.Task[Any]] = set()
        self._closes = threading.Condition()
        self.closed = 0
        """Answer connections closed so far (whoever closed them)."""

    @property
    def url(self) -> str:
        """The base URL, as ``--upstream`` takes it."""
        return f"http://127.0.0.1:{self.port}/v1"

    def watch_close(self) -> asyncio.Event:
        """An event (of the calling loop) set when a client connection of
        an answer closes, whoever closed it."""
        event = asyncio.Event()
        with self._lock:
            self._watchers.append((asyncio.get_running_loop(), event))
        return event

    def wait_closed(self, count: int, timeout: float = STALL_LIMIT) -> bool:
        """Wait (bounded) until ``count`` answer connections have closed, from any thread."""
        with self._closes:
            return self._closes.wait_for(lambda: self.closed >= count, timeout)

    def _connection_closed(self) -> None:
        with self._closes:
            self.closed += 1
            self._closes.notify_all()
        with self._lock:
            watchers = list(self._watchers)
        for loop, event in watchers:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application(
            [(r"/v1/chat/completions", _ChatHandler, {"fake": self})],
            log_function=lambda handler: None,  # no access log in test output
        )
        server = httpserver.HTTPServer(app)
        server.add_sockets([self._socket])
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.stop()
            await asyncio.wait_for(server.close_all_connections(), 5.0)
            if self._answers:  # they end once they see their connection closed
                await asyncio.wait(set(self._answers), timeout=5.0)

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        if not self._ready.wait(5.0):
            raise RuntimeError("the fake upstream did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10.0)
        if self._thread.is_alive():
            raise RuntimeError("the fake upstream did not stop")

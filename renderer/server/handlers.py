"""Thin Tornado handlers: parse the request, use the store, encode, flush.

Every error a client sees is JSON ``{"error": "..."}`` with the right status,
never a stack trace.  Every transport (SSE, NDJSON, long-polling, WebSocket)
reads the same store and carries the same events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NoReturn

from tornado import iostream, web, websocket

from . import sse
from .connections import request_linger
from .conversations import plan_turn, request_params
from .sources import Message
from .state import AppState
from .store.base import (
    BadEventId,
    ClientLimit,
    Event,
    SlowReader,
    StoreError,
    StoreFull,
    StoreUnavailable,
    StreamNotFound,
    Subscription,
)

__all__ = [
    "CancelHandler",
    "ChatHandler",
    "EventsHandler",
    "HealthHandler",
    "JSONHandler",
    "MetricsHandler",
    "NDJSONHandler",
    "NotFoundHandler",
    "PageHandler",
    "PollHandler",
    "StaticFiles",
    "StreamSocket",
]

logger = logging.getLogger(__name__)

STREAM_ID = r"([A-Za-z0-9_-]{1,64})"
MAX_POLL_WAIT = 30.0
MAX_BATCH = 256
"""Events written with one flush when a reader has many waiting (a replay)."""
WRITE_BYTES = 64 * 1024
"""Bytes a reader's connection may hold unsent: past that the next write
waits for the flush, and a flush not done in ``Config.write_timeout`` cuts
the reader off (it may resume).  A reader that does not read costs at most
this (plus one event and the kernel's socket buffers), not the answer.
Every transport keeps it: SSE and NDJSON (``FollowMixin``), WebSocket
(``StreamSocket``), and long-polling, whose one response carries about this
many bytes of events at most (``poll_page``)."""


class APIError(web.HTTPError):
    """An error answered as JSON, possibly telling when to retry."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(status, message.replace("%", "%%"))
        self.message = message
        self.retry_after = retry_after


STORE_RETRY_AFTER = 2
"""Seconds a client is told to wait when the stream store is unreachable."""

STORE_ERRORS: tuple[tuple[type[StoreError], int, str, int | None], ...] = (
    (StreamNotFound, 404, "unknown stream", None),
    (BadEventId, 400, "malformed event id (Last-Event-ID, lastEventId or after)", None),
    (ClientLimit, 429, "too many answers in progress for this client", 5),
    (StoreFull, 503, "too many answers in progress", 5),
    (StoreUnavailable, 503, "the stream store is unavailable; retry later", STORE_RETRY_AFTER),
)
"""How store errors reach a client: status, message, ``Retry-After``.  The
one place they are mapped; handlers let them propagate.  Messages are fixed:
a store's own message may quote client input or name its backend."""


def store_error(error: BaseException | None) -> APIError | None:
    """The answer to a client for a store error (``None``: not one of those)."""
    for kind, status, message, retry_after in STORE_ERRORS:
        if isinstance(error, kind):
            return APIError(status, message, retry_after=retry_after)
    return None


SERVER_HEADER = "renderer"
"""The ``Server`` header: no version for a scanner to match."""

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def set_safe_headers(handler: web.RequestHandler) -> None:
    """Headers every response carries (``set_default_headers``: errors too)."""
    handler.set_header("Server", SERVER_HEADER)
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("Referrer-Policy", "no-referrer")


def is_json_type(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class JSONErrors(web.RequestHandler):
    """Errors as JSON ``{"error": ...}``, never a page or a stack trace.
    Store errors are answered as ``STORE_ERRORS`` says (an unreachable store
    is a 503 with ``Retry-After``, not a 500).  An error answered before the
    body was read closes the connection lingering (``request_linger``), so
    that a client still sending its body reads the answer."""

    def set_default_headers(self) -> None:
        set_safe_headers(self)
        self.set_header("Cache-Control", "no-store")

    def log_exception(self, typ: Any, value: BaseException | None, tb: Any) -> None:
        if isinstance(value, StoreUnavailable):
            logger.warning("%s %s: %s", self.request.method, self.request.uri, value)
            return
        answer = store_error(value)
        if answer is not None:  # logged as the HTTPError it becomes, without a traceback
            super().log_exception(type(answer), answer, None)
            return
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info is not None else None
        answer = store_error(error)
        if answer is not None:
            self.set_status(answer.status_code)
            error = answer
        if isinstance(error, APIError):
            message = error.message
            if error.retry_after is not None:
                # Set here: send_error clears the headers set before the error.
                self.set_header("Retry-After", str(error.retry_after))
        if isinstance(error, APIError) and error.status_code == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="renderer"')
        if self.request.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in self.request.headers:
            request_linger(self)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message}))

    def fail(self, status: int, message: str, *, retry_after: int | None = None) -> NoReturn:
        """End the request with a JSON error."""
        raise APIError(status, message, retry_after=retry_after)


class AccessMixin(JSONErrors):
    """Who may call (``access.py``), checked before anything else is done."""

    state: AppState
    authenticated = True
    """Whether this handler needs a principal when authentication is on."""
    owned_stream = False
    """Whether the first path argument is a stream id only its owner may use."""
    principal = ""
    """Who calls ("" with authentication off)."""

    async def check_access(self) -> None:
        """403 cross-site, 415 not JSON, 401 no principal, 404 not the owner's."""
        request, access = self.request, self.state.access
        if request.method in WRITE_METHODS:
            if access.cross_site(request):
                self.fail(403, "cross-site requests are refused (Origin / Sec-Fetch-Site)")
            has_body = request.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in request.headers
            if has_body and not is_json_type(request.headers.get("Content-Type", "")):
                self.fail(415, "the body must be JSON (Content-Type: application/json)")
        if not (self.authenticated and access.enabled):
            return
        principal = await access.principal(request)
        if principal is None:
            self.fail(401, "authentication required")
        self.principal = principal
        if self.owned_stream and self.path_args and await self.state.store.owner(self.path_args[0]) != principal:
            raise StreamNotFound(self.path_args[0])  # 404, as if it did not exist

    def client_address(self) -> str:
        return self.state.access.client_address(self.request)


class JSONHandler(AccessMixin):
    """Shared by every API handler: state, access checks, JSON errors, safe default headers."""

    def initialize(self, state: AppState) -> None:
        self.state = state

    async def prepare(self) -> None:
        await self.check_access()

    def send_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(value))

    def last_event_id(self) -> str | None:
        """Where a reader resumes: ``Last-Event-ID`` or ``?lastEventId=``."""
        value = self.request.headers.get("Last-Event-ID")
        if value is None:
            value = self.get_query_argument("lastEventId", None)
        return value or None

    async def check_stream(self, stream_id: str, after: str | None) -> bool:
        """404 for an unknown stream, 400 for a malformed id (the store's
        errors); False (and 204) when a reader that has everything
        reconnects after ``done``."""
        # is_done checks both the stream and the id; no replay read here
        # (the subscription that follows replays once).
        done = await self.state.store.is_done(stream_id, after)
        if after is not None and done:
            self.set_status(204)
            self.finish()
            return False
        return True


@web.stream_request_body
class JSONBodyHandler(JSONHandler):
    """A handler that reads its own JSON body, so that one too large gets a
    JSON 413 (declared: before it is read; chunked: once it passes
    ``Config.max_body``) instead of Tornado's bare 400."""

    async def prepare(self) -> None:
        self._body = bytearray()
        self._too_large = False
        await self.check_access()
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.state.config.max_body:
            self.fail(413, f"the body is larger than {self.state.config.max_body} bytes")

    def data_received(self, chunk: bytes) -> None:
        if self._too_large:
            return
        self._body += chunk
        if len(self._body) > self.state.config.max_body:
            # Answer now (a chunked body has no length to judge before), and
            # linger: the client may still be sending.
            self._too_large, self._body = True, bytearray()
            if not self._finished:
                error = APIError(413, f"the body is larger than {self.state.config.max_body} bytes")
                self.clear()
                self.set_status(413)
                self.write_error(413, exc_info=(APIError, error, None))

    def json_object(self, shape: str) -> dict[str, Any]:
        """The body as a JSON object (``shape`` says what one looks like), else 413 or 400."""
        if self._too_large:
            self.fail(413, f"the body is larger than {self.state.config.max_body} bytes")
        try:
            body = json.loads(bytes(self._body) or b"null")
        except (ValueError, UnicodeDecodeError):
            self.fail(400, "the body is not valid JSON")
        except RecursionError:
            self.fail(400, "the body is nested too deeply")
        if not isinstance(body, dict):
            self.fail(400, f"the body must be a JSON object: {shape}")
        return body


class BoundedWrites(JSONHandler):
    """A response whose writes a reader must take within ``write_timeout``."""

    async def _within_write_timeout(self, written: Awaitable[None]) -> None:
        """Await a flush (or ``finish``); a reader that does not take it within
        ``write_timeout`` is cut off.

        Usually the socket takes the bytes at once and the flush is already
        done: no timer then (one per event batch would cost as much as the write)."""
        if isinstance(written, asyncio.Future) and written.done():
            await written
            return
        timer = asyncio.get_running_loop().call_later(self.state.config.write_timeout, self._cut_off)
        try:
            await written  # the cut-off closes the stream, which ends this flush
        finally:
            timer.cancel()

    def _cut_off(self) -> None:
        self.state.metrics.cut_off += 1
        # Closing the stream ends the pending flush, which ends the handler
        # (closing the HTTP connection would drop that future unresolved).
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.close()


class FollowMixin(BoundedWrites):
    """Writes a stream's events to a long-lived HTTP response."""

    subscription: Subscription | None = None

    def on_connection_close(self) -> None:
        # Also fires for idle connections; behind a proxy it may come late,
        # which the heartbeat's failed write then makes up for.
        if self.subscription is not None:
            self.subscription.close()

    async def follow(
        self, stream_id: str, after: str | None, frame: Callable[[Event], bytes], heartbeat: bytes
    ) -> None:
        """Write events as frames until ``done``, the reader leaves, or it is cut off."""
        state = self.state
        subscription = self.subscription = await state.store.subscribe(stream_id, after)
        subscription.on_cut_off = self._cut_off
        state.metrics.readers += 1
        state.presence.enter(stream_id)
        if after is not None:
            state.metrics.resumes += 1
        try:
            await self.flush()  # headers and the first frame now, not with the first event
            while True:
                events = subscription.take_ready(MAX_BATCH)
                if events:
                    await self._write_bounded(map(frame, events))
                    state.metrics.events_sent += len(events)
                elif subscription.finished:
                    break
                else:
                    try:
                        async with asyncio.timeout(state.config.heartbeat):
                            await subscription.wait()
                    except TimeoutError:
                        self.write(heartbeat)
                    else:
                        continue
                await self._flush_bounded()
        except (iostream.StreamClosedError, SlowReader):
            pass
        finally:
            subscription.close()
            state.metrics.readers -= 1
            state.presence.leave(stream_id)

    async def _write_bounded(self, frames: Iterable[bytes]) -> None:
        """Write ``frames``, flushing each time ``WRITE_BYTES`` are unsent."""
        batch: list[bytes] = []
        size = 0
        for data in frames:
            batch.append(data)
            size += len(data)
            if size >= WRITE_BYTES:
                self.write(b"".join(batch))
                batch, size = [], 0
                await self._flush_bounded()
        if batch:
            self.write(b"".join(batch))

    async def _flush_bounded(self) -> None:
        """Flush; a reader that does not take it within ``write_timeout`` is cut off."""
        await self._within_write_timeout(self.flush())

    def start_event_stream(self) -> None:
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Accel-Buffering", "no")
        self.write(sse.retry(self.state.config.retry_ms))


def sse_frame(event: Event) -> bytes:
    return sse.encode(event.data, event=event.event, id=event.id)


def ndjson_frame(event: Event) -> bytes:
    line = json.dumps({"id": event.id, "event": event.event, "data": event.data})
    return line.encode("utf-8", "replace") + b"\n"


class EventsHandler(FollowMixin):
    """``GET /api/streams/ID/events``: the stream as Server-Sent Events."""

    owned_stream = True

    async def get(self, stream_id: str) -> None:
        after = self.last_event_id()
        if await self.check_stream(stream_id, after):
            self.start_event_stream()
            await self.follow(stream_id, after, sse_frame, sse.comment())


class NDJSONHandler(FollowMixin):
    """``GET /api/streams/ID/ndjson``: the same events, one JSON object a line."""

    owned_stream = True

    async def get(self, stream_id: str) -> None:
        after = self.last_event_id()
        if await self.check_stream(stream_id, after):
            self.set_header("Content-Type", "application/x-ndjson; charset=utf-8")
            self.set_header("Cache-Control", "no-store")
            self.set_header("X-Accel-Buffering", "no")
            await self.follow(stream_id, after, ndjson_frame, b"\n")


class PollHandler(BoundedWrites):
    """``GET /api/streams/ID/poll?after=ID&wait=S``: the same events as JSON,
    waiting up to ``wait`` seconds for something new.

    One response carries about ``WRITE_BYTES`` of events at most
    (``poll_page``; ``done`` is false while more remain: the client polls
    again from the last id it got), and a reader that does not take it
    within ``write_timeout`` is cut off, as on the other transports."""

    owned_stream = True

    async def get(self, stream_id: str) -> None:
        after = self.get_query_argument("after", None) or None
        try:
            wait = float(self.get_query_argument("wait", "0"))
        except ValueError:
            wait = math.nan
        if not 0 <= wait < math.inf:
            self.fail(400, "wait must be a number of seconds >= 0")
        wait = min(wait, MAX_POLL_WAIT)
        self.state.presence.touch(stream_id)  # a poller is a reader between its polls too
        events, done = await self.state.store.read(stream_id, after)
        if wait and not done and not [event for event in events if event.id is not None]:
            events, done = await self._wait(stream_id, after, wait)
        frames, more = poll_page(events, WRITE_BYTES)
        body = '{"events": [' + ", ".join(frames) + '], "done": ' + json.dumps(done and not more) + "}"
        self.set_header("Content-Type", "application/json; charset=utf-8")
        await self._within_write_timeout(self.finish(body))

    async def _wait(self, stream_id: str, after: str | None, wait: float) -> tuple[list[Event], bool]:
        """Wait until an event with an id arrives (or ``wait`` passes), then read."""
        subscription = await self.state.store.subscribe(stream_id, after)
        try:
            async with asyncio.timeout(wait):
                async for event in subscription:
                    if event.id is not None:
                        break
        except (TimeoutError, SlowReader):
            pass
        finally:
            subscription.close()
        return await self.state.store.read(stream_id, after)


def event_json(event: Event) -> dict[str, str | None]:
    return {"id": event.id, "event": event.event, "data": event.data}


def poll_page(events: list[Event], limit: int) -> tuple[list[str], bool]:
    """The events of one long-poll response, each as JSON, and whether more
    remain.  Past ``limit`` bytes the page ends at an event with an id, where
    the client's next poll resumes, so nothing is lost or sent twice; events
    without an id that end the list (the current tail) stay with the last
    page.  One event larger than ``limit`` still goes out whole."""
    last = max((n for n, event in enumerate(events) if event.id is not None), default=-1)
    frames: list[str] = []
    size = 0
    for n, event in enumerate(events):
        frame = json.dumps(event_json(event))  # ASCII: as many bytes as characters
        frames.append(frame)
        size += len(frame)
        if size >= limit and event.id is not None and n < last:
            return frames, True
    return frames, False


def _retrieve(written: asyncio.Future[None]) -> None:
    """Mark a write's failure as seen: a client that left fails every write
    still pending, and only the one awaited is looked at."""
    if not written.cancelled():
        written.exception()


class StreamSocket(AccessMixin, websocket.WebSocketHandler):
    """``GET /api/streams/ID/ws``: the same events as JSON text messages.

    The upgrade is refused (403) for a page of a foreign origin: a stream is
    read-only, but it may be someone's private answer.  Messages from the
    client are ignored (a client keeps the connection alive with WebSocket
    pings, which the server answers; it sends its own every ``heartbeat``).

    Messages are written without waiting for each to reach the socket; once
    ``WRITE_BYTES`` are written since the last one known to have gone out,
    the handler waits for the latest, and a reader that does not take it
    within ``write_timeout`` is closed with 4408 (it may resume with
    ``?lastEventId=``), as SSE readers are cut off."""

    owned_stream = True

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            self.fail(400, "this URL speaks WebSocket only (Upgrade: websocket)")
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.state.access.origin_allowed(origin, self.request):
            self.fail(403, "cross-site WebSocket upgrades are refused")
        await self.check_access()
        await super().get(*args, **kwargs)

    def initialize(self, state: AppState) -> None:
        self.state = state
        self.subscription: Subscription | None = None
        self.task: asyncio.Task[None] | None = None

    async def open(self, stream_id: str) -> None:
        after = self.get_query_argument("lastEventId", None) or None
        try:
            self.subscription = await self.state.store.subscribe(stream_id, after)
        except StoreError as error:
            answer = store_error(error)
            if answer is None:
                raise
            # After the upgrade there is no HTTP status: close with 4000 + it.
            self.close(4000 + answer.status_code, answer.message)
            return
        self.subscription.on_cut_off = self._cut_off
        self.task = asyncio.create_task(self._send(self.subscription, stream_id))

    async def _send(self, subscription: Subscription, stream_id: str) -> None:
        metrics = self.state.metrics
        metrics.readers += 1
        self.state.presence.enter(stream_id)
        written: asyncio.Future[None] | None = None
        unsent = 0  # bytes written since the last write known to have gone out
        try:
            while True:
                events = subscription.take_ready(MAX_BATCH)
                if events:
                    for event in events:
                        message = json.dumps(event_json(event))
                        written = self.write_message(message)
                        written.add_done_callback(_retrieve)
                        unsent += len(message)
                        if unsent >= WRITE_BYTES:
                            await self._drain(written)
                            unsent = 0
                    metrics.events_sent += len(events)
                elif subscription.finished:
                    break
                else:
                    await subscription.wait()
            if written is not None:
                await self._drain(written)  # all of it out before the close frame, or cut off
            self.close(1000, "done")
        except (websocket.WebSocketClosedError, SlowReader):
            pass
        finally:
            subscription.close()
            metrics.readers -= 1
            self.state.presence.leave(stream_id)

    async def _drain(self, written: asyncio.Future[None]) -> None:
        """Wait until ``written`` (and all before it) went out; ``SlowReader``
        after cutting off a reader that does not take it within ``write_timeout``."""
        await asyncio.wait([written], timeout=self.state.config.write_timeout)  # never cancels it
        if not written.done():
            self._cut_off()
            raise SlowReader("reader does not take its writes")
        written.result()  # WebSocketClosedError if the client left

    def _cut_off(self) -> None:
        """Close a reader that fell behind (the store's bound) or does not
        read (``_drain``'s): once, with 4408; Tornado aborts the connection
        if the client does not answer the close within a few seconds."""
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        self.state.metrics.cut_off += 1
        self.close(4408, "reader too slow; resume with ?lastEventId=")

    def on_close(self) -> None:
        if self.subscription is not None:
            self.subscription.close()

    def on_message(self, message: str | bytes) -> None:
        pass  # nothing to say to the server over this socket: ignored (see the class)

    def check_origin(self, origin: str) -> bool:
        return self.state.access.origin_allowed(origin, self.request)


class ChatHandler(JSONBodyHandler, FollowMixin):
    """``POST /api/chat``: start an answer; 201 with its id, or the answer
    itself as SSE when the client asks for ``text/event-stream``."""

    async def post(self) -> None:
        body = self.json_object('{"message": "..."} or {"messages": [...]}')
        plan = await plan_turn(self, body)  # a conversation kept by the server (conversations.py)
        messages, source_name = (plan.messages, plan.source) if plan else self._parse()
        params = request_params(self, body)
        source = self.state.make_source(source_name, messages, params)
        # The store counts and checks the limits in one atomic step (shared
        # by every process on a Redis store): 429 for this client, 503 for all.
        stream_id = await self.state.generations.start(
            source,
            owner=self.principal,
            client=self.client_address(),
            notice=plan.notice if plan else None,
            on_end=plan.on_end(self.state) if plan else None,
        )
        extra: dict[str, str] = {}
        if plan:
            await plan.attach(self.state, stream_id)
            extra["conversation"] = plan.conversation.id
            self.set_header("X-Conversation-Id", plan.conversation.id)
        if "text/event-stream" in self.request.headers.get("Accept", ""):
            self.set_header("X-Stream-Id", stream_id)  # to resume with GET .../events
            self.start_event_stream()
            await self.follow(stream_id, None, sse_frame, sse.comment())
            return
        events = f"/api/streams/{stream_id}/events"
        self.set_header("Location", events)
        self.send_json({"id": stream_id, "events": events, **extra}, status=201)

    def _parse(self) -> tuple[list[Message], str]:
        """The messages and source name of a valid body, else a 400."""
        config = self.state.config
        body = self.json_object('{"message": "..."} or {"messages": [...]}')
        source = body.get("source", config.source)
        if not isinstance(source, str) or source not in self.state.sources:
            self.fail(400, f"source must be one of {', '.join(sorted(self.state.sources))}")
        if "messages" in body:
            messages = body["messages"]
            if not isinstance(messages, list) or not messages or not all(_is_message(m) for m in messages):
                self.fail(400, 'messages must be a non-empty list of {"role": ..., "content": "..."}')
        elif "message" in body:
            if not isinstance(body["message"], str):
                self.fail(400, "message must be a string")
            messages = [{"role": "user", "content": body["message"]}]
        else:
            self.fail(400, 'the body needs "message" or "messages"')
        total = sum(len(message["content"]) for message in messages)
        if not any(message["content"].strip() for message in messages):
            self.fail(400, "the message is empty")
        if total > config.max_message:
            self.fail(400, f"the message is longer than {config.max_message} characters")
        return messages, source


def _is_message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("role") in ("system", "user", "assistant")
        and isinstance(value.get("content"), str)
    )


class CancelHandler(JSONHandler):
    """``POST /api/streams/ID/cancel``: stop generating."""

    owned_stream = True

    async def post(self, stream_id: str) -> None:
        cancelled = await self.state.store.cancel(stream_id)
        self.send_json({"id": stream_id, "cancelled": cancelled}, status=202 if cancelled else 200)


class HealthHandler(JSONHandler):
    """``GET /healthz``: liveness, and whether the store answers."""

    authenticated = False  # for load balancers

    async def get(self) -> None:
        healthy = await self.state.store.health()
        self.send_json({"status": "ok" if healthy else "store unavailable"}, status=200 if healthy else 503)


class MetricsHandler(JSONHandler):
    """``GET /metrics``: Prometheus text format."""

    def get(self) -> None:
        self.set_header("Content-Type", self.state.metrics.CONTENT_TYPE)
        self.finish(self.state.metrics.exposition())


PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types renderer-stream"
)
"""The Content-Security-Policy of every HTML page: scripts only from this
origin, no inline script or style, HTML reaches the DOM only through the
``renderer-stream`` Trusted Types policy, and images only from this origin
(an answer's remote image could leak data to its host)."""


def set_page_headers(handler: web.RequestHandler) -> None:
    """What every HTML page of this server carries, static files included."""
    handler.set_header("Content-Security-Policy", PAGE_CSP)
    handler.set_header("Cross-Origin-Opener-Policy", "same-origin")
    handler.set_header("X-Frame-Options", "DENY")  # frame-ancestors for browsers without CSP 2


class PageHandler(JSONHandler):
    """An HTML page from ``static/``, with the strict CSP."""

    authenticated = False  # the page is public; what it calls is not

    def initialize(self, state: AppState, page: str = "index.html") -> None:
        super().initialize(state)
        self.page = page

    def set_default_headers(self) -> None:
        super().set_default_headers()
        set_page_headers(self)

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish((self.state.static_path / self.page).read_bytes())

    head = get  # Tornado sends the headers only


class StaticFiles(JSONErrors, web.StaticFileHandler):
    """``/static/...``: files with the headers of pages (CSP, frame and
    referrer rules on the HTML ones, nosniff on all), errors as JSON, and a
    404 for a path no file can have (a NUL byte)."""

    def set_default_headers(self) -> None:
        set_safe_headers(self)
        set_page_headers(self)  # harmless on scripts and styles; what protects the .html files

    def parse_url_path(self, url_path: str) -> str:
        if "\x00" in url_path:
            raise APIError(404, "not found")
        return super().parse_url_path(url_path)


class NotFoundHandler(JSONHandler):
    """Anything else: a JSON 404."""

    authenticated = False

    async def prepare(self) -> None:
        self.fail(404, "not found")

"""The ``upstream`` source: an answer streamed from an OpenAI-compatible API.

:func:`upstream` POSTs ``{"model", "messages", "stream": true}`` to
``{url}/chat/completions`` and yields each ``choices[0].delta.content`` as
it arrives, and the delta's other pieces (``renderer.server.parts``:
reasoning, refusal, tool calls, the finish reason, usage) as they come.  The response is read as Server-Sent Events by
:class:`SSEDecoder`, which follows the WHATWG parser (CR, LF and CRLF line
ends, comments, ``data:`` with or without its space, one BOM dropped) and
decodes UTF-8 incrementally, so a character cut between network reads is
still whole and invalid bytes become U+FFFD.

Errors: every failure ends the iterator with
:class:`~renderer.server.sources.SourceError`, whose message readers see, so it
is short, fixed wording plus at most the upstream's own error message
(cleaned, truncated, the API key blanked out); never a traceback::

    SourceError
    ├── could not connect        refused, unknown host, TLS, connect timeout
    ├── answered HTTP <status>   any non-2xx, with {"error": {"message"}} if sent
    ├── not an event stream      a 2xx whose Content-Type is not text/event-stream
    ├── sent nothing for N s     the idle timeout: no bytes at all for N seconds
    ├── took longer than N s     the overall cap (``total_timeout``)
    ├── malformed data           a data line that is not JSON or not a chunk
    ├── reported an error        a chunk ``{"error": ...}`` mid-stream
    └── ended early              the stream ended before the answer did

A stream that ends without ``data: [DONE]`` is accepted when a chunk
already carried a ``finish_reason`` (some compatible servers never send
``[DONE]``; the answer is whole) and is an error otherwise (a connection cut
mid-answer looks exactly like that, and showing half an answer as complete
would mislead).

Cleanup: when the consumer stops early (``aclose()``, cancellation, or an
error), the HTTP connection is closed at once, so the upstream stops
generating (and billing) too, and the request's own task ends with it.
A request still connecting cannot be interrupted (tornado offers no way);
its socket is closed the moment it connects, within ``connect_timeout``.

Known limit (tornado 6.6): the HTTP client coalesces small chunks and
hands them over only when it would wait for the network, so when a server
drops the connection mid-body, what arrived with the drop is lost.  Only
answers that fail anyway lose anything; a whole answer always ends with
its terminating chunk.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import re
import socket
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tornado import httputil
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.iostream import IOStream
from tornado.netutil import Resolver
from tornado.simple_httpclient import HTTPStreamClosedError, HTTPTimeoutError, SimpleAsyncHTTPClient
from tornado.tcpclient import TCPClient

from .parts import Finish, Piece, Reasoning, Refusal, ToolCallDelta, Usage
from .redact import redact
from .sources import Message, SourceError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOTAL_TIMEOUT",
    "MAX_EVENT",
    "SSEDecoder",
    "ServerEvent",
    "chat_completions_url",
    "upstream",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
"""Seconds without a single byte from the upstream before giving up.  Long
enough for a slow first token of a big model; servers that think longer
send keep-alive comments, which count as bytes."""
DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds to open the connection (DNS, TCP and TLS)."""
DEFAULT_TOTAL_TIMEOUT = 600.0
"""Seconds for the whole answer: a server that trickles keep-alives forever
must not hold a generation slot forever."""
MAX_EVENT = 1 << 20
"""Characters in one SSE line, and in one event's data: a chunk is far
smaller; more is a broken or hostile server, and buffering it costs memory."""

_PATH = "/chat/completions"
_ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error response read for its message; the rest is dropped."""
_UPSTREAM_MESSAGE_LIMIT = 300
_SETTLE = 2.0
"""Seconds to wait, after closing the connection, for tornado to report the
request finished (it does so within a loop iteration or two)."""
_LINE_END = re.compile(r"\r\n|\r|\n")
# Control, zero-width and bidi-override characters: nothing a reader needs
# in an error message, and some could make it read as something else.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+")


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One dispatched Server-Sent Event."""

    data: str
    """The ``data`` lines, joined with LF."""
    event: str = "message"
    """The ``event`` field (``message`` when the event had none)."""


class SSEDecoder:
    """Bytes of an event stream in, dispatched events out (WHATWG rules).

    Feed it network chunks cut anywhere: mid-character, mid-line, between
    the CR and LF of a CRLF.  ``id`` and ``retry`` are parsed away but not
    kept: a one-shot request never reconnects.
    """

    def __init__(self, *, max_size: int = MAX_EVENT) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_size = max_size
        self._started = False
        self._skip_lf = False
        self._line: list[str] = []
        self._line_size = 0
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""

    def feed(self, chunk: bytes) -> list[ServerEvent]:
        """The events that ``chunk`` completes; ``ValueError`` for a line or
        an event longer than ``max_size``."""
        return self._text(self._decoder.decode(chunk))

    def close(self) -> None:
        """End of stream: what is left is dropped, as browsers drop it.  An
        event without its closing blank line may have been cut short."""
        self._decoder.decode(b"", final=True)
        self._line.clear()
        self._line_size = 0
        self._data.clear()
        self._data_size = 0
        self._event = ""

    def _text(self, text: str) -> list[ServerEvent]:
        if not self._started:
            if not text:
                return []
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf and text:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        events: list[ServerEvent] = []
        start = 0
        for match in _LINE_END.finditer(text):
            self._line.append(text[start : match.start()])
            line = "".join(self._line)
            self._line.clear()
            self._line_size = 0
            start = match.end()
            # A CR that ends the chunk may be the first half of a CRLF.
            self._skip_lf = start == len(text) and match.group() == "\r"
            event = self._field(line)
            if event is not None:
                events.append(event)
        rest = text[start:]
        if rest:
            self._line.append(rest)
            self._line_size += len(rest)
            if self._line_size > self._max_size:
                raise ValueError(f"an SSE line is longer than {self._max_size} characters")
        return events

    def _field(self, line: str) -> ServerEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self._max_size:
                raise ValueError(f"an SSE event is longer than {self._max_size} characters")
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> ServerEvent | None:
        data, event = self._data, self._event
        self._data, self._data_size, self._event = [], 0, ""
        if not data:
            return None
        return ServerEvent("\n".join(data), event or "message")


def chat_completions_url(url: str) -> str:
    """The endpoint for a base URL (``http://host/v1``) or the endpoint
    itself; a query string (Azure's ``api-version``) is kept."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError("the model API is misconfigured (its URL must start with http:// or https://)")
    path = parts.path.rstrip("/")
    if not path.endswith(_PATH):
        path += _PATH
    return urllib.parse.urlunsplit(parts._replace(path=path, fragment=""))


class _Connections(TCPClient):
    """A TCPClient that remembers the connection it opened.

    Tornado's HTTP client has no public way to abort a request in flight
    (closing the client leaves active requests running); closing the
    request's stream does, and this is where the stream can be reached.
    """

    def __init__(self, resolver: Resolver, on_connect: Callable[[], None]) -> None:
        super().__init__(resolver=resolver)
        self._on_connect = on_connect
        self.streams: list[IOStream] = []
        self.aborted = False

    async def connect(self, *args: Any, **kwargs: Any) -> IOStream:
        stream = await super().connect(*args, **kwargs)
        if self.aborted:
            stream.close()  # the consumer left while we were connecting
        else:
            self.streams.append(stream)
            self._on_connect()
        return stream

    def abort(self) -> None:
        self.aborted = True
        for stream in self.streams:
            stream.close()


@dataclass(slots=True)
class _Head:
    """The response's status line and headers, before any of its body."""

    code: int
    headers: httputil.HTTPHeaders


class _HeadReader:
    """Collects ``header_callback`` lines into a :class:`_Head`."""

    def __init__(self, deliver: Callable[[_Head], None]) -> None:
        self._deliver = deliver
        self._code: int | None = None
        self._headers = httputil.HTTPHeaders()

    def __call__(self, line: str) -> None:
        if self._code is None:
            self._code = httputil.parse_response_start_line(line.strip()).code
        elif line in ("\r\n", "\n"):
            self._deliver(_Head(self._code, self._headers))
            self._code, self._headers = None, httputil.HTTPHeaders()
        else:
            self._headers.parse_line(line.rstrip("\r\n"))


class _Connected:
    """Queued when the TCP (and TLS) connection is up: the idle timeout
    starts counting from here, not from the connect."""


_CONNECTED: Final = _Connected()


def _clean(message: str, api_key: str | None) -> str:
    """An upstream's message, fit to show a reader: one line, short, and
    without the API key (some servers echo what they were sent)."""
    message = redact(message, api_key)  # before anything else: normalized, case, glued, split (redact.py)
    message = " ".join(_CONTROL.sub(" ", message).split())
    if len(message) > _UPSTREAM_MESSAGE_LIMIT:
        message = message[: _UPSTREAM_MESSAGE_LIMIT - 1].rstrip() + "…"
    return message


def _error_message(value: Any) -> str | None:
    """The message of ``{"error": {"message": ...}}`` and its usual variants."""
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    if isinstance(error, str) and error.strip():
        return error
    message = value.get("message")
    if isinstance(message, str) and message.strip():
        return message
    return None


def _http_error(code: int, body: bytes, api_key: str | None) -> SourceError:
    text = f"the model API answered HTTP {code}"
    try:
        detail = _error_message(json.loads(body.decode("utf-8", "replace")))
    except ValueError:
        detail = None
    if detail is not None:
        text += f": {_clean(detail, api_key)}"
    return SourceError(text)


def _media_type(headers: httputil.HTTPHeaders) -> str:
    return headers.get("Content-Type", "").partition(";")[0].strip().lower()


def _failure(
    error: BaseException,
    *,
    connected: bool,
    connect_timeout: float,
    total_timeout: float | None,
    api_key: str | None = None,
) -> SourceError:
    """The reader's message for a request that ended with an exception."""
    if isinstance(error, HTTPTimeoutError):
        if not connected:
            return SourceError(f"could not connect to the model API within {connect_timeout:g} s")
        return SourceError(f"the model API took longer than {total_timeout or 0:g} s")
    if isinstance(error, (HTTPStreamClosedError, ConnectionResetError, BrokenPipeError)) and connected:
        return SourceError("the model API closed the connection before the answer was complete")
    if isinstance(error, ConnectionRefusedError):
        return SourceError("could not connect to the model API (connection refused)")
    if isinstance(error, socket.gaierror):
        return SourceError("could not connect to the model API (unknown host)")
    if isinstance(error, ssl.SSLError):
        return SourceError("could not connect to the model API (TLS failed)")
    if isinstance(error, OSError | HTTPStreamClosedError):
        return SourceError("could not connect to the model API")
    logger.warning("upstream request failed: %s", redact(repr(error), api_key))
    return SourceError("the model API request failed")


def _text(delta: dict[str, Any], *names: str) -> str | None:
    """The first of ``names`` that ``delta`` carries as text."""
    for name in names:
        value = delta.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise SourceError("the model API sent malformed data")
            return value
    return None


def _tool_calls(delta: dict[str, Any]) -> list[Piece]:
    calls = delta.get("tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise SourceError("the model API sent malformed data")
    pieces: list[Piece] = []
    for position, call in enumerate(calls):
        if not isinstance(call, dict):
            raise SourceError("the model API sent malformed data")
        function = call.get("function") or {}
        index = call.get("index", position)
        name, arguments = function.get("name"), function.get("arguments") or ""
        call_id = call.get("id")
        if not isinstance(index, int) or not isinstance(arguments, str) or not isinstance(name, str | None):
            raise SourceError("the model API sent malformed data")
        pieces.append(ToolCallDelta(index, name or None, call_id if isinstance(call_id, str) else None, arguments))
    return pieces


def _usage(chunk: dict[str, Any]) -> Usage | None:
    usage = chunk.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return Usage(prompt, completion)
    return None


def _content(chunk: Any, api_key: str | None) -> tuple[list[Piece], bool]:
    """A chunk's pieces (``choices[0].delta``: reasoning, content, refusal,
    tool calls; its ``finish_reason``; ``usage``) and whether it ends the answer."""
    if not isinstance(chunk, dict):
        raise SourceError("the model API sent malformed data")
    if "error" in chunk:
        detail = _error_message(chunk)
        suffix = f": {_clean(detail, api_key)}" if detail else ""
        raise SourceError(f"the model API reported an error{suffix}")
    usage = _usage(chunk)
    tail: list[Piece] = [usage] if usage is not None else []
    choices = chunk.get("choices")
    if not choices:
        return tail, False  # usage or prompt-filter chunks carry none
    choice = choices[0] if isinstance(choices, list) else None
    if not isinstance(choice, dict):
        raise SourceError("the model API sent malformed data")
    if choice.get("index", 0) != 0:
        return tail, False  # another choice (n > 1): this answer is choice 0
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        raise SourceError("the model API sent malformed data")
    pieces: list[Piece] = []
    reasoning = _text(delta, "reasoning_content", "reasoning")
    if reasoning:
        pieces.append(Reasoning(reasoning))
    content = _text(delta, "content")
    if content:
        pieces.append(content)
    refusal = _text(delta, "refusal")
    if refusal:
        pieces.append(Refusal(refusal))
    pieces += _tool_calls(delta)
    finish = choice.get("finish_reason")
    if isinstance(finish, str):
        pieces.append(Finish(finish))
    return pieces + tail, finish is not None


async def upstream(
    messages: Sequence[Message],
    *,
    url: str,
    model: str,
    api_key: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    total_timeout: float | None = DEFAULT_TOTAL_TIMEOUT,
    params: Mapping[str, Any] | None = None,
    include_usage: bool = False,
) -> AsyncIterator[Piece]:
    """The answer of an OpenAI-compatible chat API, piece by piece as it
    streams in; failures raise :class:`SourceError` (see the module).

    ``params``: more fields of the request (``temperature``, ``max_tokens``,
    ``top_p``); ``include_usage`` asks for the final ``usage`` chunk
    (``stream_options``)."""
    endpoint = chat_completions_url(url)
    queue: asyncio.Queue[_Head | bytes | _Connected | asyncio.Future[HTTPResponse]] = asyncio.Queue()
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream", "Accept-Encoding": "identity"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = HTTPRequest(
        endpoint,
        method="POST",
        headers=headers,
        body=json.dumps(_body(model, messages, params, include_usage)),
        connect_timeout=connect_timeout,
        request_timeout=total_timeout or 0,  # 0: none (None would mean tornado's 20 s)
        follow_redirects=False,  # a redirected POST may turn into a GET; say so instead
        decompress_response=False,  # compressed streams arrive in bursts
        header_callback=_HeadReader(queue.put_nowait),
        streaming_callback=queue.put_nowait,
    )
    # The simple client by name: aborting relies on its TCPClient, and one
    # client per answer means closing it touches no one else's requests.
    client = SimpleAsyncHTTPClient(force_instance=True)
    connections = client.tcp_client = _Connections(client.resolver, lambda: queue.put_nowait(_CONNECTED))
    fetch = client.fetch(request, raise_error=False)
    fetch.add_done_callback(queue.put_nowait)
    connected = False
    head: _Head | None = None
    decoder = SSEDecoder()
    error_body = bytearray()
    finished = False
    try:
        while True:
            bound = timeout if connected else connect_timeout + timeout
            try:
                async with asyncio.timeout(bound):
                    item = await queue.get()
            except TimeoutError:
                if connected:
                    raise SourceError(f"the model API sent nothing for {timeout:g} s") from None
                raise SourceError(f"could not connect to the model API within {connect_timeout:g} s") from None
            if isinstance(item, _Connected):
                connected = True
            elif isinstance(item, _Head):
                head = item
                if 200 <= head.code < 300:
                    media_type = _media_type(head.headers)
                    if media_type != "text/event-stream":
                        shown = _clean(media_type, api_key)[:60] or "none"
                        raise SourceError(f"the model API did not answer with an event stream (content type {shown})")
                    if head.headers.get("Content-Encoding", "identity").lower() != "identity":
                        raise SourceError("the model API sent a compressed stream")
            elif isinstance(item, bytes):
                if head is None or not 200 <= head.code < 300:
                    error_body += item
                    if len(error_body) >= _ERROR_BODY_LIMIT:
                        raise _http_error(head.code if head else 0, bytes(error_body[:_ERROR_BODY_LIMIT]), api_key)
                    continue
                try:
                    events = decoder.feed(item)
                except ValueError:
                    raise SourceError("the model API sent malformed data") from None
                for event in events:
                    if event.data == "[DONE]":
                        return
                    try:
                        chunk = json.loads(event.data)
                    except ValueError:
                        raise SourceError("the model API sent malformed data") from None
                    pieces, ends = _content(chunk, api_key)
                    finished = finished or ends
                    for piece in pieces:
                        yield piece
            else:  # the request is over
                error = item.exception()  # a status code is not one: raise_error=False
                if head is not None and isinstance(error, HTTPStreamClosedError | ConnectionError):
                    error = None  # the server hung up mid-body: judged as an end below
                if error is not None:
                    raise _failure(
                        error,
                        connected=connected,
                        connect_timeout=connect_timeout,
                        total_timeout=total_timeout,
                        api_key=api_key,
                    )
                if head is None:  # cannot happen: tornado reports the head first
                    raise SourceError("the model API request failed")
                if not 200 <= head.code < 300:
                    raise _http_error(head.code, bytes(error_body), api_key)
                decoder.close()  # an unfinished last event is dropped
                if finished:
                    return
                raise SourceError("the model API ended the answer before it was complete")
    except SourceError as error:
        # For operators: the host (no credentials, no path) and the reason.
        logger.warning("upstream %s: %s", urllib.parse.urlsplit(endpoint).hostname, error)
        raise
    finally:
        await _close(client, connections, fetch)


def _body(
    model: str, messages: Sequence[Message], params: Mapping[str, Any] | None, include_usage: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in messages], "stream": True}
    body.update(params or {})
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return body


def _message(message: Message) -> dict[str, str]:
    """A message as the API takes it (reasoning only when the caller kept it in)."""
    out = {"role": message["role"], "content": message["content"]}
    if message.get("reasoning_content"):
        out["reasoning_content"] = message["reasoning_content"]
    return out


async def _close(client: SimpleAsyncHTTPClient, connections: _Connections, fetch: asyncio.Future[HTTPResponse]) -> None:
    """Abort the request if it is still running, and give tornado the loop
    iterations it needs to report it over, so no task outlives the answer."""
    connections.abort()
    try:
        if not fetch.done() and connections.streams:
            await asyncio.wait({fetch}, timeout=_SETTLE)
    finally:  # even if cancelled again while waiting
        if fetch.done():
            if not fetch.cancelled():
                fetch.exception()  # retrieved, so asyncio does not log it
        else:
            fetch.add_done_callback(lambda future: future.cancelled() or future.exception())
        client.close()

"""The upstream source against a real OpenAI-compatible server on loopback.

The server (``tests/fake_upstream.py``) runs in its own thread and writes
each step of a reply as its own HTTP chunk; a ``Pause`` between steps makes
the client read them apart (tornado joins chunks that arrive together).
Tests are plain functions that run a scenario with ``asyncio.run``: no
plugin, a fresh loop each, and nothing may be left running when it ends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fake_upstream import (
    CLOSE,
    DONE,
    STALL,
    FakeUpstream,
    Pause,
    Reply,
    Step,
    chunk,
    finish_chunk,
    role_chunk,
    sse_body,
)
from tornado import httpclient, httpserver, testing

from renderer import assemble, render_markdown
from renderer.server.app import make_app
from renderer.server.config import Config
from renderer.server.sources import Message, SourceError, tokens
from renderer.server.state import AppState
from renderer.server.upstream import ServerEvent, SSEDecoder, chat_completions_url, upstream

MESSAGES: list[Message] = [{"role": "user", "content": "hi"}]
KEY = "sk-test-0123456789abcdef"
PIECES = ["Hel", "lo", ", ", "wörld", " 🎉", "日本語", "e\u0301", " 👩\u200d💻", "\n\n- a\n", "done."]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


async def collect(url: str, **options: Any) -> tuple[list[str], str | None]:
    """Everything the source yields, then the SourceError message (or None)."""
    pieces: list[str] = []
    try:
        async for piece in upstream(MESSAGES, url=url, model="test-model", **options):
            if isinstance(piece, str):  # answer text; the other pieces: test_parts.py
                pieces.append(piece)
    except SourceError as error:
        return pieces, str(error)
    return pieces, None


def run_collect(fake: FakeUpstream, *steps: Step, **options: Any) -> tuple[list[str], str | None]:
    """Serve ``steps`` as the next reply and collect what the source makes of it."""
    return run_reply(fake, Reply(steps), **options)


def run_reply(fake: FakeUpstream, reply: Reply, **options: Any) -> tuple[list[str], str | None]:
    fake.reply = reply
    return asyncio.run(collect(fake.url, **options))


def other_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]


def cut(data: bytes, points: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(set(points)), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds) if end > start]


# --- the request -------------------------------------------------------------


def test_the_request_is_a_streaming_chat_completion_with_a_bearer_key(fake: FakeUpstream) -> None:
    assert run_collect(fake, sse_body(["ok"]), api_key=KEY) == (["ok"], None)
    (request,) = fake.requests
    assert request.path == "/v1/chat/completions"
    assert request.body == {"model": "test-model", "messages": MESSAGES, "stream": True}
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "text/event-stream"


def test_no_authorization_header_is_sent_without_a_key(fake: FakeUpstream) -> None:
    assert run_collect(fake, sse_body(["ok"])) == (["ok"], None)
    assert "Authorization" not in fake.requests[0].headers


@pytest.mark.parametrize("suffix", ["/v1", "/v1/", "/v1/chat/completions", "/v1/chat/completions/"])
def test_a_base_url_or_the_full_endpoint_reach_the_endpoint(fake: FakeUpstream, suffix: str) -> None:
    fake.reply = Reply([sse_body(["ok"])])
    assert asyncio.run(collect(f"http://127.0.0.1:{fake.port}{suffix}")) == (["ok"], None)
    assert fake.requests[0].path == "/v1/chat/completions"


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        pytest.param("http://h/v1", "http://h/v1/chat/completions", id="base"),
        pytest.param("https://h:8443/v1/", "https://h:8443/v1/chat/completions", id="trailing-slash"),
        pytest.param("http://h/v1/chat/completions", "http://h/v1/chat/completions", id="endpoint"),
        pytest.param("http://h", "http://h/chat/completions", id="no-path"),
        pytest.param(
            "https://h/openai/deployments/d?api-version=2024-06-01",
            "https://h/openai/deployments/d/chat/completions?api-version=2024-06-01",
            id="query-kept",
        ),
    ],
)
def test_chat_completions_url(url: str, endpoint: str) -> None:
    assert chat_completions_url(url) == endpoint


@pytest.mark.parametrize("url", ["ftp://h/v1", "127.0.0.1:8000/v1", "", "http:///v1"])
def test_a_url_that_is_not_http_is_a_source_error(url: str) -> None:
    message = "the model API is misconfigured (its URL must start with http:// or https://)"
    assert asyncio.run(collect(url)) == ([], message)


# --- the stream --------------------------------------------------------------


def test_each_content_delta_is_yielded_as_it_arrives(fake: FakeUpstream) -> None:
    assert run_collect(fake, sse_body(PIECES)) == (PIECES, None)


def awkward_cuts(body: bytes) -> list[int]:
    """Cut points inside multi-byte characters, between a CR and its LF,
    inside ``data:`` and inside ``[DONE]``."""
    points = []
    for needle, offsets in [("🎉", (1, 2, 3)), ("日", (1, 2)), ("ö", (1,)), ("👩", (2,)), ("\r\n", (1,))]:
        at = body.find(needle.encode())
        points += [at + offset for offset in offsets if at >= 0]
    points += [body.find(b"data:", 300) + 2, body.find(b"[DONE]") + 3]
    return points


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("cuts", ["whole", "every-byte", "awkward"])
def test_lines_and_characters_cut_anywhere_arrive_whole(fake: FakeUpstream, eol: str, cuts: str) -> None:
    body = sse_body(PIECES, eol=eol)
    steps: list[Step]
    if cuts == "whole":
        steps = [body]
    elif cuts == "every-byte":  # one HTTP chunk per byte (tornado may coalesce them)
        steps = [body[i : i + 1] for i in range(len(body))]
    else:  # a pause after each piece, so the client reads each one on its own
        steps = [step for piece in cut(body, awkward_cuts(body)) for step in (piece, Pause(0.01))]
    assert run_collect(fake, *steps) == (PIECES, None)


def test_comments_fields_and_data_without_a_space_are_understood(fake: FakeUpstream) -> None:
    body = (
        "\ufeff: a BOM, then a comment\n\n"
        + ":keep-alive\r\n\r\n"
        + 'retry: 1000\nid: 7\nevent: message\ndata:{"choices":[{"delta":{"content":"a"}}]}\n\n'
        + ': ping\n\ndata: {"choices":[{"delta":{"content":"b"},"finish_reason":"stop"}]}\n\n'
        + "data: [DONE]\n\n"
    ).encode()
    assert run_collect(fake, *cut(body, [1, 2, 30])) == (["a", "b"], None)


def test_chunks_without_content_are_skipped(fake: FakeUpstream) -> None:
    steps = [
        b'data: {"choices": [], "prompt_filter_results": []}\n\n',  # Azure's first chunk
        role_chunk(),
        chunk(None),
        chunk(""),
        b'data: {"choices": [{"index": 0, "delta": {}}]}\n\n',
        chunk("x"),
        finish_chunk(),
        b'data: {"choices": [], "usage": {"total_tokens": 3}}\n\n',  # stream_options.include_usage
        DONE,
    ]
    assert run_collect(fake, *steps) == (["x"], None)


def test_only_the_first_choice_is_the_answer(fake: FakeUpstream) -> None:
    other = b'data: {"choices": [{"index": 1, "delta": {"content": "other"}}]}\n\n'
    assert run_collect(fake, chunk("a"), other, chunk("b"), finish_chunk(), DONE) == (["a", "b"], None)


def test_done_ends_the_answer_without_waiting_for_the_server(fake: FakeUpstream) -> None:
    async def scenario() -> tuple[list[str], str | None, float]:
        closed = fake.watch_close()
        started = time.monotonic()
        result = await collect(fake.url, timeout=5.0)
        await asyncio.wait_for(closed.wait(), 2.0)
        return (*result, time.monotonic() - started)

    fake.reply = Reply([sse_body(["a", "b"]), STALL])
    pieces, error, elapsed = asyncio.run(scenario())
    assert (pieces, error) == (["a", "b"], None)
    assert elapsed < 2.0


def test_a_stream_that_ends_without_done_after_a_finish_reason_is_complete(fake: FakeUpstream) -> None:
    assert run_collect(fake, sse_body(["a", "b"], done=False)) == (["a", "b"], None)


def test_a_stream_that_ends_without_done_or_finish_reason_is_cut_off(fake: FakeUpstream) -> None:
    message = "the model API ended the answer before it was complete"
    assert run_collect(fake, chunk("a"), chunk("b")) == (["a", "b"], message)


def test_a_last_event_without_its_blank_line_is_dropped(fake: FakeUpstream) -> None:
    message = "the model API ended the answer before it was complete"
    assert run_collect(fake, chunk("a"), b'data: {"choices": [{"delta": {"content": "b"}}]}\n') == (["a"], message)


def test_a_connection_closed_mid_answer_is_a_source_error(fake: FakeUpstream) -> None:
    message = "the model API ended the answer before it was complete"
    # The pause lets the client read "Hel" first: tornado 6.6 drops chunks
    # it has coalesced but not yet delivered when the connection drops.
    steps: list[Step] = [role_chunk(), chunk("Hel"), Pause(0.05), b'data: {"cho', CLOSE]
    assert run_collect(fake, *steps) == (["Hel"], message)


# --- failures ----------------------------------------------------------------

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("status", "headers", "body", "message"),
    [
        pytest.param(
            401,
            JSON,
            b'{"error": {"message": "Incorrect API key provided: sk-te***ef.", "type": "invalid_request_error"}}',
            "the model API answered HTTP 401: Incorrect API key provided: sk-te***ef.",
            id="401-openai",
        ),
        pytest.param(
            500,
            JSON,
            b'{"error": {"message": "The server had an error\\nwhile processing\\u0000 your request."}}',
            "the model API answered HTTP 500: The server had an error while processing your request.",
            id="500-one-line",
        ),
        pytest.param(
            429, JSON, b'{"error": "rate limited"}', "the model API answered HTTP 429: rate limited", id="429-str"
        ),
        pytest.param(
            404, JSON, b'{"message": "no such model"}', "the model API answered HTTP 404: no such model", id="404-msg"
        ),
        pytest.param(500, JSON, b'{"error": {"code": 1}}', "the model API answered HTTP 500", id="500-no-message"),
        pytest.param(
            502,
            {"Content-Type": "text/html"},
            b"<h1>Bad gateway</h1>",
            "the model API answered HTTP 502",
            id="502-html",
        ),
        pytest.param(503, JSON, b"", "the model API answered HTTP 503", id="503-empty"),
        pytest.param(
            400,
            JSON,
            json.dumps({"error": {"message": "x" * 1000}}).encode(),
            "the model API answered HTTP 400: " + "x" * 299 + "…",
            id="400-truncated",
        ),
        pytest.param(
            301,
            {"Location": "https://elsewhere/v1/chat/completions"},
            b"",
            "the model API answered HTTP 301",
            id="redirect-not-followed",
        ),
    ],
)
def test_an_http_error_is_a_source_error_with_its_status_and_message(
    fake: FakeUpstream, status: int, headers: dict[str, str], body: bytes, message: str
) -> None:
    assert run_reply(fake, Reply([body] if body else [], status=status, headers=headers), api_key=KEY) == ([], message)


def test_the_api_key_never_reaches_the_reader(fake: FakeUpstream) -> None:
    body = json.dumps({"error": {"message": f"Key {KEY} is not valid (Bearer {KEY})"}}).encode()
    pieces, message = run_reply(fake, Reply([body], status=401, headers=JSON), api_key=KEY)
    assert pieces == []
    assert message == "the model API answered HTTP 401: Key [redacted] is not valid (Bearer [redacted])"


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


REDACTION_VARIANTS = [
    pytest.param(KEY.upper(), id="upper-case"),
    pytest.param(KEY.title(), id="mixed-case"),
    pytest.param(f"key_{KEY}_invalid", id="glued-in-a-word"),
    pytest.param(f"{KEY[:8]}\u200b{KEY[8:]}", id="zero-width-space"),
    pytest.param(f"{KEY[:5]}\u2060{KEY[5:12]}\ufeff{KEY[12:]}", id="word-joiner-and-bom"),
    pytest.param(f"{KEY[:10]}\x00{KEY[10:]}", id="nul"),
    pytest.param(f"{KEY[:10]}\x1b{KEY[10:]}", id="escape"),
    pytest.param(f"{KEY[:3]}\u00ad{KEY[3:]}", id="soft-hyphen"),
    pytest.param(_fullwidth(KEY), id="fullwidth-compatibility-forms"),
    pytest.param(f"{KEY[:4]}\u202e{KEY[4:]}", id="bidi-override"),
]


@pytest.mark.parametrize("shown", REDACTION_VARIANTS)
def test_the_api_key_is_redacted_in_any_shape_before_it_reaches_the_reader_or_the_log(
    fake: FakeUpstream, shown: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {shown}."}}).encode()
    with caplog.at_level("DEBUG"):
        pieces, message = run_reply(fake, Reply([body], status=401, headers=JSON), api_key=KEY)
    assert pieces == [] and message is not None
    assert "[redacted]" in message, message
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for text in (message, logged):
        folded = "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isprintable())
        assert KEY.casefold()[4:] not in folded and KEY.casefold()[:-4] not in folded, text


@pytest.mark.parametrize("shown", REDACTION_VARIANTS)
def test_an_error_chunk_mid_stream_has_the_key_redacted_in_any_shape(fake: FakeUpstream, shown: str) -> None:
    error = json.dumps({"error": {"message": f"bad key {shown}"}})
    _, message = run_collect(fake, f"data: {error}\n\n".encode(), api_key=KEY)
    assert message is not None and "[redacted]" in message
    assert KEY.casefold()[4:] not in unicodedata.normalize("NFKC", message).casefold()


def test_an_error_chunk_mid_stream_is_a_source_error(fake: FakeUpstream) -> None:
    error = b'data: {"error": {"message": "The model is overloaded", "type": "server_error"}}\n\n'
    message = "the model API reported an error: The model is overloaded"
    assert run_collect(fake, role_chunk(), chunk("Hello"), error, DONE) == (["Hello"], message)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'data: {"choices": [{"delta": {"content": "x"\n\n', id="truncated-json"),
        pytest.param(b"data: not json\n\n", id="text"),
        pytest.param(b"data: [1, 2]\n\n", id="not-an-object"),
        pytest.param(b'data: {"choices": ["x"]}\n\n', id="choice-not-an-object"),
        pytest.param(b'data: {"choices": [{"delta": {"content": 5}}]}\n\n', id="content-not-a-string"),
    ],
)
def test_malformed_data_is_a_source_error(fake: FakeUpstream, data: bytes) -> None:
    assert run_collect(fake, chunk("Hello"), data, DONE) == (["Hello"], "the model API sent malformed data")


def test_an_answer_that_is_not_an_event_stream_is_a_source_error(fake: FakeUpstream) -> None:
    body = b'{"choices": [{"message": {"content": "hi"}}]}'
    message = "the model API did not answer with an event stream (content type application/json)"
    assert run_reply(fake, Reply([body], headers={"Content-Type": "application/json; charset=utf-8"})) == ([], message)


def test_a_compressed_stream_is_a_source_error(fake: FakeUpstream) -> None:
    reply = Reply([b"\x1f\x8b"], headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip"})
    assert run_reply(fake, reply) == ([], "the model API sent a compressed stream")


def test_a_refused_connection_is_a_source_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = "could not connect to the model API (connection refused)"
    assert asyncio.run(collect(f"http://127.0.0.1:{port}/v1")) == ([], message)


@pytest.mark.parametrize(
    "steps",
    [pytest.param([STALL], id="before-headers"), pytest.param([role_chunk(), chunk("Hel"), STALL], id="mid-answer")],
)
def test_a_server_that_goes_quiet_times_out_and_is_hung_up_on(fake: FakeUpstream, steps: list[Step]) -> None:
    async def scenario() -> tuple[list[str], str | None, float]:
        closed = fake.watch_close()
        started = time.monotonic()
        pieces, message = await collect(fake.url, timeout=0.5)
        elapsed = time.monotonic() - started
        await asyncio.wait_for(closed.wait(), 2.0)
        assert other_tasks() == []
        return pieces, message, elapsed

    fake.reply = Reply(steps)
    pieces, message, elapsed = asyncio.run(scenario())
    assert pieces == (["Hel"] if len(steps) > 1 else [])
    assert message == "the model API sent nothing for 0.5 s"
    assert 0.5 <= elapsed < 3.0


def test_keep_alive_comments_keep_a_slow_answer_alive(fake: FakeUpstream) -> None:
    """The timeout is for silence, not for the whole answer: comments count."""
    keep_alive: list[Step] = [Pause(0.15), b": keep-alive\n\n"]
    steps = [role_chunk(), *keep_alive * 5, chunk("late"), finish_chunk(), DONE]
    assert run_collect(fake, *steps, timeout=0.5) == (["late"], None)


def test_the_total_timeout_caps_an_answer_that_never_ends(fake: FakeUpstream) -> None:
    keep_alive: list[Step] = [Pause(0.1), b": keep-alive\n\n"]
    steps = [role_chunk(), chunk("a"), *keep_alive * 20]
    pieces, message = run_collect(fake, *steps, timeout=0.5, total_timeout=0.6)
    assert (pieces, message) == (["a"], "the model API took longer than 0.6 s")


# --- stopping early ----------------------------------------------------------


def test_closing_the_consumer_early_aborts_the_request(fake: FakeUpstream) -> None:
    async def scenario() -> str:
        closed = fake.watch_close()
        answer = upstream(MESSAGES, url=fake.url, model="m", timeout=5.0)
        first = await anext(answer)
        await answer.aclose()  # type: ignore[attr-defined]
        await asyncio.wait_for(closed.wait(), 2.0)  # the server saw the hang-up
        assert other_tasks() == []
        assert isinstance(first, str)  # answer text, not another kind of piece
        return first

    fake.reply = Reply([role_chunk(), chunk("Hello"), STALL])
    assert asyncio.run(scenario()) == "Hello"


def test_cancelling_the_consumer_aborts_the_request(fake: FakeUpstream) -> None:
    async def scenario() -> list[str]:
        closed = fake.watch_close()
        seen: list[str] = []
        first = asyncio.Event()

        async def consume() -> None:
            async for piece in upstream(MESSAGES, url=fake.url, model="m", timeout=5.0):
                if isinstance(piece, str):  # answer text; the other pieces: test_parts.py
                    seen.append(piece)
                    first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 2.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(closed.wait(), 2.0)
        assert other_tasks() == []
        return seen

    fake.reply = Reply([chunk("Hello"), STALL])
    assert asyncio.run(scenario()) == ["Hello"]


# --- the SSE decoder on its own ----------------------------------------------


@pytest.mark.parametrize(
    ("data", "events"),
    [
        pytest.param(b"data: a\n\n", [ServerEvent("a")], id="one"),
        pytest.param(b"data:a\r\n\r\ndata:  b\r\r", [ServerEvent("a"), ServerEvent(" b")], id="crlf-cr-one-space"),
        pytest.param(b"data: a\ndata: b\n\n", [ServerEvent("a\nb")], id="lines-join"),
        pytest.param(b"data\n\n", [ServerEvent("")], id="field-only"),
        pytest.param(b": c\nevent: x\n\n", [], id="no-data-no-event"),
        pytest.param(b"event: e\ndata: 1\n\ndata: 2\n\n", [ServerEvent("1", "e"), ServerEvent("2")], id="event-reset"),
        pytest.param(b"\xef\xbb\xbfdata: a\n\n", [ServerEvent("a")], id="bom"),
        pytest.param(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n", [], id="second-bom-is-a-field-name"),
        pytest.param(b"data: \xff\xe6\x97\n\n", [ServerEvent("\ufffd\ufffd")], id="invalid-utf8"),
        pytest.param(b"id: 1\nretry: 5\nfoo: bar\ndata: a\n\n", [ServerEvent("a")], id="other-fields"),
        pytest.param(b"data: a\n", [], id="unfinished"),
    ],
)
def test_sse_decoder(data: bytes, events: list[ServerEvent]) -> None:
    for size in (len(data) or 1, 1, 2):
        decoder = SSEDecoder()
        got = [event for start in range(0, len(data), size) for event in decoder.feed(data[start : start + size])]
        decoder.close()
        assert got == events, size


def test_sse_decoder_refuses_endless_lines_and_events() -> None:
    decoder = SSEDecoder(max_size=10)
    assert decoder.feed(b"data: 1234") == []
    with pytest.raises(ValueError, match="line"):
        decoder.feed(b"5")
    decoder = SSEDecoder(max_size=10)
    with pytest.raises(ValueError, match="event"):
        decoder.feed(b"data: 12345\ndata: 6789\n")


# --- end to end: upstream -> engine -> store -> SSE --------------------------

DOC = """\
# Answer

Some **bold** text, `code`, café and 日本語 🎉.

- one
- two

```python
print("<b>")
```

| a | b |
|---|---|
| 1 | 2 |
"""


async def chat_events(upstream_url: str, body: dict[str, Any]) -> list[dict[str, str]]:
    """POST /api/chat to a real server of the app; the SSE events it streams."""
    app = make_app(Config(upstream=upstream_url, source="upstream", model="test-model", api_key=KEY))
    sock, port = testing.bind_unused_port()
    state: AppState = app.state  # type: ignore[attr-defined]  # make_app hangs its AppState on the Application
    server = httpserver.HTTPServer(app)
    server.add_sockets([sock])
    client = httpclient.AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(
            f"http://127.0.0.1:{port}/api/chat",
            method="POST",
            body=json.dumps(body),
            headers={"Accept": "text/event-stream", "Content-Type": "application/json"},
            request_timeout=10.0,
        )
    finally:
        client.close()
        server.stop()
        await state.generations.shutdown(timeout=2.0)
        await asyncio.wait_for(server.close_all_connections(), 5.0)
        state.store.close()
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    decoder = SSEDecoder()
    events = [{"event": event.event, "data": event.data} for event in decoder.feed(response.body)]
    decoder.close()
    return events


def test_an_upstream_answer_streams_through_the_server_and_converges(fake: FakeUpstream) -> None:
    body = sse_body(tokens(DOC))
    fake.reply = Reply(cut(body, range(7, len(body), 7)))
    events = asyncio.run(chat_events(fake.url, {"message": "hi"}))
    assert events[-1] == {"event": "done", "data": '{"reason": "complete"}'}
    assert "error" not in [event["event"] for event in events]
    assert assemble(events) == render_markdown(DOC)
    (request,) = fake.requests
    assert request.body == {
        "model": "test-model",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},  # Config.upstream_usage
    }
    assert request.headers["Authorization"] == f"Bearer {KEY}"


def test_an_upstream_failure_ends_the_stream_with_error_then_done(fake: FakeUpstream) -> None:
    error = json.dumps({"error": {"message": "The server had an error"}}).encode()
    fake.reply = Reply([error], status=500, headers=JSON)
    events = asyncio.run(chat_events(fake.url, {"message": "hi"}))
    assert events[-2:] == [
        {"event": "error", "data": '{"message": "the model API answered HTTP 500: The server had an error"}'},
        {"event": "done", "data": '{"reason": "error"}'},
    ]
    assert assemble(events) == ""


def test_text_before_an_upstream_failure_is_kept(fake: FakeUpstream) -> None:
    fake.reply = Reply([role_chunk(), chunk("Partial *answer*"), Pause(0.05), CLOSE])
    events = asyncio.run(chat_events(fake.url, {"message": "hi"}))
    assert events[-2:] == [
        {"event": "error", "data": '{"message": "the model API ended the answer before it was complete"}'},
        {"event": "done", "data": '{"reason": "error"}'},
    ]
    assert assemble(events) == render_markdown("Partial *answer*")

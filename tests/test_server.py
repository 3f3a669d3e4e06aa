"""The server end to end, through real sockets (Must-show of the answer-streams issue):

1. every transport (SSE by GET and by POST, NDJSON, long-polling, WebSocket)
   carries an answer that ``renderer.assemble`` turns into exactly
   ``render_markdown(answer)``, with the contract's headers;
2. a reader that disconnects after any number of events and resumes with
   ``Last-Event-ID`` (or ``?lastEventId=``) ends with the same HTML and gets
   no id'd event twice; after ``done`` it gets 204;
3. no message, however hostile its line breaks and code points, can inject an
   event or a field into the stream.

A server runs in a background thread (tests/server_fixtures.py); each test
drives its clients with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_fixtures import (
    TIMEOUT,
    ControlledSource,
    RawResponse,
    ServerThread,
    SSERead,
    fetch,
    post_chat,
    read_sse,
    run,
)
from sse_client import SSEEvent, SSEParser
from tornado import websocket

from renderer import assemble, render_markdown
from renderer.server.config import Config
from renderer.server.sources import DEMO_ANSWERS, Message, last_user_message, tokens
from renderer.server.state import default_sources
from renderer.server.store.base import ID_EVENTS
from renderer.server.store.memory import MemoryStore

EVENT_KINDS = frozenset({"block", "tail", "replace", "append", "commit", "error", "done"})
"""The contract's events plus the engine's documented extra op kinds."""
SURROGATE = re.compile("[\ud800-\udfff]")

MULTI_BLOCK = """# Resuming

A first paragraph with **bold**, `code` and a [link](https://example.com/).

```python
def double(x):
    return x * 2
```

- one
- two
  - nested
- three

| a | b |
|---|:-:|
| 1 | 2 |
| 3 | 4 |

A last paragraph, then the end.
"""


def demo_answer(message: str) -> str:
    """The canned answer the demo source picks for ``message``."""
    return DEMO_ANSWERS[sum(map(ord, message)) % len(DEMO_ANSWERS)]


def demo_text(messages: Sequence[Message]) -> str:
    return demo_answer(last_user_message(messages))


DEMO_MESSAGES = ["hi", "hj"]
assert {demo_answer(m) for m in DEMO_MESSAGES} == set(DEMO_ANSWERS), "pick messages that cover every answer"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """One server for the tests that need nothing special: echo and demo as
    fast as possible, plus gated versions of both (``echo-gated``,
    ``demo-gated``) that wait until the test releases them."""
    gated = {"echo-gated": ControlledSource(), "demo-gated": ControlledSource(text=demo_text)}
    config = Config(token_delay=0, heartbeat=5)
    with ServerThread(config, sources={**default_sources(config), **gated}) as plain:
        plain.gated = gated  # type: ignore[attr-defined]
        yield plain


def events_path(stream_id: str, transport: str = "events") -> str:
    return f"/api/streams/{stream_id}/{transport}"


# -- readers of each transport -------------------------------------------------------


async def read_ndjson(server: ServerThread, stream_id: str) -> list[dict[str, str]]:
    response = await RawResponse.open(server.port, "GET", events_path(stream_id, "ndjson"))
    try:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-store"
        body = await response.body()
    finally:
        await response.close()
    lines = [line for line in body.decode("utf-8").split("\n") if line.strip()]
    events = [json.loads(line) for line in lines]
    for event in events:
        assert set(event) == {"id", "event", "data"}
        assert (event["id"] is not None) == (event["event"] in ID_EVENTS)
    return events


async def read_poll(server: ServerThread, stream_id: str) -> list[dict[str, str]]:
    """Long-poll with ``after=`` the last id until ``done`` (bounded)."""
    events: list[dict[str, str]] = []
    after = ""
    for _ in range(1000):
        response = await fetch(server.url(f"{events_path(stream_id, 'poll')}?after={after}&wait=5"))
        assert response.code == 200, response.body
        assert response.headers["Content-Type"].startswith("application/json")
        page = json.loads(response.body)
        events += page["events"]
        ids = [event["id"] for event in page["events"] if event["id"] is not None]
        if ids:
            after = ids[-1]
        if page["done"]:
            return events
    raise AssertionError("poll never reported done")


async def read_ws(server: ServerThread, stream_id: str, query: str = "") -> list[dict[str, str]]:
    connection = await websocket.websocket_connect(server.url(events_path(stream_id, "ws") + query, "ws"))
    events: list[dict[str, str]] = []
    try:
        for _ in range(100_000):
            message = await connection.read_message()
            if message is None:
                break
            events.append(json.loads(message))
        else:
            raise AssertionError("endless websocket")
    finally:
        connection.close()
    return events


def check_ids(events: Sequence[Mapping[str, str | None]]) -> None:
    """Ids on exactly the events that carry them, increasing; done last."""
    ids = [int(event_id) for event in events if (event_id := event.get("id")) is not None]
    assert ids == sorted(set(ids))
    assert events[-1]["event"] == "done"


# -- 1. end to end ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [pytest.param("demo", m, id=f"demo-{i}") for i, m in enumerate(DEMO_MESSAGES)]
    + [pytest.param("echo", MULTI_BLOCK, id="echo")],
)
def test_every_transport_builds_the_rendered_answer(server: ServerThread, source: str, message: str) -> None:
    answer = demo_answer(message) if source == "demo" else message
    expected = render_markdown(answer)

    async def test() -> None:
        stream_id = await post_chat(server, message, source=source)
        sse = await read_sse(server.port, events_path(stream_id), headers={"Accept-Encoding": "gzip"})
        assert sse.status == 200 and sse.ended
        assert sse.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert sse.headers["Cache-Control"] == "no-store"
        assert sse.headers["X-Accel-Buffering"] == "no"
        assert "Content-Encoding" not in sse.headers
        assert sse.first_bytes.startswith(b"retry: ")
        assert sse.parser.retry == Config().retry_ms
        assert assemble(sse.dicts) == expected
        events = [{"id": e.id, "event": e.event, "data": e.data} for e in sse.events]
        check_ids(events)
        assert json.loads(sse.events[-1].data) == {"reason": "complete"}
        # The stream is done now: every other transport replays it.
        for name, reader in (("ndjson", read_ndjson), ("poll", read_poll), ("ws", read_ws)):
            got = await reader(server, stream_id)
            assert assemble(got) == expected, name
            check_ids(got)

    run(test())


@pytest.mark.parametrize("gated", ["echo-gated", "demo-gated"])
@pytest.mark.parametrize("transport", ["sse", "ndjson", "ws"])
def test_a_reader_that_follows_a_live_answer_builds_it(server: ServerThread, gated: str, transport: str) -> None:
    """The reader subscribes before the first token, so it sees live events
    (tails, appends, commits), not a replay of the log."""
    message = MULTI_BLOCK if gated == "echo-gated" else "hi"
    expected = render_markdown(message if gated == "echo-gated" else demo_answer(message))
    control: ControlledSource = server.gated[gated]  # type: ignore[attr-defined]

    async def test() -> None:
        stream_id = await post_chat(server, message, source=gated)
        readers: dict[str, Callable[[], Awaitable[SSERead | list[dict[str, str]]]]] = {
            "sse": lambda: read_sse(server.port, events_path(stream_id)),
            "ndjson": lambda: read_ndjson(server, stream_id),
            "ws": lambda: read_ws(server, stream_id),
        }
        reading = asyncio.ensure_future(readers[transport]())
        store = server.memory_store
        await server.until(lambda: store.subscriptions >= 1, "the reader to subscribe")
        await server.acall(lambda: control.answers[-1].released.set())
        got = await asyncio.wait_for(reading, TIMEOUT)
        events = got.dicts if isinstance(got, SSERead) else got
        assert assemble(events) == expected
        assert events[-1]["event"] == "done"

    run(test())


def test_post_with_accept_event_stream_streams_the_answer_in_the_same_response(server: ServerThread) -> None:
    async def test() -> None:
        body = json.dumps({"message": MULTI_BLOCK, "source": "echo"}).encode()
        sse = await read_sse(
            server.port,
            "/api/chat",
            method="POST",
            body=body,
            headers={"Accept": "text/event-stream", "Content-Type": "application/json", "Accept-Encoding": "gzip"},
        )
        assert sse.status == 200 and sse.ended
        assert sse.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert sse.headers["Cache-Control"] == "no-store"
        assert sse.headers["X-Accel-Buffering"] == "no"
        assert "Content-Encoding" not in sse.headers
        assert sse.first_bytes.startswith(b"retry: ")
        assert assemble(sse.dicts) == render_markdown(MULTI_BLOCK)
        assert sse.events[-1].event == "done"

    run(test())


def test_tornado_client_streaming_callback_reads_the_same_events(server: ServerThread) -> None:
    """The same stream through Tornado's own HTTP client, chunk by chunk."""

    async def test() -> None:
        stream_id = await post_chat(server, MULTI_BLOCK)
        parser = SSEParser()
        events = []
        response = await fetch(
            server.url(events_path(stream_id)), streaming_callback=lambda c: events.extend(parser.feed(c))
        )
        events += parser.close()
        assert response.code == 200
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert "X-Consumed-Content-Encoding" not in response.headers  # nothing was gzipped
        assert assemble([e.as_dict() for e in events]) == render_markdown(MULTI_BLOCK)

    run(test())


# -- 2. resume ------------------------------------------------------------------------


def test_resume_after_every_event_of_a_finished_answer(server: ServerThread) -> None:
    expected = render_markdown(MULTI_BLOCK)

    async def test() -> None:
        stream_id = await post_chat(server, MULTI_BLOCK)
        live = await read_sse(server.port, events_path(stream_id))  # follows it to its end
        assert assemble(live.dicts) == expected
        whole = await read_sse(server.port, events_path(stream_id))  # the finished answer's log
        assert assemble(whole.dicts) == expected
        assert whole.events[-1].event == "done"
        total = len(whole.events)
        assert total >= 6, [e.event for e in whole.events]
        for k in range(1, total):
            first = await read_sse(server.port, events_path(stream_id), limit=k)
            assert len(first.events) == k and not first.ended
            last = first.last_id
            assert last is not None, "a finished answer replays id'd events only"
            for how in ("header", "query") if k == total // 2 else ("header",):
                if how == "header":
                    rest = await read_sse(server.port, events_path(stream_id), headers={"Last-Event-ID": last})
                else:
                    rest = await read_sse(server.port, f"{events_path(stream_id)}?lastEventId={last}")
                assert rest.status == 200 and rest.ended, (k, how)
                assert assemble(first.dicts + rest.dicts) == expected, (k, how)
                seen = [e.id for e in first.events + rest.events if e.id is not None]
                assert len(seen) == len(set(seen)), f"an id'd event came twice after resuming at {k}"
                assert rest.events[-1].event == "done"
        # Everything read: a reconnect is told to stop.
        assert whole.last_id is not None
        after_done = await read_sse(server.port, events_path(stream_id), headers={"Last-Event-ID": whole.last_id})
        assert after_done.status == 204 and after_done.events == []
        by_query = await read_sse(server.port, f"{events_path(stream_id)}?lastEventId={whole.last_id}")
        assert by_query.status == 204

    run(test())


def test_unknown_stream_is_404(server: ServerThread) -> None:
    async def test() -> None:
        for headers in ({}, {"Last-Event-ID": "3"}):
            response = await fetch(server.url(events_path("no-such-stream")), headers=headers)
            assert response.code == 404
            assert json.loads(response.body) == {"error": "unknown stream"}

    run(test())


# Points where the answer pauses: in a paragraph, in the code block, in the
# list and in the table (token indices of MULTI_BLOCK).
def _pause_points() -> list[int]:
    pieces = tokens(MULTI_BLOCK)
    points = []
    offset = 0
    wanted = ["with **bold**", "return x", "two", "| 3", "last"]
    for index, piece in enumerate(pieces):
        offset += len(piece)
        text = MULTI_BLOCK[:offset]
        while wanted and wanted[0] in text:
            points.append(index + 1)
            wanted.pop(0)
    assert not wanted
    return points


PAUSE_POINTS = _pause_points()


@pytest.fixture(scope="module")
def stepped() -> Iterator[tuple[ServerThread, ControlledSource]]:
    """A server whose generations render every token at once (so each pause
    leaves a known tail) and whose ``stepped`` source pauses mid-answer."""
    control = ControlledSource(pause_at=0)
    with ServerThread(Config(token_delay=0), sources={"stepped": control}, interval=0) as stepped_server:
        yield stepped_server, control


async def _paused_answer(server: ServerThread, control: ControlledSource, pause_at: int) -> tuple[str, int]:
    control.pause_at = pause_at
    stream_id = await post_chat(server, MULTI_BLOCK, source="stepped")
    index = len(control.answers) - 1
    await server.acall(lambda: control.answers[index].wait_paused())
    return stream_id, index


async def _replay_length(server: ServerThread, stream_id: str, after: str | None = None) -> int:
    events, _ = await server.acall(lambda: server.state.store.read(stream_id, after))
    return len(events)


async def _readers_at_pause(
    server: ServerThread, control: ControlledSource, pause_at: int
) -> tuple[str, int, list[list[SSEEvent]]]:
    """Pause an answer at ``pause_at``; for every k, a reader that read k
    events of it and left.  Returns the stream, its answer's index and, per
    reader, the events it holds (none when it saw no id: it starts over)."""
    stream_id, index = await _paused_answer(server, control, pause_at)
    available = await _replay_length(server, stream_id)
    held: list[list[SSEEvent]] = []
    for k in range(1, available + 1):
        first = await read_sse(server.port, events_path(stream_id), limit=k)
        assert len(first.events) == k and not first.ended
        held.append(first.events if first.last_id is not None else [])
    return stream_id, index, held


def subscribed(store: MemoryStore, readers: int) -> Callable[[], bool]:
    """A predicate for ``server.until``: at least ``readers`` subscriptions are open."""
    return lambda: store.subscriptions >= readers


def _last_id(events: list[SSEEvent]) -> dict[str, str]:
    ids = [event.id for event in events if event.id is not None]
    return {"Last-Event-ID": ids[-1]} if ids else {}


def test_resume_while_the_answer_is_live_after_every_event(stepped: tuple[ServerThread, ControlledSource]) -> None:
    """Readers that left at every event of a paused answer come back while it
    is still paused (they get the log after their id, then the current tail),
    then follow it live to the end."""
    server, control = stepped
    expected = render_markdown(MULTI_BLOCK)

    async def test() -> None:
        store = server.memory_store
        for pause_at in PAUSE_POINTS:
            stream_id, index, held = await _readers_at_pause(server, control, pause_at)
            assert any(e.event == "tail" and e.data for events in held for e in events), "pause with a tail"
            # The readers that left are noticed gone first, so that the count below is of the new ones.
            await server.until(lambda: store.subscriptions == 0, "the readers that left to be noticed")
            tasks = [
                asyncio.ensure_future(read_sse(server.port, events_path(stream_id), headers=_last_id(events)))
                for events in held
            ]
            await server.until(subscribed(store, len(tasks)), "every reader to resume")
            await server.acall(control.answers[index].released.set)
            for k, (events, rest) in enumerate(zip(held, await asyncio.gather(*tasks), strict=True), start=1):
                assert rest.status == 200 and rest.ended
                assert assemble([e.as_dict() for e in events + rest.events]) == expected, (pause_at, k)
                ids = [e.id for e in events + rest.events if e.id is not None]
                assert len(ids) == len(set(ids)), (pause_at, k)

    run(test())


def test_resume_after_the_answer_ended_after_every_event(stepped: tuple[ServerThread, ControlledSource]) -> None:
    server, control = stepped
    expected = render_markdown(MULTI_BLOCK)

    async def test() -> None:
        failures = []
        for pause_at in PAUSE_POINTS:
            stream_id, index, held = await _readers_at_pause(server, control, pause_at)
            await server.acall(control.answers[index].released.set)
            await server.until(functools.partial(server.state.store.is_done, stream_id), "the answer to end")
            for k, events in enumerate(held, start=1):
                rest = await read_sse(server.port, events_path(stream_id), headers=_last_id(events))
                assert rest.status in (200, 204)
                ids = [e.id for e in events + rest.events if e.id is not None]
                assert len(ids) == len(set(ids)), (pause_at, k)
                if assemble([e.as_dict() for e in events + rest.events]) != expected:
                    failures.append((pause_at, k))
        assert not failures, f"stale HTML after resuming at (pause, k) = {failures}"

    run(test())


def test_poll_across_the_end_of_an_answer_builds_it(stepped: tuple[ServerThread, ControlledSource]) -> None:
    """A client polls while the answer is paused (it gets blocks and the
    tail), then again once it has ended: it must end with the answer."""
    server, control = stepped

    async def test() -> None:
        stream_id, index = await _paused_answer(server, control, PAUSE_POINTS[0])
        response = await fetch(server.url(events_path(stream_id, "poll")))
        first = json.loads(response.body)
        assert not first["done"] and first["events"][-1]["event"] == "tail"
        await server.acall(lambda: control.answers[index].released.set())
        await server.until(lambda: server.state.store.is_done(stream_id), "the answer to end")
        after = [e["id"] for e in first["events"] if e["id"]]
        query = f"?after={after[-1]}" if after else ""
        response = await fetch(server.url(events_path(stream_id, "poll") + query))
        second = json.loads(response.body)
        assert second["done"]
        events = first["events"] + second["events"] if after else second["events"]
        assert assemble(events) == render_markdown(MULTI_BLOCK)

    run(test())


def test_websocket_resumes_with_last_event_id_query(server: ServerThread) -> None:
    async def test() -> None:
        stream_id = await post_chat(server, MULTI_BLOCK)
        whole = await read_ws(server, stream_id)
        middle = [e for e in whole if e["id"]][len(whole) // 3]["id"]
        rest = await read_ws(server, stream_id, f"?lastEventId={middle}")
        assert [e["id"] for e in rest if e["id"]] == [e["id"] for e in whole if e["id"] and int(e["id"]) > int(middle)]
        position = next(i for i, e in enumerate(whole) if e["id"] == middle)
        assert assemble(whole[: position + 1] + rest) == render_markdown(MULTI_BLOCK)

    run(test())


# -- 3. no injection -------------------------------------------------------------------

HOSTILE = st.sampled_from(
    [
        "\r",
        "\n",
        "\r\n",
        "\n\n",
        "\0",
        "\u2028",
        "\u2029",
        "\x85",
        "\ud800",
        "\udfff",
        "\ud83d",
        "\U0001f600",
        "\ufeff",
        "```\n",
        "    ",
        "- ",
        "| a |\n|---|\n",
        "event: done",
        "data: x",
        "id: 99",
        "retry: 1",
        ": ping",
        "<script>",
        "**",
    ]
)
MESSAGES = st.lists(st.one_of(HOSTILE, st.text(max_size=6)), min_size=1, max_size=14).map("".join)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(message=MESSAGES)
def test_no_message_can_inject_an_event_or_a_field(server: ServerThread, message: str) -> None:
    body = json.dumps({"message": message, "source": "echo"}).encode()  # lone surrogates as \udXXX escapes
    # What the server receives: the same string, lone surrogates included,
    # except that a high and a low surrogate in a row are read as one character.
    received = json.loads(body)["message"]

    async def test() -> None:
        response = await fetch(server.url("/api/chat"), "POST", body=body)
        if not received.strip():
            assert response.code == 400
            return
        assert response.code == 201, response.body
        stream_id = json.loads(response.body)["id"]
        sse = await read_sse(server.port, events_path(stream_id))
        assert sse.ended
        assert set(sse.parser.fields) <= {"event", "id", "data", "retry"}, sse.parser.fields
        assert sse.parser.comments == [] or all(c.strip() == "" for c in sse.parser.comments)
        kinds = [event.event for event in sse.events]
        assert set(kinds) <= EVENT_KINDS, kinds
        assert kinds.count("done") == 1 and kinds[-1] == "done"
        for event in sse.events:
            assert (event.id is not None) == (event.event in ID_EVENTS), event
        assert json.loads(sse.events[-1].data) == {"reason": "complete"}
        expected = SURROGATE.sub("\ufffd", render_markdown(received))
        assert assemble(sse.dicts) == expected

    run(test())


# -- the event stream's framing over time -------------------------------------------------


def test_headers_and_retry_come_at_once_and_heartbeats_while_the_answer_is_quiet() -> None:
    """A reader of an answer that has produced nothing yet gets the headers and
    the ``retry`` frame at once, then comment frames (whole frames, between
    events), then the answer."""
    control = ControlledSource(pause_at=0)
    config = Config(token_delay=0, heartbeat=0.05, retry_ms=1234)

    async def test(server: ServerThread) -> None:
        stream_id = await post_chat(server, MULTI_BLOCK, source="gated")
        response = await RawResponse.open(server.port, "GET", events_path(stream_id))
        try:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
            first = await response.read_chunk()
            assert first.startswith(b"retry: 1234\n\n")
            parser = SSEParser()
            events = parser.feed(first)
            for _ in range(10_000):  # until two heartbeats came (bounded by read_chunk's timeout)
                if len(parser.comments) >= 2:
                    break
                events += parser.feed(await response.read_chunk())
            assert events == [] and parser.retry == 1234
            await server.acall(lambda: control.answers[0].released.set())
            raw = b""
            for _ in range(100_000):
                chunk = await response.read_chunk()
                if not chunk:
                    break
                raw += chunk
                events += parser.feed(chunk)
            events += parser.close()
        finally:
            await response.close()
        assert assemble([e.as_dict() for e in events]) == render_markdown(MULTI_BLOCK)
        assert set(parser.fields) <= {"event", "id", "data", "retry"}
        # A heartbeat is never inside an event: each comment line follows a blank line.
        text = (first + raw).decode()
        assert all(text[m.start() - 2 : m.start()] == "\n\n" for m in re.finditer("^:", text, re.M) if m.start())

    with ServerThread(config, sources={"gated": control}) as server:
        run(test(server))

"""Answer parts (renderer/server/parts.py): the <think> splitter, the part
writer, and the parts of real upstream answers through the whole server
(upstream -> generation -> store -> every transport -> assemble_parts)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fake_upstream import FakeUpstream, Reply, Step, chunk, delta_chunk, finish_chunk, role_chunk, usage_chunk
from hypothesis import given, settings
from hypothesis import strategies as st
from tornado import httpclient, httpserver, testing, websocket

from renderer import assemble, assemble_parts, render_markdown
from renderer.server.app import make_app
from renderer.server.config import Config
from renderer.server.parts import (
    Finish,
    PartWriter,
    Reasoning,
    Refusal,
    ThinkSplitter,
    ToolCallDelta,
    Usage,
    split_think,
)
from renderer.server.state import AppState
from renderer.server.upstream import SSEDecoder, upstream

REASONING = "The user wants a *table*.\n\nI should use `|` pipes."
ANSWER = "# Title\n\nSome **bold** and a [link](https://example.com/x).\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
THINK_TEXT = f"<think>{REASONING}</think>\n\n{ANSWER}"


def split(text: str, points: list[int]) -> list[str | Reasoning]:
    splitter = ThinkSplitter()
    out: list[str | Reasoning] = []
    bounds = [0, *points, len(text)]
    for start, end in itertools.pairwise(bounds):
        out += splitter.feed(text[start:end])
    return out + splitter.close()


def joined(pieces: list[str | Reasoning]) -> tuple[str, str]:
    reasoning = "".join(piece.text for piece in pieces if isinstance(piece, Reasoning))
    answer = "".join(piece for piece in pieces if isinstance(piece, str))
    return reasoning, answer


# --- the <think> splitter -------------------------------------------------------


@pytest.mark.parametrize("point", range(len(THINK_TEXT) + 1))
def test_think_tags_are_recognized_split_at_every_position(point: int) -> None:
    assert joined(split(THINK_TEXT, [point])) == (REASONING, ANSWER)


def test_think_tags_split_one_character_at_a_time() -> None:
    assert joined(split(THINK_TEXT, list(range(1, len(THINK_TEXT))))) == (REASONING, ANSWER)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Use <think> tags like <think>x</think>.",
            ("", "Use <think> tags like <think>x</think>."),
            id="later-is-prose",
        ),
        pytest.param("\n  <think>r</think>a", ("r", "a"), id="leading-whitespace"),
        pytest.param("<thinking>r</thinking>", ("", "<thinking>r</thinking>"), id="other-tag"),
        pytest.param("<thi", ("", "<thi"), id="unfinished-open-tag-is-prose"),
        pytest.param("<think>never closed</th", ("never closed</th", ""), id="unclosed-is-reasoning"),
        pytest.param("<think></think>answer", ("", "answer"), id="empty-reasoning"),
        pytest.param("   ", ("", ""), id="only-whitespace"),
    ],
)
def test_think_splitter_edge_cases(text: str, expected: tuple[str, str]) -> None:
    for point in range(len(text) + 1):
        assert joined(split(text, [point])) == expected


def test_split_think_passes_other_pieces_through() -> None:
    async def source() -> AsyncIterator[Any]:
        yield Reasoning("r")
        yield "<think>a</think>b"
        yield Finish("stop")

    async def collect() -> list[Any]:
        return [piece async for piece in split_think(source())]

    assert asyncio.run(collect()) == [Reasoning("r"), Reasoning("a"), "b", Finish("stop")]


# --- the part writer --------------------------------------------------------------


def write(pieces: list[Any], reason: str | None = None) -> tuple[PartWriter, list[dict[str, str]]]:
    writer = PartWriter(interval=0)
    events: list[tuple[str, str]] = []
    for piece in pieces:
        events += writer.feed(piece)
    events += writer.end(reason)
    return writer, [{"event": name, "data": data} for name, data in events]


def test_an_answer_of_text_only_has_no_part_event_and_converges() -> None:
    _, events = write([ANSWER[:7], ANSWER[7:]])
    assert "part" not in [event["event"] for event in events]
    assert assemble(events) == render_markdown(ANSWER)
    assert events[-1] == {"event": "done", "data": '{"reason": "complete"}'}


def test_reasoning_then_answer_makes_two_parts_and_no_reasoning_in_the_answer() -> None:
    writer, events = write(
        [Reasoning(REASONING[:9]), Reasoning(REASONING[9:]), ANSWER[:20], ANSWER[20:], Finish("stop")]
    )
    parts = assemble_parts(events)
    assert [part.kind for part in parts] == ["reasoning", "answer"]
    assert parts[0].html == render_markdown(REASONING)
    assert parts[1].html == render_markdown(ANSWER) == assemble(events)
    assert (writer.answer, writer.reasoning) == (ANSWER, REASONING)


def test_a_tool_call_is_a_json_code_block_with_its_name_in_the_part_event() -> None:
    _, events = write(
        [
            ToolCallDelta(0, "get_weather", "call_1", ""),
            ToolCallDelta(0, None, None, '{"city": '),
            ToolCallDelta(0, None, None, '"Paris"}'),
            Finish("tool_calls"),
        ]
    )
    (part,) = assemble_parts(events)
    assert part.kind == "tool_call"
    assert (part.meta["name"], part.meta["id"]) == ("get_weather", "call_1")
    assert part.html == render_markdown('````json\n{"city": "Paris"}\n````\n')
    assert json.loads(events[-1]["data"])["reason"] == "tool_calls"


def test_length_ends_with_a_notice_part_and_the_reason_length() -> None:
    _, events = write(["Cut mid-wo", Finish("length"), Usage(12, 34)])
    parts = assemble_parts(events)
    assert [part.kind for part in parts] == ["answer", "notice"]
    assert "length limit" in parts[1].html
    assert assemble(events) == render_markdown("Cut mid-wo")
    done = json.loads(events[-1]["data"])
    assert done["reason"] == "length"
    assert done["usage"] == {"prompt_tokens": 12, "completion_tokens": 34}


def test_a_refusal_is_a_part_of_its_own() -> None:
    _, events = write([Refusal("I can't help with that.")])
    assert [(part.kind, part.html) for part in assemble_parts(events)] == [
        ("refusal", render_markdown("I can't help with that."))
    ]


# --- upstream deltas -> pieces ------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


def pieces_of(fake: FakeUpstream, *steps: Step) -> list[Any]:
    fake.reply = Reply(steps)

    async def collect() -> list[Any]:
        return [
            piece
            async for piece in upstream(
                [{"role": "user", "content": "hi"}], url=fake.url, model="m", include_usage=True
            )
        ]

    return asyncio.run(collect())


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_deltas_become_reasoning_pieces(fake: FakeUpstream, field: str) -> None:
    pieces = pieces_of(
        fake,
        role_chunk(),
        delta_chunk({field: "Hmm."}),
        chunk("Yes."),
        finish_chunk("stop"),
        usage_chunk(3, 4),
        b"data: [DONE]\n\n",
    )
    assert pieces == [Reasoning("Hmm."), "Yes.", Finish("stop"), Usage(3, 4)]
    assert fake.requests[0].body["stream_options"] == {"include_usage": True}


def test_tool_call_and_refusal_deltas_become_pieces(fake: FakeUpstream) -> None:
    call = {"index": 0, "id": "call_9", "type": "function", "function": {"name": "f", "arguments": ""}}
    pieces = pieces_of(
        fake,
        delta_chunk({"refusal": "No."}),
        delta_chunk({"tool_calls": [call]}),
        delta_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
        finish_chunk("tool_calls"),
        b"data: [DONE]\n\n",
    )
    assert pieces == [
        Refusal("No."),
        ToolCallDelta(0, "f", "call_9", ""),
        ToolCallDelta(0, None, None, "{}"),
        Finish("tool_calls"),
    ]


# --- end to end, every transport -------------------------------------------------------


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[tuple[int, AppState]]:
    app = make_app(config)
    state: AppState = app.state  # type: ignore[attr-defined]
    sock, port = testing.bind_unused_port()
    server = httpserver.HTTPServer(app)
    server.add_sockets([sock])
    try:
        yield port, state
    finally:
        server.stop()
        await state.generations.shutdown(timeout=2.0)
        await asyncio.wait_for(server.close_all_connections(), 5.0)
        state.store.close()


async def transports(port: int, body: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The answer's events as SSE (the chat POST's own stream), then read
    again over GET SSE, NDJSON, long-polling and WebSocket."""
    client = httpclient.AsyncHTTPClient(force_instance=True)
    base = f"http://127.0.0.1:{port}"
    try:
        response = await client.fetch(
            f"{base}/api/chat",
            method="POST",
            body=json.dumps(body),
            headers={"Accept": "text/event-stream", "Content-Type": "application/json"},
            request_timeout=10.0,
        )
        stream_id = response.headers["X-Stream-Id"]
        decoder = SSEDecoder()
        result = {"post": [{"event": e.event, "data": e.data} for e in decoder.feed(response.body)]}
        events = await client.fetch(f"{base}/api/streams/{stream_id}/events", request_timeout=10.0)
        result["sse"] = [{"event": e.event, "data": e.data} for e in SSEDecoder().feed(events.body)]
        lines = await client.fetch(f"{base}/api/streams/{stream_id}/ndjson", request_timeout=10.0)
        result["ndjson"] = [
            {"event": item["event"], "data": item["data"]} for item in map(json.loads, lines.body.decode().splitlines())
        ]
        poll = json.loads((await client.fetch(f"{base}/api/streams/{stream_id}/poll", request_timeout=10.0)).body)
        result["poll"] = [{"event": item["event"], "data": item["data"]} for item in poll["events"]]
        socket = await websocket.websocket_connect(f"ws://127.0.0.1:{port}/api/streams/{stream_id}/ws")
        result["ws"] = []
        for _ in range(10_000):
            message = await socket.read_message()
            if message is None:
                break
            item = json.loads(message)
            result["ws"].append({"event": item["event"], "data": item["data"]})
        socket.close()
    finally:
        client.close()
    return result


def test_reasoning_answer_and_usage_travel_over_every_transport(fake: FakeUpstream) -> None:
    fake.reply = Reply(
        [
            role_chunk(),
            delta_chunk({"reasoning_content": REASONING[:10]}),
            delta_chunk({"reasoning_content": REASONING[10:]}),
            chunk(ANSWER[:15]),
            chunk(ANSWER[15:]),
            finish_chunk("stop"),
            usage_chunk(7, 11),
            b"data: [DONE]\n\n",
        ]
    )

    async def scenario() -> dict[str, list[dict[str, str]]]:
        async with running(Config(upstream=fake.url, source="upstream", model="m")) as (port, state):
            result = await transports(port, {"message": "hi"})
            metrics = state.metrics.exposition().decode()
            assert "renderer_prompt_tokens_total 7.0" in metrics
            assert "renderer_completion_tokens_total 11.0" in metrics
            return result

    result = asyncio.run(scenario())
    for name, events in result.items():
        parts = assemble_parts(events)
        assert [part.kind for part in parts] == ["reasoning", "answer"], name
        assert parts[0].html == render_markdown(REASONING), name
        assert assemble(events) == render_markdown(ANSWER), name
        done = json.loads(events[-1]["data"])
        assert done["reason"] == "complete" and done["usage"] == {"prompt_tokens": 7, "completion_tokens": 11}, name


@pytest.mark.parametrize(
    ("finish", "reason"),
    [("length", "length"), ("content_filter", "content_filter"), ("tool_calls", "tool_calls"), ("stop", "complete")],
)
def test_the_finish_reason_is_the_done_reason(fake: FakeUpstream, finish: str, reason: str) -> None:
    fake.reply = Reply([role_chunk(), chunk("Some text"), finish_chunk(finish), b"data: [DONE]\n\n"])

    async def scenario() -> dict[str, list[dict[str, str]]]:
        async with running(Config(upstream=fake.url, source="upstream", model="m")) as (port, _):
            return await transports(port, {"message": "hi"})

    events = asyncio.run(scenario())["post"]
    assert json.loads(events[-1]["data"])["reason"] == reason
    assert assemble(events) == render_markdown("Some text")


# --- the property: per part, streamed == one shot, however the chunks fall -------------

PIECES = st.lists(
    st.tuples(
        st.sampled_from(["answer", "reasoning", "refusal"]),
        st.text(alphabet=st.sampled_from(list("ab *_`|#-\n<>/thinkTK")), max_size=30),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(PIECES, st.data())
def test_every_part_converges_and_the_answer_part_holds_only_answer_text(
    pieces: list[tuple[str, str]], data: st.DataObject
) -> None:
    kinds = {"answer": str, "reasoning": Reasoning, "refusal": Refusal}
    fed: list[Any] = []
    for kind, text in pieces:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=3)))
        bounds = [0, *cuts, len(text)]
        fed += [kinds[kind](text[start:end]) for start, end in itertools.pairwise(bounds)]
    writer, events = write(fed)
    parts = assemble_parts(events)
    sources = writer.parts
    if len(parts) < len(sources):  # a leading answer part that rendered to nothing sent no event
        assert sources[0].kind == "answer" and render_markdown(sources[0].text) == ""
        sources = sources[1:]
    assert [part.kind for part in parts] == [part.kind for part in sources]
    for built, source in zip(parts, sources, strict=True):
        assert built.html == render_markdown(source.text)
    assert assemble(events) == "".join(render_markdown(p.text) for p in writer.parts if p.kind == "answer")
    assert writer.answer == "".join(text for kind, text in pieces if kind == "answer")
    assert writer.reasoning == "".join(text for kind, text in pieces if kind == "reasoning")

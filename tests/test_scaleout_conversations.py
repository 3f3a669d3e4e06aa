"""Conversations and reader presence on Redis with two processes: a
conversation started on one process continues on the other, and a reader
on one process keeps alive an answer that the other generates."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis_server import RedisServer
from server_fixtures import fetch, read_sse, run
from test_scaleout import Server

from renderer import assemble, assemble_parts, render_markdown

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FIRST = "# One\n\nThe **first** question, echoed.\n"
SECOND = "A `second` one, asked on the other process.\n"


async def ask(server: Server, body: dict[str, Any]) -> dict[str, Any]:
    response = await fetch(server.url("/api/chat"), "POST", body=json.dumps({"source": "echo", **body}))
    assert response.code == 201, (response.code, response.body)
    return json.loads(response.body)  # type: ignore[no-any-return]


def test_a_conversation_started_on_one_process_continues_on_the_other(redis_server: RedisServer) -> None:
    with Server(redis_server.url, token_delay=0) as a, Server(redis_server.url, token_delay=0) as b:

        async def test() -> None:
            first = await ask(a, {"conversation": None, "message": FIRST})
            conversation = first["conversation"]
            read = await read_sse(a.port, first["events"])
            assert assemble(read.dicts) == render_markdown(FIRST)

            second = await ask(b, {"conversation": conversation, "message": SECOND})
            assert second["conversation"] == conversation
            read = await read_sse(a.port, second["events"])  # generated on B, read on A
            assert assemble(read.dicts) == render_markdown(SECOND)

            for server in (a, b):
                response = await fetch(server.url(f"/api/conversations/{conversation}"))
                kept = json.loads(response.body)
                assert [turn["question"] for turn in kept["turns"]] == [FIRST, SECOND]
                assert [turn["answer"] for turn in kept["turns"]] == [FIRST, SECOND]
                assert [turn["reason"] for turn in kept["turns"]] == ["complete", "complete"]

        run(test())


def test_a_reader_on_the_other_process_keeps_the_answer_alive(redis_server: RedisServer) -> None:
    message = " ".join(f"word{index}" for index in range(60))
    idle = ("--idle-cancel", "0.5")
    with (
        Server(redis_server.url, token_delay=0.03, extra=idle) as a,
        Server(redis_server.url, token_delay=0.03, extra=idle) as b,
    ):

        async def test() -> None:
            started = await ask(a, {"message": message})
            read = await read_sse(b.port, started["events"])  # the only reader, on B, from start to end
            assert json.loads(read.events[-1].data) == {"reason": "complete"}
            assert assemble(read.dicts) == render_markdown(message)

        run(test())


def test_parts_travel_through_redis_and_resume_on_the_other_process(redis_server: RedisServer) -> None:
    text = "<think>Some *reasoning* first.\n\nTwo paragraphs.</think>\n\n# Answer\n\nThe **answer** text.\n"
    with Server(redis_server.url, token_delay=0.01) as a, Server(redis_server.url, token_delay=0.01) as b:

        async def test() -> None:
            started = await ask(a, {"message": text})
            seen: list[str] = []

            def after_the_part(event: Any) -> bool:
                if event.event == "part":
                    seen.append(event.id)
                return bool(seen)

            first = await read_sse(b.port, started["events"], until=after_the_part)
            assert first.last_id is not None
            rest = await read_sse(a.port, started["events"], headers={"Last-Event-ID": first.last_id})
            parts = assemble_parts(first.dicts + rest.dicts)
            assert [part.kind for part in parts] == ["reasoning", "answer"]
            assert parts[0].html == render_markdown("Some *reasoning* first.\n\nTwo paragraphs.")
            assert parts[1].html == render_markdown("# Answer\n\nThe **answer** text.\n")

        run(test())

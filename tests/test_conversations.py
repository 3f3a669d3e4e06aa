"""Conversations kept by the server (renderer/server/conversations.py) and
the history sent upstream (renderer/server/history.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_upstream import FakeUpstream, Reply, chunk, delta_chunk, finish_chunk, role_chunk
from test_parts import ANSWER, REASONING, running
from tornado import httpclient

from renderer import assemble, assemble_parts, render_markdown
from renderer.server.config import Config
from renderer.server.history import Exchange, fit_history

DONE = b"data: [DONE]\n\n"


# --- the history budget ------------------------------------------------------------


def test_history_keeps_the_newest_turns_that_fit_and_counts_the_rest() -> None:
    exchanges = [Exchange("q1", "a" * 10), Exchange("q2", "b" * 10), Exchange("q3", "c" * 10)]
    messages, omitted = fit_history(exchanges, "new", budget=25, system="Be brief.")
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "b" * 10},
        {"role": "user", "content": "q3"},
        {"role": "assistant", "content": "c" * 10},
        {"role": "user", "content": "new"},
    ]
    assert omitted == 1


def test_a_turn_that_does_not_fit_drops_it_and_every_older_one() -> None:
    exchanges = [Exchange("q1", "a"), Exchange("q2", "b" * 100), Exchange("q3", "c")]
    messages, omitted = fit_history(exchanges, "new", budget=50)
    assert [m["content"] for m in messages] == ["q3", "c", "new"]
    assert omitted == 2


def test_reasoning_goes_back_only_when_configured() -> None:
    exchanges = [Exchange("q", "answer", "thoughts")]
    assert "reasoning_content" not in fit_history(exchanges, "n", budget=100)[0][1]
    assert fit_history(exchanges, "n", budget=100, send_reasoning=True)[0][1]["reasoning_content"] == "thoughts"


# --- end to end ------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


async def ask(port: int, body: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    """POST /api/chat (201), then the answer's events (long-polled to its end)."""
    client = httpclient.AsyncHTTPClient(force_instance=True)
    base = f"http://127.0.0.1:{port}"
    try:
        response = await client.fetch(
            f"{base}/api/chat", method="POST", body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        reply = json.loads(response.body)
        events: list[dict[str, str]] = []
        after = ""
        for _ in range(100):
            poll = json.loads((await client.fetch(f"{base}/api/streams/{reply['id']}/poll?wait=5&after={after}")).body)
            events += [{"event": e["event"], "data": e["data"]} for e in poll["events"] if e["event"] != "tail"]
            ids = [e["id"] for e in poll["events"] if e["id"]]
            after = ids[-1] if ids else after
            if poll["done"]:
                break
    finally:
        client.close()
    return reply["conversation"], events


async def get_json(port: int, path: str) -> Any:
    client = httpclient.AsyncHTTPClient(force_instance=True)
    try:
        return json.loads((await client.fetch(f"http://127.0.0.1:{port}{path}")).body)
    finally:
        client.close()


def answer_with_reasoning() -> Reply:
    return Reply(
        [
            role_chunk(),
            delta_chunk({"reasoning_content": REASONING}),
            chunk(ANSWER[:11]),
            chunk(ANSWER[11:]),
            finish_chunk("stop"),
            DONE,
        ]
    )


def test_a_follow_up_carries_the_earlier_answer_s_markdown_exactly_without_its_reasoning(fake: FakeUpstream) -> None:
    config = Config(upstream=fake.url, source="upstream", model="m", system_prompt="You are terse.")

    async def scenario() -> None:
        async with running(config) as (port, _):
            fake.reply = answer_with_reasoning()
            conversation, events = await ask(port, {"conversation": None, "message": "Make a table"})
            assert assemble(events) == render_markdown(ANSWER)
            fake.reply = Reply([role_chunk(), chunk("Sure."), finish_chunk("stop"), DONE])
            again, _ = await ask(port, {"conversation": conversation, "message": "And again?"})
            assert again == conversation
            assert fake.requests[1].body["messages"] == [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Make a table"},
                {"role": "assistant", "content": ANSWER},
                {"role": "user", "content": "And again?"},
            ]
            kept = await get_json(port, f"/api/conversations/{conversation}")
            assert [turn["question"] for turn in kept["turns"]] == ["Make a table", "And again?"]
            assert [turn["reason"] for turn in kept["turns"]] == ["complete", "complete"]
            assert all(turn["events"].startswith("/api/streams/") for turn in kept["turns"])

    asyncio.run(scenario())


def test_turns_left_out_of_the_budget_are_announced_in_the_answer(fake: FakeUpstream) -> None:
    config = Config(upstream=fake.url, source="upstream", model="m", history_budget=10)

    async def scenario() -> None:
        async with running(config) as (port, _):
            fake.reply = Reply([role_chunk(), chunk("A long enough answer."), finish_chunk("stop"), DONE])
            conversation, _ = await ask(port, {"conversation": None, "message": "first"})
            fake.reply = Reply([role_chunk(), chunk("Second."), finish_chunk("stop"), DONE])
            _, events = await ask(port, {"conversation": conversation, "message": "second"})
            parts = assemble_parts(events)
            assert [part.kind for part in parts] == ["notice", "answer"]
            assert "1 earlier turn was left out" in parts[0].html
            assert assemble(events) == render_markdown("Second.")
            assert fake.requests[1].body["messages"] == [{"role": "user", "content": "second"}]
            kept = await get_json(port, f"/api/conversations/{conversation}")
            assert kept["turns"][1]["omitted"] == 1

    asyncio.run(scenario())


def test_regenerate_replaces_the_last_answer_and_continue_asks_to_go_on(fake: FakeUpstream) -> None:
    config = Config(upstream=fake.url, source="upstream", model="m")

    async def scenario() -> None:
        async with running(config) as (port, _):
            fake.reply = Reply([role_chunk(), chunk("Cut mid-wo"), finish_chunk("length"), DONE])
            conversation, events = await ask(port, {"conversation": None, "message": "q"})
            assert json.loads(events[-1]["data"])["reason"] == "length"
            fake.reply = Reply([role_chunk(), chunk("Other."), finish_chunk("length"), DONE])
            await ask(port, {"conversation": conversation, "regenerate": True})
            assert fake.requests[1].body["messages"] == [{"role": "user", "content": "q"}]
            fake.reply = Reply([role_chunk(), chunk("rd."), finish_chunk("stop"), DONE])
            await ask(port, {"conversation": conversation, "continue": True})
            sent = fake.requests[2].body["messages"]
            assert sent[:2] == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "Other."}]
            kept = await get_json(port, f"/api/conversations/{conversation}")
            assert [(t["kind"], t["reason"]) for t in kept["turns"]] == [("ask", "length"), ("continue", "complete")]

    asyncio.run(scenario())


def test_an_unknown_conversation_is_a_404_and_params_are_bounded(fake: FakeUpstream) -> None:
    config = Config(upstream=fake.url, source="upstream", model="m", temperature=0.5)

    async def scenario() -> None:
        async with running(config) as (port, _):
            client = httpclient.AsyncHTTPClient(force_instance=True)
            try:
                for body, code in [
                    ({"conversation": "nope", "message": "x"}, 404),
                    ({"message": "x", "params": {"temperature": 3}}, 400),
                    ({"message": "x", "params": {"seed": 1}}, 400),
                ]:
                    response = await client.fetch(
                        f"http://127.0.0.1:{port}/api/chat",
                        method="POST",
                        body=json.dumps(body),
                        headers={"Content-Type": "application/json"},
                        raise_error=False,
                    )
                    assert response.code == code, body
            finally:
                client.close()
            fake.reply = Reply([role_chunk(), chunk("ok"), finish_chunk("stop"), DONE])
            await ask(port, {"conversation": None, "message": "x", "params": {"max_tokens": 5}})
            body = fake.requests[-1].body
            assert (body["temperature"], body["max_tokens"]) == (0.5, 5)

    asyncio.run(scenario())


def test_a_memory_conversation_expires_its_ttl_after_its_last_save() -> None:
    from renderer.server.conversations import ConversationNotFound, MemoryConversations, Turn

    now = [0.0]
    store = MemoryConversations(10.0, clock=lambda: now[0])

    async def scenario() -> None:
        conversation = await store.create()
        now[0] = 9.0
        conversation.turns.append(Turn("q", "s1", "a", "", "complete"))
        await store.save(conversation)  # restarts the TTL
        now[0] = 18.0
        assert (await store.load(conversation.id)).turns[0].answer == "a"
        now[0] = 19.0
        with pytest.raises(ConversationNotFound):
            await store.load(conversation.id)

    asyncio.run(scenario())

"""The chat page in Chromium against a local OpenAI-compatible server
(tests/fake_upstream.py) that streams what current models send: reasoning
deltas, <think> tags, tool calls, refusals, finish reasons, usage; and the
conversation kept by the server (follow-ups, Continue, reload), and a closed
tab that stops the answer.

Waits are bounded (``wait_for_function`` with timeouts); answers that must
stop at a known point use a ``Gate`` in the fake upstream, never a sleep.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser import TIMEOUT, LiveServer
from fake_upstream import (
    STALL,
    FakeUpstream,
    Gate,
    Pause,
    Reply,
    chunk,
    delta_chunk,
    finish_chunk,
    role_chunk,
    usage_chunk,
)
from test_page import Chat, screenshot
from test_parts import ANSWER, REASONING

from renderer import render_markdown
from renderer.server.config import Config
from renderer.server.conversations import CONTINUE_PROMPT

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DONE = b"data: [DONE]\n\n"
IDLE = 3.0
"""Config.idle_cancel here: long enough for a reload to come back, short enough to wait for."""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def server(fake: FakeUpstream) -> Iterator[LiveServer]:
    config = Config(upstream=fake.url, source="upstream", model="m", retry_ms=250, idle_cancel=IDLE)
    with LiveServer(config) as live:
        yield live


@pytest.fixture(scope="module")
def reference(chromium: Any) -> Iterator[Page]:
    context = chromium.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture
def chat(chromium: Any, server: LiveServer, reference: Page) -> Iterator[Chat]:
    context = chromium.new_context(viewport={"width": 1000, "height": 760})
    try:
        page = Chat(context, server, reference)
        page.page.goto(server.url("/"))
        page.page.wait_for_function("() => window.__rec && window.__rec.loaded", timeout=int(TIMEOUT * 1000))
        yield page
    finally:
        context.close()


def html_of(chat: Chat, n: int, selector: str) -> str:
    return str(
        chat.page.evaluate(
            "([n, s]) => { const e = document.querySelectorAll('article.answer')[n - 1].querySelector(s);"
            " return e ? e.innerHTML : null; }",
            [n, selector],
        )
    )


def answer_html(chat: Chat, n: int) -> str:
    """The answer part's committed HTML (its tail must be empty)."""
    assert html_of(chat, n, ".part-answer .answer-tail") == ""
    return html_of(chat, n, ".part-answer .answer-committed")


def reasoning_reply(gate: Gate | None = None) -> Reply:
    steps: list[Any] = [role_chunk(), delta_chunk({"reasoning_content": REASONING[:26]})]
    if gate is not None:
        steps.append(gate)
    steps += [
        delta_chunk({"reasoning_content": REASONING[26:]}),
        chunk(ANSWER[:20]),
        chunk(ANSWER[20:]),
        finish_chunk("stop"),
        usage_chunk(7, 11),
        DONE,
    ]
    return Reply(steps)


def test_reasoning_streams_visibly_then_collapses_with_the_answer_outside_it(
    chat: Chat, fake: FakeUpstream, screenshots: Path
) -> None:
    gate = Gate()
    fake.reply = reasoning_reply(gate)
    n = chat.ask("Make a table")
    gate.wait_reached()
    chat.wait(
        "() => { const d = document.querySelector('details.part-reasoning');"
        " return d && d.open && d.textContent.includes('The user wants a table.'); }"
    )
    assert chat.page.locator("details.part-reasoning summary").inner_text() == "Thinking…"
    assert chat.page.locator(".part-answer").count() == 0
    screenshot(chat, screenshots, "reasoning.png")
    gate.release()
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    assert chat.page.evaluate("document.querySelector('details.part-reasoning').open") is False
    assert chat.page.locator("details.part-reasoning summary").inner_text().startswith("Thought for")
    assert answer_html(chat, n) == chat.normalized(render_markdown(ANSWER))
    assert html_of(chat, n, ".part-reasoning .answer-committed") == chat.normalized(render_markdown(REASONING))
    assert "pipes" not in chat.page.locator(".part-answer").inner_text()
    assert chat.page.locator(".answer-meta").inner_text() == "7 + 11 tokens"
    chat.page.locator("details.part-reasoning summary").click()
    assert chat.page.evaluate("document.querySelector('details.part-reasoning').open") is True
    screenshot(chat, screenshots, "reasoning-open.png")
    chat.assert_clean()


THINK = "<think>Hm *yes*</think>\n\nFine **ok**"


def test_think_tags_split_at_every_position_become_reasoning(chat: Chat, fake: FakeUpstream) -> None:
    for point in range(len(THINK) + 1):
        fake.reply = Reply(
            [role_chunk(), chunk(THINK[:point]), Pause(0.01), chunk(THINK[point:]), finish_chunk("stop"), DONE]
        )
        n = chat.ask(f"split at {point}")
        assert chat.wait_state(n, "done", "cancelled", "error") == "done", point
        assert html_of(chat, n, ".part-reasoning .answer-committed") == chat.normalized(render_markdown("Hm *yes*"))
        assert answer_html(chat, n) == chat.normalized(render_markdown("Fine **ok**")), point
    chat.assert_clean()


def test_a_tool_call_shows_its_name_and_arguments(chat: Chat, fake: FakeUpstream, screenshots: Path) -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    args = ['{"city": ', '"Paris", ', '"unit": "C"}']
    fake.reply = Reply(
        [
            role_chunk(),
            delta_chunk({"tool_calls": [call]}),
            *[delta_chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in args],
            finish_chunk("tool_calls"),
            DONE,
        ]
    )
    n = chat.ask("Weather in Paris?")
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    assert chat.page.locator(".part-tool_call .part-label").inner_text() == "Tool call: get_weather"
    assert html_of(chat, n, ".part-tool_call .answer-committed") == chat.normalized(
        render_markdown('````json\n{"city": "Paris", "unit": "C"}\n````\n')
    )
    assert chat.attribute(n, "", "data-reason") == "tool_calls"
    assert chat.page.locator("article.answer .state").inner_text() == "Done: the model called a tool"
    screenshot(chat, screenshots, "tool-call.png")
    chat.assert_clean()


def test_a_refusal_and_the_content_filter_are_shown_as_such(chat: Chat, fake: FakeUpstream) -> None:
    fake.reply = Reply([role_chunk(), delta_chunk({"refusal": "I can't help with that."}), finish_chunk("stop"), DONE])
    n = chat.ask("Something bad")
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    assert chat.page.locator(".part-refusal .part-label").inner_text() == "Refusal"
    assert "I can't help with that." in chat.page.locator(".part-refusal").inner_text()
    fake.reply = Reply([role_chunk(), chunk("Partial"), finish_chunk("content_filter"), DONE])
    n = chat.ask("Something else")
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    assert chat.attribute(n, "", "data-reason") == "content_filter"
    assert "content filter" in chat.page.locator("article.answer").nth(n - 1).locator(".part-notice").inner_text()
    chat.assert_clean()


def test_the_length_limit_shows_a_notice_and_continue_sends_the_cut_answer_back(
    chat: Chat, fake: FakeUpstream, server: LiveServer, screenshots: Path
) -> None:
    fake.reply = Reply([role_chunk(), chunk("The answer was cut mid-wo"), finish_chunk("length"), DONE])
    n = chat.ask("Write a long essay")
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    assert chat.attribute(n, "", "data-reason") == "length"
    assert chat.page.locator("article.answer .state").inner_text() == "Cut at the length limit"
    assert "cut at the length limit" in chat.page.locator(".part-notice").inner_text()
    assert answer_html(chat, n) == chat.normalized(render_markdown("The answer was cut mid-wo"))
    stream_id = chat.attribute(n, "", "data-stream-id")
    with urllib.request.urlopen(server.url(f"/api/streams/{stream_id}/poll"), timeout=TIMEOUT) as response:
        events = json.load(response)["events"]
    assert json.loads(events[-1]["data"])["reason"] == "length"
    screenshot(chat, screenshots, "length.png")
    chat.page.emulate_media(color_scheme="dark")
    screenshot(chat, screenshots, "length-dark.png")
    chat.page.emulate_media(color_scheme="light")

    fake.reply = Reply([role_chunk(), chunk("rd, and the rest."), finish_chunk("stop"), DONE])
    chat.page.locator("article.answer .continue").click()
    chat.wait("() => document.querySelectorAll('article.answer').length === 2")
    assert chat.wait_state(2, "done", "cancelled", "error") == "done"
    assert fake.requests[-1].body["messages"] == [
        {"role": "user", "content": "Write a long essay"},
        {"role": "assistant", "content": "The answer was cut mid-wo"},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]
    chat.assert_clean()


def test_a_follow_up_sends_the_earlier_answer_s_markdown_exactly_without_its_reasoning(
    chat: Chat, fake: FakeUpstream
) -> None:
    fake.reply = reasoning_reply()
    n = chat.ask("Make a table")
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    fake.reply = Reply([role_chunk(), chunk("Sure."), finish_chunk("stop"), DONE])
    n = chat.ask("Now add a row")
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    assert fake.requests[-1].body["messages"] == [
        {"role": "user", "content": "Make a table"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "Now add a row"},
    ]
    chat.assert_clean()


def test_a_reload_keeps_the_conversation_and_re_attaches_mid_answer_with_the_exact_final_dom(
    chat: Chat, fake: FakeUpstream, server: LiveServer
) -> None:
    fake.reply = Reply([role_chunk(), chunk("First answer, *short*."), finish_chunk("stop"), DONE])
    assert chat.wait_state(chat.ask("One"), "done", "cancelled", "error") == "done"
    gate = Gate()
    fake.reply = Reply(
        [
            role_chunk(),
            delta_chunk({"reasoning_content": REASONING}),
            chunk(ANSWER[:30]),
            gate,
            chunk(ANSWER[30:]),
            finish_chunk("stop"),
            DONE,
        ]
    )
    n = chat.ask("Two")
    gate.wait_reached()
    chat.wait_text(n, "Some bold")
    assert "c=" in chat.page.url
    chat.page.reload()
    chat.page.wait_for_function("() => window.__rec && window.__rec.loaded", timeout=int(TIMEOUT * 1000))
    chat.wait("() => document.querySelectorAll('article.answer').length === 2")
    chat.wait_text(n, "Some bold")
    assert chat.attribute(n, "", "data-state") == "generating"
    assert chat.page.locator(".question-text").all_inner_texts() == ["One", "Two"]
    gate.release()
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    reattached = html_of(chat, n, ".answer-body")
    assert answer_html(chat, n) == chat.normalized(render_markdown(ANSWER))

    fresh = chat.context.new_page()
    fresh.goto(chat.page.url)
    fresh.wait_for_function(
        "() => { const a = document.querySelectorAll('article.answer'); return a.length === 2"
        " && a[1].dataset.state === 'done'; }",
        timeout=int(TIMEOUT * 1000),
    )
    replayed = fresh.evaluate("document.querySelectorAll('article.answer')[1].querySelector('.answer-body').innerHTML")
    assert reattached == replayed
    assert server.call(lambda: len(server.state.generations)) == 0
    chat.assert_clean()


def test_a_closed_tab_closes_the_upstream_connection(chat: Chat, fake: FakeUpstream, server: LiveServer) -> None:
    closed = fake.closed
    fake.reply = Reply([role_chunk(), chunk("Hello there"), STALL])
    n = chat.ask("Talk forever")
    chat.wait_text(n, "Hello there")
    stream_id = chat.attribute(n, "", "data-stream-id")
    chat.page.close()
    assert fake.wait_closed(closed + 1, timeout=IDLE + TIMEOUT), "the upstream connection stayed open"
    with urllib.request.urlopen(server.url(f"/api/streams/{stream_id}/poll?wait=5"), timeout=TIMEOUT) as response:
        events = json.load(response)["events"]
    assert json.loads(events[-1]["data"]) == {"reason": "cancelled"}


def test_phone_width_and_dark_with_reasoning(
    chromium: Any, server: LiveServer, fake: FakeUpstream, reference: Page, screenshots: Path
) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    try:
        phone = Chat(context, server, reference)
        phone.page.goto(server.url("/"))
        fake.reply = reasoning_reply()
        n = phone.ask("Make a table")
        assert phone.wait_state(n, "done", "cancelled", "error") == "done"
        phone.page.locator("details.part-reasoning summary").click()
        overflow = phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, "nothing wider than a phone"
        assert phone.page.locator("#settings").is_hidden(), "no developer controls with a real model"
        screenshot(phone, screenshots, "phone-dark-reasoning.png")
    finally:
        context.close()


# -- the page's own features ------------------------------------------------------------


def test_stop_takes_the_place_of_send_and_code_gets_its_label_as_soon_as_the_fence_opens(
    chat: Chat, fake: FakeUpstream
) -> None:
    gate = Gate()
    fake.reply = Reply([role_chunk(), chunk("Code:\n\n```python\nprint(1)\n"), gate, STALL])
    n = chat.ask("Some code")
    gate.wait_reached()
    chat.wait("() => [...document.querySelectorAll('.code-language')].some((l) => l.textContent === 'python')")
    assert chat.page.locator(".copy-layer .copy").count() == 1
    assert chat.attribute(n, "", "data-state") == "generating"
    assert chat.page.locator("#send").inner_text() == "Stop"
    chat.page.fill("#message", "Another question")
    chat.page.press("#message", "Enter")
    assert "still streaming" in chat.page.locator("#composer-note").inner_text()
    assert chat.page.locator("article.answer").count() == 1
    chat.page.locator("#send").click()
    assert chat.wait_state(n, "done", "cancelled", "error") == "cancelled"
    assert chat.page.locator("#send").inner_text() == "Send"
    assert chat.page.input_value("#message") == "Another question"
    gate.release()
    chat.assert_clean()


def test_the_composer_shows_the_limit_and_keeps_its_text_when_a_send_fails(chat: Chat, server: LiveServer) -> None:
    limit = server.config.max_message
    chat.page.fill("#message", "x" * (limit + 1))
    assert chat.page.locator("#counter").is_visible()
    assert chat.page.get_attribute("#counter", "data-over") == "1"
    assert chat.page.locator("#send").is_disabled()
    chat.page.press("#message", "Enter")
    assert chat.page.locator("article.answer").count() == 0
    assert len(chat.page.input_value("#message")) == limit + 1

    chat.page.route(
        "**/api/chat",
        lambda route: route.fulfill(
            status=503, content_type="application/json", body='{"error": "too many answers in progress"}'
        ),
    )
    chat.page.fill("#message", "Keep me")
    chat.page.press("#message", "Enter")
    assert chat.wait_state(1, "done", "cancelled", "error") == "error"
    assert chat.page.input_value("#message") == "Keep me"
    chat.errors = [error for error in chat.errors if "503" not in error]
    chat.assert_clean()


def test_regenerate_edit_copy_markdown_and_long_pastes(chat: Chat, fake: FakeUpstream, server: LiveServer) -> None:
    chat.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url("").rstrip("/"))
    fake.reply = reasoning_reply()
    assert chat.wait_state(chat.ask("Make a table"), "done", "cancelled", "error") == "done"
    chat.page.locator(".copy-answer").click()
    chat.wait("() => document.querySelector('.copy-answer').dataset.copied === '1'")
    assert chat.page.evaluate("navigator.clipboard.readText()") == ANSWER

    fake.reply = Reply([role_chunk(), chunk("Another *table*."), finish_chunk("stop"), DONE])
    chat.page.locator(".regenerate").click()
    chat.wait(
        "() => document.querySelector('article.answer').dataset.state === 'done'"
        " && document.querySelector('.part-answer').textContent.includes('Another')"
    )
    assert chat.page.locator("article.answer").count() == 1
    assert fake.requests[-1].body["messages"] == [{"role": "user", "content": "Make a table"}]

    long = "\n".join(f"line {index} of a long paste" for index in range(200))
    fake.reply = Reply([role_chunk(), chunk("Got it."), finish_chunk("stop"), DONE])
    n = chat.ask(long)
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    assert chat.page.locator(".question.collapsed").count() == 1
    chat.page.locator(".question .expand").click()
    assert chat.page.locator(".question.collapsed").count() == 0

    chat.page.locator(".question .edit").first.click()
    assert chat.page.input_value("#message") == "Make a table"
    fake.reply = Reply([role_chunk(), chunk("A list instead."), finish_chunk("stop"), DONE])
    chat.page.fill("#message", "Make a list")
    chat.page.press("#message", "Enter")
    chat.wait(
        "() => document.querySelectorAll('article.answer').length === 1"
        " && document.querySelector('article.answer').dataset.state === 'done'"
    )
    assert chat.page.locator(".question-text").all_inner_texts() == ["Make a list"]
    assert fake.requests[-1].body["messages"] == [{"role": "user", "content": "Make a list"}]
    chat.assert_clean()


def test_developer_controls_show_only_for_demo_and_echo(chat: Chat, server: LiveServer) -> None:
    assert chat.page.locator("#settings").is_hidden()
    assert chat.page.locator("a[href='/demo/progressive']").is_visible()
    assert chat.page.locator("a[href='/sanitize']").is_visible()
    chat.page.goto(server.url("/?source=echo"))
    chat.page.wait_for_function("() => !document.getElementById('settings').hidden", timeout=int(TIMEOUT * 1000))

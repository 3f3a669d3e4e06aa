"""The chat page (static/index.html, chat.js, stream.js) in a real browser:
Debian's Chromium driven by Playwright, against a live server.

Every page gets an init script (browser.RECORDER_JS) before its first
script runs: a MutationObserver that checks each node and attribute answers
gain against the server's allowlist and notes any change to committed
nodes, hooks on alert/confirm/prompt/print, a ``window.__xss`` canary, and a
``securitypolicyviolation`` log. Waits are bounded (``wait_for_function``
with timeouts); answers that must stop at a known point use a gated source,
never a sleep.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser import TIMEOUT, CuttableStore, GatedSource, LiveServer, browser_sources, recorder_script

from renderer import render_markdown
from renderer.server.config import Config
from renderer.server.sources import DEMO_ANSWERS, demo, tokens

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONFIG = Config(token_delay=0.005, retry_ms=250)
"""Small token delay (answers take many events, and little time); quick SSE retry."""
MS = int(TIMEOUT * 1000)
MODES = [pytest.param("eventsource", id="eventsource"), pytest.param("fetch", id="fetch")]

GATED_TEXT = DEMO_ANSWERS[0]
"""What the gated source answers: headings, lists, a code block, a table, links."""


def _gate_before(marker: str) -> int:
    """How many tokens of GATED_TEXT come before ``marker``."""
    end = GATED_TEXT.index(marker)
    length = 0
    for count, piece in enumerate(tokens(GATED_TEXT)):
        if length + len(piece) > end:
            return count
        length += len(piece)
    raise AssertionError(marker)


GATE = _gate_before("```python")
"""The gated answer stops before its code block: a heading, a paragraph and a
heading are committed, the ordered list is the tail."""
SHOWN_AT_GATE = "or tail event."
"""Text the page shows once everything before the gate has arrived."""


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gated() -> GatedSource:
    return GatedSource(lambda messages: GATED_TEXT, pause_at=GATE, delay=0.002)


@pytest.fixture(scope="module")
def server(gated: GatedSource) -> Iterator[LiveServer]:
    store = CuttableStore(ttl=CONFIG.ttl, max_live=CONFIG.max_streams, max_pending=CONFIG.max_pending)
    with LiveServer(CONFIG, store=store, sources=browser_sources(CONFIG, gated)) as live:
        yield live


@pytest.fixture(scope="module")
def reference(chromium: Any) -> Iterator[Page]:
    """A blank page of the same browser (no CSP) that parses expected HTML."""
    context = chromium.new_context()
    page = context.new_page()
    yield page
    context.close()


class Chat:
    """The chat page in one browser context, with what the recorder saw."""

    def __init__(self, context: BrowserContext, server: LiveServer, reference: Page) -> None:
        self.context = context
        self.server = server
        self.reference = reference
        self.page = context.new_page()
        self.page.add_init_script(recorder_script())
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def open(self, mode: str = "eventsource", source: str = "demo") -> None:
        query = f"?source={source}" + ("&mode=fetch" if mode == "fetch" else "")
        self.page.goto(self.server.url("/" + query))
        self.page.wait_for_function("() => window.__rec && window.__rec.loaded", timeout=MS)

    def ask(self, message: str) -> int:
        """Type a message and send it; returns the answer's number (from 1)."""
        count = self.page.locator("article.answer").count()
        self.page.fill("#message", message)
        self.page.press("#message", "Enter")
        self.wait("(n) => document.querySelectorAll('article.answer').length === n", count + 1)
        return count + 1

    def wait(self, predicate: str, arg: Any = None, timeout: float = TIMEOUT) -> Any:
        """Wait (bounded) until ``predicate(arg)`` holds in the page."""
        return self.page.wait_for_function(predicate, arg=arg, timeout=int(timeout * 1000)).json_value()

    def wait_state(self, n: int, *states: str) -> str:
        return str(
            self.wait(
                "([n, states]) => { const a = document.querySelectorAll('article.answer')[n - 1];"
                " return a && states.includes(a.dataset.state) && a.dataset.state; }",
                [n, list(states)],
            )
        )

    def wait_text(self, n: int, text: str) -> None:
        self.wait(
            "([n, text]) => document.querySelectorAll('article.answer')[n - 1].querySelector('.answer-body').textContent.includes(text)",
            [n, text],
        )

    def part(self, n: int, which: str) -> str:
        """innerHTML of answer n's committed part, tail, or whole body."""
        selector = {"committed": ".answer-committed", "tail": ".answer-tail", "body": ".answer-body"}[which]
        return str(
            self.page.evaluate(
                # An answer that showed nothing (all of it sanitized away) has no parts yet: "".
                "([n, s]) => document.querySelectorAll('article.answer')[n - 1].querySelector(s)?.innerHTML ?? ''",
                [n, selector],
            )
        )

    def attribute(self, n: int, selector: str, name: str) -> str | None:
        value = self.page.evaluate(
            "([n, s, a]) => { const x = document.querySelectorAll('article.answer')[n - 1];"
            " const e = s ? x.querySelector(s) : x; return e && e.getAttribute(a); }",
            [n, selector, name],
        )
        assert value is None or isinstance(value, str), value
        return value

    def record(self) -> dict[str, Any]:
        return self.page.evaluate("window.__rec")  # type: ignore[no-any-return]

    def normalized(self, html: str) -> str:
        """``html`` as this browser parses and serializes it."""
        return self.reference.evaluate(  # type: ignore[no-any-return]
            "(html) => { const t = document.createElement('template'); t.innerHTML = html; return t.innerHTML; }", html
        )

    def assert_answer_is(self, n: int, markdown: str) -> None:
        """The final answer DOM is render_markdown's HTML as this browser parses it."""
        assert self.part(n, "tail") == ""
        assert self.part(n, "committed") == self.normalized(render_markdown(markdown))

    def assert_clean(self) -> None:
        """Nothing outside the allowlist, no committed node touched, no script, no errors."""
        record = self.record()
        assert record["problems"] == []
        assert record["committed"] == []
        assert record["calls"] == [] and record["canary"] == []
        assert record["csp"] == []
        assert self.errors == []


@pytest.fixture
def chat(chromium: Any, server: LiveServer, reference: Page) -> Iterator[Chat]:
    context = chromium.new_context(viewport={"width": 1000, "height": 760})
    try:
        yield Chat(context, server, reference)
    finally:
        context.close()


def demo_text(server: LiveServer, message: str) -> str:
    """The demo source's whole answer to ``message`` (run in the server's loop)."""

    async def collect() -> str:
        return "".join([piece async for piece in demo([{"role": "user", "content": message}], delay=0)])

    return server.call(collect)  # type: ignore[no-any-return]


def server_events(server: LiveServer, stream_id: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(server.url(f"/api/streams/{stream_id}/poll"), timeout=TIMEOUT) as response:
        return json.load(response)["events"]  # type: ignore[no-any-return]


# -- 1. an answer grows, then equals render_markdown --------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_answer_grows_over_many_events_and_ends_equal_to_render_markdown(chat: Chat, mode: str) -> None:
    chat.open(mode, source="demo")
    n = chat.ask("Hello")
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    text = demo_text(chat.server, "Hello")
    chat.assert_answer_is(n, text)

    record = chat.record()
    growth = [snapshot for snapshot in record["growth"] if snapshot[0] == n]
    lengths = sorted({length for _, _, _, length, _ in growth} - {0})
    final_length = chat.page.evaluate("document.querySelector('article.answer .answer-body').textContent.length")
    assert len(lengths) >= 8, f"the answer grew in only {len(lengths)} steps"
    assert 0 < lengths[0] < final_length / 4
    assert {busy for *_, busy in growth} == {"true"}, "aria-busy while generating"
    states = [state for number, state in record["states"] if number == n]
    assert states[-1] == "done" and "generating" in states and "error" not in states
    assert chat.attribute(n, ".answer-body", "aria-live") == "polite"
    assert chat.attribute(n, ".answer-body", "aria-atomic") == "false"
    assert chat.attribute(n, ".answer-body", "aria-busy") == "false"
    assert chat.page.locator("article.answer .state").inner_text() == "Done"
    assert chat.page.locator("article.answer .stop").is_hidden()
    chat.assert_clean()


# -- 2. hostile input: nothing runs, nothing outside the allowlist ever shows --------------

X = "window.__xss=1"
PAYLOADS = [
    pytest.param(f"<script>{X}</script>", id="script"),
    pytest.param(f"<img src=x onerror={X}>", id="img-onerror"),
    pytest.param(f'<svg onload="{X}"><circle r=5></svg>', id="svg-onload"),
    pytest.param(f"[click](javascript:{X})", id="md-javascript-link"),
    pytest.param(f'<a href="javascript:{X}">click</a>', id="html-javascript-link"),
    pytest.param(f'<a href="JaVaScRiPt:{X}">x</a> <a href=" &#14;javascript:{X}">y</a>', id="javascript-case-space"),
    pytest.param(
        f'<a href="jav&#x09;ascript:{X}">a</a> <a href="&#106;avascript&colon;{X}">b</a>', id="entity-javascript"
    ),
    pytest.param(f"[a](&#x6A;avascript:{X}) [b](java&#x73;cript:{X})", id="md-entity-javascript"),
    pytest.param('<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>', id="iframe-srcdoc"),
    pytest.param(f'<style>*{{background:url(javascript:{X})}}</style><b style="color:red">styled</b>', id="style"),
    pytest.param(f'<details open ontoggle="{X}"><summary>s</summary>d</details>', id="details-ontoggle"),
    pytest.param(f'<div onmouseover="{X}" onclick="{X}">hover</div>', id="event-handlers"),
    pytest.param(f'<a href="data:text/html,<script>{X}</script>">d</a>', id="data-url-link"),
    pytest.param(f"![i](data:image/svg+xml,<svg onload={X}>) ![j](javascript:{X})", id="md-image-urls"),
    pytest.param(f"<javascript:{X}> <https://example.com/ok>", id="autolinks"),
    pytest.param(f"[ref][r] and [ok][o]\n\n[r]: javascript:{X}\n[o]: https://example.com/", id="reference-links"),
    pytest.param(f"<svg><p><style><img src=x onerror={X}></style></p></svg>", id="mxss-svg-style"),
    pytest.param(f"<math><mtext><table><mglyph><style><img src=x onerror={X}>", id="mxss-math-mglyph"),
    pytest.param(f'<noscript><p title="</noscript><img src=x onerror={X}>"></noscript>', id="mxss-noscript"),
    pytest.param(f"<form><math><mtext></form><form><mglyph><style></math><img src onerror={X}>", id="mxss-form-math"),
    pytest.param(f"<select><style></select><img src=x onerror={X}>", id="mxss-select-style"),
    pytest.param(f'<object data="javascript:{X}"></object><embed src="javascript:{X}">', id="object-embed"),
    pytest.param(
        f'<meta http-equiv="refresh" content="0;url=javascript:{X}"><base href="javascript:/">', id="meta-base"
    ),
    pytest.param(f'<input autofocus onfocus="{X}"><button formaction="javascript:{X}">b</button>', id="form-controls"),
    pytest.param(f"<template><script>{X}</script></template><xmp><img src=x onerror={X}></xmp>", id="template-xmp"),
    pytest.param(f'<svg><a xlink:href="javascript:{X}"><text y="9">x</text></a></svg>', id="svg-xlink"),
    pytest.param(f"<!-- <img src=x onerror={X}> --><![CDATA[<img src=x onerror={X}>]]>", id="comment-cdata"),
    pytest.param(f'<div title="</div><img src=x onerror={X}>">t</div>', id="attribute-breakout"),
    pytest.param(f"`<img src=x onerror={X}>", id="split-unclosed-code-span"),
    pytest.param(
        f"~~~\n</code></pre><img src=x onerror={X}>\n~~~\n<img src=x\nonerror={X}>", id="split-fence-then-html"
    ),
    pytest.param(
        f'<a href="https://example.com/">ok</a><a href="javas\ncript:{X}">nl</a> [x](javas\tcript:{X})',
        id="split-scheme",
    ),
    pytest.param(f"**<img src=x o**nerror={X}>** <scr<script>ipt>{X}</script>", id="split-tags"),
    pytest.param(
        f'| a | b |\n|---|---|\n| <img src=x onerror={X}> | <a href="javascript:{X}">c</a> |', id="table-cells"
    ),
    pytest.param('![remote](https://example.com/pixel.png) <img src="//example.com/x.png">', id="remote-images"),
]


def test_hostile_messages_run_no_script_and_never_show_anything_outside_the_allowlist(chat: Chat) -> None:
    chat.open("eventsource", source="echo")
    answers = []
    for param in PAYLOADS:
        (payload,) = param.values
        assert isinstance(payload, str)
        n = chat.ask(payload)
        state = chat.wait_state(n, "done", "cancelled", "error")
        answers.append((param.id, payload, n, state))
    # Let every image load or fail (an onerror would fire then).
    chat.wait("() => [...document.images].every((image) => image.complete)")

    record = chat.record()
    assert record["calls"] == [], "alert/confirm/prompt/print ran"
    assert record["canary"] == [], "a payload set window.__xss"
    assert record["problems"] == [], "the MutationObserver saw something outside the allowlist"
    assert record["committed"] == []
    # A CSP report is a blocked attempt, not a pass: only remote images may
    # be blocked (the sanitizer allows https images; the page's img-src does not).
    blocked = [violation for violation in record["csp"] if violation["directive"] != "img-src"]
    assert blocked == [], "something reached the page that only the CSP stopped"
    remote = {violation["blocked"] for violation in record["csp"]}
    assert remote <= {"https://example.com/pixel.png", "http://example.com/x.png"}
    print(
        f"\n{len(PAYLOADS)} hostile messages; CSP blocked {len(record['csp'])} remote image load(s): {sorted(remote)}"
    )

    for name, payload, n, state in answers:
        assert state == "done", name
        assert chat.attribute(n, "", "data-violations") is None, f"{name}: the client's check had to remove something"
        assert chat.part(n, "tail") == "", name
        assert chat.part(n, "committed") == chat.normalized(render_markdown(payload)), name
    # Expected in the console: images with relative URLs (src=x) that 404, and
    # the CSP refusing remote images.
    expected = ("status of 404 (Not Found)", 'violates the following Content Security Policy directive: "img-src')
    assert [error for error in chat.errors if not any(text in error for text in expected)] == []


# -- 3. committed nodes are never touched; only the tail changes --------------------------


def test_committed_nodes_are_never_removed_or_changed_only_the_tail_is(chat: Chat, gated: GatedSource) -> None:
    chat.open("eventsource", source="gated")
    n = chat.ask("Tell me about streaming")
    gated.latest.wait_paused()
    chat.wait_text(n, SHOWN_AT_GATE)
    # Hold on to the committed nodes, and select text in one of them.
    held = chat.page.evaluate(
        "() => { const c = document.querySelector('article.answer .answer-committed');"
        " window.__held = [...c.childNodes]; getSelection().selectAllChildren(c.querySelector('p'));"
        " return [window.__held.length, getSelection().toString()]; }"
    )
    assert held[0] >= 3 and "streamed token by token" in held[1]
    tail_before = chat.record()["mutations"]
    gated.latest.release()
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    chat.assert_answer_is(n, GATED_TEXT)

    kept = chat.page.evaluate(
        "() => { const c = document.querySelector('article.answer .answer-committed');"
        " return [window.__held.every((node, i) => c.childNodes[i] === node), getSelection().toString()]; }"
    )
    assert kept == [True, held[1]], "committed nodes stay the same nodes, and the selection stays"
    record = chat.record()
    assert record["committed"] == [], "no committed node removed, replaced, moved or edited"
    assert record["mutations"]["committedAdded"] > held[0], "committed blocks were appended"
    assert record["mutations"]["tailRemoved"] > tail_before["tailRemoved"], "the tail was replaced as it grew"
    chat.assert_clean()


# -- 4. the connection is cut mid-answer; the page resumes ---------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_connection_cut_mid_answer_resumes_and_the_answer_is_still_exact(
    chat: Chat, gated: GatedSource, server: LiveServer, mode: str
) -> None:
    chat.open(mode, source="gated")
    n = chat.ask("Cut me off")
    answer = gated.latest
    answer.wait_paused()
    chat.wait_text(n, SHOWN_AT_GATE)
    before = chat.part(n, "body")
    chat.page.evaluate(
        "() => { window.__held = [...document.querySelector('article.answer .answer-committed').childNodes]; }"
    )
    mark = chat.record()["mutations"]["tailAdded"]
    resumes = server.call(lambda: server.state.metrics.resumes)

    store = server.state.store
    assert isinstance(store, CuttableStore)
    assert server.call(store.cut_readers) >= 1

    # The page notices, says so, reconnects with the last event id, and gets
    # the current tail again: the answer is as it was, nothing lost or twice.
    chat.wait(
        "([n, mark]) => { const r = window.__rec; const mine = r.states.filter(([k]) => k === n).map(([, s]) => s);"
        " const i = mine.lastIndexOf('reconnecting');"
        " return i >= 0 && mine.slice(i).includes('generating') && r.mutations.tailAdded > mark; }",
        [n, mark],
        timeout=3 * TIMEOUT,  # a reconnect waits out the retry delay, longer on a loaded machine
    )
    assert server.call(lambda: server.state.metrics.resumes) > resumes
    assert chat.part(n, "body") == before

    answer.release()
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    chat.assert_answer_is(n, GATED_TEXT)
    assert chat.page.evaluate(
        "() => { const c = document.querySelector('article.answer .answer-committed');"
        " return window.__held.every((node, i) => c.childNodes[i] === node); }"
    )
    # The console shows the dropped connection as a network error; nothing else.
    chat.errors = [error for error in chat.errors if "ERR_" not in error]
    chat.assert_clean()


# -- 5. Stop cancels ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_stop_cancels_the_answer_on_the_server_and_the_page_shows_it(
    chat: Chat, gated: GatedSource, server: LiveServer, mode: str
) -> None:
    chat.open(mode, source="gated")
    n = chat.ask("Stop me")
    answer = gated.latest
    answer.wait_paused()
    chat.wait_text(n, SHOWN_AT_GATE)
    chat.page.locator("article.answer .stop").click()
    assert chat.wait_state(n, "done", "cancelled", "error") == "cancelled"

    stream_id = chat.attribute(n, "", "data-stream-id")
    assert stream_id
    events = server_events(server, stream_id)
    assert events[-1]["event"] == "done" and json.loads(events[-1]["data"]) == {"reason": "cancelled"}
    assert chat.page.locator("article.answer .state").inner_text() == "Stopped"
    assert chat.page.locator("article.answer .stop").is_hidden()
    assert chat.attribute(n, ".answer-body", "aria-busy") == "false"
    assert chat.page.locator("#send").is_enabled()
    # What was generated before the stop is committed, exactly.
    chat.assert_answer_is(n, answer.shown)
    chat.assert_clean()


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_refused_request_shows_the_servers_error_on_the_answer(chat: Chat, mode: str) -> None:
    chat.open(mode, source="no-such-source")
    n = chat.ask("Hello")
    assert chat.wait_state(n, "done", "cancelled", "error") == "error"
    assert chat.page.locator("article.answer .state").inner_text().startswith("Error: source must be one of demo, echo")
    assert chat.attribute(n, ".answer-body", "aria-busy") == "false"
    assert chat.page.locator("#send").is_enabled()
    chat.errors = [error for error in chat.errors if "400 (Bad Request)" not in error]
    chat.assert_clean()


# -- scrolling --------------------------------------------------------------------------------


def test_the_log_follows_the_answer_until_the_reader_scrolls_up(chat: Chat, gated: GatedSource) -> None:
    chat.page.set_viewport_size({"width": 390, "height": 560})
    chat.open("eventsource", source="gated")
    n = chat.ask("A long answer, please")
    gated.latest.wait_paused()
    chat.wait_text(n, SHOWN_AT_GATE)
    at_bottom = (
        "() => { const l = document.getElementById('log'); return l.scrollHeight - l.clientHeight - l.scrollTop <= 2; }"
    )
    chat.wait(at_bottom)
    assert chat.page.evaluate(
        "() => { const l = document.getElementById('log'); return l.scrollHeight > l.clientHeight + 150; }"
    )

    # The reader scrolls up with the wheel: the page stops following.
    box = chat.page.locator("#log").bounding_box()
    assert box is not None
    chat.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    bottom = chat.page.evaluate("document.getElementById('log').scrollTop")
    chat.page.mouse.wheel(0, -150)
    top = chat.wait(
        "(bottom) => { const t = document.getElementById('log').scrollTop; return t < bottom - 50 && t; }", bottom
    )
    height = chat.page.evaluate("document.getElementById('log').scrollHeight")
    gated.latest.release()
    assert chat.wait_state(n, "done") == "done"
    assert chat.page.evaluate("document.getElementById('log').scrollHeight") > height + 200
    assert abs(chat.page.evaluate("document.getElementById('log').scrollTop") - top) <= 1
    assert chat.page.locator("#latest").is_visible()

    chat.page.locator("#latest").click()
    chat.wait(at_bottom)
    assert chat.page.locator("#latest").is_hidden()
    chat.assert_clean()


# -- 6. screenshots, copy buttons, themes, phone width ---------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file (from its IHDR chunk)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path.name} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def screenshot(chat: Chat, directory: Path, name: str) -> None:
    """Screenshot the page to ``directory/name``; it must be a PNG of the viewport's size.

    ``directory`` is the ``screenshots`` fixture (conftest.py): docs/screenshots
    only with ``pytest --screenshots`` or ``RENDERER_SCREENSHOTS=1``.
    """
    path = directory / name
    chat.page.screenshot(path=str(path))
    viewport = chat.page.viewport_size
    assert viewport is not None
    assert png_size(path) == (viewport["width"], viewport["height"])
    assert path.stat().st_size > 10_000, f"{name} looks blank"


def test_screenshots_while_streaming_and_done_and_the_copy_button(
    chat: Chat, gated: GatedSource, server: LiveServer, screenshots: Path
) -> None:
    chat.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url("").rstrip("/"))
    chat.open("eventsource", source="gated")
    n = chat.ask("How does streaming work?")
    gated.latest.wait_paused()
    chat.wait_text(n, SHOWN_AT_GATE)
    assert chat.attribute(n, "", "data-state") == "generating"
    screenshot(chat, screenshots, "streaming.png")

    gated.latest.release()
    assert chat.wait_state(n, "done") == "done"
    chat.wait("() => document.querySelectorAll('article.answer .copy').length === 1")
    screenshot(chat, screenshots, "done.png")

    chat.page.emulate_media(color_scheme="dark")
    assert chat.page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 17, 21)"
    screenshot(chat, screenshots, "dark.png")

    chat.page.emulate_media(color_scheme="light")
    chat.page.set_viewport_size({"width": 390, "height": 844})
    chat.wait(
        "() => { const l = document.getElementById('log'); return l.scrollHeight - l.clientHeight - l.scrollTop <= 2; }"
    )
    overflow = chat.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "nothing wider than a phone"
    assert chat.page.locator("#send").is_visible() and chat.page.locator("#message").is_visible()
    screenshot(chat, screenshots, "phone.png")

    # The copy button sits over the code block's top right corner, outside
    # the answer's HTML, and copies the code.
    inside = chat.page.evaluate(
        "() => { const b = document.querySelector('.copy').getBoundingClientRect();"
        " const p = document.querySelector('.answer-committed pre').getBoundingClientRect();"
        " return b.top >= p.top && b.bottom <= p.bottom && b.right <= p.right && b.left >= p.left"
        " && !document.querySelector('.answer-body .copy'); }"
    )
    assert inside
    chat.page.locator(".copy").click()
    chat.wait("() => document.querySelector('.copy').dataset.copied === '1'")
    copied = chat.page.evaluate("navigator.clipboard.readText()")
    code = GATED_TEXT.split("```python\n", 1)[1].split("```", 1)[0]
    assert copied == code.rstrip("\n")
    chat.assert_clean()


# -- the client resyncs when an event does not fit (stream.js) -------------------------------

_FIRST = (
    "retry: 100\n\n"
    "event: block\nid: 1\ndata: <p>one</p>\n\n"
    "event: append\ndata: </li>does not fit\n\n"
    "event: block\nid: 2\ndata: <p>must not show</p>\n\n"
)
_RESUMED = 'event: tail\ndata: <p>two</p>\n\nevent: commit\nid: 2\ndata: \n\nevent: done\nid: 3\ndata: {"reason": "complete"}\n\n'


@pytest.mark.parametrize("mode", MODES)
def test_an_event_that_does_not_fit_makes_the_client_resume_from_the_last_good_id(chat: Chat, mode: str) -> None:
    """Served by routes, not the server: an ``append`` that does not fit the
    tail; the client drops the rest of that connection and resumes from the
    last id it applied."""
    requests: list[tuple[str, str | None]] = []

    def chat_route(route: Any) -> None:
        request = route.request
        requests.append((request.method, request.headers.get("last-event-id")))
        if "text/event-stream" in request.headers.get("accept", ""):
            headers = {"Content-Type": "text/event-stream", "X-Stream-Id": "fake"}
            route.fulfill(status=200, headers=headers, body=_FIRST)
        else:
            body = json.dumps({"id": "fake", "events": "/api/streams/fake/events"})
            route.fulfill(status=201, headers={"Content-Type": "application/json"}, body=body)

    def events_route(route: Any) -> None:
        request = route.request
        resumed = request.headers.get("last-event-id") or ("lastEventId=" in request.url)
        requests.append((request.method, request.headers.get("last-event-id") or request.url.rpartition("=")[2]))
        body = _RESUMED if resumed else _FIRST
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    chat.page.route("**/api/chat", chat_route)
    chat.page.route(re.compile(r".*/api/streams/fake/events.*"), events_route)
    chat.open(mode, source="echo")
    n = chat.ask("anything")
    assert chat.wait_state(n, "done", "cancelled", "error") == "done"
    assert chat.part(n, "committed") == "<p>one</p><p>two</p>"
    assert requests[-1] == ("GET", "1")
    chat.assert_clean()


# -- 7. math, right-to-left text, details: what the chat configuration adds ---------------------

MATH_ANSWER = (Path(__file__).resolve().parent.parent / "bench" / "answer_math.md").read_text(encoding="utf-8")
RTL_AND_DETAILS = (
    "مرحبا بالعالم! هذه فقرة عربية، والنقطة في آخرها.\n\n"
    "שלום עולם, זו פסקה בעברית.\n\n"
    "<details><summary>Show the proof</summary>\n\n"
    "By \\(a^2 + b^2 = c^2\\) and https://example.com.\n\n- [x] checked\n- [ ] open\n\n</details>\n"
)


def test_a_math_heavy_answer_is_drawn_as_native_mathml_with_nothing_outside_the_allowlist(
    chat: Chat, screenshots: Path
) -> None:
    chat.open("eventsource", source="echo")
    n = chat.ask(MATH_ANSWER)
    # About 860 tokens: a longer bound than one answer's usual.
    chat.wait(
        # A final state: before "generating" the answer is "connecting" (not done either).
        "(n) => { const s = document.querySelectorAll('article.answer')[n - 1].dataset.state;"
        " return ['done', 'cancelled', 'error'].includes(s) && s; }",
        n,
        timeout=6 * TIMEOUT,
    )
    assert chat.attribute(n, "", "data-state") == "done", chat.errors
    chat.assert_answer_is(n, MATH_ANSWER)
    chat.assert_clean()
    drawn = chat.page.evaluate(
        """(n) => {
          const answer = document.querySelectorAll('article.answer')[n - 1];
          const maths = [...answer.querySelectorAll('math')];
          const fraction = answer.querySelector('math[display="block"] mfrac');
          const box = fraction.getBoundingClientRect();
          const numerator = fraction.firstElementChild.getBoundingClientRect();
          return {
            count: maths.length,
            mathml: maths.every((m) => m.namespaceURI === 'http://www.w3.org/1998/Math/MathML'),
            blocks: maths.filter((m) => getComputedStyle(m).display.startsWith('block')).length,
            stacked: numerator.bottom <= box.top + box.height / 2 + 1 && box.height > numerator.height * 1.5,
            annotationHidden: [...answer.querySelectorAll('annotation')].every((a) => a.getClientRects().length === 0),
          };
        }""",
        n,
    )
    assert drawn["count"] == 51 and drawn["mathml"]
    assert drawn["blocks"] >= 8  # display formulas laid out as blocks
    assert drawn["stacked"], "a fraction is drawn with its numerator above its denominator (native MathML layout)"
    assert drawn["annotationHidden"], "the TeX annotation is kept but not shown"
    chat.page.locator("article.answer").nth(n - 1).locator("math[display=block]").first.scroll_into_view_if_needed()
    screenshot(chat, screenshots, "math.png")


def test_right_to_left_paragraphs_and_details_around_markdown(chat: Chat, screenshots: Path) -> None:
    chat.open("eventsource", source="echo")
    n = chat.ask(RTL_AND_DETAILS)
    assert chat.wait_state(n, "done") == "done"
    chat.assert_answer_is(n, RTL_AND_DETAILS)
    chat.assert_clean()
    seen = chat.page.evaluate(
        """(n) => {
          const answer = document.querySelectorAll('article.answer')[n - 1];
          const paragraphs = [...answer.querySelectorAll('.answer-committed > p')];
          const details = answer.querySelector('details');
          return {
            directions: paragraphs.slice(0, 2).map((p) => getComputedStyle(p).direction),
            insideDetails: details.querySelectorAll('p, li, math, a, input').length,
            checkboxes: [...details.querySelectorAll('input')].map((i) => [i.type, i.disabled, i.checked]),
          };
        }""",
        n,
    )
    assert seen["directions"] == ["rtl", "rtl"]
    assert seen["insideDetails"] >= 5
    assert seen["checkboxes"] == [["checkbox", True, True], ["checkbox", True, False]]
    chat.page.locator("article.answer").nth(n - 1).locator("summary").click()
    screenshot(chat, screenshots, "rtl-details.png")

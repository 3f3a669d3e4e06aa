"""examples/embed/app.py, an application of a user's own: run as its command
line says, it serves its own page and source with renderer's API and static
routes only, and an answer streamed through its page into Chromium ends as
``render_markdown`` of the source's text, styled by answer.css."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from renderer import render_markdown
from renderer.server.handlers import PAGE_CSP

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "embed" / "app.py"
TIMEOUT = 10.0
MESSAGE = "Hello `code` world, hello again | pipes <b>bold</b> <img onerror=alert(1)>"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("embed_example", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_text(example: ModuleType, message: str) -> str:
    """The whole answer the example's source streams for ``message``."""

    async def collect() -> str:
        return "".join([piece async for piece in example.shout([{"role": "user", "content": message}], delay=0)])

    # In a thread of its own: Playwright's sync API counts as a running loop here.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, collect()).result(TIMEOUT)


class Example:
    """``python examples/embed/app.py --port 0``, as a user would start it."""

    def __init__(self) -> None:
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            [sys.executable, str(APP), "--port", "0", "--delay", "0.005"],
            cwd="/",  # nothing from the checkout's working directory
            stdout=subprocess.PIPE,
            stderr=self.log,  # a file: a pipe nobody reads could fill and stall the app
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/shout", line)
        if match is None:
            self.stop()
            raise AssertionError(
                f"the example did not start: {line!r} {self.process.stderr.read() if self.process.stderr else ''}"
            )
        self.origin = f"http://127.0.0.1:{match[1]}"

    def url(self, path: str) -> str:
        return self.origin + path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


@pytest.fixture(scope="module")
def example() -> Iterator[Example]:
    running = Example()
    try:
        yield running
    finally:
        running.stop()


def request(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers, method=method), timeout=TIMEOUT) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as error:
        with error:  # it holds the connection: unclosed, a ResourceWarning later
            return error.code, dict(error.headers), error.read()


# -- the source --------------------------------------------------------------------


def test_the_source_streams_markdown_that_renders_as_a_heading_a_table_and_highlighted_code() -> None:
    html = render_markdown(source_text(load_example(), MESSAGE))
    assert '<h2 dir="auto">YOU SAID</h2>' in html
    assert '<blockquote dir="auto">' in html and "HELLO" in html
    assert '<td dir="auto" align="left">hello</td>\n<td dir="auto" align="right">2</td>' in html
    assert '<code class="language-python">' in html and 'class="hl-' in html
    assert "<img>" in html  # the shouted ONERROR went, as any handler would


def test_a_message_with_a_fence_in_it_stays_inside_the_code_block() -> None:
    text = source_text(load_example(), "```\nnot code\n```")
    assert "````python\n" in text
    html = render_markdown(text)
    assert html.count('<code class="language-python">') == 1
    assert html.endswith(".upper())\n</code></pre>\n")


# -- what the application mounts ----------------------------------------------------


def test_the_page_is_the_examples_own_with_the_strict_csp(example: Example) -> None:
    status, headers, body = request(example.url("/shout"))
    assert status == 200
    assert headers["Content-Security-Policy"] == PAGE_CSP
    assert b'<link rel="stylesheet" href="/static/answer.css">' in body
    assert b'<script type="module" src="/shout/page.js"></script>' in body
    status, _, script = request(example.url("/shout/page.js"))
    assert status == 200 and b'from "/static/stream.js"' in script


@pytest.mark.parametrize("path", ["/static/stream.js", "/static/dom.js", "/static/answer.css", "/static/allowlist.js"])
def test_renderers_static_files_are_served(example: Example, path: str) -> None:
    status, _, _ = request(example.url(path))
    assert status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/", id="chat-page"),
        pytest.param("GET", "/demo/progressive", id="progressive-demo"),
        pytest.param("GET", "/sanitize", id="sanitize-page"),
        pytest.param("POST", "/api/sanitize", id="sanitize-api"),
        pytest.param("GET", "/healthz", id="healthz"),
        pytest.param("GET", "/metrics", id="metrics"),
        pytest.param("GET", "/shout/app.py", id="the-examples-source-code"),
    ],
)
def test_what_the_example_does_not_mount_is_404(example: Example, method: str, path: str) -> None:
    body = b'{"html": "<b>x</b>"}' if method == "POST" else None
    status, _, _ = request(example.url(path), method, body)
    assert status == 404


def test_the_api_starts_answers_from_the_examples_source(example: Example) -> None:
    status, _, body = request(example.url("/api/chat"), "POST", b'{"message": "hi", "source": "demo"}')
    assert status == 400, body  # the example has only its own source
    status, _, body = request(example.url("/api/chat"), "POST", b'{"message": "hi"}')
    assert status == 201, body


# -- in the browser ------------------------------------------------------------------


@pytest.mark.browser
def test_an_answer_streams_through_the_examples_page_and_ends_as_render_markdown(
    chromium: Any, example: Example
) -> None:
    expected_text = source_text(load_example(), MESSAGE)
    reference = chromium.new_context()
    context = chromium.new_context()
    try:
        parse = reference.new_page()
        expected = parse.evaluate(
            "(html) => { const t = document.createElement('template'); t.innerHTML = html; return t.innerHTML; }",
            render_markdown(expected_text),
        )
        page = context.new_page()
        problems: list[str] = []
        page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation',"
            " (e) => console.error(`csp: ${e.effectiveDirective} ${e.blockedURI}`), true);"
            "window.__states = [];"
            "new MutationObserver(() => { const s = document.querySelector('#answer')?.dataset.state;"
            " if (s && window.__states.at(-1) !== s) window.__states.push(s); })"
            ".observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });"
        )
        page.goto(example.url("/shout"))
        page.fill("#message", MESSAGE)
        page.click("#send")
        ms = int(TIMEOUT * 1000)
        page.wait_for_function("() => document.querySelector('#answer').dataset.state === 'done'", timeout=ms)

        assert page.evaluate("() => window.__states") == ["connecting", "generating", "done"]
        assert page.inner_html("#answer .answer-tail") == ""
        assert page.inner_html("#answer .answer-committed") == expected

        styles = page.evaluate(
            """() => {
              const css = (el, pseudo) => getComputedStyle(el, pseudo);
              const pre = document.querySelector('#answer pre');
              const table = document.querySelector('#answer table');
              const keyword = document.querySelector('#answer pre [class^="hl-"]');
              // the caret: a tail paragraph under data-state="generating"
              const root = document.querySelector('#answer');
              root.dataset.state = 'generating';
              const line = document.createElement('p');
              line.textContent = 'typing';
              root.querySelector('.answer-tail').append(line);
              const caret = css(line, '::after');
              const result = {
                preOverflow: css(pre).overflowX,
                preRadius: css(pre).borderTopLeftRadius,
                preFont: css(pre.querySelector('code')).fontFamily,
                tableDisplay: css(table).display,
                cellAlign: css(table.querySelector('td[align="right"]')).textAlign,
                keywordColor: css(keyword).color,
                preColor: css(pre).color,
                caretAnimation: caret.animationName,
                caretWidth: caret.width,
              };
              line.remove();
              root.dataset.state = 'done';
              return result;
            }"""
        )
        assert styles["preOverflow"] == "auto"
        assert styles["preRadius"] == "8px"
        assert "monospace" in styles["preFont"]
        assert styles["tableDisplay"] == "block"
        assert styles["cellAlign"] == "right"
        assert styles["keywordColor"] != styles["preColor"]
        assert styles["caretAnimation"] == "answer-caret-blink"
        assert styles["caretWidth"] != "auto"
        assert problems == []
    finally:
        context.close()
        reference.close()

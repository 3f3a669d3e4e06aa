"""The sanitization harness: ``POST /api/sanitize`` over HTTP, and the
``/sanitize`` page in Chromium.

The server is the real application (``make_app`` plus ``harness.routes``,
see ``renderer.server.testing.ServerThread``) on a free port. Browser tests run through
``renderer.harness.xss.with_browser`` (Chromium in a thread of its own), so they work
whatever Playwright session the rest of the suite keeps open; they skip
without Playwright or Chromium.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from renderer import render_markdown
from renderer.harness import page
from renderer.harness.xss import with_browser
from renderer.sanitizer.clean import NH3Sanitizer, clean
from renderer.server.config import Config
from renderer.server.handlers import PAGE_CSP
from renderer.server.testing import ServerThread as HarnessServer

MAX_BODY = 8 * 1024
TIMEOUT_MS = 10_000

HOSTILE_HTML = '<p onclick="__xss=1">Hi <img src="x" onerror="__xss=1"><script>__xss=1</script> <b>there</b></p>'
HOSTILE_MARKDOWN = '# Title\n\n[link](javascript:__xss=1) <svg onload="__xss=1"></svg> **bold**\n'


@pytest.fixture(scope="module")
def server() -> Iterator[HarnessServer]:
    with HarnessServer(Config(max_body=MAX_BODY)) as running:
        yield running


def request(
    server: HarnessServer, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def post(server: HarnessServer, value: Any) -> tuple[int, Any]:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    status, headers, data = request(server, "POST", "/api/sanitize", body, {"Content-Type": "application/json"})
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    return status, json.loads(data)


# -- POST /api/sanitize ------------------------------------------------------------------------


def test_html_is_sanitized_and_what_was_removed_is_listed(server: HarnessServer) -> None:
    status, body = post(server, {"html": HOSTILE_HTML})
    expected = clean(HOSTILE_HTML)
    assert status == 200
    assert body == {"html": expected.html, "removed": expected.removed}
    assert body["removed"] == ["<p onclick>", "<img onerror>", "<script>"]


def test_markdown_is_rendered_as_the_chat_renders_it(server: HarnessServer) -> None:
    status, body = post(server, {"markdown": HOSTILE_MARKDOWN})
    assert status == 200
    assert body["html"] == render_markdown(HOSTILE_MARKDOWN)
    assert body["removed"] == ["<svg>"]  # the javascript: link stayed text: markdown-it refused it


def test_the_nh3_backend_applies_the_same_policy(server: HarnessServer) -> None:
    pytest.importorskip("nh3")
    status, body = post(server, {"html": HOSTILE_HTML, "sanitizer": "nh3"})
    assert status == 200
    assert body["html"] == NH3Sanitizer().clean(HOSTILE_HTML).html
    assert "onerror" not in body["html"] and "<script" not in body["html"]
    assert set(body["removed"]) == {"<p onclick>", "<img onerror>", "<script>"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"{not json", "the body is not valid JSON", id="not-json"),
        pytest.param(b"\xff\xfe", "the body is not valid JSON", id="not-utf8"),
        pytest.param(b"", "the body must be a JSON object", id="empty"),
        pytest.param(["<b>"], "the body must be a JSON object", id="array"),
        pytest.param({}, 'exactly one of "html" and "markdown"', id="neither"),
        pytest.param({"html": "a", "markdown": "b"}, 'exactly one of "html" and "markdown"', id="both"),
        pytest.param({"html": 1}, "html must be a string", id="html-not-string"),
        pytest.param({"markdown": None}, "markdown must be a string", id="markdown-null"),
        pytest.param({"html": "a", "sanitizer": "dompurify"}, "sanitizer must be one of bleach, nh3", id="backend"),
        pytest.param({"html": "a", "sanitizer": ["nh3"]}, "sanitizer must be one of bleach, nh3", id="backend-list"),
    ],
)
def test_bad_bodies_get_a_json_400(server: HarnessServer, body: Any, message: str) -> None:
    status, answer = post(server, body)
    assert status == 400
    assert message in answer["error"]


def test_a_body_over_the_limit_gets_a_json_413(server: HarnessServer) -> None:
    status, answer = post(server, {"html": "x" * MAX_BODY})
    assert status == 413
    assert answer == {"error": f"the body is larger than {MAX_BODY} bytes"}


def test_a_chunked_body_over_the_limit_gets_a_json_413(server: HarnessServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        chunks = iter([b'{"html": "', b"x" * MAX_BODY, b'"}'])
        headers = {"Content-Type": "application/json"}  # other bodies are refused first (415)
        connection.request("POST", "/api/sanitize", body=chunks, headers=headers, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"].startswith("the body is larger than")
    finally:
        connection.close()


SMALL_BUDGET = page.SanitizeBudget(markdown_chars=1000, tags=300, depth=40)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        pytest.param({"html": "<b>" * 41}, 422, "tags nested too deeply: more than 40", id="b-nested"),
        pytest.param({"html": "<div>" * 41, "sanitizer": "nh3"}, 422, "more than 40 unclosed", id="div-nested-nh3"),
        pytest.param({"html": "<p>a</p>" * 151}, 422, "too many tags: more than 300", id="many-flat-tags"),
        pytest.param({"markdown": "<i>" * 41}, 422, "tags nested too deeply", id="markdown-raw-html"),
        pytest.param({"markdown": "word " * 201}, 413, "longer than 1000 characters", id="long-markdown"),
    ],
)
def test_what_would_cost_more_than_the_budget_is_refused_with_a_json_error(
    server: HarnessServer, monkeypatch: pytest.MonkeyPatch, body: Any, status: int, message: str
) -> None:
    if body.get("sanitizer") == "nh3":
        pytest.importorskip("nh3")
    monkeypatch.setattr(page, "BUDGET", SMALL_BUDGET)
    got, answer = post(server, body)
    assert got == status
    assert message in answer["error"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"html": "<b>" * 40}, id="b-nested-at-the-limit"),
        pytest.param({"html": "<br>" * 300}, id="void-tags-do-not-nest"),
        pytest.param({"html": "<p>a</p>" * 150}, id="flat-tags-at-the-limit"),
        pytest.param({"markdown": "word " * 200}, id="markdown-at-the-limit"),
    ],
)
def test_what_fits_the_budget_is_sanitized_in_the_sanitize_thread_not_the_event_loop(
    server: HarnessServer, monkeypatch: pytest.MonkeyPatch, body: Any
) -> None:
    monkeypatch.setattr(page, "BUDGET", SMALL_BUDGET)
    threads: list[str] = []
    check = page.check_budget

    def spy(text: str, budget: page.SanitizeBudget) -> None:
        threads.append(threading.current_thread().name)
        check(text, budget)

    monkeypatch.setattr(page, "check_budget", spy)
    status, answer = post(server, body)
    assert status == 200
    assert "html" in answer
    assert len(threads) == 1 and threads[0].startswith("renderer-sanitize")


def test_the_default_budget_refuses_the_inputs_that_took_seconds() -> None:
    for text in ["<b>" * 60_000, "<div>" * 40_000, "<p>x</p>" * 30_000]:
        with pytest.raises(page.OverBudget):
            page.check_budget(text, page.BUDGET)
    page.check_budget("<p>x</p>\n" * 10_000, page.BUDGET)  # a long, flat document passes


def test_other_methods_get_a_json_405(server: HarnessServer) -> None:
    status, headers, body = request(server, "GET", "/api/sanitize")
    assert status == 405
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert "error" in json.loads(body)


def test_the_page_is_served_with_the_strict_csp(server: HarnessServer) -> None:
    status, headers, body = request(server, "GET", "/sanitize")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == PAGE_CSP
    assert b'<script type="module" src="/static/sanitize.js"></script>' in body
    for asset in ("/static/sanitize.js", "/static/sanitize.css"):
        assert request(server, "GET", asset)[0] == 200


# -- the page in Chromium ----------------------------------------------------------------------

# Whatever script a payload might get to run would trip one of these.
WATCH_JS = """
(() => {
  const seen = [];
  Object.defineProperty(window, "__seen", { value: seen });
  Object.defineProperty(window, "__xss", { set(v) { seen.push("canary " + v); }, get() { return undefined; } });
  for (const name of ["alert", "confirm", "prompt", "print"]) window[name] = () => seen.push(name);
  document.addEventListener("securitypolicyviolation", (e) => seen.push("csp " + e.effectiveDirective), true);
})();
"""


def in_browser(server: HarnessServer, test: Callable[[Any], None]) -> None:
    """Run ``test(page)`` on a fresh /sanitize page; fail on any dialog,
    console error or script the page did not expect."""
    pytest.importorskip("playwright.sync_api")
    if not (os.environ.get("RENDERER_CHROMIUM") or os.path.exists("/usr/bin/chromium")):
        pytest.skip("no Chromium at /usr/bin/chromium (or RENDERER_CHROMIUM)")

    def run(browser: Any) -> None:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            problems: list[str] = []

            def on_dialog(dialog: Any) -> None:
                problems.append(f"dialog {dialog.message}")
                dialog.dismiss()

            page.on("dialog", on_dialog)
            page.on("pageerror", lambda error: problems.append(f"page error {error}"))
            page.add_init_script(WATCH_JS)
            page.goto(server.url("/sanitize"))
            test(page)
            problems += page.evaluate("window.__seen")
            assert problems == []
        finally:
            context.close()

    with_browser(run)


def wait_for_source(page: Any, html: str) -> None:
    """Wait until the source pane shows exactly ``html``."""
    page.wait_for_function("(html) => document.getElementById('source').textContent === html", arg=html)


@pytest.mark.browser
def test_the_page_sanitizes_html_live_as_you_type(server: HarnessServer) -> None:
    def test(page: Any) -> None:
        page.check("input[value=html]")
        page.locator("#input").press_sequentially(HOSTILE_HTML[:40])
        wait_for_source(page, clean(HOSTILE_HTML[:40]).html)  # shown while typing, no button
        page.locator("#input").press_sequentially(HOSTILE_HTML[40:])
        expected = clean(HOSTILE_HTML)
        wait_for_source(page, expected.html)
        # The source pane is text: the HTML is shown, never parsed.
        assert page.evaluate("document.getElementById('source').childElementCount") == 0
        # The rendered pane is the same HTML, parsed by stream.js.
        rendered = page.evaluate("document.getElementById('rendered').innerHTML")
        assert rendered == expected.html
        assert page.locator("#rendered b").text_content() == "there"
        assert page.locator("#rendered img").get_attribute("onerror") is None
        assert page.locator("#removed li").all_text_contents() == expected.removed
        assert page.locator("#client").is_hidden()
        assert "3 removed" in page.locator("#status").text_content()

    in_browser(server, test)


@pytest.mark.browser
def test_the_page_renders_markdown_and_switches_backend(server: HarnessServer) -> None:
    pytest.importorskip("nh3")

    def test(page: Any) -> None:
        assert page.is_checked("input[value=markdown]")  # the default
        page.fill("#input", HOSTILE_MARKDOWN)
        wait_for_source(page, render_markdown(HOSTILE_MARKDOWN))
        assert page.locator("#rendered h1").text_content() == "Title"
        assert page.locator("#rendered a").count() == 0  # the javascript: link stayed text
        assert page.locator("#removed li").all_text_contents() == ["<svg>"]
        page.select_option("#sanitizer", "nh3")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('by nh3')")
        assert page.locator("#source").text_content() == render_markdown(HOSTILE_MARKDOWN, sanitizer=NH3Sanitizer())
        page.check("input[value=html]")  # the same text, now as HTML
        page.wait_for_function("() => document.getElementById('status').textContent.startsWith('HTML')")
        assert page.locator("#source").text_content() == NH3Sanitizer().clean(HOSTILE_MARKDOWN).html

    in_browser(server, test)


@pytest.mark.browser
def test_the_page_shows_input_output_and_removals_side_by_side(server: HarnessServer) -> None:
    def test(page: Any) -> None:
        page.select_option("#example", "svg/style mXSS")
        assert page.input_value("#input").startswith("<svg><p><style>")
        page.wait_for_function("() => document.getElementById('removed').children.length > 0")
        boxes = {
            name: page.locator(selector).bounding_box()
            for name, selector in [("input", ".input-pane"), ("rendered", "#rendered"), ("removed", "#removed")]
        }
        assert boxes["rendered"]["x"] >= boxes["input"]["x"] + boxes["input"]["width"]
        assert boxes["removed"]["x"] >= boxes["input"]["x"] + boxes["input"]["width"]
        assert page.locator("#rendered [onerror], #rendered style, #rendered svg").count() == 0

    in_browser(server, test)


@pytest.mark.browser
def test_the_page_reports_errors_from_the_api(server: HarnessServer) -> None:
    def test(page: Any) -> None:
        page.fill("#input", "x" * (MAX_BODY + 1))
        page.wait_for_function("() => document.getElementById('status').dataset.state === 'error'")
        assert page.locator("#status").text_content() == f"Error 413: the body is larger than {MAX_BODY} bytes"
        page.fill("#input", "")
        page.wait_for_function("() => document.getElementById('status').textContent === 'Type or paste below.'")
        assert page.locator("#source").text_content() == ""

    in_browser(server, test)

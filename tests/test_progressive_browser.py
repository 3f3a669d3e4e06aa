"""The progressive demo page in Debian's Chromium (Must-show 2 of the suspense issue).

Every placeholder ends replaced by the right content (the same DOM as the
resolved ``?nostream=1`` page), the error and timeout fallbacks show, no CSP
violation or console error is reported under ``script-src 'nonce-...'
'strict-dynamic'``, and no template, marker or swap script is left.

Three ways of parsing the same response, one browser each:

native           Chromium 156 as shipped: ``<template for>`` patches are
                 applied by the parser, no template ever reaches the DOM
                 (checked: this is the native path, not the fallback);
no-pi            ``--disable-blink-features=HTMLProcessingInstruction``: the
                 markers parse as comments and templates as inert templates,
                 as in browsers without the feature; the runtime swaps;
no-patching      ``--disable-blink-features=DocumentPatching``: markers are
                 processing instructions but nothing patches; the runtime swaps.

Playwright runs in a thread of its own (its sync API refuses to start in a
thread where another sync Playwright or an event loop is running), the server
in another thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from tornado import web

from renderer.harness.chromium import CHROMIUM, CHROMIUM_ARGS
from renderer.progressive.suspense import Suspense
from renderer.server.config import Config
from renderer.server.testing import ServerThread

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 10.0
MODES = {
    "native": [],
    "no-pi": ["--disable-blink-features=HTMLProcessingInstruction"],
    "no-patching": ["--disable-blink-features=DocumentPatching"],
}

RECORDER_JS = """
window.__rec = {violations: [], templates: 0};
document.addEventListener("securitypolicyviolation", (e) =>
  __rec.violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
new MutationObserver((records) => {
  for (const record of records)
    for (const node of record.addedNodes) if (node.nodeName === "TEMPLATE") __rec.templates++;
}).observe(document, {childList: true, subtree: true});
"""
"""Runs before the page's scripts (and outside its CSP): records CSP
violations and every template element that reaches the document."""

LEFTOVERS_JS = """() => {
  const walker = document.createTreeWalker(document, NodeFilter.SHOW_ALL);
  const left = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeType === 7 || node.nodeType === 8) left.push(`marker ${node.nodeName} ${node.data ?? ""}`);
    else if (node.nodeName === "TEMPLATE") left.push("template");
    else if (node.nodeName === "SCRIPT" && /^\\$RS\\("/.test(node.textContent)) left.push("swap script");
    else if (node.nodeType === 1 && (node.hasAttribute("aria-busy") || /\\brs-(pending|streaming)\\b/.test(node.className)))
      left.push(`placeholder ${node.id}`);
  }
  return left;
}"""


# -- a server and a browser, each in its own thread ------------------------------------


class GatedHandler(web.RequestHandler):
    """``/gated?key=K``: a slot that waits for the test to set ``gates[K]``,
    and a list streamed as HTML chunks whose last one waits for ``gates[K-2]``."""

    def initialize(self, gates: dict[str, asyncio.Event]) -> None:
        self.gates = gates

    async def get(self) -> None:
        key = self.get_query_argument("key")
        gate = self.gates.setdefault(key, asyncio.Event())
        second = self.gates.setdefault(f"{key}-2", asyncio.Event())

        async def content() -> str:
            await gate.wait()
            return '<p id="gated-content">here at last</p>'

        async def items() -> AsyncIterator[str]:
            yield '<li class="first">one</li>'
            await second.wait()
            yield '<li class="second">two</li>'

        async with Suspense(self) as page:
            slot = page.slot(content(), fallback="<p>wait</p>", min_height="120px")
            listed = page.slot(items(), tag="li", fallback="loading")
            await page.render(
                '<!doctype html><html><head><title>gated</title><link rel="icon" href="data:,"></head>'
                f'<body><main>{slot}<ul id="items">{listed}</ul></main></body></html>'
            )


class LiveServer(ServerThread):
    """The application (the demo's routes among them) plus ``/gated``, on a
    free port, in a thread."""

    def __init__(self) -> None:
        super().__init__(Config(), name="progressive server")
        self.gates: dict[str, asyncio.Event] = {}

    def build(self) -> web.Application:
        app = super().build()
        app.add_handlers(r".*", [(r"/gated", GatedHandler, {"gates": self.gates})])
        return app

    def open_gate(self, key: str) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(lambda: self.gates.setdefault(key, asyncio.Event()).set())


class Browsers:
    """One Chromium per mode, all driven from one thread of their own."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="playwright")
        self._playwright: Any = None
        self._browsers: dict[str, Any] = {}

    def run(self, job: Callable[..., Any], *args: Any) -> Any:
        return self._executor.submit(job, *args).result(6 * TIMEOUT)

    def browser(self, mode: str) -> Any:
        """In the Playwright thread: the browser of ``mode``, launched on first use."""
        if self._playwright is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
        if mode not in self._browsers:
            self._browsers[mode] = self._playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS + MODES[mode]
            )
        return self._browsers[mode]

    def close(self) -> None:
        def stop() -> None:
            for browser in self._browsers.values():
                browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        self.run(stop)
        self._executor.shutdown()


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer() as live:
        yield live


@pytest.fixture(scope="module")
def browsers() -> Iterator[Browsers]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api")
    running = Browsers()
    try:
        yield running
    finally:
        running.close()


def watched_page(context: Any) -> tuple[Any, list[str]]:
    """A page with the recorder installed and its console errors collected."""
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.add_init_script(RECORDER_JS)
    return page, errors


# -- Must-show 2 -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
def test_every_placeholder_ends_replaced_by_its_content_with_no_csp_violation(
    mode: str, server: LiveServer, browsers: Browsers
) -> None:
    def check() -> dict[str, Any]:
        context = browsers.browser(mode).new_context()
        try:
            page, errors = watched_page(context)
            page.goto(server.url("/demo/progressive?speed=10"), wait_until="load", timeout=TIMEOUT * 1000)
            found: dict[str, Any] = page.evaluate(
                """() => ({
                  native: "htmlFor" in HTMLTemplateElement.prototype,
                  text: Object.fromEntries([...document.querySelectorAll("main section")].map(s => [s.id, s.innerText])),
                  ids: ["fast-content", "slow-content", "outer", "inner-fast", "inner-slow"].filter(id => document.getElementById(id)),
                  error: document.querySelectorAll("#fails .rs-error").length,
                  timeout: document.querySelectorAll("#timeout .rs-timeout").length,
                  table: document.querySelectorAll("#medium table td").length,
                  handlers: document.querySelectorAll("[onclick], [onerror]").length,
                  main: document.querySelector("main").innerHTML,
                  rec: window.__rec,
                })"""
            )
            found["leftovers"] = page.evaluate(LEFTOVERS_JS)
            resolved, resolved_errors = watched_page(context)
            resolved.goto(
                server.url("/demo/progressive?speed=10&nostream=1"), wait_until="load", timeout=TIMEOUT * 1000
            )
            found["resolved_main"] = resolved.evaluate("document.querySelector('main').innerHTML")
            found["resolved_scripts"] = resolved.evaluate("document.scripts.length")
            found["errors"] = errors + resolved_errors
            return found
        finally:
            context.close()

    found = browsers.run(check)
    assert found["rec"]["violations"] == []
    assert found["errors"] == []
    assert found["leftovers"] == []
    assert found["ids"] == ["fast-content", "slow-content", "outer", "inner-fast", "inner-slow"]
    assert found["error"] == 1 and found["timeout"] == 1
    assert found["table"] == 6 and found["handlers"] == 0
    text = found["text"]
    assert "could not be loaded" in text["fails"] and "hunter2" not in text["fails"]
    assert "took too long" in text["timeout"]
    assert "That is all it takes." in text["stream"]
    # The streamed page ends exactly as the resolved one, which has no script.
    assert found["main"] == found["resolved_main"]
    assert found["resolved_scripts"] == 0
    if mode == "native":
        assert found["native"], "this Chromium should patch natively (<template for>)"
        assert found["rec"]["templates"] == 0  # the parser applied every patch itself
    else:
        assert found["rec"]["templates"] > 0  # the runtime swapped them, then removed them


@pytest.mark.parametrize("mode", ["native", "no-pi"])
def test_a_pending_placeholder_is_busy_and_reserves_its_space_until_its_slot_arrives(
    mode: str, server: LiveServer, browsers: Browsers
) -> None:
    key = f"reserve-{mode}"

    def check() -> dict[str, Any]:
        context = browsers.browser(mode).new_context()
        try:
            page, errors = watched_page(context)
            page.goto(server.url(f"/gated?key={key}"), wait_until="commit", timeout=TIMEOUT * 1000)
            page.wait_for_selector('#rs1[aria-busy="true"]', timeout=TIMEOUT * 1000)
            pending = page.evaluate(
                "() => { const e = document.getElementById('rs1');"
                " return {minHeight: getComputedStyle(e).minHeight, height: e.offsetHeight, text: e.innerText}; }"
            )
            # The list's first chunk is in, the rest still pending behind a busy item.
            page.wait_for_selector("#items li.first", timeout=TIMEOUT * 1000)
            streaming = page.evaluate("document.getElementById('items').innerHTML")
            server.open_gate(f"{key}-2")
            page.wait_for_selector("#items li.second", timeout=TIMEOUT * 1000)
            server.open_gate(key)
            page.wait_for_selector("#gated-content", timeout=TIMEOUT * 1000)
            page.wait_for_load_state("load", timeout=TIMEOUT * 1000)
            return {
                "pending": pending,
                "streaming": streaming,
                "leftovers": page.evaluate(LEFTOVERS_JS),
                "main": page.evaluate("document.querySelector('main').innerHTML"),
                "violations": page.evaluate("window.__rec.violations"),
                "errors": errors,
            }
        finally:
            context.close()

    found = browsers.run(check)
    assert found["pending"] == {"minHeight": "120px", "height": found["pending"]["height"], "text": "wait"}
    assert found["pending"]["height"] >= 120
    assert found["streaming"].startswith('<li class="first">one</li>')
    assert '<li id="rs2" class="rs-streaming" aria-busy="true"></li>' in found["streaming"]
    assert found["main"] == (
        '<p id="gated-content">here at last</p><ul id="items"><li class="first">one</li><li class="second">two</li></ul>'
    )
    assert found["leftovers"] == [] and found["violations"] == [] and found["errors"] == []


def test_without_javascript_the_page_comes_resolved(server: LiveServer, browsers: Browsers) -> None:
    def check() -> dict[str, Any]:
        context = browsers.browser("no-pi").new_context(java_script_enabled=False)
        try:
            page = context.new_page()
            page.goto(server.url("/demo/progressive?speed=10"), wait_until="commit", timeout=TIMEOUT * 1000)
            page.wait_for_url("**nostream=1", timeout=TIMEOUT * 1000)
            page.wait_for_load_state("load", timeout=TIMEOUT * 1000)
            html = page.content()
            return {"url": page.url, "html": html}
        finally:
            context.close()

    found = browsers.run(check)
    assert found["url"].endswith("?speed=10&nostream=1")
    html = found["html"]
    for marker in (
        'id="fast-content"',
        'id="slow-content"',
        'id="inner-slow"',
        "That is all it takes.",
        'class="rs-error"',
    ):
        assert marker in html
    assert "<script" not in html and "<template" not in html and "aria-busy" not in html

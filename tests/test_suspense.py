"""Progressive pages (renderer.progressive.suspense) through real sockets.

Must-show 1 and 3 of the suspense issue: the shell, placeholders included,
arrives before any slot completes; slots arrive in completion order (or
document order when asked); a client that leaves cancels every pending slot.
Ordering is driven by events the test sets, never by wall-clock sleeps: each
slot awaits its own gate and says when it has completed.

Each test runs a Tornado server and a raw-socket client in one event loop,
in a thread of its own (a sync Playwright left running by another test module
would make ``asyncio.run`` fail in the main thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import inspect
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from server_fixtures import TIMEOUT, RawResponse
from tornado import httpserver, netutil, web

from renderer import render_markdown
from renderer.demos.progressive import routes
from renderer.progressive.suspense import (
    DEFAULT_ERROR_FALLBACK,
    DEFAULT_TIMEOUT_FALLBACK,
    RUNTIME,
    Slot,
    Suspense,
    wants_stream,
)
from renderer.server.config import Config
from renderer.server.state import AppState
from renderer.server.store.memory import MemoryStore

SHELL = "<!doctype html><html><head><title>t</title></head><body><main>{}</main></body></html>"
TEMPLATE = re.compile(r'<template for="([a-z0-9-]+)">')
Build = Callable[[web.RequestHandler, Suspense], Awaitable[str]]


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run an async test in a fresh thread and event loop, bounded."""
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(asyncio.wait_for(test(), 4 * TIMEOUT))
        except BaseException as error:  # re-raised in the test's thread
            failure.append(error)

    thread = threading.Thread(target=main, name="suspense test")
    thread.start()
    thread.join(5 * TIMEOUT)
    assert not thread.is_alive(), "the test's loop did not stop"
    if failure:
        raise failure[0]


class PageHandler(web.RequestHandler):
    """Builds a page with the test's ``build(handler, page) -> shell``."""

    def initialize(self, build: Build, pages: list[Suspense], options: dict[str, Any]) -> None:
        self.build = build
        self.pages = pages
        self.page_options = options

    async def get(self) -> None:
        async with Suspense(self, **self.page_options) as page:
            self.pages.append(page)
            shell = await self.build(self, page)
            await page.render(shell)


@dataclass
class Served:
    port: int
    pages: list[Suspense]

    async def open(self, path: str = "/page", headers: dict[str, str] | None = None) -> RawResponse:
        return await RawResponse.open(self.port, "GET", path, headers=headers)


@contextlib.asynccontextmanager
async def serving(build: Build, *, settings: dict[str, Any] | None = None, **options: Any) -> AsyncIterator[Served]:
    """A server for one page, in the running loop, on a free port."""
    pages: list[Suspense] = []
    shared = {"state": AppState(Config(), MemoryStore())}
    app = web.Application(
        [(r"/page", PageHandler, {"build": build, "pages": pages, "options": options}), *routes(shared)],
        **(settings or {}),
    )
    sockets = netutil.bind_sockets(0, "127.0.0.1")
    server = httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    try:
        yield Served(sockets[0].getsockname()[1], pages)
    finally:
        server.stop()
        await asyncio.wait_for(server.close_all_connections(), TIMEOUT)


@dataclass
class Gates:
    """Slots the test completes one by one: ``source(name)`` awaits the gate
    ``name``, records its completion and returns ``<p id=name-content>``."""

    opened: dict[str, asyncio.Event] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    done: dict[str, asyncio.Event] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    all_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    expect_cancelled: int = 0

    def _gate(self, name: str) -> asyncio.Event:
        self.done.setdefault(name, asyncio.Event())
        return self.opened.setdefault(name, asyncio.Event())

    async def source(self, name: str, content: str | None = None) -> str:
        gate = self._gate(name)
        try:
            await gate.wait()
        except asyncio.CancelledError:
            self._cancelled(name)
            raise
        self.completed.append(name)
        self.done[name].set()
        return content if content is not None else f'<p id="{name}-content">{name}</p>'

    def _cancelled(self, name: str) -> None:
        self.cancelled.append(name)
        if len(self.cancelled) >= self.expect_cancelled:
            self.all_cancelled.set()

    async def complete(self, name: str) -> None:
        """Open a gate and wait until that slot has completed."""
        self._gate(name).set()
        await asyncio.wait_for(self.done[name].wait(), TIMEOUT)


async def read_until(response: RawResponse, marker: bytes, buffer: bytes = b"") -> bytes:
    """Read the body until ``marker`` is in it (bounded); returns all read."""
    while marker not in buffer:
        chunk = await response.read_chunk(TIMEOUT)
        if not chunk:
            raise AssertionError(f"the body ended without {marker!r}: {buffer[-300:]!r}")
        buffer += chunk
    return buffer


def patch_targets(body: str) -> list[str]:
    return TEMPLATE.findall(body)


async def three_slots(gates: Gates, handler: web.RequestHandler, page: Suspense) -> str:
    a = page.slot(gates.source("a"), fallback="<p>loading a</p>")
    b = page.slot(gates.source("b"), fallback="<p>loading b</p>", min_height="5rem")
    c = page.slot(gates.source("c"), fallback="<p>loading c</p>")
    return SHELL.format(f"{a}{b}{c}")


# -- Must-show 1: shell first, then slots in completion order -------------------------


def test_the_shell_with_its_placeholders_arrives_before_any_slot_completes() -> None:
    async def test() -> None:
        gates = Gates()
        async with serving(lambda handler, page: three_slots(gates, handler, page)) as served:
            response = await served.open()
            try:
                shell = (await read_until(response, b"</main>")).decode()
                # No gate is open, so no slot can have completed: the shell did not wait.
                assert gates.completed == []
                for slot_id, name in (("rs1", "a"), ("rs2", "b"), ("rs3", "c")):
                    assert (
                        f'<?start name="{slot_id}"><div id="{slot_id}" class="rs-pending" aria-busy="true">'
                        f"<p>loading {name}</p></div><?end>"
                    ) in shell
                assert "<template" not in shell
                nonce = served.pages[0].nonce
                assert f'<script nonce="{nonce}">{RUNTIME}</script>' in shell
                assert f'<style nonce="{nonce}">#rs2{{min-height:5rem}}</style>' in shell
                for name in "abc":
                    await gates.complete(name)
                rest = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        assert rest.endswith("</body></html>")
        assert patch_targets(rest) == ["rs1", "rs2", "rs3"]

    run(test)


@pytest.mark.parametrize(
    ("order", "completion", "written"),
    [
        pytest.param("completion", "bca", ["rs2", "rs3", "rs1"], id="completion-order"),
        pytest.param("completion", "cab", ["rs3", "rs1", "rs2"], id="completion-order-2"),
        pytest.param("document", "bca", ["rs1", "rs2", "rs3"], id="document-order"),
    ],
)
def test_slots_are_written_in_the_order_they_complete_or_in_document_order(
    order: str, completion: str, written: list[str]
) -> None:
    async def test() -> None:
        gates = Gates()
        async with serving(lambda handler, page: three_slots(gates, handler, page), order=order) as served:
            response = await served.open()
            try:
                await read_until(response, b"</main>")
                for name in completion:
                    await gates.complete(name)  # each completes only after the one before
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        assert gates.completed == list(completion)
        assert patch_targets(body) == written
        for slot_id, name in zip(("rs1", "rs2", "rs3"), "abc", strict=True):
            nonce = served.pages[0].nonce
            swap = f'<template for="{slot_id}"><p id="{name}-content">{name}</p></template><script nonce="{nonce}">$RS("{slot_id}")</script>'
            assert swap in body

    run(test)


def test_each_slot_goes_out_as_soon_as_it_completes_while_others_are_pending() -> None:
    async def test() -> None:
        gates = Gates()
        async with serving(lambda handler, page: three_slots(gates, handler, page)) as served:
            response = await served.open()
            try:
                buffer = await read_until(response, b"</main>")
                await gates.complete("c")
                buffer = await read_until(response, b'$RS("rs3")', buffer)
                assert b'for="rs1"' not in buffer and b'for="rs2"' not in buffer  # a and b still pending
                await gates.complete("a")
                buffer = await read_until(response, b'$RS("rs1")', buffer)
                assert b'for="rs2"' not in buffer
                await gates.complete("b")
                await response.body(TIMEOUT)
            finally:
                await response.close()

    run(test)


def test_a_nested_slot_is_written_after_the_parent_that_holds_its_placeholder() -> None:
    async def test() -> None:
        gates = Gates()
        inner: list[Slot] = []

        async def outer(page: Suspense) -> str:
            child = page.slot(gates.source("inner"), fallback="<p>loading inner</p>", min_height="2rem")
            inner.append(child)
            await gates.source("outer")  # the child completes first
            return f"<section>outer {child}</section>"

        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            return SHELL.format(page.slot(outer(page), fallback="<p>loading outer</p>"))

        async with serving(build) as served:
            response = await served.open()
            try:
                await read_until(response, b"</main>")
                await gates.complete("inner")
                await gates.complete("outer")
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        assert gates.completed == ["inner", "outer"]
        assert patch_targets(body) == ["rs1", "rs2"]
        parent_patch = body[body.index('<template for="rs1">') : body.index('<template for="rs2">')]
        assert str(inner[0]) in parent_patch
        # Its reserved height comes in a nonce'd style just before the parent's patch.
        assert f'<style nonce="{served.pages[0].nonce}">#rs2{{min-height:2rem}}</style><template for="rs1">' in body
        assert '<p id="inner-content">inner</p>' in body[body.index('<template for="rs2">') :]

    run(test)


# -- Must-show 3: a client that leaves cancels every pending slot ------------------------


def test_closing_the_connection_mid_page_cancels_every_pending_slot() -> None:
    async def test() -> None:
        gates = Gates(expect_cancelled=4)
        stream_cancelled = asyncio.Event()

        async def markdown() -> AsyncIterator[str]:
            try:
                yield "# Streaming\n\nfirst words"
                await asyncio.Event().wait()  # never more
                yield "never"
            finally:
                stream_cancelled.set()

        async def parent(page: Suspense) -> str:
            child = page.slot(gates.source("nested-child"))
            return f"<div>{child}</div>"

        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            slots = [
                page.slot(gates.source("a")),
                page.slot(gates.source("b"), timeout=60),
                page.slot(gates.source("done")),
                page.slot(parent(page)),
                page.slot(markdown(), markdown=True),
                page.slot(gates.source("c")),
                page.slot(gates.source("never-placed")),  # not in the shell: dropped at once
            ]
            return SHELL.format("".join(map(str, slots[:-1])))

        async with serving(build, interval=0) as served:
            response = await served.open()
            try:
                buffer = await read_until(response, b"</main>")
                await gates.complete("done")
                buffer = await read_until(response, b'$RS("rs4")', buffer)  # the nested child's placeholder is out
                await read_until(response, b'$RS("rs5")', buffer)  # the Markdown box is streaming
            finally:
                await response.close()
            await asyncio.wait_for(gates.all_cancelled.wait(), TIMEOUT)
            await asyncio.wait_for(stream_cancelled.wait(), TIMEOUT)
            page = served.pages[0]
            assert sorted(gates.cancelled) == ["a", "b", "c", "nested-child"]
            # a, b, c, the nested child and the Markdown stream: 5 running tasks
            # (the unplaced slot never started: its coroutine was closed instead).
            assert page.cancelled == 5
            assert not [slot for slot in page.slots if slot.task is not None and not slot.task.done()]

    run(test)


def test_a_page_that_fails_before_render_closes_the_slots_it_declared() -> None:
    async def test() -> None:
        declared: list[Any] = []

        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            coroutine = asyncio.sleep(0, "<p>x</p>")
            declared.append(coroutine)
            page.slot(coroutine)
            raise web.HTTPError(404)  # data that decides the status, awaited before the shell

        async with serving(build) as served:
            response = await served.open()
            try:
                body = await response.body(TIMEOUT)
            finally:
                await response.close()
        assert response.status == 404
        assert b"<?start" not in body
        assert inspect.getcoroutinestate(declared[0]) == inspect.CORO_CLOSED

    run(test)


# -- fallbacks ---------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?nostream=1"], ids=["streamed", "resolved"])
def test_a_slot_that_raises_shows_its_error_fallback_and_no_stack_trace(
    query: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        async def broken() -> str:
            raise RuntimeError("secret-token-1234")

        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            return SHELL.format(f"{page.slot(broken())}{page.slot(asyncio.sleep(0, '<p>fine</p>'))}")

        async with serving(build) as served:
            response = await served.open("/page" + query)
            try:
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        assert response.status == 200
        assert DEFAULT_ERROR_FALLBACK in body and "<p>fine</p>" in body
        assert "secret-token" not in body and "Traceback" not in body and "RuntimeError" not in body

    run(test)
    assert "secret-token-1234" in caplog.text  # logged on the server


@pytest.mark.parametrize("query", ["", "?nostream=1"], ids=["streamed", "resolved"])
def test_a_slot_over_its_timeout_is_cancelled_and_shows_its_timeout_fallback(query: str) -> None:
    async def test() -> None:
        gates = Gates(expect_cancelled=1)

        async def source_timing_out_itself() -> str:
            raise TimeoutError("an upstream timeout is an error, not the slot's timeout")

        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            slow = page.slot(gates.source("slow"), timeout=0.01, timeout_fallback="<p>too slow</p>")
            own = page.slot(source_timing_out_itself(), timeout=60)
            return SHELL.format(f"{slow}{own}")

        async with serving(build) as served:
            response = await served.open("/page" + query)
            try:
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        assert "<p>too slow</p>" in body
        assert DEFAULT_ERROR_FALLBACK in body and DEFAULT_TIMEOUT_FALLBACK not in body
        assert gates.cancelled == ["slow"]

    run(test)


# -- Markdown ----------------------------------------------------------------------------


MARKDOWN = (
    "# Title\n\nA paragraph with **bold** and [a link](https://example.com/).\n\n"
    "<script>alert(1)</script>\n\n[bad](javascript:alert(2))\n\n- one\n- two\n"
)


def test_a_markdown_stream_streams_into_its_slot_and_ends_as_render_markdown() -> None:
    async def test() -> None:
        step = [asyncio.Event() for _ in range(3)]
        fed = [asyncio.Event() for _ in range(3)]
        cut = [0, 30, 75, len(MARKDOWN)]

        async def chunks() -> AsyncIterator[str]:
            for index in range(3):
                await step[index].wait()
                yield MARKDOWN[cut[index] : cut[index + 1]]
                fed[index].set()

        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            return SHELL.format(page.slot(chunks(), markdown=True, fallback="<p>waiting</p>"))

        async with serving(build, interval=0) as served:
            response = await served.open()
            try:
                buffer = await read_until(response, b"</main>")
                step[0].set()
                buffer = await read_until(response, b'$RS("rs1")', buffer)
                first = buffer.decode()
                assert '<div id="rs1" class="rs-streaming" aria-busy="true"><h1 dir="auto">Title</h1>' in first
                step[1].set()
                buffer = await read_until(response, b'$RS("rs1-t")', buffer)
                step[2].set()
                body = (buffer + await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        targets = patch_targets(body)
        assert targets[0] == "rs1" and targets[-1] == "rs1" and "rs1-t" in targets
        final = body[body.rindex('<template for="rs1">') + len('<template for="rs1">') : body.rindex("</template>")]
        assert final == render_markdown(MARKDOWN)
        assert "<script" not in final and 'href="javascript' not in final
        # Updates between the first and the last send only new blocks and the tail.
        assert body.count('<h1 dir="auto">Title</h1>') == 2

    run(test)


@pytest.mark.parametrize("query", ["", "?nostream=1"], ids=["streamed", "resolved"])
def test_an_html_stream_appends_each_chunk_before_a_new_placeholder(query: str) -> None:
    async def test() -> None:
        gates = Gates()

        async def chunks() -> AsyncIterator[str]:
            for name in ("one", "two", "three"):
                yield await gates.source(name, f"<li>{name}</li>")

        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            return SHELL.format(f"<ul>{page.slot(chunks(), tag='li')}</ul>")

        async with serving(build) as served:
            opening = asyncio.ensure_future(served.open("/page" + query))
            for name in ("one", "two", "three"):
                await gates.complete(name)
            response = await opening
            try:
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        if query:
            assert body == SHELL.format("<ul><li>one</li><li>two</li><li>three</li></ul>")
            return
        rest = '<?start name="rs1"><li id="rs1" class="rs-streaming" aria-busy="true"></li><?end>'
        patches = re.findall(r'<template for="rs1">(.*?)</template>', body)
        assert patches[0] == "<li>one</li>" + rest
        assert all(patch.endswith(rest) for patch in patches[:-1]) and rest not in patches[-1]
        assert "".join(patches).replace(rest, "") == "<li>one</li><li>two</li><li>three</li>"

    run(test)


def test_html_from_elsewhere_can_be_sanitized_and_markdown_always_is() -> None:
    async def test() -> None:
        hostile = '<p onclick="steal()">hi<script>steal()</script><img src="javascript:x"></p>'

        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            untrusted = page.slot(asyncio.sleep(0, hostile), sanitize=True)
            markdown = page.slot(asyncio.sleep(0, hostile), markdown=True)
            return SHELL.format(f"{untrusted}{markdown}")

        async with serving(build) as served:
            response = await served.open("/page?nostream=1")
            try:
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        main = body[body.index("<main>") : body.index("</main>")]
        assert "steal" not in main and "javascript" not in main and "onclick" not in main
        assert main.count("hi") == 2

    run(test)


# -- the resolved page ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "agent", "streamed"),
    [
        pytest.param("/page", "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0", True, id="browser"),
        pytest.param("/page?nostream=0", "Mozilla/5.0 Chrome/156.0", True, id="nostream-0"),
        pytest.param("/page?nostream=1", "Mozilla/5.0 Chrome/156.0", False, id="nostream-1"),
        pytest.param(
            "/page", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", False, id="googlebot"
        ),
        pytest.param("/page", "Mozilla/5.0 (compatible; bingbot/2.0)", False, id="bingbot"),
        pytest.param("/page", "facebookexternalhit/1.1", False, id="link-preview"),
        pytest.param("/page", "Mozilla/5.0 (Linux; Android 12; CUBOT P50) Chrome/120", True, id="cubot-is-a-phone"),
    ],
)
def test_crawlers_and_nostream_get_the_resolved_page_in_order_without_scripts(
    path: str, agent: str, streamed: bool
) -> None:
    async def test() -> None:
        gates = Gates()

        async def nested(page: Suspense) -> str:
            return f"<div>outer {page.slot(gates.source('inner', '<p>inner</p>'))}</div>"

        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            a = page.slot(gates.source("a"), fallback="<p>loading a</p>")
            b = page.slot(nested(page))
            c = page.slot(gates.source("c"))
            return SHELL.format(f"{a}{b}{c}")

        async with serving(build) as served:
            # The resolved page's head comes with its body: open while completing.
            opening = asyncio.ensure_future(served.open(path, {"User-Agent": agent}))
            if streamed:
                await read_until(await opening, b"</main>")
            for name in ("c", "inner", "a"):
                await gates.complete(name)
            response = await opening
            try:
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        if streamed:
            assert "<template" in body
            return
        assert body == SHELL.format('<p id="a-content">a</p><div>outer <p>inner</p></div><p id="c-content">c</p>')
        assert response.headers["Content-Length"] == str(len(body.encode()))

    run(test)


# -- headers, CSP, runtime -----------------------------------------------------------------


def test_headers_are_proxy_friendly_and_nothing_is_compressed() -> None:
    async def test() -> None:
        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            return SHELL.format(page.slot(asyncio.sleep(0, "<p>" + "x" * 5000 + "</p>")))

        async with serving(build, settings={"compress_response": True}) as served:
            response = await served.open(headers={"Accept-Encoding": "gzip"})
            try:
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        headers = response.headers
        assert headers["X-Accel-Buffering"] == "no"
        assert {"no-store", "no-transform"} <= {value.strip() for value in headers["Cache-Control"].split(",")}
        assert "Content-Encoding" not in headers
        assert headers["Transfer-Encoding"] == "chunked"
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        csp = headers["Content-Security-Policy"]
        nonce = served.pages[0].nonce
        assert f"script-src 'nonce-{nonce}' 'strict-dynamic'" in csp
        assert "'unsafe-inline'" not in csp
        scripts = re.findall(r"<script([^>]*)>", body)
        assert scripts and all(attributes == f' nonce="{nonce}"' for attributes in scripts)
        assert all(attributes == f' nonce="{nonce}"' for attributes in re.findall(r"<style([^>]*)>", body))

    run(test)


def test_every_response_gets_a_fresh_nonce() -> None:
    async def test() -> None:
        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            return SHELL.format(page.slot(asyncio.sleep(0, "<p>x</p>")))

        async with serving(build) as served:
            for _ in range(2):
                response = await served.open()
                await response.body(TIMEOUT)
                await response.close()
            assert served.pages[0].nonce != served.pages[1].nonce

    run(test)


def test_the_swap_runtime_is_smaller_than_reacts_and_moves_nodes_only() -> None:
    size = len(gzip.compress(RUNTIME.encode(), 9))
    assert size < 450 // 2, size  # React's inline runtime: about 450 B gzipped
    assert "innerHTML" not in RUNTIME and "outerHTML" not in RUNTIME and "insertAdjacentHTML" not in RUNTIME
    assert "replaceWith(t.content)" in RUNTIME


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("1px;background:url(//evil)", id="declaration"),
        pytest.param("}body{display:none", id="rule"),
        pytest.param("expression(alert(1))", id="expression"),
        pytest.param("12", id="no-unit"),
        pytest.param("</style><script>", id="markup"),
    ],
)
def test_min_height_takes_only_a_css_length(value: str) -> None:
    async def test() -> None:
        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            with pytest.raises(ValueError, match="min_height"):
                page.slot(asyncio.sleep(0, ""), min_height=value)
            return SHELL.format("")

        async with serving(build) as served:
            response = await served.open()
            await response.body(TIMEOUT)
            await response.close()
        assert response.status == 200

    run(test)


def test_a_slot_whose_placeholder_is_missing_is_dropped_and_the_page_completes() -> None:
    async def test() -> None:
        async def build(handler: web.RequestHandler, page: Suspense) -> str:
            page.slot(asyncio.Event().wait())  # forgotten: never in the shell
            return SHELL.format(page.slot(asyncio.sleep(0, "<p>shown</p>")))

        async with serving(build) as served:
            response = await served.open()
            try:
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
        assert "<p>shown</p>" in body and body.endswith("</html>")

    run(test)


def test_a_request_asks_for_the_stream_unless_nostream_or_a_crawler() -> None:
    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    def request(uri: str, agent: str = "Mozilla/5.0") -> HTTPServerRequest:
        start = RequestStartLine("GET", uri, "HTTP/1.1")
        return HTTPServerRequest(start_line=start, headers=HTTPHeaders({"Host": "x", "User-Agent": agent}))

    assert wants_stream(request("/p"))
    assert wants_stream(request("/p?nostream=0"))
    assert not wants_stream(request("/p?nostream=1"))
    assert not wants_stream(request("/p?nostream=true"))
    assert not wants_stream(request("/p", "Mozilla/5.0 AppleWebKit/537.36 (compatible; Applebot/0.1)"))


# -- the demo page --------------------------------------------------------------------------


def test_the_demo_page_resolves_every_section_with_its_fallbacks() -> None:
    async def test() -> None:
        async def unused(handler: web.RequestHandler, page: Suspense) -> str:
            return ""

        async with serving(unused) as served:
            response = await RawResponse.open(served.port, "GET", "/demo/progressive?speed=1000&nostream=1")
            try:
                body = (await response.body(TIMEOUT)).decode()
            finally:
                await response.close()
            bad = await RawResponse.open(served.port, "GET", "/demo/progressive?speed=0")
            try:
                bad_body = await bad.body(TIMEOUT)
            finally:
                await bad.close()
        assert response.status == 200
        for marker in (
            'id="fast-content"',
            'id="slow-content"',
            'id="outer"',
            'id="inner-fast"',
            'id="inner-slow"',
            "<table>",
            "That is all it takes.",
            DEFAULT_ERROR_FALLBACK,
            DEFAULT_TIMEOUT_FALLBACK,
        ):
            assert marker in body
        assert "hunter2" not in body and "<script" not in body and "<?start" not in body and "onclick" not in body
        assert bad.status == 400 and b'"error"' in bad_body

    run(test)

"""Cross-site attacks from a real second origin, in Chromium.

The victim server is on ``http://127.0.0.1:PORT``; the attacker's pages are
served from ``http://localhost:OTHER`` (another site to the browser) by a
second HTTP server in the same loop.  The attacker's page tries what the
issue found working: a no-cors ``fetch`` and a ``text/plain`` form to start
answers, a no-cors cancel of the victim's answer, reading the victim's
stream over a WebSocket, framing the app (``/`` and ``/static/index.html``),
and a remote image on the app's page leaking the Referer.  Every attempt is
checked on the server side (no answer started, the victim's answer still
live) as well as in the page.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from browser import TIMEOUT, GatedSource, LiveServer, browser_sources
from tornado import httpserver, web

from renderer.server.config import Config
from renderer.server.store.memory import MemoryStore

pytestmark = pytest.mark.browser

ATTACK_JS = """
async ({victim, streamId}) => {
  const results = {};
  // 1. a no-cors fetch: a "simple" request the browser sends without asking
  try {
    await fetch(victim + "/api/chat", {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "text/plain"}, body: JSON.stringify({message: "spend", source: "echo"})});
    results.fetch = "sent";
  } catch (error) { results.fetch = "failed: " + error; }
  // 2. cancel the victim's answer
  try {
    await fetch(victim + "/api/streams/" + streamId + "/cancel", {method: "POST", mode: "no-cors"});
    results.cancel = "sent";
  } catch (error) { results.cancel = "failed: " + error; }
  // 3. read the victim's stream over a WebSocket
  results.ws = await new Promise((resolve) => {
    const messages = [];
    const socket = new WebSocket(victim.replace("http", "ws") + "/api/streams/" + streamId + "/ws");
    socket.onmessage = (event) => messages.push(event.data);
    socket.onclose = (event) => resolve({code: event.code, messages});
  });
  return results;
}
"""

FORM_PAGE = """<!doctype html>
<form id="f" method="POST" enctype="text/plain" action="{victim}/api/chat" target="sink">
<input name='{{"message": "spend", "source": "echo", "x": "' value='"}}'>
</form>
<iframe name="sink"></iframe>
<script>document.getElementById("f").submit();</script>
"""

FRAME_PAGE = """<!doctype html>
<iframe id="root" src="{victim}/"></iframe>
<iframe id="static" src="{victim}/static/index.html"></iframe>
"""


class AttackerSite:
    """The attacker's pages, and a pixel that records who loaded it and with
    what Referer; served from the victim server's loop on another port."""

    def __init__(self, victim: str) -> None:
        self.victim = victim
        self.pixel_hits: list[dict[str, str]] = []
        self.server: httpserver.HTTPServer | None = None
        self.port = 0

    def app(self) -> web.Application:
        site = self

        class Page(web.RequestHandler):
            def get(self, name: str) -> None:
                template = {"form": FORM_PAGE, "frames": FRAME_PAGE, "blank": "<!doctype html><p>attacker</p>"}
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.finish(template[name].format(victim=site.victim))

        class Pixel(web.RequestHandler):
            def get(self) -> None:
                site.pixel_hits.append({"referer": self.request.headers.get("Referer", "")})
                self.set_header("Content-Type", "image/gif")
                self.finish(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

        return web.Application([(r"/page/(\w+)", Page), (r"/pixel\.gif", Pixel)])

    def start(self) -> None:
        """In the server's loop."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self.server = httpserver.HTTPServer(self.app())
        self.server.add_sockets([sock])

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"


@pytest.fixture(scope="module")
def gated() -> GatedSource:
    return GatedSource(pause_at=1)


class CountingStore(MemoryStore):
    """The memory store, counting the streams ever created (an answer that
    ends at once leaves no live stream to count)."""

    created = 0

    async def create(self, *, client: str = "", owner: str = "") -> str:
        stream_id = await super().create(client=client, owner=owner)
        self.created += 1
        return stream_id


@pytest.fixture(scope="module")
def victim(gated: GatedSource) -> Iterator[LiveServer]:
    config = Config(token_delay=0)
    with LiveServer(config, store=CountingStore(), sources=browser_sources(config, gated)) as server:
        yield server


@pytest.fixture(scope="module")
def attacker(victim: LiveServer) -> Iterator[AttackerSite]:
    site = AttackerSite(victim.origin)
    victim.call(site.start)
    yield site
    victim.call(site.stop)


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def created(victim: LiveServer) -> int:
    store = victim.state.store
    assert isinstance(store, CountingStore)
    return store.created


def start_victim_answer(victim: LiveServer) -> str:
    async def start() -> str:
        from renderer.server.sources import Message

        messages: list[Message] = [{"role": "user", "content": "the victim's private answer"}]
        source = victim.state.make_source("gated", messages)
        return await victim.state.generations.start(source, client="127.0.0.1")

    return str(victim.call(start))


def test_a_foreign_page_can_start_nothing_cancel_nothing_and_read_nothing(
    page: Any, victim: LiveServer, attacker: AttackerSite, gated: GatedSource
) -> None:
    stream_id = start_victim_answer(victim)
    before = created(victim)
    page.goto(f"{attacker.origin}/page/blank")
    results = page.evaluate(ATTACK_JS, {"victim": victim.origin, "streamId": stream_id})
    assert results["fetch"] == "sent" and results["cancel"] == "sent"  # the browser sent them; the server refused
    assert results["ws"]["messages"] == [], "the foreign page read the victim's stream"
    assert results["ws"]["code"] != 1000
    assert created(victim) == before, "a foreign fetch started an answer"
    assert victim.call(lambda: victim.state.store.is_done(stream_id)) is False, "a foreign page cancelled it"
    gated.latest.release()


def test_a_foreign_text_plain_form_starts_no_answer(page: Any, victim: LiveServer, attacker: AttackerSite) -> None:
    before = created(victim)
    with page.expect_response(lambda response: response.url.endswith("/api/chat"), timeout=TIMEOUT * 1000) as info:
        page.goto(f"{attacker.origin}/page/form")
    response = info.value
    assert response.status == 403
    assert json.loads(response.body())["error"].startswith("cross-site requests are refused")
    assert created(victim) == before


def test_a_foreign_page_cannot_frame_the_app(page: Any, victim: LiveServer, attacker: AttackerSite) -> None:
    page.goto(f"{attacker.origin}/page/frames")
    page.wait_for_load_state("load")
    for frame_id in ("root", "static"):
        frame = page.locator(f"#{frame_id}").element_handle().content_frame()
        assert frame is not None
        # A frame the browser refused to render is an error page with no chat form.
        assert frame.url.startswith("chrome-error://") or frame.locator("form").count() == 0, frame.url


@pytest.mark.parametrize("path", ["/", "/static/index.html"])
def test_the_apps_page_loads_no_remote_image_and_sends_no_referer(
    page: Any, victim: LiveServer, attacker: AttackerSite, path: str
) -> None:
    page.goto(victim.url(path))
    hits = len(attacker.pixel_hits)
    loaded = page.evaluate(
        """(src) => new Promise((resolve) => {
            const img = document.createElement("img");
            img.onload = () => resolve("loaded");
            img.onerror = () => resolve("blocked");
            img.src = src;
            document.body.append(img);
        })""",
        f"{attacker.origin}/pixel.gif",
    )
    assert loaded == "blocked"
    assert len(attacker.pixel_hits) == hits, attacker.pixel_hits[hits:]


def test_the_apps_own_page_may_still_post(page: Any, victim: LiveServer) -> None:
    page.goto(victim.url("/"))
    status = page.evaluate(
        """async () => (await fetch("/api/chat", {method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({message: "hi", source: "echo"})})).status"""
    )
    assert status == 201

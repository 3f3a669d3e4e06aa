"""A real nginx, configured with docs/nginx.conf, in front of a real server.

nginx (Debian package ``nginx``) runs in the foreground with a config
generated from the documented one (the upstream port and the listen port
substituted), its prefix, temp dirs, pid file and error log under
``tmp_path``.  Skipped when there is no nginx.

What must hold through the proxy: the first event of an answer reaches the
client while the answer is still being generated (the source waits for the
test, which lets it go on only once that event has come through nginx); no
``Content-Encoding`` even for a client that accepts gzip; ``X-Accel-Buffering``
passed on; the WebSocket transport works.  A control run with the site's
``gzip off`` turned on shows that the first check does catch a proxy that
holds events back.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_fixtures import TIMEOUT, ControlledSource, RawResponse, ServerThread, fetch, run
from sse_client import SSEEvent, SSEParser
from tornado import websocket

from renderer import assemble, render_markdown
from renderer.server.config import Config

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED = ROOT / "docs" / "nginx.conf"
NGINX = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))

pytestmark = [
    pytest.mark.nginx,
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian package nginx)"),
]

MESSAGE = (
    "Through nginx: a first paragraph.\n\n# A heading\n\n- one\n- two\n\n```python\nprint('hi')\n```\n\nThe end.\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # type: ignore[no-any-return]


def site_config(upstream_port: int, listen_port: int, *, gzip: bool = False) -> str:
    """docs/nginx.conf aimed at the test's server and port (``gzip``: the
    control, with the site's ``gzip off`` turned on)."""
    text = DOCUMENTED.read_text()
    text, upstreams = re.subn(r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream_port};", text)
    text, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen_port};", text)
    assert upstreams == 1 and listens == 1, "docs/nginx.conf changed shape: update this test"
    if gzip:
        text, n = re.subn(r"gzip off;", "gzip on;", text)
        assert n == 1
        text, n = re.subn(
            r"proxy_buffering off;( +# every event)",
            r"proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;\1",
            text,
        )
        assert n == 1
    return text


def main_config(tmp: Path, site: Path) -> str:
    """A whole nginx.conf around the site: everything under ``tmp``.  gzip is
    on for event streams at the http level, as a careless global setting
    might have it, so that the site's own ``gzip off`` is what is tested."""
    temp = tmp / "temp"
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    access_log {tmp / "access.log"};
    client_body_temp_path {temp / "client_body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    gzip on;
    gzip_min_length 1;
    gzip_types text/event-stream application/x-ndjson application/json text/plain;
    include {site};
}}
"""


class Nginx:
    """nginx in the foreground on ``127.0.0.1:port``, proxying to ``upstream_port``."""

    def __init__(self, tmp: Path, upstream_port: int, *, gzip: bool = False) -> None:
        assert NGINX is not None
        self.tmp = tmp
        (tmp / "temp").mkdir(parents=True)
        (tmp / "logs").mkdir()
        self.port = free_port()
        site = tmp / "renderer.conf"
        site.write_text(site_config(upstream_port, self.port, gzip=gzip))
        self.conf = tmp / "nginx.conf"
        self.conf.write_text(main_config(tmp, site))
        # -e: the startup error log, before the config's own is read (nginx >= 1.19.5).
        self.argv = [NGINX, "-p", str(tmp), "-c", str(self.conf), "-e", str(tmp / "error.log")]
        check = subprocess.run([*self.argv, "-t"], capture_output=True, text=True, timeout=TIMEOUT)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_listening()

    def _wait_listening(self) -> None:
        for _ in range(int(TIMEOUT / 0.02)):
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError(f"nginx did not listen: {self.log()}")

    def log(self) -> str:
        path = self.tmp / "error.log"
        return path.read_text(errors="replace") if path.exists() else "(no error log)"

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish open requests
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def control() -> ControlledSource:
    # Every answer stops after its first token until the test releases it.
    return ControlledSource(pause_at=1)


@pytest.fixture
def server(control: ControlledSource) -> Iterator[ServerThread]:
    with ServerThread(Config(token_delay=0), sources={"controlled": control}, interval=0) as live:
        yield live


def proxy(tmp_path: Path, server: ServerThread, *, gzip: bool = False) -> Iterator[Nginx]:
    nginx = Nginx(tmp_path / ("nginx-gzip" if gzip else "nginx"), server.port, gzip=gzip)
    try:
        yield nginx
    finally:
        nginx.stop()
    assert "[alert]" not in nginx.log() and "[emerg]" not in nginx.log(), nginx.log()


@pytest.fixture
def nginx(tmp_path: Path, server: ServerThread) -> Iterator[Nginx]:
    yield from proxy(tmp_path, server)


@pytest.fixture
def gzip_nginx(tmp_path: Path, server: ServerThread) -> Iterator[Nginx]:
    yield from proxy(tmp_path, server, gzip=True)


async def start_answer(nginx: Nginx) -> str:
    response = await fetch(
        nginx.url("/api/chat"), "POST", body=json.dumps({"message": MESSAGE, "source": "controlled"})
    )
    assert response.code == 201, (response.code, response.body, response.headers)
    return json.loads(response.body)["id"]  # type: ignore[no-any-return]


async def next_events(response: RawResponse, parser: SSEParser, timeout: float = TIMEOUT) -> list[SSEEvent]:
    """Read until at least one event (comments and ``retry`` alone are none)."""
    while True:
        chunk = await response.read_chunk(timeout)
        if not chunk:
            return parser.close()
        events = parser.feed(chunk)
        if events:
            return events


async def rest(response: RawResponse, parser: SSEParser) -> list[SSEEvent]:
    events: list[SSEEvent] = []
    while True:
        chunk = await response.read_chunk()
        if not chunk:
            return events + parser.close()
        events += parser.feed(chunk)


def test_the_first_event_comes_through_nginx_before_the_answer_completes(
    server: ServerThread, control: ControlledSource, nginx: Nginx
) -> None:
    async def test() -> None:
        stream_id = await start_answer(nginx)
        response = await RawResponse.open(
            nginx.port, "GET", f"/api/streams/{stream_id}/events", headers={"Accept-Encoding": "gzip, br"}
        )
        try:
            assert response.status == 200, (response.status, await response.body())
            assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
            assert "Content-Encoding" not in response.headers
            assert response.headers.get("X-Accel-Buffering") == "no"
            parser = SSEParser()
            first = await next_events(response, parser)
            assert first and first[0].data
            # The answer is still waiting on the test: the event was not
            # held back until the end of the response.
            answer = control.answers[-1]
            assert await server.acall(lambda: answer.paused.is_set() and not answer.finished.is_set())
            await server.acall(control.release_all)
            events = first + await rest(response, parser)
        finally:
            await response.close()
        assert events[-1].event == "done" and json.loads(events[-1].data) == {"reason": "complete"}
        assert assemble([event.as_dict() for event in events]) == render_markdown(MESSAGE)

    run(test())


def test_the_chat_post_streams_its_answer_through_nginx(
    server: ServerThread, control: ControlledSource, nginx: Nginx
) -> None:
    async def test() -> None:
        body = json.dumps({"message": MESSAGE, "source": "controlled"}).encode()
        response = await RawResponse.open(
            nginx.port,
            "POST",
            "/api/chat",
            body=body,
            headers={"Accept": "text/event-stream", "Content-Type": "application/json", "Accept-Encoding": "gzip"},
        )
        try:
            assert response.status == 200
            assert "Content-Encoding" not in response.headers
            assert response.headers.get("X-Accel-Buffering") == "no"
            parser = SSEParser()
            first = await next_events(response, parser)
            assert await server.acall(lambda: not control.answers[-1].finished.is_set())
            await server.acall(control.release_all)
            events = first + await rest(response, parser)
        finally:
            await response.close()
        assert assemble([event.as_dict() for event in events]) == render_markdown(MESSAGE)

    run(test())


def test_ndjson_and_websocket_through_nginx(server: ServerThread, control: ControlledSource, nginx: Nginx) -> None:
    async def test() -> None:
        stream_id = await start_answer(nginx)
        # NDJSON: the first line before the answer goes on, uncompressed.
        response = await RawResponse.open(
            nginx.port, "GET", f"/api/streams/{stream_id}/ndjson", headers={"Accept-Encoding": "gzip"}
        )
        try:
            assert response.status == 200
            assert "Content-Encoding" not in response.headers
            assert response.headers.get("X-Accel-Buffering") == "no"
            data = b""
            while b"\n" not in data:
                data = (data + await response.read_chunk()).lstrip(b"\n")  # a heartbeat is a bare newline
            assert json.loads(data.split(b"\n")[0])["data"]
        finally:
            await response.close()
        # WebSocket: the upgrade goes through; the live answer arrives whole.
        connection = await websocket.websocket_connect(nginx.url(f"/api/streams/{stream_id}/ws", "ws"))
        try:
            first = await asyncio.wait_for(connection.read_message(), TIMEOUT)
            assert first is not None
            await server.acall(control.release_all)
            messages = [json.loads(first)]
            while (message := await asyncio.wait_for(connection.read_message(), TIMEOUT)) is not None:
                messages.append(json.loads(message))
        finally:
            connection.close()
        assert messages[-1]["event"] == "done"
        assert assemble(messages) == render_markdown(MESSAGE)

    run(test())


def test_control_a_buffering_proxy_holds_the_first_event_back(
    server: ServerThread, control: ControlledSource, gzip_nginx: Nginx
) -> None:
    """The first test's check can fail: with the site's ``gzip off`` turned
    on and proxy buffering on (the renderer's X-Accel-Buffering ignored),
    nothing of the response arrives while the answer waits, and all of it,
    compressed, once the answer ends."""
    stream_id = ""  # set by test(), read by first_events()

    async def first_events() -> tuple[RawResponse, zlib._Decompress, SSEParser, list[SSEEvent]]:
        response = await RawResponse.open(
            gzip_nginx.port, "GET", f"/api/streams/{stream_id}/events", headers={"Accept-Encoding": "gzip"}
        )
        assert response.status == 200
        assert response.headers.get("Content-Encoding") == "gzip"
        decompress, parser = zlib.decompressobj(wbits=31), SSEParser()
        while True:
            chunk = await response.read_chunk()
            events = parser.feed(decompress.decompress(chunk) + (b"" if chunk else decompress.flush()))
            if events or not chunk:
                return response, decompress, parser, events

    async def test() -> None:
        nonlocal stream_id
        stream_id = await start_answer(gzip_nginx)
        await server.acall(lambda: control.answers[-1].wait_paused())
        reading = asyncio.ensure_future(first_events())
        await asyncio.sleep(1.0)
        assert not reading.done(), "an event came through while the answer waited"
        await server.acall(control.release_all)
        response, decompress, parser, events = await asyncio.wait_for(reading, TIMEOUT)
        try:
            rest = await response.body()
        finally:
            await response.close()
        events += parser.feed(decompress.decompress(rest) + decompress.flush()) + parser.close()
        assert assemble([event.as_dict() for event in events]) == render_markdown(MESSAGE)

    run(test())


def _post_from(source: str, port: int, headers: dict[str, str]) -> int:
    """A chat POST to nginx from ``source`` (a loopback address); its status."""
    body = json.dumps({"message": MESSAGE, "source": "controlled"}).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{head}\r\n"
    ).encode() + body
    with socket.socket() as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(request)
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_behind_nginx_each_client_has_its_own_limit_and_the_page_origin_may_post(
    tmp_path: Path, control: ControlledSource
) -> None:
    config = Config(token_delay=0, max_streams_per_client=1, trusted_proxy="127.0.0.1")
    with ServerThread(config, sources={"controlled": control}, interval=0) as server:
        for nginx in proxy(tmp_path, server):
            origin = {"Origin": f"http://127.0.0.1:{nginx.port}"}  # the page's own origin, through nginx
            assert _post_from("127.0.0.1", nginx.port, origin) == 201
            assert _post_from("127.0.0.1", nginx.port, origin) == 429  # this client's one answer is live
            assert _post_from("127.0.0.2", nginx.port, origin) == 201  # another client is not locked out
            forged = {**origin, "X-Forwarded-For": "203.0.113.9"}  # nginx appends the real address
            assert _post_from("127.0.0.2", nginx.port, forged) == 429
            assert _post_from("127.0.0.3", nginx.port, {"Origin": "http://evil.example"}) == 403
            server.call(control.release_all)

"""Who may call, and what every answer carries (the "safe to put on the
internet" findings, over HTTP; the browser's side is in
test_security_browser.py, connections in test_connections.py, Redis in
test_security_redis.py).

Cross-site: POSTs from a foreign origin are 403, bodies that are not JSON
415, WebSocket upgrades from a foreign origin 403.  Authentication: off by
default; with tokens (or a hook) every API request names a principal, and a
stream is 404 to anyone but its owner.  Headers: every HTML response (static
files too) has the page CSP, nosniff, no-referrer; API answers are
``no-store``; ``Server`` names no version.  Edges: client WebSocket frames
ignored, deep JSON 400, a NUL in a static path 404 JSON, a chunked body past
the limit 413 JSON, a large body written before reading still reads its 413.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_fixtures import TIMEOUT, ControlledSource, ServerThread, fetch, read_sse, run
from tornado import httpclient, httputil, websocket

from renderer.server.access import Access, ExposureError, check_exposure
from renderer.server.config import Config
from renderer.server.handlers import PAGE_CSP
from renderer.server.state import default_sources

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Config(token_delay=0, heartbeat=5, max_body=4096, allowed_origin="https://app.example")
FOREIGN = "http://evil.example:8000"


@pytest.fixture(scope="module")
def gate() -> ControlledSource:
    return ControlledSource()


@pytest.fixture(scope="module")
def server(gate: ControlledSource) -> Iterator[ServerThread]:
    sources = {**default_sources(CONFIG), "gated": gate}
    with ServerThread(CONFIG, sources=sources) as running:
        yield running


def chat_body(message: str = "hello", source: str = "echo") -> str:
    return json.dumps({"message": message, "source": source})


async def start(server: ServerThread, headers: dict[str, str] | None = None, source: str = "gated") -> str:
    response = await fetch(server.url("/api/chat"), "POST", body=chat_body(source=source), headers=headers)
    assert response.code == 201, (response.code, response.body)
    return str(json.loads(response.body)["id"])


# --- cross-site refusal -----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"Origin": FOREIGN, "Content-Type": "text/plain"}, 403, id="form-text-plain-foreign-origin"),
        pytest.param({"Origin": FOREIGN, "Content-Type": "application/json"}, 403, id="json-foreign-origin"),
        pytest.param({"Origin": "null", "Content-Type": "application/json"}, 403, id="opaque-origin-null"),
        pytest.param({"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}, 403, id="no-cors-cross-site"),
        pytest.param(
            {"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, 403, id="same-site-subdomain"
        ),
        pytest.param({"Content-Type": "text/plain"}, 415, id="text-plain-no-origin"),
        pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, 415, id="urlencoded-form"),
        pytest.param({"Content-Type": "multipart/form-data; boundary=x"}, 415, id="multipart-form"),
        pytest.param({"Origin": "https://app.example", "Content-Type": "application/json"}, 201, id="allowed-origin"),
        pytest.param({"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}, 201, id="same-origin"),
        pytest.param({"Content-Type": "application/json; charset=utf-8"}, 201, id="no-browser-json"),
    ],
)
def test_a_post_to_start_an_answer_is_judged_by_its_origin_and_content_type(
    server: ServerThread, headers: dict[str, str], status: int
) -> None:
    response = run(fetch(server.url("/api/chat"), "POST", body=chat_body(), headers=headers))
    assert response.code == status, response.body
    if status != 201:
        assert "error" in json.loads(response.body)


def test_the_servers_own_origin_may_post(server: ServerThread) -> None:
    headers = {"Origin": server.origin, "Content-Type": "application/json"}
    assert run(fetch(server.url("/api/chat"), "POST", body=chat_body(), headers=headers)).code == 201


def test_a_foreign_page_cannot_cancel_an_answer(server: ServerThread, gate: ControlledSource) -> None:
    async def test() -> None:
        stream_id = await start(server)
        url = server.url(f"/api/streams/{stream_id}/cancel")
        refused = await fetch(url, "POST", body=b"", headers={"Origin": FOREIGN})
        assert refused.code == 403
        refused = await fetch(url, "POST", body=b"", headers={"Sec-Fetch-Site": "cross-site"})
        assert refused.code == 403
        poll = json.loads((await fetch(server.url(f"/api/streams/{stream_id}/poll"))).body)
        assert not poll["done"], "the refused cancel stopped the answer"
        accepted = await fetch(url, "POST", body=b"", headers={"Origin": server.origin})
        assert accepted.code == 202

    run(test())


def test_a_foreign_page_cannot_use_the_sanitize_api(server: ServerThread) -> None:
    body = json.dumps({"html": "<b>x</b>"})
    assert run(fetch(server.url("/api/sanitize"), "POST", body=body, headers={"Origin": FOREIGN})).code == 403
    plain = {"Content-Type": "text/plain"}
    assert run(fetch(server.url("/api/sanitize"), "POST", body=body, headers=plain)).code == 415
    assert run(fetch(server.url("/api/sanitize"), "POST", body=body)).code == 200


def ws_request(server: ServerThread, stream_id: str, headers: dict[str, str]) -> httpclient.HTTPRequest:
    return httpclient.HTTPRequest(server.url(f"/api/streams/{stream_id}/ws", "ws"), headers=headers)


UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


async def refused_upgrade(server: ServerThread, stream_id: str, headers: dict[str, str]) -> int:
    """The status of an upgrade the server refuses (as a plain request: a
    refused WebSocket client would leave an unraisable warning behind)."""
    response = await fetch(server.url(f"/api/streams/{stream_id}/ws"), headers={**UPGRADE, **headers})
    return response.code


def test_a_websocket_upgrade_from_a_foreign_origin_is_refused(server: ServerThread) -> None:
    async def test() -> None:
        stream_id = await start(server, source="echo")
        assert await refused_upgrade(server, stream_id, {"Origin": FOREIGN}) == 403
        assert await refused_upgrade(server, stream_id, {"Origin": "null"}) == 403
        for headers in ({"Origin": server.origin}, {"Origin": "https://app.example"}, {}):
            connection = await websocket.websocket_connect(ws_request(server, stream_id, headers))
            messages = []
            while (message := await asyncio.wait_for(connection.read_message(), TIMEOUT)) is not None:
                messages.append(json.loads(message))
            connection.close()
            assert messages[-1]["event"] == "done"

    run(test())


# --- client addresses -------------------------------------------------------------


def request(peer: str, forwarded: str | None = None) -> httputil.HTTPServerRequest:
    headers = httputil.HTTPHeaders({"Host": "x", **({"X-Forwarded-For": forwarded} if forwarded else {})})
    req = httputil.HTTPServerRequest(start_line=httputil.RequestStartLine("GET", "/", "HTTP/1.1"), headers=headers)
    req.remote_ip = peer
    return req


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        pytest.param("", "198.51.100.7", "203.0.113.5", "198.51.100.7", id="no-trusted-proxy-header-ignored"),
        pytest.param("127.0.0.1", "198.51.100.7", "203.0.113.5", "198.51.100.7", id="untrusted-peer-ignored"),
        pytest.param("127.0.0.1", "127.0.0.1", "203.0.113.5", "203.0.113.5", id="trusted-proxy"),
        pytest.param("127.0.0.1", "127.0.0.1", "1.2.3.4, 203.0.113.5", "203.0.113.5", id="spoofed-first-hop"),
        pytest.param("10.0.0.0/8", "10.0.0.2", "203.0.113.5, 10.0.0.9", "203.0.113.5", id="two-trusted-hops"),
        pytest.param("127.0.0.1", "127.0.0.1", "not-an-ip", "127.0.0.1", id="garbage"),
        pytest.param("127.0.0.1", "127.0.0.1", None, "127.0.0.1", id="no-header"),
    ],
)
def test_the_client_address_comes_from_x_forwarded_for_only_through_trusted_proxies(
    trusted: str, peer: str, forwarded: str | None, client: str
) -> None:
    access = Access(Config(trusted_proxy=trusted))
    assert access.client_address(request(peer, forwarded)) == client


def test_behind_a_trusted_proxy_one_clients_answers_do_not_lock_out_another() -> None:
    config = Config(token_delay=0, max_streams_per_client=2, trusted_proxy="127.0.0.1")
    gate = ControlledSource()
    with ServerThread(config, sources={**default_sources(config), "gated": gate}) as server:

        async def test() -> None:
            alice = {"X-Forwarded-For": "203.0.113.5"}
            await start(server, alice)
            await start(server, alice)
            over = await fetch(server.url("/api/chat"), "POST", body=chat_body(source="gated"), headers=alice)
            assert over.code == 429
            await start(server, {"X-Forwarded-For": "203.0.113.6"})  # another client behind the same proxy
            await server.acall(gate.release_all)

        run(test())


def test_without_a_trusted_proxy_a_forged_x_forwarded_for_does_not_escape_the_limit() -> None:
    config = Config(token_delay=0, max_streams_per_client=1)
    gate = ControlledSource()
    with ServerThread(config, sources={**default_sources(config), "gated": gate}) as server:

        async def test() -> None:
            await start(server, {"X-Forwarded-For": "203.0.113.5"})
            forged = {"X-Forwarded-For": "203.0.113.99"}
            over = await fetch(server.url("/api/chat"), "POST", body=chat_body(source="gated"), headers=forged)
            assert over.code == 429
            await server.acall(gate.release_all)

        run(test())


# --- authentication -----------------------------------------------------------------

TOKENS = "alice-token-0123456789,bob-token-9876543210"
ALICE = {"Authorization": "Bearer alice-token-0123456789"}
BOB = {"Authorization": "Bearer bob-token-9876543210"}


@pytest.fixture(scope="module")
def authenticated() -> Iterator[ServerThread]:
    config = Config(token_delay=0, auth_tokens=TOKENS)
    with ServerThread(config) as running:
        yield running


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong-token"),
        pytest.param({"Authorization": "Basic YWxpY2U6eA=="}, id="basic"),
        pytest.param({"Authorization": "Bearer "}, id="empty"),
    ],
)
def test_with_tokens_on_an_api_request_without_a_valid_one_is_401(
    authenticated: ServerThread, headers: dict[str, str]
) -> None:
    response = run(fetch(authenticated.url("/api/chat"), "POST", body=chat_body(), headers=headers))
    assert response.code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(response.body) == {"error": "authentication required"}
    assert run(fetch(authenticated.url("/metrics"), headers=headers)).code == 401


def test_with_tokens_on_the_page_and_health_stay_public(authenticated: ServerThread) -> None:
    assert run(fetch(authenticated.url("/"))).code == 200
    assert run(fetch(authenticated.url("/healthz"))).code == 200
    assert run(fetch(authenticated.url("/static/chat.js"))).code == 200


def test_an_answer_belongs_to_who_started_it_anyone_else_gets_404(authenticated: ServerThread) -> None:
    async def test() -> None:
        response = await fetch(authenticated.url("/api/chat"), "POST", body=chat_body(), headers=ALICE)
        assert response.code == 201
        stream_id = json.loads(response.body)["id"]
        base = f"/api/streams/{stream_id}"
        for path in ("/events", "/ndjson", "/poll"):
            assert (await fetch(authenticated.url(base + path), headers=BOB)).code == 404, path
            assert (await fetch(authenticated.url(base + path))).code == 401, path
        assert (await fetch(authenticated.url(base + "/cancel"), "POST", body=b"", headers=BOB)).code == 404
        assert await refused_upgrade(authenticated, stream_id, BOB) == 404
        assert await refused_upgrade(authenticated, stream_id, {}) == 401
        unknown = await fetch(authenticated.url("/api/streams/AAAAAAAAAAAAAAAA/poll"), headers=BOB)
        assert (
            unknown.code == 404 and unknown.body == (await fetch(authenticated.url(base + "/poll"), headers=BOB)).body
        )
        mine = await fetch(authenticated.url(base + "/poll?wait=5"), headers=ALICE)
        assert mine.code == 200
        connection = await websocket.websocket_connect(ws_request(authenticated, stream_id, ALICE))
        while await asyncio.wait_for(connection.read_message(), TIMEOUT) is not None:
            pass  # the whole (finished) answer, then the server closes: no socket left behind
        connection.close()

    run(test())


def test_an_applications_own_check_a_session_cookie_is_the_principal() -> None:
    sessions = {"s1": "user-1", "s2": "user-2"}

    def by_cookie(req: httputil.HTTPServerRequest) -> str | None:
        cookie = req.cookies.get("session")
        return sessions.get(cookie.value) if cookie else None

    with ServerThread(Config(token_delay=0), authenticator=by_cookie) as server:

        async def test() -> None:
            assert (await fetch(server.url("/api/chat"), "POST", body=chat_body())).code == 401
            one = {"Cookie": "session=s1"}
            response = await fetch(server.url("/api/chat"), "POST", body=chat_body(), headers=one)
            assert response.code == 201
            stream_id = json.loads(response.body)["id"]
            poll = f"/api/streams/{stream_id}/poll"
            assert (await fetch(server.url(poll), headers={"Cookie": "session=s2"})).code == 404
            assert (await fetch(server.url(poll), headers=one)).code == 200

        run(test())


@pytest.mark.parametrize(
    ("config", "refused"),
    [
        pytest.param(Config(host="0.0.0.0"), True, id="any-address-no-auth"),
        pytest.param(Config(host="192.0.2.10"), True, id="public-address-no-auth"),
        pytest.param(Config(host="::"), True, id="ipv6-any-no-auth"),
        pytest.param(Config(host="127.0.0.1"), False, id="loopback"),
        pytest.param(Config(host="::1"), False, id="ipv6-loopback"),
        pytest.param(Config(host="localhost"), False, id="localhost"),
        pytest.param(Config(host="0.0.0.0", auth_tokens="t0123456789"), False, id="tokens"),
        pytest.param(Config(host="0.0.0.0", allow_unauthenticated=True), False, id="told-explicitly"),
    ],
)
def test_the_server_refuses_to_listen_beyond_loopback_without_authentication(config: Config, refused: bool) -> None:
    if refused:
        with pytest.raises(ExposureError):
            check_exposure(config)
    else:
        check_exposure(config)


def test_serve_on_a_public_address_without_authentication_exits_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "renderer", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "no authentication" in result.stderr and result.stderr.count("\n") == 1, result.stderr


# --- headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/sanitize", "/static/index.html", "/static/sanitize.html", "/static/"],
)
def test_every_html_response_static_included_has_the_page_headers(server: ServerThread, path: str) -> None:
    response = run(fetch(server.url(path)))
    if path == "/static/":
        assert response.code == 403 or response.code == 404
        return
    assert response.code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", ["/static/chat.js", "/static/style.css", "/static/allowlist.js"])
def test_static_scripts_and_styles_are_nosniff(server: ServerThread, path: str) -> None:
    response = run(fetch(server.url(path)))
    assert response.code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Server"] == "renderer"


def test_api_answers_are_no_store_and_name_no_server_version(server: ServerThread) -> None:
    async def test() -> list[httpclient.HTTPResponse]:
        created = await fetch(server.url("/api/chat"), "POST", body=chat_body())
        stream_id = json.loads(created.body)["id"]
        return [
            created,
            await fetch(server.url(f"/api/streams/{stream_id}/poll")),
            await fetch(server.url("/api/sanitize"), "POST", body=json.dumps({"html": "<b>x</b>"})),
            await fetch(server.url("/healthz")),
            await fetch(server.url("/metrics")),
            await fetch(server.url("/api/streams/nope/poll")),
            await fetch(server.url("/nowhere")),
        ]

    for response in run(test()):
        assert response.headers["Cache-Control"] == "no-store", response.effective_url
        assert response.headers["Server"] == "renderer", response.effective_url
        assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- edges ----------------------------------------------------------------------------------


def test_a_client_text_frame_on_the_websocket_is_ignored(
    server: ServerThread, gate: ControlledSource, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> list[dict[str, Any]]:
        stream_id = await start(server)
        connection = await websocket.websocket_connect(ws_request(server, stream_id, {}))
        await connection.write_message("hello server")
        await connection.write_message(b"\x00\x01", binary=True)
        await server.acall(gate.release_all)
        messages = []
        while (message := await asyncio.wait_for(connection.read_message(), TIMEOUT)) is not None:
            messages.append(json.loads(message))
        connection.close()
        return messages

    messages = run(test())
    assert messages[-1]["event"] == "done" and json.loads(messages[-1]["data"])["reason"] == "complete"
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


def test_a_conversation_belongs_to_who_started_it_anyone_else_gets_404(authenticated: ServerThread) -> None:
    async def test() -> None:
        body = json.dumps({"conversation": None, "message": "hello", "source": "echo"})
        response = await fetch(authenticated.url("/api/chat"), "POST", body=body, headers=ALICE)
        assert response.code == 201, response.body
        conversation = json.loads(response.body)["conversation"]
        await read_sse(authenticated.port, json.loads(response.body)["events"], headers=ALICE)
        path = f"/api/conversations/{conversation}"
        assert (await fetch(authenticated.url(path), headers=ALICE)).code == 200
        assert (await fetch(authenticated.url(path), headers=BOB)).code == 404
        follow_up = json.dumps({"conversation": conversation, "message": "again", "source": "echo"})
        refused = await fetch(authenticated.url("/api/chat"), "POST", body=follow_up, headers=BOB)
        assert refused.code == 404 and json.loads(refused.body) == {"error": "unknown conversation"}

    run(test())


@pytest.mark.parametrize("path", ["/api/chat", "/api/sanitize"])
def test_json_nested_100000_deep_is_a_400(server: ServerThread, path: str, caplog: pytest.LogCaptureFixture) -> None:
    config = Config(token_delay=0, max_body=1_000_000)
    with ServerThread(config) as big:
        response = run(fetch(big.url(path), "POST", body="[" * 100_000 + "]" * 100_000))
    assert response.code == 400
    assert json.loads(response.body) == {"error": "the body is nested too deeply"}
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("path", ["/static/%00", "/static/index.html%00", "/static/a%00b/c.js"])
def test_a_nul_in_a_static_path_is_a_json_404(server: ServerThread, path: str) -> None:
    response = run(fetch(server.url(path)))
    assert response.code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.body) == {"error": "not found"}


def _raw_exchange(port: int, head: bytes, body: bytes, *, chunk: int = 65536) -> bytes:
    """Send ``head`` and all of ``body`` before reading anything, then read
    the whole answer (what a naive client does: ``requests`` posting a file);
    a reset while sending fails as it would fail that client."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(head)
        for start in range(0, len(body), chunk):
            try:
                sock.sendall(body[start : start + chunk])
            except (BrokenPipeError, ConnectionResetError) as error:
                raise AssertionError(f"{error!r} after sending {start} bytes of the body") from None
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                raise AssertionError(f"connection reset; received so far: {received!r}") from None
            if not data:
                return received
            received += data


def test_a_client_that_writes_a_large_body_before_reading_reads_the_413(server: ServerThread) -> None:
    size = 10 * 1024 * 1024
    head = (
        f"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode()
    answer = _raw_exchange(server.port, head, b" " * size)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'{"error": "the body is larger than 4096 bytes"}' in answer


def test_a_chunked_body_past_every_limit_is_a_json_413(server: ServerThread) -> None:
    piece = b" " * 65536
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    body = chunk * 80 + b"0\r\n\r\n"  # 5 MiB: past max_body and past Tornado's own bound (16 x max_body)
    head = b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = _raw_exchange(server.port, head, body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/json" in answer and b"the body is larger than 4096 bytes" in answer


def test_headers_over_64_kib_get_a_431_not_a_bare_close(server: ServerThread) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-Big-%d: %s\r\n" % (n, b"a" * 1000) for n in range(70))
    answer = _raw_exchange(server.port, head + b"\r\n", b"")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert answer.endswith(b'{"error": "the request headers are too large"}')


def test_the_app_still_serves_after_the_edges(server: ServerThread) -> None:
    assert run(fetch(server.url("/healthz"))).code == 200

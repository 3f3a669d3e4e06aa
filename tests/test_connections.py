"""The hardened HTTP server (``renderer.server.connections``): half-sent
headers time out, one address cannot hold more than its share of
connections, and running out of file descriptors neither spins nor floods
the log; the server keeps answering everyone else.

The attacker connects from 127.0.0.2 and the victim from 127.0.0.1 (both
loopback on Linux), so the per-address cap tells them apart.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from serve_process import Served
from server_fixtures import TIMEOUT, ControlledSource, ServerThread, fetch, post_chat, run

from renderer.server.config import Config
from renderer.server.state import default_sources

ATTACKER = "127.0.0.2"
HALF_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "


def attacker_socket(port: int, payload: bytes = HALF_HEAD) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(TIMEOUT)
    sock.bind((ATTACKER, 0))
    sock.connect(("127.0.0.1", port))
    if payload:
        sock.sendall(payload)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (waits up to TIMEOUT for it)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def healthz(port: int) -> int:
    """The victim's request, from 127.0.0.1 (a fresh connection)."""
    return int(run(fetch(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT)).code)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def test_slow_headers_from_one_address_do_not_lock_out_others_under_a_low_descriptor_limit(
    sockets: list[socket.socket],
) -> None:
    served = Served("--max-connections-per-client", "64", nofile=256)
    try:
        for _ in range(600):  # more than the server has file descriptors
            sockets.append(attacker_socket(served.port))
        assert healthz(served.port) == 200
        assert healthz(served.port) == 200
        # The ones over the cap were closed at once; the capped ones wait on their headers.
        closed = sum(closed_by_server(sock) for sock in sockets[-10:])
        assert closed == 10
    finally:
        for sock in sockets:
            sock.close()
        stderr = served.stop()
    assert "Traceback" not in stderr and "Too many open files" not in stderr, stderr[-2000:]


def test_out_of_descriptors_the_server_pauses_accepting_logs_once_and_recovers(sockets: list[socket.socket]) -> None:
    served = Served("--max-connections-per-client", "0", "--header-timeout", "120", nofile=96)
    try:
        for _ in range(200):
            sockets.append(attacker_socket(served.port))
        served.wait_for_line(lambda line: "cannot accept connections" in line)
        for sock in sockets:
            sock.close()
        sockets.clear()
        assert healthz(served.port) == 200
    finally:
        stderr = served.stop()
    assert "Traceback" not in stderr, stderr[-2000:]
    assert stderr.count("cannot accept connections") <= 3, stderr[-2000:]  # one line per 10 s, not one per attempt


def test_half_sent_headers_are_dropped_after_the_header_timeout(sockets: list[socket.socket]) -> None:
    assert Config().header_timeout <= 30
    with ServerThread(Config(token_delay=0, header_timeout=0.5)) as server:
        slow = attacker_socket(server.port)
        sockets.append(slow)
        idle = attacker_socket(server.port, b"")
        sockets.append(idle)
        assert closed_by_server(slow)
        assert closed_by_server(idle)
        assert run(fetch(server.url("/healthz"))).code == 200


def test_one_address_gets_at_most_its_cap_of_connections(sockets: list[socket.socket]) -> None:
    with ServerThread(Config(token_delay=0, max_connections_per_client=4)) as server:
        for _ in range(4):
            sockets.append(attacker_socket(server.port))
        run(server.until(lambda: server.server is not None and server.server.open_per_address[ATTACKER] == 4, "4"))
        over = attacker_socket(server.port)
        sockets.append(over)
        assert closed_by_server(over)
        assert run(fetch(server.url("/healthz"))).code == 200  # another address
        sockets[0].close()
        run(server.until(lambda: server.server is not None and server.server.open_per_address[ATTACKER] == 3, "3"))
        again = attacker_socket(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sockets.append(again)
        assert again.recv(4096).startswith(b"HTTP/1.1 200")


def test_trusted_proxies_are_exempt_from_the_cap(sockets: list[socket.socket]) -> None:
    config = Config(token_delay=0, max_connections_per_client=2, trusted_proxy=ATTACKER)
    with ServerThread(config) as server:
        for _ in range(5):
            sockets.append(attacker_socket(server.port, b""))
        probe = attacker_socket(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sockets.append(probe)
        assert probe.recv(4096).startswith(b"HTTP/1.1 200")


def test_websockets_count_against_the_cap_until_they_close(sockets: list[socket.socket]) -> None:
    gate = ControlledSource()
    config = Config(token_delay=0, max_connections_per_client=2)
    with ServerThread(config, sources={**default_sources(config), "gated": gate}) as server:
        stream_id = run(post_chat(server, "hello", source="gated"))
        upgrade = (
            f"GET /api/streams/{stream_id}/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        for _ in range(2):
            ws = attacker_socket(server.port, upgrade)
            sockets.append(ws)
            assert ws.recv(4096).startswith(b"HTTP/1.1 101")
        over = attacker_socket(server.port, upgrade)
        sockets.append(over)
        assert closed_by_server(over)
        sockets[0].close()
        run(server.until(lambda: server.server is not None and server.server.open_per_address[ATTACKER] == 1, "1"))
        again = attacker_socket(server.port, upgrade)
        sockets.append(again)
        assert again.recv(4096).startswith(b"HTTP/1.1 101")
        run(server.acall(gate.release_all))

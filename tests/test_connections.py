"""The hardened HTTP server (``renderer.server.connections``): half-sent
headers time out, one address cannot hold more than its share of
connections, and running out of file descriptors neither spins nor floods
the log; the server keeps answering everyone else.

The attacker connects from 127.0.0.2 and the victim from 127.0.0.1 (both
loopback on Linux), so the per-address cap tells them apart.
"""

from __future__ import annotations

import os
import queue
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from server_fixtures import TIMEOUT, ServerThread, fetch, run

from renderer.server.config import Config

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
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


class Served:
    """``python -m renderer serve`` in a subprocess with a file-descriptor
    limit; its stderr read by a thread (every wait on it bounded)."""

    def __init__(self, *flags: str, nofile: int) -> None:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        argv = [sys.executable, "-m", "renderer", "serve", "--port", "0", "--token-delay", "0", *flags]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit
        )
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True)
        self._pump_thread.start()
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, (line, self.proc.stderr)
        self.port = int(match[1])

    def _pump(self, pipe: object, into: list[str]) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            into.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_for_line(self, predicate: Callable[[str], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(predicate(line) for line in self.stderr):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no such line in {self.stderr[-5:]}"
            try:
                if self._lines.get(timeout=remaining) is None:
                    raise AssertionError(f"the server exited: {self.stderr[-5:]}")
            except queue.Empty:
                pass

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(TIMEOUT)
        self._pump_thread.join(TIMEOUT)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()
        return "".join(self.stderr)


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

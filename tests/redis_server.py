"""A real ``redis-server`` on a free loopback port, for tests.

A helper module for tests, not a test.

``RedisServer`` starts the Debian ``redis-server`` with nothing saved to disk
(unless ``persist``: then an append-only file in a temporary directory, so a
restart keeps the data), waits until it answers ``PING``, and stops it.
``restart`` stops it and starts it again on the same port, which is how a
test simulates Redis going away mid-stream.  ``redis_server_or_skip`` skips
the calling test module when ``redis-server`` or the ``redis`` package is
missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType

import pytest

__all__ = ["REDIS_SERVER", "RedisServer", "free_port", "redis_server_or_skip"]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
STARTUP_TIMEOUT = 10.0


def free_port() -> int:
    """A port nobody listens on now (redis-server needs an explicit one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_server_or_skip() -> None:
    """Skip the calling module unless a real Redis can be started and used."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip("redis-server is not installed (Debian package redis-server)", allow_module_level=True)
    pytest.importorskip("redis", reason="the redis package is not installed")


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``with RedisServer() as server:`` -- a live Redis at ``server.url``."""

    def __init__(self, *, persist: bool = False) -> None:
        self.port = free_port()
        self.persist = persist
        self._dir = tempfile.TemporaryDirectory(prefix="redis-test-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self._dir.name]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _ping(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode} (port {self.port} taken?)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING in time")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        """Stop and start again on the same port (data kept only if ``persist``)."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._dir.cleanup()

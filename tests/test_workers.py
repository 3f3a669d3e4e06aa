"""``serve --workers N``: N processes on one port, graceful on SIGTERM.

Subprocess tests.  With the memory store the command line refuses N > 1
(readers could not find answers started by another worker); the process
supervision itself is checked through ``renderer.server.app.serve_workers`` with the
memory store (each answer read in the response that started it), and, when
the Redis store and ``redis-server`` are there, two workers on one Redis
serve answers end to end.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from server_fixtures import TIMEOUT, RawResponse, fetch, read_sse, run
from sse_client import SSEEvent, SSEParser

from renderer import assemble, render_markdown

pytestmark = pytest.mark.slow  # server processes started and stopped, signals, waits

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
MESSAGE = "Served by *one* of the workers.\n\n- a\n- b\n\nThe end.\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # type: ignore[no-any-return]


def test_more_than_one_worker_with_the_memory_store_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "renderer", "serve", "--workers", "2", "--store", "memory", "--port", str(free_port())],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("renderer: error: --workers > 1 needs") and "--store redis://" in lines[0]


def test_zero_workers_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "renderer", "serve", "--workers", "0"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr


READY = re.compile(r"renderer: worker (\d+) ready \(pid (\d+)\)")


class Workers:
    """A process serving with N workers; its output read by threads, so no
    wait on it is unbounded."""

    def __init__(self, argv: list[str], workers: int) -> None:
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.pids: dict[int, int] = {}  # worker number -> pid
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr, False), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        try:
            self._until(lambda: len(self.pids) >= workers and any("serving on" in line for line in self.stdout))
        except BaseException:
            self.kill()
            raise

    def _pump(self, pipe: IO[str], into: list[str], announce: bool) -> None:
        for line in pipe:
            into.append(line)
            if announce:
                self.lines.put(line)
        if announce:
            self.lines.put(None)

    def _until(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            remaining = deadline - time.monotonic()
            assert remaining > 0, (self.stdout, self.stderr)
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"exited: {self.stdout} {self.stderr}"
            for match in READY.finditer(line):
                self.pids[int(match[1])] = int(match[2])

    def wait_ready(self, number: int) -> int:
        """The pid of worker ``number`` once a new one says it is ready."""
        before = self.pids.get(number)
        self._until(lambda: self.pids.get(number) != before)
        return self.pids[number]

    def wait(self) -> tuple[int, str]:
        """The exit status and the whole stderr, once the process has ended."""
        status = self.proc.wait(TIMEOUT)
        self._close()
        return status, "".join(self.stderr)

    def _close(self) -> None:
        for thread in self._threads:
            thread.join(TIMEOUT)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def stop(self) -> tuple[int, str]:
        """SIGTERM to the parent: its exit status and its stderr."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait()

    def kill(self) -> None:
        for pid in self.pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def serve_workers_argv(port: int, workers: int) -> list[str]:
    """serve_workers itself, with the memory store (which the CLI refuses)."""
    code = (
        "import sys; from renderer.server.app import serve_workers; from renderer.server.config import Config; "
        f"sys.exit(serve_workers(Config(port={port}, source='echo', token_delay=0.01), {workers}))"
    )
    return [sys.executable, "-c", code]


async def chat_in_one_response(port: int, message: str) -> str:
    body = json.dumps({"message": message, "source": "echo"}).encode()
    sse = await read_sse(
        port,
        "/api/chat",
        method="POST",
        body=body,
        headers={"Accept": "text/event-stream", "Content-Type": "application/json"},
    )
    assert sse.status == 200 and sse.ended
    assert sse.events[-1].event == "done"
    return assemble(sse.dicts)


def test_workers_share_the_port_replace_a_killed_one_and_stop_on_sigterm() -> None:
    port = free_port()
    workers = Workers(serve_workers_argv(port, 2), 2)
    try:
        assert len(set(workers.pids.values())) == 2
        assert all(alive(pid) for pid in workers.pids.values())

        async def answers(count: int) -> None:
            got = await asyncio.gather(*(chat_in_one_response(port, f"{MESSAGE}\n{n}\n") for n in range(count)))
            assert got == [render_markdown(f"{MESSAGE}\n{n}\n") for n in range(count)]
            health = await fetch(f"http://127.0.0.1:{port}/healthz")
            assert health.code == 200

        run(answers(8))
        # A worker that dies is replaced; the port keeps serving meanwhile.
        killed = workers.pids[0]
        os.kill(killed, signal.SIGKILL)
        replacement = workers.wait_ready(0)
        assert replacement != killed and alive(replacement)
        run(answers(4))
        old = dict(workers.pids)
        status, stderr = workers.stop()
    except BaseException:
        workers.kill()
        raise
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert f"worker 0 (pid {killed}) was killed by signal 9; starting another" in stderr
    assert "worker 0: shutting down" in stderr and "worker 1: shutting down" in stderr
    assert not any(alive(pid) for pid in old.values())


def test_sigterm_lets_every_worker_end_its_open_streams() -> None:
    port = free_port()
    message = "\n\n".join(f"Sentence number {n} of an answer that takes a while." for n in range(300))
    workers = Workers(serve_workers_argv(port, 2), 2)
    try:

        async def follow(started: asyncio.Event) -> list[SSEEvent]:
            """POST with SSE: tell ``started`` at the first event, read to the end."""
            body = json.dumps({"message": message, "source": "echo"}).encode()
            response = await RawResponse.open(
                port,
                "POST",
                "/api/chat",
                body=body,
                headers={"Accept": "text/event-stream", "Content-Type": "application/json"},
            )
            try:
                assert response.status == 200
                parser, events = SSEParser(), []
                while chunk := await response.read_chunk():
                    events += parser.feed(chunk)
                    if events:
                        started.set()
                return events + parser.close()
            finally:
                await response.close()

        async def test() -> None:
            started = [asyncio.Event() for _ in range(6)]
            readers = [asyncio.ensure_future(follow(event)) for event in started]
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), TIMEOUT)
            workers.proc.send_signal(signal.SIGTERM)  # every answer is streaming now
            for events in await asyncio.gather(*readers):
                assert events[-1].event == "done", [e.event for e in events[-3:]]
                assert json.loads(events[-1].data)["reason"] in ("error", "cancelled")

        run(test())
        status, stderr = workers.wait()
    except BaseException:
        workers.kill()
        raise
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr


# -- on Redis ---------------------------------------------------------------------------


@pytest.mark.redis
def test_two_workers_on_redis_serve_answers_end_to_end(redis_url: str) -> None:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "renderer",
        "serve",
        "--workers",
        "2",
        "--store",
        redis_url,
        "--port",
        str(port),
        "--source",
        "echo",
        "--token-delay",
        "0.002",
    ]
    workers = Workers(argv, 2)
    try:

        async def test() -> None:
            for n in range(6):
                text = f"{MESSAGE}\nAnswer {n}.\n"
                response = await fetch(
                    f"http://127.0.0.1:{port}/api/chat", "POST", body=json.dumps({"message": text, "source": "echo"})
                )
                assert response.code == 201, response.body
                stream_id = json.loads(response.body)["id"]
                # Several readers: new connections, spread over the workers by the kernel.
                reads = await asyncio.gather(*(read_sse(port, f"/api/streams/{stream_id}/events") for _ in range(4)))
                for read in reads:
                    assert read.status == 200 and read.ended
                    assert assemble(read.dicts) == render_markdown(text)
            health = await fetch(f"http://127.0.0.1:{port}/healthz")
            assert health.code == 200, health.body

        run(test())
        status, stderr = workers.stop()
    except BaseException:
        workers.kill()
        raise
    assert status == 0, stderr
    assert "Traceback" not in stderr, stderr

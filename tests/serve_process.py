"""``python -m renderer serve`` in a subprocess, for tests that need a
real process: its own file-descriptor limit, several processes on one
Redis.  A helper module for tests, not a test."""

from __future__ import annotations

import os
import queue
import re
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from server_fixtures import TIMEOUT

__all__ = ["Served"]

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


class Served:
    """``python -m renderer serve`` in a subprocess with a file-descriptor
    limit; its stderr read by a thread (every wait on it bounded)."""

    def __init__(self, *flags: str, nofile: int | None = None) -> None:
        def limit() -> None:
            if nofile is not None:
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

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()

"""Capacity benchmark: N live answers at a model's pace, against a raw token relay.

    python bench/capacity.py [--answers 100,200,400] [--rate 50] [--workers N] [--smoke]

Each answer is about 2 KB of Markdown (the start of ``bench/answer.md``, cut
at a line, numbered so that each is its own), cut into tokens as the
``echo`` source cuts them, and streamed at ``--rate`` tokens/s; each has one
reader, which POSTs with ``Accept: text/event-stream`` and reads the answer
to its ``done`` event.  The N answers start spread over one second.  In one
run, the two sides take turns at each N (one being read at a time):

* this server: ``python -m renderer serve --source echo --token-delay
  1/rate`` (``--workers N``: N processes on a throwaway ``redis-server``),
  ``POST /api/chat``: rendered, sanitized, coalesced ops;
* the relay (``bench/_capacity_relay.py``): Starlette + sse-starlette on
  uvicorn with h11, one SSE event per token, rendering left to the browser
  (``--workers N``: N forked processes on one socket).

Printed for each N and side: the server's CPU (user+system of its process
tree, ``/proc``) per answer, the median and p99 stretch (an answer's time
from request to ``done`` over its ideal time, tokens / rate), the median
number of SSE events an answer's reader received (the relay: one per token;
this server: its coalesced ops, fewer as the load grows, see
``renderer/server/pacing.py``) and how many answers completed; then the ratio this server / relay of CPU per answer, and
the largest N of the list each side sustained at a p99 stretch under 1.10.
The machine is shared: read the ratios of a run, not its absolute numbers.
``--smoke`` checks that it runs: 5 answers of ~300 characters at 200 tokens/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from renderer.server.sources import tokens  # noqa: E402

HOST = "127.0.0.1"
GOAL = 1.10


def answers(count: int, size: int) -> list[str]:
    """``count`` distinct Markdown answers of about ``size`` characters."""
    text = (ROOT / "bench" / "answer.md").read_text()
    cut = text.rfind("\n", 0, size)
    body = text[: cut if cut > 0 else size] + "\n"
    return [f"Answer {n}.\n\n{body}" for n in range(count)]


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        stats[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, 0.0)
        todo += children.get(current, [])
    return total


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    path: str
    body: dict[str, str]

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):  # up to ~30 s
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode})")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def start_renderer(delay: float, workers: int, store: str) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "renderer", "serve", "--host", HOST, "--port", str(port)]
    command += ["--source", "echo", "--token-delay", str(delay), "--workers", str(workers), "--store", store]
    command += ["--max-streams", "100000", "--max-streams-per-client", "100000", "--max-connections-per-client", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    wait_ready(port, proc)
    return Server("renderer", proc, port, "/api/chat", {"source": "echo"})


def start_relay(delay: float, workers: int, texts: list[str]) -> Server:
    command = [sys.executable, str(ROOT / "bench" / "_capacity_relay.py"), str(delay), str(workers)]
    proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps([tokens(text) for text in texts]).encode())
    proc.stdin.close()
    words = proc.stdout.readline().split()
    if not words or words[0] != b"READY":
        raise RuntimeError(f"the relay did not start: {words!r}")
    return Server("relay", proc, int(words[1]), "/chat", {})


async def one_answer(server: Server, text: str, start_at: float, ideal: float) -> tuple[float, int] | None:
    """Wait until ``start_at``, POST, read to ``done``; the stretch and the
    number of SSE events received (None: failed)."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, start_at - loop.time()))
    body = json.dumps({"message": text, **server.body}).encode()
    head = (
        f"POST {server.path} HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    begin = loop.time()
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        writer.write(head + body)
        seen = b""
        events = 0
        for _ in range(1_000_000):
            chunk = await reader.read(65536)
            if not chunk:
                return None
            events += (seen[-1:] + chunk).count(b"\n\n")  # an event ends with a blank line
            seen = seen[-64:] + chunk
            found = seen.find(b"event: done")
            if found >= 0 and b"\n\n" in seen[found:]:
                return (loop.time() - begin) / ideal, events
        return None
    finally:
        writer.close()


async def run_load(
    server: Server, texts: list[str], ideals: list[float], timeout: float
) -> list[tuple[float, int] | None]:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    tasks = [
        asyncio.wait_for(one_answer(server, text, start + n / len(texts), ideal), timeout)
        for n, (text, ideal) in enumerate(zip(texts, ideals, strict=True))
    ]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return [None if isinstance(result, BaseException) else result for result in results]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", default="100,200,400", help="numbers of live answers, comma-separated")
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second of each answer")
    parser.add_argument("--size", type=int, default=2048, help="characters of Markdown per answer")
    parser.add_argument("--workers", type=int, default=1, help="processes of each server (>1: a Redis store)")
    parser.add_argument("--smoke", action="store_true", help="a small run: checks that the benchmark runs")
    args = parser.parse_args()
    if args.smoke:
        args.answers, args.rate, args.size = "5", 200.0, 600
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on the way out
    counts = [int(n) for n in args.answers.split(",")]
    delay = 1 / args.rate
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    texts = answers(max(counts), args.size)
    ideals = [len(tokens(text)) * delay for text in texts]
    redis: subprocess.Popen[bytes] | None = None
    store = "memory"
    if args.workers > 1:
        if shutil.which("redis-server") is None:
            raise SystemExit("--workers > 1 needs redis-server (the renderer's workers share a Redis store)")
        redis_port = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", HOST, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        wait_ready(redis_port, redis)
        store = f"redis://{HOST}:{redis_port}/0"
    print(
        f"$ python bench/capacity.py --answers {args.answers} --rate {args.rate:g} --size {args.size} --workers {args.workers}"
    )
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; {len(tokens(texts[0]))} tokens, "
        f"{len(texts[0].encode())} bytes per answer, ideal {ideals[0]:.1f} s"
    )
    servers = [start_renderer(delay, args.workers, store), start_relay(delay, args.workers, texts)]
    sustained: dict[str, int] = {server.name: 0 for server in servers}
    print(
        f"{'answers':>7} {'server':<9} {'CPU ms/answer':>13} {'p50 stretch':>11} {'p99 stretch':>11} "
        f"{'events/answer':>13} {'completed':>9}"
    )
    try:
        for count in counts:
            cpu: dict[str, float] = {}
            for server in servers:
                before = tree_cpu(server.proc.pid)
                results = asyncio.run(run_load(server, texts[:count], ideals[:count], 30 + 20 * max(ideals)))
                cpu[server.name] = (tree_cpu(server.proc.pid) - before) / count
                done = [result[0] for result in results if result is not None]
                events = [result[1] for result in results if result is not None]
                p50 = percentile(done, 0.5) if done else float("nan")
                p99 = percentile(done, 0.99) if done else float("nan")
                if len(done) == count and p99 < GOAL:
                    sustained[server.name] = max(sustained[server.name], count)
                print(
                    f"{count:>7} {server.name:<9} {cpu[server.name] * 1000:>13.1f} {p50:>11.2f} {p99:>11.2f} "
                    f"{percentile(events, 0.5) if events else 0:>13} {len(done):>5}/{count}"
                )
            ratio = cpu["renderer"] / cpu["relay"] if cpu["relay"] else float("nan")
            print(f"{count:>7} renderer / relay: {ratio:.2f}x CPU per answer (goal <= 1)")
    finally:
        for server in servers:
            server.stop()
        if redis is not None:
            redis.terminate()
            redis.wait()
    for name, count in sustained.items():
        print(f"largest N with p99 stretch under {GOAL:.2f} ({name}): {count or 'none of ' + args.answers}")


if __name__ == "__main__":
    main()

"""Delivery benchmark: SSE fan-out throughput and idle memory per connection.

    python bench/delivery.py [--readers 200] [--events 500] [--idle 5000] [--runs 3] [--profile] [--smoke]

Needs ``sse-starlette``, ``starlette`` and ``uvicorn`` (the ``bench`` extra)
for (a).  In one run, with every process on 127.0.0.1:

(a) Throughput.  The events are those of one answer: ``bench/answer.md`` fed
    to ``MarkdownStream(interval=0)`` in 4-character tokens, the first
    ``--events - 1`` ops (cycled if more are asked) and a final ``done``.
    Each server runs alone in its own process and serves the same list:

    * this server: ``make_app(Config(...))`` behind the same ``HTTPServer``
      settings as ``serve()``, with one stream pre-filled through the store's
      ``publish`` before readers connect.  Each op is published as a
      ``block`` (the memory store keeps only id'd events in its log, so a
      finished stream replays nothing else); every reader therefore gets
      the whole list from ``GET /api/streams/ID/events``, through the same
      handler loop that delivers live events;
    * sse-starlette on uvicorn (``bench/_sse_starlette_app.py``): an
      ``EventSourceResponse`` whose generator yields ``ServerSentEvent(data,
      event=..., id=...)`` for each item.

    Frames are the same bytes up to field order (``KiB/reader`` shows the
    body each reader got, chunk headers included).  Both servers start
    first; then runs alternate between them, only one server being read at
    a time, so that a neighbour's load on a shared machine hits both alike.
    Each run is a fresh client process (asyncio protocols, no HTTP library,
    so it stays cheaper than either server): it opens ``--readers``
    connections, then sends every GET and counts ``id:`` lines until each
    reader has its ``done``; a reader short of events fails the run.

    events/s      readers * events / (first GET to the last ``done``), best run
    events/CPU-s  readers * events / the server's user+system CPU seconds
                  during a run (``/proc/PID/stat``), best run: steadier than
                  wall time when other processes share the CPUs
    client CPU s  the client's CPU time in the best run: if it nears the wall
                  time, the client was the bottleneck, not the server

(b) Idle memory.  This server with one live stream that never publishes and
    a one-hour heartbeat.  Its RSS (``VmRSS`` of ``/proc/PID/status``) is
    read, ``--idle`` SSE connections are opened (in batches of 100, below
    Tornado's listen backlog of 128), the benchmark waits until
    ``renderer_open_readers`` in ``/metrics`` counts them all, and the RSS is
    read again: KiB per connection = (after - before) / connections.  Both
    processes raise ``RLIMIT_NOFILE`` to its hard limit; if connections
    fail (ports, descriptors), the result says how many were made.

``--runs 0`` skips (a), ``--idle 0`` skips (b).  ``--smoke`` checks that
the benchmark still runs, in a few seconds: ``--readers 10 --events 200
--idle 100 --runs 1`` (numbers that small are rough).  ``--profile`` adds one run
of (a) with this server under cProfile and prints its top functions by own
time (cProfile slows Python code, not system calls: read it for shares).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ANSWER = Path(__file__).with_name("answer.md")
STARLETTE_APP = Path(__file__).with_name("_sse_starlette_app.py")
TOKEN = 4
HOST = "127.0.0.1"
BATCH = 100  # connections opened at once: below Tornado's listen backlog (128)
RUN_TIMEOUT = 60.0  # seconds a client run may take before it is abandoned
OPEN_TIMEOUT = 30.0  # seconds a client may spend opening connections
IDLE_TIMEOUT = 45.0  # seconds to open and register the idle connections
SMOKE = {"readers": 10, "events": 200, "idle": 100, "runs": 1}  # --smoke
MARKER = b"\nid: "  # one per frame: ids are at line starts, data lines start "data: "


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --- the events -------------------------------------------------------------


def answer_events(count: int) -> list[tuple[str, str, str]]:
    """``count`` frames as (event, data, id): the answer's ops, then ``done``."""
    from renderer import MarkdownStream

    text = ANSWER.read_text(encoding="utf-8")
    stream = MarkdownStream(interval=0)
    ops = []
    for start in range(0, len(text), TOKEN):
        ops += stream.feed(text[start : start + TOKEN])
    ops += stream.close()
    events = [("block", ops[index % len(ops)].html, str(index + 1)) for index in range(count - 1)]
    events.append(("done", json.dumps({"reason": "complete"}), str(count)))
    return events


# --- this server, in its own process ----------------------------------------


async def run_renderer(mode: str, profile: bool, store: str = "memory") -> None:
    """Serve like ``serve()`` does, with one stream prepared; print READY."""
    from tornado import netutil

    from renderer.server import Config, make_app
    from renderer.server.connections import make_server

    raise_fd_limit()
    events = json.load(sys.stdin) if mode == "replay" else []
    heartbeat = 3600.0 if mode == "idle" else Config().heartbeat
    # Every benchmark connection comes from one address: no per-address cap.
    config = Config(host=HOST, port=0, store=store, heartbeat=heartbeat, max_connections_per_client=0)
    app = make_app(config)
    store = app.state.store  # type: ignore[attr-defined]
    stream_id = await store.create()
    for event, data, event_id in events:
        published = await store.publish(stream_id, event, data)
        assert config.store != "memory" or published.id == event_id, (published, event_id)
    # As serve() does, but on a free port: bind_sockets is what listen() uses.
    server = make_server(app, config, app.state.access)  # type: ignore[attr-defined]
    sockets = netutil.bind_sockets(0, HOST)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    print("READY", sockets[0].getsockname()[1], stream_id, flush=True)
    await stop.wait()
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(18)
        sys.stdout.flush()
    server.stop()


# --- the client, in its own process -----------------------------------------


class Reader(asyncio.Protocol):
    """One SSE connection: counts frames, and is done at ``expected`` or at EOF."""

    def __init__(self, expected: int, clock: Any) -> None:
        self.expected = expected
        self.clock = clock
        self.count = 0
        self.received = 0
        self.tail = b""
        self.finished_at: float | None = None
        self.transport: asyncio.Transport | None = None
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        # A marker may straddle two reads: look at the seam, then inside.
        self.count += (self.tail + data[:4]).count(MARKER) + data.count(MARKER)
        self.tail = data[-4:] if len(data) >= 4 else (self.tail + data)[-4:]
        if self.count >= self.expected and self.finished_at is None:
            self.finished_at = self.clock()
            if not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def open_readers(port: int, count: int, expected: int) -> tuple[list[Reader], int]:
    """Open ``count`` connections in batches; returns readers and failures
    (connections refused, timed out, or not tried before the deadline)."""
    loop = asyncio.get_running_loop()
    readers: list[Reader] = []
    failures = 0
    deadline = time.monotonic() + OPEN_TIMEOUT
    for start in range(0, count, BATCH):
        if time.monotonic() > deadline:
            failures += count - start
            break
        batch = [Reader(expected, time.perf_counter) for _ in range(min(BATCH, count - start))]
        results = await asyncio.gather(
            *(asyncio.wait_for(loop.create_connection(lambda r=r: r, HOST, port), 10.0) for r in batch),
            return_exceptions=True,
        )
        for reader, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                failures += 1
            else:
                readers.append(reader)
    return readers, failures


def request(port: int, path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


async def client_throughput(port: int, path: str, readers_wanted: int, events: int) -> dict[str, Any]:
    readers, failures = await open_readers(port, readers_wanted, events)
    if failures:
        raise SystemExit(f"client: {failures} of {readers_wanted} connections failed")
    payload = request(port, path)
    cpu = time.process_time()
    start = time.perf_counter()
    for reader in readers:
        assert reader.transport is not None
        reader.transport.write(payload)
    try:
        await asyncio.wait_for(asyncio.gather(*(reader.done for reader in readers)), RUN_TIMEOUT)
    except TimeoutError:
        pass
    cpu = time.process_time() - cpu
    for reader in readers:
        assert reader.transport is not None
        reader.transport.close()
    finished = [reader.finished_at for reader in readers if reader.finished_at is not None]
    return {
        "seconds": (max(finished) - start) if finished else None,
        "complete": len(finished),
        "events": sum(min(reader.count, events) for reader in readers),
        "short": sorted({reader.count for reader in readers if reader.count != events})[:5],
        "bytes": sum(reader.received for reader in readers),
        "client_cpu": cpu,
    }


async def client_idle(port: int, path: str, count: int) -> None:
    """Open ``count`` SSE connections, say so, hold them until told, report."""
    readers, failures = await open_readers(port, count, 1 << 60)
    payload = request(port, path)
    for reader in readers:
        assert reader.transport is not None
        reader.transport.write(payload)
    print(json.dumps({"open": len(readers), "failures": failures}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    answered = sum(1 for reader in readers if reader.received)
    for reader in readers:
        assert reader.transport is not None
        reader.transport.close()
    print(json.dumps({"answered": answered}), flush=True)


def run_client(argv: list[str]) -> None:
    raise_fd_limit()
    mode, port, path, count = argv[0], int(argv[1]), argv[2], int(argv[3])
    if mode == "throughput":
        result = asyncio.run(client_throughput(port, path, count, int(argv[4])))
        print(json.dumps(result), flush=True)
    else:
        asyncio.run(client_idle(port, path, count))


# --- the orchestrator ---------------------------------------------------------


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """One line of a child's stdout, or RuntimeError after ``timeout``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise RuntimeError(f"no answer from {proc.args!r} within {timeout} s")
        byte = os.read(proc.stdout.fileno(), 1)
        if not byte:
            raise RuntimeError(f"{proc.args!r} exited with {proc.wait()}")
        line += byte
    return line.decode()


def start_server(command: list[str], stdin: bytes) -> tuple[subprocess.Popen[bytes], list[str]]:
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None  # so that communicate() does not flush it again
    try:
        words = read_line(proc, 30.0).split()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if not words or words[0] != "READY":
        proc.kill()
        raise RuntimeError(f"unexpected first line from {command!r}: {words}")
    return proc, words[1:]


def stop_server(proc: subprocess.Popen[bytes]) -> str:
    """SIGTERM, then SIGKILL after 10 s; returns what it printed meanwhile."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out.decode(errors="replace")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        match = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def client_command(*args: object) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "_client", *map(str, args)]


def throughput_runs(
    proc: subprocess.Popen[bytes], port: int, path: str, readers: int, events: int, runs: int
) -> list[dict[str, Any]]:
    results = []
    for _ in range(runs):
        before = cpu_seconds(proc.pid)
        done = subprocess.run(
            client_command("throughput", port, path, readers, events),
            capture_output=True,
            timeout=RUN_TIMEOUT + 30,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"client failed: {done.stderr.decode(errors='replace')[-2000:]}")
        result = json.loads(done.stdout)
        result["server_cpu"] = cpu_seconds(proc.pid) - before
        if result["complete"] != readers or result["events"] != readers * events:
            raise RuntimeError(
                f"{path}: {result['complete']}/{readers} readers got {events} events; "
                f"{result['events']} counted, short counts {result['short']}"
            )
        results.append(result)
    return results


def renderer_command(mode: str, profile: bool = False, store: str = "memory") -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "_renderer", mode, store]
    return [*command, "--profile"] if profile else command


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port (no persistence)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def bench_throughput(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Both servers up, each in its own process; runs alternate between them
    (only one is ever being read), so a neighbour's load hits both alike."""
    payload = json.dumps(answer_events(args.events)).encode()
    procs: dict[str, tuple[subprocess.Popen[bytes], int, str]] = {}
    results: dict[str, list[dict[str, Any]]] = {"renderer": [], "sse-starlette": []}
    redis = RedisServer() if args.redis else None
    try:
        proc, words = start_server(renderer_command("replay"), payload)
        procs["renderer"] = proc, int(words[0]), f"/api/streams/{words[1]}/events"
        if redis is not None:
            proc, words = start_server(renderer_command("replay", store=redis.url), payload)
            procs["renderer+redis"] = proc, int(words[0]), f"/api/streams/{words[1]}/events"
            results["renderer+redis"] = []
        proc, words = start_server([sys.executable, str(STARLETTE_APP)], payload)
        procs["sse-starlette"] = proc, int(words[0]), "/events"
        for _ in range(args.runs):
            for name, (proc, port, path) in procs.items():
                results[name] += throughput_runs(proc, port, path, args.readers, args.events, 1)
    finally:
        for proc, _, _ in procs.values():
            stop_server(proc)
        if redis is not None:
            redis.stop()
    return results


def profile_renderer(args: argparse.Namespace) -> str:
    payload = json.dumps(answer_events(args.events)).encode()
    proc, words = start_server(renderer_command("replay", profile=True), payload)
    try:
        throughput_runs(proc, int(words[0]), f"/api/streams/{words[1]}/events", args.readers, args.events, 1)
    finally:
        out = stop_server(proc)
    return out


def open_readers_metric(port: int) -> int:
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(r"^renderer_open_readers ([0-9.e+]+)$", text, re.MULTILINE)
    assert match is not None
    return int(float(match.group(1)))


def bench_idle(count: int) -> dict[str, Any]:
    proc, words = start_server(renderer_command("idle"), b"")
    port, path = int(words[0]), f"/api/streams/{words[1]}/events"
    client = None
    try:
        open_readers_metric(port)  # one request through the HTTP path before measuring
        time.sleep(0.2)
        before = rss_kib(proc.pid)
        client = subprocess.Popen(
            client_command("idle", port, path, count), stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
        )
        opened = json.loads(read_line(client, IDLE_TIMEOUT))
        deadline = time.monotonic() + IDLE_TIMEOUT
        registered = open_readers_metric(port)
        while registered < opened["open"] and time.monotonic() < deadline:
            time.sleep(0.2)
            registered = open_readers_metric(port)
        time.sleep(0.5)
        after = rss_kib(proc.pid)
        assert client.stdin is not None
        client.stdin.write(b"close\n")
        client.stdin.flush()
        answered = json.loads(read_line(client, 30.0))["answered"]
    finally:
        if client is not None:
            client.kill()
            client.wait()
        stop_server(proc)
    return {
        "wanted": count,
        "open": opened["open"],
        "failures": opened["failures"],
        "registered": registered,
        "answered": answered,
        "before": before,
        "after": after,
        "per_connection": (after - before) / max(registered, 1),
    }


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def report_throughput(results: dict[str, list[dict[str, Any]]], readers: int, events: int) -> None:
    labels = {
        "renderer": f"renderer (tornado {version('tornado')})",
        "sse-starlette": f"sse-starlette {version('sse-starlette')}, uvicorn {version('uvicorn')} h11",
        "renderer+redis": f"renderer, Redis store (redis {version('redis')})",
    }
    total = readers * events
    print(f"(a) {readers} SSE readers x {events} events = {total:,} frames a run, best of {len(results['renderer'])}")
    print(
        f"    {'server':<42} {'events/s':>9} {'best s':>6} {'all runs s':>17} "
        f"{'server CPU s':>12} {'events/CPU-s':>12} {'client CPU s':>12} {'KiB/reader':>10}"
    )
    tick = 1 / os.sysconf("SC_CLK_TCK")  # /proc counts CPU time in ticks: a short run may show none
    wall, cpu = {}, {}
    for name, runs in results.items():
        best = min(runs, key=lambda run: run["seconds"])
        wall[name] = total / best["seconds"]
        cpu[name] = total / max(min(run["server_cpu"] for run in runs), tick)
        seconds = " ".join(f"{run['seconds']:.2f}" for run in runs)
        print(
            f"    {labels[name]:<42} {wall[name]:>9,.0f} {best['seconds']:>6.2f} {seconds:>17} "
            f"{best['server_cpu']:>12.2f} {cpu[name]:>12,.0f} {best['client_cpu']:>12.2f} "
            f"{best['bytes'] / readers / 1024:>10.1f}"
        )
    print(
        f"    renderer / sse-starlette: {wall['renderer'] / wall['sse-starlette']:.2f}x events/s, "
        f"{cpu['renderer'] / cpu['sse-starlette']:.2f}x events per server CPU-second (goal >= 2x)"
    )
    if "renderer+redis" in wall:
        print(
            f"    Redis store / memory store: {wall['renderer+redis'] / wall['renderer']:.2f}x events/s, "
            f"{cpu['renderer+redis'] / cpu['renderer']:.2f}x events per server CPU-second"
        )


def report_idle(result: dict[str, Any]) -> None:
    print(f"(b) idle SSE connections: {result['registered']} of {result['wanted']} held", end="")
    if result["failures"]:
        print(f" ({result['failures']} connections failed)", end="")
    print(
        f"; RSS {result['before'] / 1024:.1f} MiB -> {result['after'] / 1024:.1f} MiB: "
        f"{result['per_connection']:.1f} KiB per connection (goal <= 20 KiB)"
    )
    if result["answered"] < result["registered"]:
        print(f"    note: {result['registered'] - result['answered']} of them had received no byte (not even headers)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=200, help="concurrent SSE readers in (a) (default 200)")
    parser.add_argument("--events", type=int, default=500, help="events each reader gets in (a) (default 500)")
    parser.add_argument("--idle", type=int, default=5000, help="idle connections in (b) (default 5000; 0 skips)")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per server in (a); the best counts (default 3; 0 skips (a))"
    )
    parser.add_argument("--profile", action="store_true", help="also profile this server over one run of (a)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a quick check that it runs: --readers {SMOKE['readers']} --events {SMOKE['events']} "
        f"--idle {SMOKE['idle']} --runs {SMOKE['runs']}",
    )
    parser.add_argument(
        "--redis",
        action=argparse.BooleanOptionalAction,
        default=shutil.which("redis-server") is not None,
        help="also run (a) with the Redis store, on a throwaway redis-server (default: when redis-server is installed)",
    )
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    if args.readers < 1 or args.events < 2 or args.runs < 0 or args.idle < 0:
        raise SystemExit("need --readers >= 1, --events >= 2, --runs >= 0, --idle >= 0")
    raise_fd_limit()
    began = time.monotonic()
    profile = " --profile" if args.profile else ""
    redis = " --redis" if args.redis else " --no-redis"
    print(
        f"$ python bench/delivery.py --readers {args.readers} --events {args.events} "
        f"--idle {args.idle} --runs {args.runs}{redis}{profile}"
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}; all on {HOST}")
    if args.runs:
        report_throughput(bench_throughput(args), args.readers, args.events)
    if args.idle:
        report_idle(bench_idle(args.idle))
    if args.profile:
        print("\nthis server under cProfile, one run of (a), by own time:")
        print(profile_renderer(args))
    print(f"({time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_renderer":
        asyncio.run(run_renderer(sys.argv[2], "--profile" in sys.argv[4:], sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_client":
        run_client(sys.argv[2:])
    else:
        main()

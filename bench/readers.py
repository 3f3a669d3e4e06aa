"""Readers that never read: what each costs the server, and whether it is cut off.

    python bench/readers.py [--readers 200] [--size 3500000] [--write-timeout 10]
                            [--transports sse,ws,poll] [--rcvbuf BYTES] [--smoke]

Starts ``python -m renderer serve --source echo --token-delay 0`` (helpers
from ``bench/capacity.py``), generates one answer of ``--size`` characters of
Markdown (``bench/answer.md`` repeated) and reads it once to its end, so that
what follows is a replay of a finished answer, the case where no live event
can make a reader fall behind (``--max-pending`` never trips).  Then, for
each transport in turn, ``--readers`` clients connect, send their request
and never read a byte: SSE (``/api/streams/ID/events``), WebSocket
(``/ws``) and long-polling (``/poll``).  Their sockets have the kernel's
default buffers unless ``--rcvbuf`` sets SO_RCVBUF (on loopback the kernel
then holds a few MB per connection, in its own memory, not the server's RSS).

Printed for each transport: the server's RSS (``/proc``, its process tree)
before the readers connect, the peak while they are connected, the growth
per reader, how many were cut off (``renderer_slow_readers_cut_off_total``)
within ``--write-timeout`` plus 30 s, and whether every reader was let go
(``renderer_open_readers`` back to 0) once the clients close.  A reader whose
whole answer fits in the kernel's buffers is not cut off: the server holds
nothing for it.  A reader that
does not read should cost about ``WRITE_BYTES`` (64 KiB) plus one event, not
the answer.  ``--smoke`` checks that it runs: 5 readers with a 4 KiB SO_RCVBUF, an
answer of 1.5 M characters (about 4 MB as SSE: more than the kernel takes
for a loopback connection, about 3 MB), a 1 s write timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from capacity import HOST, Server, free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent

PATHS = {"sse": "/api/streams/{id}/events", "ws": "/api/streams/{id}/ws", "poll": "/api/streams/{id}/poll"}
UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


def start_server(write_timeout: float, size: int) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "renderer", "serve", "--host", HOST, "--port", str(port)]
    command += ["--source", "echo", "--token-delay", "0", "--write-timeout", str(write_timeout)]
    command += ["--max-message", str(size + 1000), "--max-body", str(2 * size + 10_000)]
    command += ["--max-connections-per-client", "0", "--ttl", "3600"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    wait_ready(port, proc)
    return Server("renderer", proc, port, "/api/chat", {"source": "echo"})


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its live descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
        todo += [child for child, parent in parents.items() if parent == current]
    return total


def url(server: Server, path: str) -> str:
    return f"http://{HOST}:{server.port}{path}"


def metrics(server: Server) -> dict[str, float]:
    # A long timeout: with hundreds of replays to write, the server's loop answers late.
    with urllib.request.urlopen(url(server, "/metrics"), timeout=300) as response:
        text = response.read().decode()
    return {name: float(value) for name, value in re.findall(r"^(renderer_\w+) (\S+)$", text, re.M)}


def make_answer(server: Server, size: int) -> tuple[str, int]:
    """Start an answer of ``size`` characters, read it to its end; its id and
    the bytes of its replay as SSE."""
    text = (ROOT / "bench" / "answer.md").read_text()
    message = (text * (size // len(text) + 1))[:size]
    request = urllib.request.Request(
        url(server, "/api/chat"),
        data=json.dumps({"message": message, "source": "echo"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        stream_id = json.load(response)["id"]
    after = ""
    for _ in range(1_000_000):  # long-polls until the end (a slow SSE reader could be cut off meanwhile)
        with urllib.request.urlopen(url(server, f"/api/streams/{stream_id}/poll?wait=30{after}"), timeout=60) as got:
            page = json.load(got)
        if page["done"]:
            break
        ids = [event["id"] for event in page["events"] if event["id"]]
        after = f"&after={ids[-1]}" if ids else after
    with urllib.request.urlopen(url(server, f"/api/streams/{stream_id}/events"), timeout=600) as response:
        replay = len(response.read())
    return stream_id, replay


async def open_reader(port: int, path: str, headers: str, rcvbuf: int) -> socket.socket:
    """A client that sends its request and never reads."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (HOST, port)), 30)
        await loop.sock_sendall(sock, f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n".encode())
    except BaseException:
        sock.close()
        raise
    return sock


def measure(server: Server, stream_id: str, transport: str, readers: int, write_timeout: float, rcvbuf: int) -> str:
    path = PATHS[transport].format(id=stream_id)
    headers = UPGRADE if transport == "ws" else ""
    before_metrics = metrics(server)
    cut_before = before_metrics.get("renderer_slow_readers_cut_off_total", 0.0)
    baseline = tree_rss(server.proc.pid)

    async def connect() -> list[socket.socket]:
        return await asyncio.gather(*(open_reader(server.port, path, headers, rcvbuf) for _ in range(readers)))

    sockets = asyncio.run(connect())
    peak, cut_off = baseline, 0
    try:
        settled = time.monotonic() + write_timeout + 2
        deadline = time.monotonic() + write_timeout + 30
        while time.monotonic() < deadline:  # until every reader is cut off, or none is held (or the deadline)
            peak = max(peak, tree_rss(server.proc.pid))
            now = metrics(server)
            cut_off = int(now.get("renderer_slow_readers_cut_off_total", 0.0) - cut_before)
            if cut_off >= readers or (time.monotonic() > settled and now.get("renderer_open_readers", 0.0) == 0):
                break  # (a long-poll page fits in the kernel's buffers: nothing is held, nothing to cut off)
            time.sleep(0.1)
        peak = max(peak, tree_rss(server.proc.pid))
    finally:
        for sock in sockets:
            sock.close()
    let_go = False
    for _ in range(300):  # up to ~30 s: closed sockets noticed, WebSocket closes aborted
        if metrics(server).get("renderer_open_readers", 0.0) == 0:
            let_go = True
            break
        time.sleep(0.1)
    growth = (peak - baseline) / readers
    return (
        f"{transport:<9} {readers:>7} {baseline / 2**20:>9.1f} {peak / 2**20:>9.1f} "
        f"{growth / 1024:>13.1f} {cut_off:>5}/{readers:<5} {'yes' if let_go else 'NO':>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readers", type=int, default=200, help="clients that never read, per transport")
    parser.add_argument("--size", type=int, default=3_500_000, help="characters of Markdown in the answer")
    parser.add_argument("--write-timeout", type=float, default=10.0, help="the server's --write-timeout")
    parser.add_argument("--transports", default="sse,ws,poll", help="comma-separated: sse, ws, poll")
    parser.add_argument("--rcvbuf", type=int, default=0, help="SO_RCVBUF of the readers (0: the kernel's)")
    parser.add_argument("--smoke", action="store_true", help="a small run: checks that the benchmark runs")
    args = parser.parse_args()
    if args.smoke:
        args.readers, args.size, args.write_timeout, args.rcvbuf = 5, 1_500_000, 1.0, 4096
    transports = args.transports.split(",")
    if not set(transports) <= set(PATHS):
        parser.error(f"--transports: one or more of {', '.join(PATHS)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(
        f"$ python bench/readers.py --readers {args.readers} --size {args.size} "
        f"--write-timeout {args.write_timeout:g} --transports {args.transports} --rcvbuf {args.rcvbuf}"
    )
    server = start_server(args.write_timeout, args.size)
    try:
        begin = time.monotonic()
        stream_id, replay = make_answer(server, args.size)
        print(
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
            f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; answer: {args.size:,} characters of Markdown, "
            f"{replay:,} bytes as SSE (generated and read in {time.monotonic() - begin:.1f} s)"
        )
        print(
            f"{'transport':<9} {'readers':>7} {'RSS MiB':>9} {'peak MiB':>9} {'KiB per reader':>13} "
            f"{'cut off':>11} {'let go':>6}"
        )
        for transport in transports:
            print(measure(server, stream_id, transport, args.readers, args.write_timeout, args.rcvbuf), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

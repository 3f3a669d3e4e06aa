"""Progressive page benchmark: time to first byte and time to complete.

    python bench/progressive.py [--runs 5] [--scale 1.0] [--smoke]

One page with five slots that take 0.1, 0.25, 0.5, 1 and 2 s (times
``--scale``), served three ways by one in-process Tornado server:

none       the same shell with no slots at all (the floor for first byte)
suspense   ``renderer.progressive.suspense``: the shell at once, each slot when ready
await-all  the usual pattern: ``asyncio.gather`` every slot, then render

A raw-socket client (``Connection: close``) in the main thread times the
first byte of the response and its end (the server closing), over
``--runs`` rounds that go round-robin across the three pages; the table
shows the median (and the spread), the summary median and best deltas: on
a busy machine the event loop's timers fire late for every page alike, which
the ``await-all`` line shows.  Goals (from the issue): suspense's first
byte within a few ms of ``none`` whatever the slowest slot, and its
completion within a few ms of the slowest slot.

Also printed: the swap runtime's size, raw and gzipped, and what each
slot adds to the response.  ``--smoke`` (``--runs 1 --scale 0.05``, well
under a second) checks that the benchmark still runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tornado import httpserver, netutil, web

from renderer.progressive.suspense import RUNTIME, Suspense

DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0)
PAGES = ("none", "suspense", "await-all")
SHELL = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>bench</title></head>"
    "<body><h1>Progressive</h1><p>{intro}</p><main>{sections}</main></body></html>"
)
INTRO = "A page whose parts take different times to load. " * 20


def section(index: int, delay: float) -> str:
    return f"<section><h2>Part {index}</h2><p>Loaded after {delay:g} s.</p><ul>{'<li>item</li>' * 20}</ul></section>"


class PageHandler(web.RequestHandler):
    """``/none``, ``/suspense``, ``/await-all``."""

    def initialize(self, delays: tuple[float, ...]) -> None:
        self.delays = delays

    async def get(self, kind: str) -> None:
        async def part(index: int, delay: float) -> str:
            await asyncio.sleep(delay)
            return section(index, delay)

        if kind == "await-all":
            parts = await asyncio.gather(*(part(index, delay) for index, delay in enumerate(self.delays)))
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(SHELL.format(intro=INTRO, sections="".join(parts)))
            return
        delays = self.delays if kind == "suspense" else ()
        async with Suspense(self) as page:
            slots = [page.slot(part(index, delay), fallback="<p>Loading…</p>") for index, delay in enumerate(delays)]
            await page.render(SHELL.format(intro=INTRO, sections="".join(map(str, slots))))


class Server:
    """The three pages on a free port, in a thread with its own event loop."""

    def __init__(self, delays: tuple[float, ...]) -> None:
        self.delays = delays
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application(
            [(r"/(none|suspense|await-all)", PageHandler, {"delays": self.delays})], log_function=lambda h: None
        )
        sockets = netutil.bind_sockets(0, "127.0.0.1")
        server = httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.stop()

    def __enter__(self) -> Server:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


async def fetch(port: int, path: str) -> tuple[float, float, bytes]:
    """(seconds to the first byte, seconds to the end, the raw response)."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    first = await reader.read(1)
    ttfb = time.perf_counter() - start
    rest = await reader.read()
    total = time.perf_counter() - start
    writer.close()
    await writer.wait_closed()
    return ttfb, total, first + rest


def ms(values: list[float]) -> str:
    median = statistics.median(values) * 1000
    return f"{median:8.1f} ms ({min(values) * 1000:.1f}-{max(values) * 1000:.1f})"


async def bench(runs: int, delays: tuple[float, ...]) -> None:
    with Server(delays) as server:
        await fetch(server.port, "/none")  # warm up imports and caches
        timings: dict[str, list[tuple[float, float]]] = {page: [] for page in PAGES}
        raw: dict[str, bytes] = {}
        for _ in range(runs):
            for page in PAGES:
                ttfb, total, response = await fetch(server.port, f"/{page}")
                timings[page].append((ttfb, total))
                raw[page] = response
    slowest = max(delays)
    print(f"slots: {', '.join(f'{delay:g}' for delay in delays)} s; {runs} runs each, median (min-max)")
    print(f"{'page':<10}{'first byte':>14}{'':16}{'complete':>12}")
    for page in PAGES:
        first_bytes = [ttfb for ttfb, _ in timings[page]]
        ends = [total for _, total in timings[page]]
        print(f"{page:<10}{ms(first_bytes):<30}{ms(ends)}")

    def delta(kind: int, page: str, minus: float | str) -> str:
        """Median and best of a page's first byte (0) or end (1) minus a
        time (or the same of another page), in ms."""
        values = [timing[kind] for timing in timings[page]]
        if isinstance(minus, str):
            other = [timing[kind] for timing in timings[minus]]
            median, best = statistics.median(values) - statistics.median(other), min(values) - min(other)
        else:
            median, best = statistics.median(values) - minus, min(values) - minus
        return f"{median * 1000:7.1f} ms (best {best * 1000:5.1f} ms)"

    print(f"suspense first byte - none first byte  {delta(0, 'suspense', 'none')}   goal: a few ms")
    print(f"await-all first byte - slowest slot    {delta(0, 'await-all', slowest)}   (it waits for everything)")
    print(f"suspense complete - slowest slot       {delta(1, 'suspense', slowest)}   goal: a few ms")
    print(f"await-all complete - slowest slot      {delta(1, 'await-all', slowest)}   (timer and scheduling lag)")
    await_all = statistics.median(ttfb for ttfb, _ in timings["await-all"])
    suspense = statistics.median(ttfb for ttfb, _ in timings["suspense"])
    print(f"first byte, await-all / suspense: {await_all / suspense:.1f}x (median runs)")
    runtime = RUNTIME.encode()
    body = raw["suspense"].split(b"\r\n\r\n", 1)[1]
    print(
        f"swap runtime: {len(runtime)} B, {len(gzip.compress(runtime, 9))} B gzipped "
        f"(React's: about 450 B gzipped); response: {len(raw['suspense'])} B streamed vs "
        f"{len(raw['await-all'])} B awaited all ({len(body)} B of chunked body)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every slot's delay")
    parser.add_argument("--smoke", action="store_true", help="a quick check that it runs: --runs 1 --scale 0.05")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.scale = 1, 0.05
    if args.runs < 1 or args.scale <= 0:
        raise SystemExit("need --runs >= 1 and --scale > 0")
    asyncio.run(bench(args.runs, tuple(delay * args.scale for delay in DELAYS)))


if __name__ == "__main__":
    main()

"""Loop-lag benchmark: how long hostile answers hold the event loop.

    python bench/looplag.py [--tags N] [--words N] [--smoke]

In one process, for each hostile answer (``<b>`` x N on one line, as the
echo source once took 13.9 s of loop time over; one paragraph of N words),
an answer is generated through ``Generations`` into a memory store while a
probe task sleeps 1 ms at a time and records how late it wakes (its own
scheduling delay).  Each is run twice, side by side: as the server runs it
(engine calls over ``OFFLOAD_CHARS`` uncommitted characters in an engine
thread) and with every engine call on the loop (the old behaviour).

Printed per case: the probe's worst and p99 lag for each side, and the
ratio on-loop / off-loop of the worst lag.  The goal is a worst lag under
50 ms with the engine threads.  The machine is shared: read the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from renderer.server import generation
from renderer.server.generation import Generations
from renderer.server.store.memory import MemoryStore


async def pieces(text: str, size: int = 12) -> AsyncIterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]
        await asyncio.sleep(0)


async def probe(stop: asyncio.Event, lags: list[float]) -> None:
    """Sleep 1 ms at a time; record how much later than asked each wake-up was."""
    while not stop.is_set():
        asked = time.perf_counter()
        await asyncio.sleep(0.001)
        lags.append(time.perf_counter() - asked - 0.001)


async def measure(text: str) -> tuple[float, float, float]:
    """Worst lag, p99 lag (seconds) and wall time of generating ``text``."""
    store = MemoryStore()
    generations = Generations(store)
    stop, lags = asyncio.Event(), []
    prober = asyncio.create_task(probe(stop, lags))
    start = time.perf_counter()
    stream_id = await generations.start(pieces(text))
    subscription = await store.subscribe(stream_id)
    async for _ in subscription:
        pass
    wall = time.perf_counter() - start
    stop.set()
    await prober
    lags.sort()
    return lags[-1], lags[min(len(lags) - 1, int(len(lags) * 0.99))], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tags", type=int, default=10_600, help="<b> repeated this many times (default 10,600)")
    parser.add_argument("--words", type=int, default=6_000, help="words in one paragraph (default 6,000)")
    parser.add_argument("--smoke", action="store_true", help="a small run: checks that the benchmark runs")
    args = parser.parse_args()
    if args.smoke:
        args.tags, args.words = 1_000, 1_000
    cases = {
        f"<b> x {args.tags:,}": "<b>" * args.tags + "\n\nend\n",
        f"{args.words:,} words": "word " * args.words + "\n",
    }
    offload = generation.OFFLOAD_CHARS
    print(f"{'answer':<18} {'side':<14} {'worst lag ms':>13} {'p99 lag ms':>11} {'wall s':>8}")
    for name, text in cases.items():
        worst = {}
        for side, limit in (("engine thread", offload), ("on the loop", math.inf)):
            generation.OFFLOAD_CHARS = limit  # type: ignore[assignment]
            worst[side], p99, wall = asyncio.run(measure(text))
            print(f"{name:<18} {side:<14} {worst[side] * 1000:>13.1f} {p99 * 1000:>11.1f} {wall:>8.2f}")
        generation.OFFLOAD_CHARS = offload
        print(f"{name:<18} worst lag on the loop / in a thread: {worst['on the loop'] / worst['engine thread']:.1f}x")


if __name__ == "__main__":
    main()

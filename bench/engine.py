"""Engine benchmark: the incremental engine against one-shot and naive rendering.

    python bench/engine.py [--full] [--repeat N] [--sample N] [--smoke]

On ``bench/answer.md`` (a ~20 KB LLM-like answer: prose, nested lists, a
300-line code block, a table) cut into 4-character tokens, in one run:

(a) one-shot ``render_markdown`` of the final text;
(b) the naive way: re-render and re-sanitize the whole buffer at every token
    (by default every 20th prefix is timed and the total scaled by 20, since
    the whole takes minutes; ``--sample N`` times every Nth, ``--full``
    every prefix);
(c) ``MarkdownStream`` flushing at every token;
(d) ``MarkdownStream`` at a simulated 100 tokens/s with its default
    coalescing, on a virtual clock, so it is deterministic.

Then (a) and (d) again on ``bench/answer_math.md``, a math-heavy answer
(inline and display formulas, matrices, cases, aligned equations, a table
of formulas, currency), each formula converted to MathML; the formula
cache is emptied before every run, so each run converts every formula.

CPU times are process times; the machine is shared, so read the ratios.
``--smoke`` is a check that the benchmark still runs (a second or two):
one run of each, and (b) on 1 prefix in 250; its numbers are rough.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from renderer import MarkdownStream, Op, assemble, render_markdown
from renderer.markdown.math import math_html

ANSWER = Path(__file__).with_name("answer.md")
MATH_ANSWER = Path(__file__).with_name("answer_math.md")
TOKEN = 4
RATE = 100.0  # tokens per second in (d)
SAMPLE = 20  # (b) times every SAMPLE-th prefix unless --full or --sample
SMOKE_SAMPLE = 250  # (b)'s sample with --smoke


def cpu(function: Callable[[], object], repeat: int = 1) -> float:
    """The smallest process time of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def naive(text: str, tokens: list[str], stride: int) -> float:
    """(b): process time of rendering every ``stride``-th prefix, scaled up."""
    ends = [sum(map(len, tokens[: i + 1])) for i in range(len(tokens))]
    start = time.process_time()
    for end in ends[stride - 1 :: stride]:
        render_markdown(text[:end])
    return (time.process_time() - start) * stride


def streamed(tokens: list[str], code: range) -> tuple[float, list[float], list[float], str]:
    """(c): total process time, per-token wall times (all, inside the code block)."""
    stream = MarkdownStream(interval=0)
    ops: list[Op] = []
    each: list[float] = []
    in_code: list[float] = []
    position = 0
    start = time.process_time()
    for token in tokens:
        began = time.perf_counter()
        ops += stream.feed(token)
        spent = time.perf_counter() - began
        each.append(spent)
        if position in code:
            in_code.append(spent)
        position += len(token)
    ops += stream.close()
    total = time.process_time() - start
    return total, each, in_code, assemble(ops)


def paced(tokens: list[str]) -> tuple[float, list[Op]]:
    """(d): process time and ops at RATE tokens/s on a virtual clock."""
    now = 0.0
    stream = MarkdownStream(clock=lambda: now)
    ops: list[Op] = []
    start = time.process_time()
    for token in tokens:
        ops += stream.feed(token)
        now += 1 / RATE
    ops += stream.close()
    return time.process_time() - start, ops


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="time (b) on every prefix, not a 1-in-20 sample")
    parser.add_argument("--repeat", type=int, default=7, help="runs of (a), (c) and (d); the best counts")
    parser.add_argument("--sample", type=int, default=SAMPLE, help=f"(b) times 1 prefix in N (default {SAMPLE})")
    parser.add_argument(
        "--smoke", action="store_true", help=f"a quick check that it runs: --repeat 1 --sample {SMOKE_SAMPLE}"
    )
    args = parser.parse_args()
    if args.smoke:
        args.repeat, args.sample = 1, SMOKE_SAMPLE
    if args.full:
        args.sample = 1
    if args.repeat < 1 or args.sample < 1:
        raise SystemExit("need --repeat >= 1 and --sample >= 1")

    text = ANSWER.read_text(encoding="utf-8")
    tokens = [text[i : i + TOKEN] for i in range(0, len(text), TOKEN)]
    fence = text.index("```python")
    code = range(fence, text.index("```\n", fence + 3))
    final = render_markdown(text)

    a = cpu(lambda: render_markdown(text), args.repeat)
    b = naive(text, tokens, args.sample)
    runs_c = [streamed(tokens, code) for _ in range(args.repeat)]
    c, each, in_code, html_c = min(runs_c, key=lambda run: run[0])
    runs_d = [paced(tokens) for _ in range(args.repeat)]
    d, ops_d = min(runs_d, key=lambda run: run[0])
    assert html_c == final and assemble(ops_d) == final, "streamed output differs from one-shot"

    sent = sum(len(op.html.encode()) for op in ops_d)
    size = len(final.encode())
    kinds = Counter(op.kind for op in ops_d)
    print(
        f"answer: {len(text.encode())} bytes of Markdown, {len(tokens)} tokens of {TOKEN} chars, {size} bytes of HTML"
    )
    print(f"(a) one-shot render_markdown        {a * 1e3:9.1f} ms CPU")
    print(
        f"(b) naive re-render every token     {b * 1e3:9.1f} ms CPU{'' if args.sample == 1 else f' (1 in {args.sample} prefixes timed, x{args.sample})'}"
    )
    print(f"(c) MarkdownStream, every token     {c * 1e3:9.1f} ms CPU")
    print(f"(d) MarkdownStream, {RATE:.0f} tok/s      {d * 1e3:9.1f} ms CPU")
    print(f"(b)/(c) = {b / c:6.1f}   goal >= 30")
    print(f"(c)/(a) = {c / a:6.1f}   goal <= 25")
    print(f"(d)/(a) = {d / a:6.1f}   goal <= 3")
    print(
        f"(c) p99 per token: {p99(each) * 1e3:.3f} ms overall, {p99(in_code) * 1e3:.3f} ms inside the code block   goal < 2 ms"
    )
    print(f"(d) ops carry {sent} bytes of HTML for {size} bytes of final HTML: {sent / size:.2f}x   goal <= 3")
    print(f"(d) ops: {dict(sorted(kinds.items()))}")

    text = MATH_ANSWER.read_text(encoding="utf-8")
    tokens = [text[i : i + TOKEN] for i in range(0, len(text), TOKEN)]
    final = render_markdown(text)

    def cold(run: Callable[[], object]) -> Callable[[], object]:
        """``run`` with the formula cache emptied first: every formula converted anew."""
        return lambda: (math_html.cache_clear(), run())

    a = cpu(cold(lambda: render_markdown(text)), args.repeat)
    runs_d = []
    for _ in range(args.repeat):
        math_html.cache_clear()
        runs_d.append(paced(tokens))
    d, ops_d = min(runs_d, key=lambda run: run[0])
    assert assemble(ops_d) == final, "streamed math answer differs from one-shot"
    print(
        f"math answer: {len(text.encode())} bytes of Markdown, {final.count('<math')} formulas, "
        f"{len(final.encode())} bytes of HTML"
    )
    print(f"(a) math one-shot render_markdown   {a * 1e3:9.1f} ms CPU")
    print(f"(d) math MarkdownStream, {RATE:.0f} tok/s {d * 1e3:9.1f} ms CPU")
    print(f"(d)/(a) math = {d / a:6.1f}   goal <= 3")


if __name__ == "__main__":
    main()

"""Sanitizer benchmark: bleach against nh3, same policy, same inputs, one run.

    python bench/sanitize.py [--repeat N] [--smoke]

Two inputs, each sanitized piece by piece as the renderer does:

corpus     the shipped XSS corpus (``renderer/harness/corpus/xss.jsonl``), each
           payload on its own: small, hostile fragments, most of them
           changed by the sanitizer
markdown   ``bench/answer.md`` (~20 KB LLM-like answer) rendered by
           markdown-it with raw HTML on, one top-level block at a time
           (what ``render_markdown`` hands the sanitizer): large, benign
           blocks, mostly unchanged

Backends: ``bleach`` (``BleachSanitizer``, the default), ``nh3``
(``NH3Sanitizer()``, as the server and the harness use it: it also scans
the input to report what it removed) and ``nh3 -removed``
(``NH3Sanitizer(report_removed=False)``, the sanitizer alone, as a
renderer that never shows ``removed`` could use it).

Throughput is input bytes (UTF-8) per second of process time, the best of
``--repeat`` runs of at least 0.3 s each (the machine is shared: read
the ratios). ``same`` is
the share of pieces on which the backend's output is byte for byte
bleach's; every output is re-checked with ``check_allowlist``.
``--smoke`` checks that the benchmark still runs (a few seconds): one run
of at least 0.02 s per measurement, so its numbers are rough.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from renderer.harness.xss import load_corpus
from renderer.markdown.render import default_parser, top_level_blocks
from renderer.sanitizer.clean import BleachSanitizer, NH3Sanitizer, Sanitizer, check_allowlist

ANSWER = Path(__file__).with_name("answer.md")
MIN_RUN = 0.3
"""Seconds a measured run lasts at least."""


def markdown_blocks(text: str) -> list[str]:
    """The HTML of each top-level block, before sanitizing."""
    md = default_parser()
    env: dict[str, object] = {"references": {}}
    tokens = md.parse(text, env)
    return [md.renderer.render(block, md.options, env) for block in top_level_blocks(tokens)]


def throughput(sanitize: Callable[[str], str], pieces: Sequence[str], repeat: int, min_run: float = MIN_RUN) -> float:
    """MB/s of process time, best of ``repeat`` runs; a run goes over the
    pieces as many times as it takes to last ``min_run`` seconds."""
    size = sum(len(piece.encode("utf-8", "surrogatepass")) for piece in pieces)

    def run(rounds: int) -> float:
        start = time.process_time()
        for _ in range(rounds):
            for piece in pieces:
                sanitize(piece)
        return time.process_time() - start

    rounds = max(1, math.ceil(min_run / max(run(1), 1e-6)))
    best = min(run(rounds) for _ in range(repeat))
    return size * rounds / max(best, 1e-9) / 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    parser.add_argument("--smoke", action="store_true", help="a quick check that it runs: one short run each")
    args = parser.parse_args(argv)
    min_run = 0.02 if args.smoke else MIN_RUN
    if args.smoke:
        args.repeat = 1
    if args.repeat < 1:
        raise SystemExit("need --repeat >= 1")

    inputs = {
        "corpus": [payload.text for payload in load_corpus()],
        "markdown": markdown_blocks(ANSWER.read_text(encoding="utf-8")),
    }
    backends: dict[str, Sanitizer] = {
        "bleach": BleachSanitizer(),
        "nh3": NH3Sanitizer(),
        "nh3 -removed": NH3Sanitizer(report_removed=False),
    }
    for name, pieces in inputs.items():
        size = sum(len(piece.encode("utf-8", "surrogatepass")) for piece in pieces)
        print(f"{name}: {len(pieces)} pieces, {size / 1000:.1f} KB")
    print()
    header = f"{'input':<10} {'backend':<13} {'MB/s':>8} {'x bleach':>9} {'same':>6} {'disallowed':>11}"
    print(header)
    print("-" * len(header))
    for name, pieces in inputs.items():
        reference = [backends["bleach"](piece) for piece in pieces]
        base = 0.0
        for backend, sanitizer in backends.items():
            outputs = [sanitizer(piece) for piece in pieces]
            same = sum(a == b for a, b in zip(outputs, reference, strict=True)) / len(pieces)
            disallowed = sum(bool(check_allowlist(output)) for output in outputs)
            rate = throughput(sanitizer, pieces, args.repeat, min_run)
            base = base or rate
            print(f"{name:<10} {backend:<13} {rate:>8.2f} {rate / base:>9.1f} {same:>6.0%} {disallowed:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every benchmark in bench/ still runs: each script on its ``--smoke`` workload.

Each test runs ``python bench/X.py --smoke ...`` as a subprocess (the way a
person runs it, from the checkout), asserts it exits 0 and that its output
still has the lines and ratios it is meant to print, each ratio a positive
number.  The numbers themselves are not judged: a smoke workload is too
small, and the machine too shared, for that.

``test_every_bench_script_is_smoke_tested`` keeps the list below equal to
bench/*.py (less the ``_`` helpers), so a new benchmark cannot be forgotten.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from renderer.harness.chromium import CHROMIUM

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TIMEOUT = 180.0
"""Seconds a smoke run may take (they take a few): past that it has hung."""

SMOKE_TESTED = {"engine", "preview", "sanitize", "progressive", "delivery", "client", "looplag", "capacity", "readers"}
"""The scripts in bench/ that a test below runs; keep it equal to bench/*.py."""

NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"


def run_bench(script: str, *args: str) -> str:
    """Run ``bench/<script>.py --smoke *args``; its stdout, once it exited 0."""
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), "--smoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.returncode == 0, f"bench/{script}.py exited {done.returncode}\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


def number(pattern: str, output: str) -> float:
    """The first number captured by ``pattern`` (a multiline regex) in ``output``; must be positive."""
    match = re.search(pattern, output, re.MULTILINE)
    assert match is not None, f"no line matching {pattern!r} in:\n{output}"
    value = float(match.group(1).replace(",", ""))
    assert value > 0, f"{pattern!r}: {value} is not positive\n{output}"
    return value


def test_every_bench_script_is_smoke_tested() -> None:
    scripts = {path.stem for path in BENCH.glob("*.py") if not path.name.startswith("_")}
    assert scripts == SMOKE_TESTED, (
        f"bench/ scripts without a smoke test: {sorted(scripts - SMOKE_TESTED)}; "
        f"smoke tests without a script: {sorted(SMOKE_TESTED - scripts)}"
    )


@pytest.mark.parametrize("script", sorted(SMOKE_TESTED))
def test_help(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--smoke" in done.stdout


@pytest.mark.slow  # seconds of benchmark workload, even at --smoke
def test_engine() -> None:
    output = run_bench("engine")
    assert "answer: " in output
    for label in ("(a) one-shot", "(b) naive", "(c) MarkdownStream", "(d) MarkdownStream"):
        number(rf"^{re.escape(label)}.*?{NUMBER} ms CPU", output)
    number(rf"^\(b\)/\(c\) = +{NUMBER}", output)
    number(rf"^\(c\)/\(a\) = +{NUMBER}", output)
    number(rf"^\(d\)/\(a\) = +{NUMBER}", output)
    number(rf"^\(c\) p99 per token: {NUMBER} ms overall", output)
    number(rf"^\(d\) ops carry .*: {NUMBER}x", output)


@pytest.mark.slow
def test_preview() -> None:
    output = run_bench("preview")
    ours = number(rf"^ours +states +{NUMBER}", output)
    assert ours > 0
    rates = {}
    for peer in ("ours", "naive"):
        match = re.search(
            rf"^{peer} .*flashes +\d+ = +([0-9.]+) per 1,000 +marker not in the text: +(\d+)", output, re.M
        )
        assert match is not None, output
        rates[peer] = float(match.group(1))
        assert int(match.group(2)) == 0, output  # no state shows a marker the text does not hold
    assert rates["ours"] < rates["naive"], output
    assert "goals (ours):" in output


def test_sanitize() -> None:
    output = run_bench("sanitize")
    for name in ("corpus", "markdown"):
        number(rf"^{name}: {NUMBER} pieces", output)
        for backend in ("bleach", "nh3", "nh3 -removed"):
            row = re.search(
                rf"^{name} +{re.escape(backend)} +{NUMBER} +{NUMBER} +{NUMBER}% +([0-9]+)$", output, re.MULTILINE
            )
            assert row is not None, f"no {name}/{backend} row in:\n{output}"
            rate, ratio, _same, disallowed = (float(group.replace(",", "")) for group in row.groups())
            assert rate > 0 and ratio > 0, row.group(0)
            assert disallowed == 0, f"an output failed check_allowlist: {row.group(0)}"
            if backend == "bleach":
                assert ratio == 1.0, row.group(0)


def test_progressive() -> None:
    output = run_bench("progressive")
    for page in ("none", "suspense", "await-all"):
        number(rf"^{page} +{NUMBER} ms", output)
    for line in (
        "suspense first byte - none first byte",
        "await-all first byte - slowest slot",
        "suspense complete - slowest slot",
        "await-all complete - slowest slot",
    ):
        assert re.search(rf"^{re.escape(line)} +-?[0-9.]+ ms", output, re.MULTILINE), f"no {line!r} in:\n{output}"
    # await-all waits for its slowest slot (0.1 s at --smoke); suspense does not.
    assert number(rf"^first byte, await-all / suspense: {NUMBER}x", output) > 1
    number(rf"^swap runtime: {NUMBER} B", output)


def check_delivery(output: str) -> None:
    number(rf"^    renderer \(tornado .*? {NUMBER} ", output)
    number(rf"^    sse-starlette .*? {NUMBER} ", output)
    number(rf"^    renderer / sse-starlette: {NUMBER}x events/s", output)
    number(rf"^    renderer / sse-starlette: .*?, {NUMBER}x events per server CPU-second", output)
    held = re.search(r"^\(b\) idle SSE connections: ([0-9]+) of ([0-9]+) held", output, re.MULTILINE)
    assert held is not None, output
    assert held.group(1) == held.group(2), held.group(0)
    number(rf"^\(b\) .*: {NUMBER} KiB per connection", output)


@pytest.mark.slow
def test_delivery() -> None:
    assert importlib.util.find_spec("sse_starlette") and importlib.util.find_spec("uvicorn"), (
        "bench/delivery.py needs the test extra's sse-starlette and uvicorn: pip install -e '.[test]'"
    )
    output = run_bench("delivery", "--no-redis")
    check_delivery(output)
    assert "Redis store" not in output


@pytest.mark.redis
@pytest.mark.slow
def test_delivery_redis() -> None:
    if shutil.which("redis-server") is None or importlib.util.find_spec("redis") is None:
        pytest.skip("needs redis-server and the redis package")
    output = run_bench("delivery", "--redis")
    check_delivery(output)
    number(rf"^    renderer, Redis store .*? {NUMBER} ", output)
    number(rf"^    Redis store / memory store: {NUMBER}x events/s", output)


@pytest.mark.browser
@pytest.mark.slow
def test_client() -> None:
    if not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None:
        pytest.skip(f"needs {CHROMIUM} and playwright")
    if shutil.which("npm") is None and not (BENCH / ".cache" / "node_modules").is_dir():
        pytest.skip("needs npm (or the peers already installed in bench/.cache)")
    output = run_bench("client")
    number(rf"^answer: {NUMBER} bytes, {NUMBER} tokens", output)
    ratios = {}
    for label in ("ours (stream.js)", "streaming-markdown", "marked+DOMPurify"):
        row = re.search(rf"^{re.escape(label)} +1 +{NUMBER} .* {NUMBER}$", output, re.MULTILINE)
        assert row is not None, f"no {label} row in:\n{output}"
        assert float(row.group(1)) > 0, row.group(0)
        ratios[label] = float(row.group(2))
        assert ratios[label] > 0, row.group(0)
    assert ratios["streaming-markdown"] == 1.0
    assert re.search(r"^goals: main-thread time <= smd: (yes|NO) \(", output, re.MULTILINE), output
    # The ops the page applied rebuild the answer exactly (the other peers may differ).
    assert re.search(r"^  ours \(stream\.js\): [0-9]+ elements, identical text", output, re.MULTILINE), output


def test_looplag_smoke_prints_the_lag_of_each_side_and_the_ratio() -> None:
    output = run_bench("looplag")
    for side in ("engine thread", "on the loop"):
        assert re.search(rf"^<b> x 1,000 +{side} +{NUMBER} +{NUMBER} +{NUMBER}$", output, re.MULTILINE), output
    number(r"^<b> x 1,000 +worst lag on the loop / in a thread: " + NUMBER + "x$", output)


@pytest.mark.slow  # two servers and a client for seconds
def test_capacity_smoke_prints_cpu_and_stretch_for_each_side_and_the_ratio() -> None:
    pytest.importorskip("sse_starlette", reason="bench/capacity.py's relay needs sse-starlette and uvicorn")
    pytest.importorskip("uvicorn")
    output = run_bench("capacity")
    for side in ("renderer", "relay"):
        assert re.search(rf"^ +5 {side} +{NUMBER} +{NUMBER} +{NUMBER} +[0-9]+ +5/5$", output, re.MULTILINE), output
    number(r"^ +5 renderer / relay: " + NUMBER + "x CPU per answer", output)
    assert re.search(r"^largest N with p99 stretch under 1.10 \(relay\): ", output, re.MULTILINE), output


@pytest.mark.slow  # a 1.5 M character answer to generate first
def test_readers_smoke_cuts_off_the_sse_and_websocket_readers_that_never_read() -> None:
    output = run_bench("readers")
    number(rf"; answer: .*?, {NUMBER} bytes as SSE", output)
    rows = {}
    for transport in ("sse", "ws", "poll"):
        row = re.search(
            rf"^{transport} +5 +{NUMBER} +{NUMBER} +(-?[0-9.]+) +([0-9]+)/5 +(yes|NO)$", output, re.MULTILINE
        )
        assert row is not None, f"no {transport} row in:\n{output}"
        rows[transport] = row
        assert row.group(5) == "yes", row.group(0)  # every reader let go once its client closed
    # Past what the kernel takes, an SSE or WebSocket reader that never reads is cut off.
    assert rows["sse"].group(4) == "5" and rows["ws"].group(4) == "5", output

"""Client benchmark: main-thread cost of showing one streamed answer in Chromium.

    python bench/client.py [--runs 3] [--marked-runs 1] [--profile] [--chars N] [--smoke]

``bench/answer.md`` (~20 KB: prose, nested lists, a 300-line code block, a
table) is cut into 4-character tokens and streamed into one page by three
peers, each in a fresh page of the same headless Chromium:

ours    ``static/stream.js``: ``createAnswer(root).apply(kind, html)`` for the
        ops that ``renderer.MarkdownStream`` emits for those tokens with its
        default coalescing at 100 tokens/s on a virtual clock (as in
        ``bench/engine.py`` case (d)), i.e. what a real server would send.
        At arrival i the page applies the ops ``feed(token i)`` returned
        (usually none); at the end, those of ``close()``.
smd     ``streaming-markdown``: ``parser_write(token)``, then ``parser_end``.
marked  the common pattern: ``root.innerHTML = DOMPurify.sanitize(
        marked.parse(buffer))`` with the whole buffer at every token.

Pacing: every peer gets the same N+1 arrivals (N tokens, then the end of
the stream), one per macrotask (a ``MessageChannel`` message: setTimeout
would clamp to 4 ms, and one per ``requestAnimationFrame`` would take 85 s
per run at 60 Hz).  Each arrival ends with a forced layout
(``root.offsetHeight``), so it pays for style and layout of what it changed
as if it were shown in a frame of its own; paint happens at the browser's
frame rate, as usual.  See ``bench/client/harness.js``.

Measured per run:

TaskDuration   main-thread task time from CDP ``Performance.getMetrics``,
               after minus before the run (also Script and Layout+Style from
               the same metrics); it includes the browser's paint work
longest        the longest arrival (its work plus forced layout), timed with
               ``performance.now()``; ``>16ms`` counts arrivals over 16 ms
longtasks      ``PerformanceObserver`` 'longtask' entries (tasks > 50 ms,
               whoever ran them) during the run: count and longest

Runs go round-robin across peers (``--runs`` each, ``--marked-runs`` for
marked, which takes 25-40 s a run); the table shows the median run and, for
TaskDuration, the best.  Goals (from the issue): ours spends no more
main-thread time than smd, and no single task over 16 ms.

``--profile`` adds one run of ours under the CDP sampling Profiler (top
functions by self time, and stream.js functions by total time) and takes
apart ours' costliest arrival (the one carrying the largest op), best of 5:
its template parse and scrub, each op's apply and a forced layout after it.
Always shown: ours' apply time per op kind and its slowest arrivals.

Everything is served from a ``http.server`` thread on 127.0.0.1 (``/static/``,
``/bench/client/``, the npm packages, and the ops as JSON).  The npm packages
are installed on first use into ``bench/.cache`` (git should ignore it):
``npm install --prefix bench/.cache streaming-markdown marked dompurify``.
Chromium is Debian's ``/usr/bin/chromium``.

``--chars N`` streams only the answer's first N characters (cut at a line
end); ``--smoke`` (``--runs 1 --marked-runs 1 --chars 3000``, a few seconds
once the npm packages are there) checks that the benchmark still runs.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from renderer import MarkdownStream, Op, assemble, render_markdown
from renderer.harness.chromium import CHROMIUM, CHROMIUM_ARGS
from renderer.sanitizer import DEFAULT_POLICY
from renderer.server.policy_js import policy_module

ROOT = Path(__file__).resolve().parent.parent
ANSWER = ROOT / "bench" / "answer.md"
CACHE = ROOT / "bench" / ".cache"
PACKAGES = {"streaming-markdown": "smd.js", "marked": "lib/marked.esm.js", "dompurify": "dist/purify.es.mjs"}
SERVED = ("/static/", "/bench/client/", "/bench/.cache/node_modules/")
TOKEN = 4
RATE = 100.0  # tokens per second, on a virtual clock
SMOKE_CHARS = 3000  # --smoke streams this much of the answer
PEERS = ("ours", "smd", "marked")
LABELS = {
    "ours": "ours (stream.js)",
    "smd": "streaming-markdown",
    "marked": "marked+DOMPurify",
}


def ensure_packages() -> dict[str, str]:
    """Install the npm peers into bench/.cache if any is missing; their versions."""
    modules = CACHE / "node_modules"
    if not all((modules / name / entry).is_file() for name, entry in PACKAGES.items()):
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"installing {' '.join(PACKAGES)} into {CACHE} ...", file=sys.stderr)
        subprocess.run(
            ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", *PACKAGES],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return {name: json.loads((modules / name / "package.json").read_text())["version"] for name in PACKAGES}


def answer_text(chars: int | None = None) -> str:
    """The answer, or its first ``chars`` characters cut at a line end."""
    text = ANSWER.read_text(encoding="utf-8")
    if chars is not None and chars < len(text):
        cut = text.rfind("\n", 0, chars)
        text = text[: cut + 1 if cut > 0 else chars]
    return text


def workload(text: str) -> dict[str, object]:
    """Tokens, the ops MarkdownStream emits at each of them, and the final HTML."""
    tokens = [text[i : i + TOKEN] for i in range(0, len(text), TOKEN)]
    now = 0.0
    stream = MarkdownStream(clock=lambda: now)
    steps: list[list[Op]] = []
    for token in tokens:
        steps.append(stream.feed(token))
        now += 1 / RATE
    end = stream.close()
    final = render_markdown(text)
    assert assemble([op for step in steps for op in step] + end) == final, "ops do not assemble to the answer"
    return {
        "tokens": tokens,
        "steps": [[[op.kind, op.html] for op in step] for step in steps],
        "end": [[op.kind, op.html] for op in end],
        "final_html": final,
    }


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the repository's static/ and bench/client/, the npm packages,
    the workload at /bench/client/data.json and, as the server does,
    /static/allowlist.js generated from the default Policy; nothing else."""

    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
    }
    data = b""
    allowlist = policy_module(DEFAULT_POLICY).encode()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        generated = {
            "/bench/client/data.json": ("application/json", self.data),
            "/static/allowlist.js": ("text/javascript", self.allowlist),
        }
        if path in generated:
            content_type, body = generated[path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)
        elif path.startswith(SERVED) and ".." not in path:
            super().do_GET()
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(data: bytes) -> http.server.ThreadingHTTPServer:
    Handler.data = data
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(ROOT)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def metrics(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def open_harness(page, url: str) -> None:
    """Load the harness page and wait until it is ready; a module that fails
    to load (a 404, a syntax error) fails the benchmark with what the page said."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    page.on(
        "response", lambda response: response.status >= 400 and problems.append(f"{response.status} {response.url}")
    )
    page.goto(url)
    try:
        page.wait_for_function("window.bench && window.bench.ready", timeout=20_000)
    except Exception as error:
        raise SystemExit(f"the harness page did not get ready: {'; '.join(problems) or error}") from error


def run_once(context, url: str, peer: str, profile: bool = False) -> dict:
    """Stream the answer with one peer in a fresh page; its measurements."""
    page = context.new_page()
    try:
        open_harness(page, url)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        if profile:
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 100})
            cdp.send("Profiler.start")
        before = metrics(cdp)
        result = page.evaluate("peer => window.bench.run(peer)", peer)
        after = metrics(cdp)
        if profile:
            result["profile"] = cdp.send("Profiler.stop")["profile"]
        cdp.detach()
    finally:
        page.close()
    delta = {name: (after[name] - before.get(name, 0.0)) * 1e3 for name in after if name.endswith("Duration")}
    result["task"] = delta["TaskDuration"]
    result["script"] = delta["ScriptDuration"]
    result["layout_style"] = delta["LayoutDuration"] + delta["RecalcStyleDuration"]
    return result


def profile_times(profile: dict, top: int = 15) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """Of a CDP CPU profile: self time (ms) per function, largest first, and
    total time (self + callees) of each function of stream.js."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", ())}

    def name(node: dict) -> str:
        frame = node["callFrame"]
        url = frame["url"].rsplit("/", 1)[-1]
        where = f" {url}:{frame['lineNumber'] + 1}" if url else ""
        return f"{frame['functionName'] or '(anonymous)'}{where}"

    own: dict[str, float] = defaultdict(float)
    total: dict[str, float] = defaultdict(float)
    deltas = profile["timeDeltas"]
    for sample, delta in zip(profile["samples"], [*deltas[1:], 0], strict=True):
        ms = delta / 1e3
        own[name(nodes[sample])] += ms
        seen = set()
        node_id: int | None = sample
        while node_id is not None:
            node = nodes[node_id]
            if node["callFrame"]["url"].endswith("/static/stream.js"):
                seen.add(name(node))
            node_id = parent.get(node_id)
        for function in seen:
            total[function] += ms
    ranked = lambda times: sorted(((ms, n) for n, ms in times.items()), reverse=True)[:top]  # noqa: E731
    return ranked(own), ranked(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of ours and smd (median and best shown)")
    parser.add_argument("--marked-runs", type=int, default=1, help="runs of marked+DOMPurify (slow)")
    parser.add_argument("--profile", action="store_true", help="one more run of ours under the CDP Profiler")
    parser.add_argument("--chars", type=int, default=None, help="stream only the answer's first N characters")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a quick check that it runs: --runs 1 --marked-runs 1 --chars {SMOKE_CHARS}",
    )
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.marked_runs, args.chars = 1, 1, SMOKE_CHARS
    if args.runs < 1 or args.marked_runs < 1 or (args.chars is not None and args.chars < 1):
        raise SystemExit("need --runs >= 1, --marked-runs >= 1 and --chars >= 1")

    began = time.monotonic()
    versions = ensure_packages()
    text = answer_text(args.chars)
    data = workload(text)
    server = serve(json.dumps(data).encode())
    url = f"http://127.0.0.1:{server.server_address[1]}/bench/client/harness.html"
    ops = [op for step in data["steps"] for op in step] + data["end"]
    counts = defaultdict(int)
    for kind, _ in ops:
        counts[kind] += 1
    print(
        f"answer: {len(text.encode())} bytes, {len(data['tokens'])} tokens of {TOKEN} chars; "
        f"ours gets {len(ops)} ops ({dict(sorted(counts.items()))}) at "
        f"{sum(1 for step in data['steps'] if step)} of the tokens, "
        f"{sum(len(html) for _, html in ops)} bytes of HTML"
    )
    print("peers: " + ", ".join(f"{name} {version}" for name, version in versions.items()))

    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict]] = {peer: [] for peer in PEERS}
    runs = {"ours": args.runs, "smd": args.runs, "marked": args.marked_runs}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        run_once(context, url, "ours")  # warm-up: the page loads every peer's modules
        for index in range(max(runs.values())):
            for peer in PEERS:
                if index < runs[peer]:
                    results[peer].append(run_once(context, url, peer))
        profiled = run_once(context, url, "ours", profile=True) if args.profile else None
        dissected = None
        if args.profile:
            page = context.new_page()
            open_harness(page, url)
            dissected = page.evaluate("window.bench.dissect(5)")
            page.close()
        browser.close()
    server.shutdown()

    def median(peer: str, key: str) -> float:
        return statistics.median(r[key] for r in results[peer])

    base = median("smd", "task")
    header = (
        f"{'peer':20} {'runs':>4} {'Task ms':>9} {'best':>8} {'Script':>8} {'Lay+Sty':>8} "
        f"{'longest':>8} {'p99':>6} {'>16ms':>6} {'longtasks':>10} {'vs smd':>7}"
    )
    print()
    print(header)
    print("-" * len(header))
    for peer in PEERS:
        rs = results[peer]
        longtasks = sorted(len(r["longtasks"]) for r in rs)[len(rs) // 2]
        longest_lt = max((t["duration"] for r in rs for t in r["longtasks"]), default=0.0)
        print(
            f"{LABELS[peer]:20} {len(rs):4d} {median(peer, 'task'):9.1f} {min(r['task'] for r in rs):8.1f} "
            f"{median(peer, 'script'):8.1f} {median(peer, 'layout_style'):8.1f} "
            f"{median(peer, 'max'):8.1f} {median(peer, 'p99'):6.2f} {median(peer, 'over16'):6.0f} "
            f"{f'{longtasks} ({longest_lt:.0f})' if longtasks else '0':>10} {median(peer, 'task') / base:7.2f}"
        )
    print(
        "\nTask/Script/Lay+Sty: CDP Performance.getMetrics deltas (median run; 'best' = least Task); "
        "longest/p99: one arrival's work + forced layout (performance.now, ms); "
        "longtasks: count of 'longtask' entries in the median run (longest over all runs, ms)."
    )
    ours = results["ours"]
    task_ok = median("ours", "task") <= base
    long_ok = median("ours", "max") <= 16 and not any(r["longtasks"] for r in ours)
    print(
        f"goals: main-thread time <= smd: {'yes' if task_ok else 'NO'} "
        f"({median('ours', 'task'):.1f} vs {base:.1f} ms); "
        f"no task over 16 ms: {'yes' if long_ok else 'NO'} (longest arrival {median('ours', 'max'):.1f} ms)"
    )
    for peer in PEERS:
        each = ", ".join(f"{r['task']:.0f}/{r['max']:.1f}" for r in results[peer])
        print(f"  {LABELS[peer]} runs (Task ms/longest ms): {each}")
    for peer in PEERS:
        r = results[peer][0]
        same = "identical text" if r["textSame"] else f"{r['text']} chars of text (answer has {r['textExpected']})"
        print(f"  {LABELS[peer]}: {r['nodes']} elements, {same}, {r['wall']:.0f} ms wall")

    def detail(run: dict, title: str) -> None:
        print(f"\n{title}: apply time per op kind (ms)")
        for kind, k in sorted(run["kinds"].items(), key=lambda item: -item[1]["ms"]):
            print(f"  {kind:8} {k['count']:5d} ops {k['bytes']:7d} B  total {k['ms']:7.2f}  max {k['max']:6.2f}")
        print(f"  arrivals: work {run['work']:.1f} ms + forced layout {run['layout']:.1f} ms")
        print("  slowest arrivals (index: total = work + layout ms; ops as kind:bytes):")
        for s in run["slowest"]:
            print(f"    {s['index']:5d}: {s['ms']:6.2f} = {s['work']:6.2f} + {s['layout']:6.2f}  {s['ops']}")

    median_ours = sorted(ours, key=lambda r: r["task"])[len(ours) // 2]
    detail(median_ours, "ours, median run")
    for peer in ("smd", "marked"):
        r = sorted(results[peer], key=lambda r: r["task"])[len(results[peer]) // 2]
        print(f"\n{LABELS[peer]}, median run: work {r['work']:.1f} ms + forced layout {r['layout']:.1f} ms; slowest:")
        for s in r["slowest"][:3]:
            print(f"    {s['index']:5d}: {s['ms']:6.2f} = {s['work']:6.2f} + {s['layout']:6.2f}")
    if profiled:
        print(
            "\nours under the CDP Profiler (100 us sampling): self time by function "
            "(forceLayout = style+layout; (program) = native work outside JS, e.g. paint)"
        )
        own, total = profile_times(profiled["profile"])
        for ms, name in own:
            print(f"  {ms:8.2f} ms  {name}")
        print("stream.js functions, total time (self + callees, native DOM calls included)")
        for ms, name in total:
            print(f"  {ms:8.2f} ms  {name}")
    if dissected:
        d = dissected
        print(
            f"\nours, arrival {d['arrival']} taken apart (its largest op: {d['bytes']} B, {d['elements']} elements; "
            f"best of 5, ms): template.innerHTML {d['templateParse']:.1f}, whole parseFragment "
            f"{d['parseFragment']:.1f} (so scrub ~{d['parseFragment'] - d['templateParse']:.1f}); one op at a time:"
        )
        for step in d["steps"]:
            print(f"  {step['op']:12} apply {step['apply']:6.2f}, then forced layout {step['layout']:6.2f}")
    print(f"\n({time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()

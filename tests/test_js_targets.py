"""``--js`` targets in Chromium (``renderer.harness.oracle.targets``): the
example adapters over the real npm packages (marked + DOMPurify, marked
alone, streaming-markdown), and small modules written here for the edges.

The npm packages are those pinned in ``examples/harness/package.json``,
installed by ``scripts/harness-npm`` into ``.cache/npm`` (git-ignored); a
test that needs them installs them once, and skips when npm or the registry
is not there. Browser runs use a sample of the corpus (every 25th payload
plus named ones); the whole corpus is the command's job (docs/harness.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest

from renderer.harness.corpus import Payload, load_corpus
from renderer.harness.oracle.targets import PageServer, import_map, package_entry
from renderer.harness.results import Outcome
from renderer.harness.run import check_target
from renderer.harness.targets import JsTarget, TargetUnusable

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "harness"
NPM_PREFIX = ROOT / ".cache" / "npm"
PACKAGES = tuple(json.loads((EXAMPLES / "package.json").read_text(encoding="utf-8"))["dependencies"])
NAMED = (
    "event-handler/img-onerror-canary",
    "markdown-url/link-leading-control",
    "split/img-onerror-canary",
    "mxss/svg-p-style",
    "scheme-matrix/md-link-javascript",
)


def needs_browser() -> None:
    pytest.importorskip("playwright.sync_api")
    if not (os.environ.get("RENDERER_CHROMIUM") or os.path.exists("/usr/bin/chromium")):
        pytest.skip("no Chromium at /usr/bin/chromium (or RENDERER_CHROMIUM)")


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """The pinned npm packages, installed once into .cache/npm."""
    needs_browser()
    folder = NPM_PREFIX / "node_modules"
    if not all((folder / name / "package.json").is_file() for name in PACKAGES):
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed")
        try:
            done = subprocess.run(
                ["bash", str(ROOT / "scripts" / "harness-npm")], capture_output=True, text=True, timeout=300
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm install took too long (no registry?)")
        if done.returncode != 0:
            pytest.skip(f"npm install failed (no registry?): {done.stderr.strip()[-200:]}")
    return folder


@pytest.fixture(scope="module")
def sample() -> list[Payload]:
    corpus = load_corpus()
    chosen = corpus[::25]
    return chosen + [payload for payload in corpus if payload.name in NAMED and payload not in chosen]


def by_name(report_outcomes: Sequence[Outcome]) -> dict[str, Outcome]:
    return {outcome.payload.name: outcome for outcome in report_outcomes}


def test_the_import_map_resolves_each_package_for_the_browser(node_modules: Path) -> None:
    assert package_entry(node_modules / "marked") == "./lib/marked.esm.js"
    assert package_entry(node_modules / "dompurify") == "./dist/purify.es.mjs"
    assert package_entry(node_modules / "streaming-markdown") == "./smd.js"
    imports = import_map(node_modules)["imports"]
    assert imports["marked"] == "/node_modules/marked/lib/marked.esm.js"
    assert imports["dompurify/"] == "/node_modules/dompurify/"


def test_the_page_server_serves_the_module_and_packages_and_nothing_else(node_modules: Path) -> None:
    target = JsTarget(EXAMPLES / "marked-dompurify.mjs", node_modules=node_modules)
    with PageServer(target) as server:
        page = urllib.request.urlopen(server.url("/")).read().decode()
        assert '"marked": "/node_modules/marked/lib/marked.esm.js"' in page
        with urllib.request.urlopen(server.url("/module/marked-dompurify.mjs")) as answer:
            assert answer.headers["Content-Type"] == "text/javascript; charset=utf-8"
        for path in ("/module/../../../etc/passwd", "/module/%2e%2e/%2e%2e/pyproject.toml", "/elsewhere"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(server.url(path))


def test_marked_with_dompurify_lets_nothing_of_the_sample_through(node_modules: Path, sample: list[Payload]) -> None:
    target = JsTarget(EXAMPLES / "marked-dompurify.mjs", node_modules=node_modules)
    report = check_target(sample, target, stream=True, chunk_size=8)
    assert [outcome.payload.name for outcome in report.outcomes if outcome.failed] == []
    assert report.browser and report.browser.startswith("chromium ")
    assert sum(outcome.states for outcome in report.outcomes) > len(sample)


def test_marked_alone_is_caught_executing(node_modules: Path) -> None:
    payloads = [p for p in load_corpus() if p.name in ("event-handler/img-onerror-canary", "script/canary")]
    report = check_target(
        [*payloads, Payload("t/ok", "*fine*")], JsTarget(EXAMPLES / "marked-raw.mjs", node_modules=node_modules)
    )
    outcomes = by_name(report.outcomes)
    img = outcomes["event-handler/img-onerror-canary"]
    assert img.worst == "executed" and "canary: __xss = 1" in img.evidence
    assert "<img onerror>" in img.problems[0].found
    assert outcomes["t/ok"].worst == "clean"


def test_streaming_markdown_is_fed_chunk_by_chunk_through_its_writer(node_modules: Path, sample: list[Payload]) -> None:
    target = JsTarget(EXAMPLES / "streaming-markdown.mjs", node_modules=node_modules)
    report = check_target(sample, target, stream=True, chunk_size=1)
    outcomes = by_name(report.outcomes)
    assert all(outcome.error is None for outcome in report.outcomes)
    assert not any(outcome.verdict == "executed" for outcome in report.outcomes)
    # It builds DOM nodes, never parses HTML: raw HTML stays text...
    canary = outcomes["event-handler/img-onerror-canary"]
    assert canary.worst == "clean" and "&lt;img" in canary.dom
    # ...but a control character before javascript: gets past its URL check
    # (the URL parser strips it): a link that would run when clicked.
    control = outcomes["markdown-url/link-leading-control"]
    assert control.worst == "disallowed"
    assert 'live DOM holds <a href="javascript:...">' in control.evidence


def test_modules_that_break_are_errors_and_writers_may_be_functions(tmp_path: Path) -> None:
    needs_browser()
    (tmp_path / "function-writer.mjs").write_text(
        "export function mount(el) { let text = ''; return (chunk) => { text += chunk; el.textContent = text; }; }\n"
    )
    (tmp_path / "throws.mjs").write_text("export function render(text) { throw new Error('nope: ' + text.length); }\n")
    (tmp_path / "empty.mjs").write_text("export const nothing = 1;\n")
    payloads = [Payload("t/a", "<img src=x onerror=__xss=1>")]
    fine = check_target(payloads, JsTarget(tmp_path / "function-writer.mjs"), stream=True)
    assert fine.outcomes[0].worst == "clean" and fine.outcomes[0].states == len(payloads[0].text)
    thrown = check_target(payloads, JsTarget(tmp_path / "throws.mjs"))
    assert thrown.outcomes[0].error == "Error: nope: 27"
    empty = check_target(payloads, JsTarget(tmp_path / "empty.mjs"))
    assert empty.outcomes[0].error == "the module exports neither render(text) nor mount(element)"


def test_a_missing_module_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(TargetUnusable, match="no module at"):
        JsTarget(tmp_path / "missing.mjs")


def test_the_command_checks_a_js_target(node_modules: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    # Quoted: CommonMark's raw HTML has no unquoted value with "=" in it.
    corpus.write_text('{"name": "a/img", "payload": "<img src=\\"x\\" onerror=\\"__xss=1\\">"}\n')
    junit = tmp_path / "junit.xml"
    args = ["--js", str(EXAMPLES / "marked-raw.mjs"), "--node-modules", str(node_modules), "--junit", str(junit)]
    done = subprocess.run(
        [sys.executable, "-m", "renderer", "xss-check", str(corpus), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 3, done.stderr
    assert f"js: {EXAMPLES / 'marked-raw.mjs'}, browser: chromium " in done.stdout
    assert "canary: __xss = 1" in done.stdout
    assert 'failures="1"' in junit.read_text(encoding="utf-8")


def test_a_module_that_cannot_be_imported_makes_the_target_unusable(tmp_path: Path) -> None:
    needs_browser()
    (tmp_path / "bare.mjs").write_text(
        'import { marked } from "marked";\nexport const render = (t) => marked.parse(t);\n'
    )
    with pytest.raises(TargetUnusable, match=r"cannot import bare\.mjs: .*\"marked\".*pass --node-modules DIR"):
        check_target([Payload("t/a", "x")], JsTarget(tmp_path / "bare.mjs"))

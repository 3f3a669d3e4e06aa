"""Report formats (``renderer.harness.report``): JSON, JUnit XML in the shape
CI readers take, the self-contained HTML report opened in Chromium, and the
progress bar."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from renderer.harness.corpus import Payload
from renderer.harness.oracle.browser import ORACLE_JS, with_browser
from renderer.harness.report import ProgressBar, format_report, to_html, to_json, to_junit
from renderer.harness.results import CANARY, Report
from renderer.harness.run import check_target
from renderer.harness.targets import FunctionTarget


def weak_render(text: str) -> str:
    if text == "boom":
        raise RuntimeError("the renderer fell over")
    return f"<p>{text}</p>"


PAYLOADS = [
    Payload("event/img", '<img src=x onerror="__xss=1">', ("event-handler",), "PortSwigger"),
    Payload("event/svg", "<svg onload=alert(1)>", ("event-handler", "namespace-confusion"), "PortSwigger"),
    Payload("url/js", "<a href='javascript:__xss=1'>x</a>", ("url-scheme",), "OWASP"),
    Payload("plain/ok", "hello & <b>bye</b>", (), ""),
    Payload("plain/boom", "boom", (), ""),
    Payload("odd/controls", "\x01\x0b<b>\ud800</b>", ("encoding",), "this test"),
]


@pytest.fixture(scope="module")
def report() -> Report:
    return check_target(PAYLOADS, FunctionTarget(weak_render))


def test_the_json_report_has_counts_and_each_failing_payload_with_its_dom(report: Report) -> None:
    data = json.loads(to_json(report))
    assert data["version"] == 1 and data["passed"] is False and data["payloads"] == 6
    assert data["results"] == {"clean": 2, "blocked": 0, "disallowed": 3, "executed": 0, "error": 1}
    first = data["outcomes"][0]
    assert first["name"] == "event/img" and first["result"] == "disallowed" and first["failed"] is True
    assert first["classes"] == ["event-handler"] and first["source"] == "PortSwigger"
    assert first["dom"] == '<p><img src=x onerror="__xss=1"></p>'
    assert first["problems"][0]["found"] == ["<img onerror>"]
    assert "dom" not in data["outcomes"][3]  # passing payloads stay short
    assert data["outcomes"][4]["error"] == "RuntimeError: the renderer fell over"


def test_junit_xml_has_the_shape_ci_readers_take_with_consistent_counts(report: Report) -> None:
    text = to_junit(report)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [suite.get("name") for suite in suites] == [
        "xss-check.event",
        "xss-check.odd",
        "xss-check.plain",
        "xss-check.url",
    ]
    for key, child in (("tests", "testcase"), ("failures", "testcase/failure"), ("errors", "testcase/error")):
        per_suite = [len(suite.findall(child)) for suite in suites]
        assert [int(suite.get(key, "-1")) for suite in suites] == per_suite
        assert int(root.get(key, "-1")) == sum(per_suite)
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("6", "3", "1", "0")
    for case in root.iter("testcase"):
        assert case.get("classname", "").startswith("xss-check.") and case.get("name")
        float(case.get("time", "x"))
    failure = root.find("testsuite/testcase[@name='event/img']/failure")
    assert failure is not None and failure.get("type") == "disallowed"
    assert failure.get("message", "").startswith("disallowed: <img onerror>")
    assert 'dom: <p><img src=x onerror="__xss=1"></p>' in (failure.text or "")
    error = root.find("testsuite/testcase[@name='plain/boom']/error")
    assert error is not None and "the renderer fell over" in error.get("message", "")
    # Characters XML 1.0 cannot hold are written as escapes, not dropped silently.
    odd = root.find("testsuite/testcase[@name='odd/controls']")
    assert odd is not None and odd.find("failure") is None


def test_junit_xml_is_read_by_junitparser_when_it_is_installed(report: Report, tmp_path: Path) -> None:
    junitparser = pytest.importorskip("junitparser")
    path = tmp_path / "junit.xml"
    path.write_text(to_junit(report), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    assert sum(suite.tests for suite in xml) == 6
    results = [type(result).__name__ for suite in xml for case in suite for result in case.result]
    assert sorted(results) == ["Error", "Failure", "Failure", "Failure"]


def test_failing_payload_xml_escapes_invalid_characters() -> None:
    weak = check_target([Payload("odd/x", "\x01<img src=x onerror=y>\ud800")], FunctionTarget(lambda t: t))
    root = ET.fromstring(to_junit(weak).encode("utf-8"))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and "\\x01<img" in (failure.text or "") and "\\ud800" in (failure.text or "")


def test_the_progress_bar_draws_once_per_percent_and_clears() -> None:
    out = io.StringIO()
    bar = ProgressBar(out)
    for done in range(1, 1001):
        bar(done, 1000)
    bar.done()
    assert bar.drawn == 101  # 0 % to 100 %
    assert "[" + "#" * 30 + "] 1000/1000 payloads" in out.getvalue()
    assert out.getvalue().endswith("\r" + " " * 60 + "\r")
    quiet = io.StringIO()
    ProgressBar(quiet, enabled=False)(1, 2)
    assert quiet.getvalue() == ""


def test_the_html_report_is_one_file_without_script(report: Report) -> None:
    page = to_html(report)
    assert "<script" not in page.lower().replace("&lt;script", "")
    assert "default-src 'none'" in page
    assert page.count('<section class="payload"') == 4
    assert "&lt;img src=x onerror=&quot;__xss=1&quot;&gt;" in page


@pytest.mark.browser
def test_the_html_report_opens_in_chromium_and_nothing_in_it_runs(report: Report, tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    if not (os.environ.get("RENDERER_CHROMIUM") or os.path.exists("/usr/bin/chromium")):
        pytest.skip("no Chromium")
    path = tmp_path / "report.html"
    path.write_text(to_html(report), encoding="utf-8")

    def look(browser: Any) -> dict[str, Any]:
        context = browser.new_context()
        try:
            context.add_init_script(ORACLE_JS.replace("__CANARY__", CANARY))
            page = context.new_page()
            page.goto(path.as_uri(), wait_until="load")
            return dict(
                page.evaluate(
                    """() => ({
                    title: document.title,
                    verdict: document.querySelector('#verdict').textContent,
                    sections: [...document.querySelectorAll('section.payload h4')].map((h) => h.textContent),
                    dom: document.querySelector('section.payload pre.dom').textContent,
                    images: document.images.length,
                    signals: window.__xssOracle.signals.filter(([kind]) => kind !== 'csp'),
                    summary: document.querySelector('pre.summary').textContent,
                  })"""
                )
            )
        finally:
            context.close()

    seen = with_browser(look)
    assert seen["title"] == "xss-check report" and seen["verdict"] == "FAIL"
    assert seen["sections"] == ["event/img disallowed", "event/svg disallowed", "url/js disallowed", "plain/boom error"]
    assert seen["dom"] == '<p><img src=x onerror="__xss=1"></p>'
    assert seen["images"] == 0 and seen["signals"] == []
    assert "total" in seen["summary"] and format_report(report)[3].split()[0] == "group"

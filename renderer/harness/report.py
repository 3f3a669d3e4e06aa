"""Reports of a run: text (the table), JSON, JUnit XML and a self-contained HTML page.

``format_report`` gives the text the command prints; ``to_json``,
``to_junit`` and ``to_html`` give the other formats as strings, for files;
``ProgressBar`` draws progress on a terminal during long runs.

The HTML report holds hostile payloads and the DOM they produced: it shows
them only as escaped text, runs no script at all, and says so in its own
Content-Security-Policy (``default-src 'none'``), so opening it is safe.

JUnit XML follows the shape every CI reader takes (Jenkins, GitLab, GitHub
actions, Azure, pytest's own writer): ``testsuites`` > ``testsuite`` (one per
payload group) > ``testcase`` (one per payload, ``classname`` the group),
with a ``failure`` for a payload that ran or left disallowed markup and an
``error`` for one the target broke on; the counts on each suite and on the
root add up.
"""

from __future__ import annotations

import html as html_module
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from .danger import DANGER_RULES
from .results import BROWSER_CLASSES, Outcome, Report

__all__ = [
    "JSON_VERSION",
    "ProgressBar",
    "format_report",
    "outcome_json",
    "report_json",
    "to_html",
    "to_json",
    "to_junit",
]

JSON_VERSION = 1
"""The version of the JSON report's shape; it changes only when a field's
meaning does (fields may be added)."""

_SHOWN_HTML = 100
"""Characters of offending HTML shown in a report line."""

_COLUMNS = ("group", "payloads", "states", "disallowed", *BROWSER_CLASSES)
_SHOWN_FAILURES = 20


def shorten(text: str, limit: int = _SHOWN_HTML) -> str:
    text = json.dumps(text, ensure_ascii=False)[1:-1]
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def format_report(report: Report) -> list[str]:
    """The report as lines of text: a table by payload group, then failures."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in report.outcomes:
        groups.setdefault(outcome.payload.group, []).append(outcome)
    rows: list[tuple[str, ...]] = []

    broke = any(outcome.error is not None for outcome in report.outcomes)
    columns = (*_COLUMNS, "error") if broke else _COLUMNS

    def row(label: str, outcomes: list[Outcome]) -> tuple[str, ...]:
        verdicts = Counter(outcome.verdict for outcome in outcomes)
        browser = [str(verdicts[name]) if report.browser else "-" for name in BROWSER_CLASSES]
        disallowed = sum(1 for outcome in outcomes if outcome.problems)
        errors = [str(sum(outcome.error is not None for outcome in outcomes))] if broke else []
        return (label, str(len(outcomes)), str(sum(o.states for o in outcomes)), str(disallowed), *browser, *errors)

    for group in sorted(groups):
        rows.append(row(group, groups[group]))
    total = row("total", report.outcomes)
    widths = [max(len(cells[i]) for cells in [columns, *rows, total]) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join(
            [first, *(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))]
        ).rstrip()

    def span(label: str, first: int, last: int) -> str:
        """label centred in dashes over columns first..last."""
        width = sum(widths[first : last + 1]) + 2 * (last - first)
        return f" {label} ".center(width, "-")

    heading = "  ".join([" " * (widths[0] + 2 + widths[1]), span("static", 2, 3), span("browser", 4, 7)])

    where = f"browser: {report.browser}" if report.browser else "browser: not run (add --browser)"
    what = (
        f"sanitizer {report.sanitizer}" if report.target.startswith("pipeline") or not report.target else report.target
    )
    lines = [
        f"xss-check: {len(report.outcomes)} payloads ({report.corpus}), {what}, {where}",
        "",
        heading,
        line(columns),
        *map(line, rows),
        line(total),
        "",
    ]
    failures = [outcome for outcome in report.outcomes if outcome.failed]
    for outcome in failures[:_SHOWN_FAILURES]:
        lines.append(f"FAIL {outcome.payload.name}: {shorten(outcome.payload.text, 60)}")
        for problem in outcome.problems[:2]:
            lines.append(f'  static: {problem.route}: {", ".join(problem.found)} in "{shorten(problem.html)}"')
        if outcome.error is not None:
            lines.append(f"  error: {shorten(outcome.error)}")
        if outcome.verdict in ("disallowed", "executed"):
            lines.append(f"  browser: {outcome.verdict}: {'; '.join(outcome.evidence[:3])}")
    if len(failures) > _SHOWN_FAILURES:
        lines.append(f"... and {len(failures) - _SHOWN_FAILURES} more failing payloads")
    diverged = [outcome for outcome in report.outcomes if outcome.diverged]
    if diverged:
        names = ", ".join(outcome.payload.name for outcome in diverged[:5])
        lines.append(f"note: {len(diverged)} payloads streamed to other HTML than render_markdown ({names})")
    errors = [outcome for outcome in report.outcomes if outcome.client_errors and outcome.error is None]
    if errors:
        names = ", ".join(outcome.payload.name for outcome in errors[:5])
        lines.append(f"note: stream.js refused ops of {len(errors)} payloads ({names})")
    executed = sum(outcome.verdict == "executed" for outcome in report.outcomes)
    disallowed = sum(bool(outcome.problems) or outcome.verdict == "disallowed" for outcome in report.outcomes)
    verdict = "FAIL" if report.failed else "PASS"
    broken = sum(outcome.error is not None for outcome in report.outcomes)
    lines.append(
        f"{verdict}: {executed} executed, {disallowed} with disallowed output, "
        + (f"{broken} broke the target, " if broken else "")
        + f"{sum(o.states for o in report.outcomes)} HTML states checked in {report.seconds:.1f} s"
    )
    return lines


# -- JSON ------------------------------------------------------------------------------------


def outcome_json(outcome: Outcome, *, dom: bool = True) -> dict[str, Any]:
    """One payload's record in the JSON report."""
    record: dict[str, Any] = {
        "name": outcome.payload.name,
        "group": outcome.payload.group,
        "classes": list(outcome.payload.classes),
        "source": outcome.payload.source,
        "result": outcome.worst,
        "failed": outcome.failed,
        "states": outcome.states,
        "problems": [{"route": p.route, "found": p.found, "html": p.html} for p in outcome.problems],
        "verdict": outcome.verdict,
        "evidence": outcome.evidence,
        "error": outcome.error,
    }
    if outcome.diverged:
        record["diverged"] = outcome.diverged
    if dom:
        record["payload"] = outcome.payload.text
        record["dom"] = outcome.dom
    return record


def report_json(report: Report) -> dict[str, Any]:
    """The JSON report as a value: the run, counts by result, every payload
    (the payload and its DOM for failing ones only, to keep it small)."""
    results = Counter(outcome.worst for outcome in report.outcomes)
    return {
        "version": JSON_VERSION,
        "target": report.target,
        "corpus": report.corpus,
        "browser": report.browser,
        "seconds": round(report.seconds, 3),
        "passed": not report.failed,
        "payloads": len(report.outcomes),
        "results": {name: results[name] for name in ("clean", "blocked", "disallowed", "executed", "error")},
        "outcomes": [outcome_json(outcome, dom=outcome.failed) for outcome in report.outcomes],
    }


def to_json(report: Report) -> str:
    """The JSON report (see ``report_json``), one document."""
    return json.dumps(report_json(report), indent=1) + "\n"  # ASCII: payloads hold lone surrogates


# -- JUnit XML -------------------------------------------------------------------------------

# XML 1.0 cannot hold these at all, not even as character references.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def _details(outcome: Outcome) -> str:
    """What happened, as plain text (the body of a failure, and the HTML report's list)."""
    lines = [f"payload: {outcome.payload.text}"]
    if outcome.payload.classes:
        lines.append(f"classes: {', '.join(outcome.payload.classes)}")
    if outcome.payload.source:
        lines.append(f"source: {outcome.payload.source}")
    if outcome.error is not None:
        lines.append(f"error: {outcome.error}")
    for problem in outcome.problems:
        lines.append(f"static: {problem.route}: {', '.join(problem.found)} in {problem.html}")
    lines += [f"browser: {item}" for item in outcome.evidence]
    if outcome.dom:
        lines.append(f"dom: {outcome.dom}")
    return "\n".join(lines)


def _message(outcome: Outcome) -> str:
    if outcome.error is not None:
        return f"the target broke: {outcome.error}"
    found = [entry for problem in outcome.problems for entry in problem.found]
    first = outcome.evidence[0] if outcome.evidence else ", ".join(dict.fromkeys(found))
    return f"{outcome.worst}: {first}"


def to_junit(report: Report) -> str:
    """The report as JUnit XML (see the module docstring for its shape)."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in report.outcomes:
        groups.setdefault(outcome.payload.group, []).append(outcome)
    per_case = report.seconds / len(report.outcomes) if report.outcomes else 0.0
    failures = sum(outcome.failed and outcome.error is None for outcome in report.outcomes)
    errors = sum(outcome.error is not None for outcome in report.outcomes)
    root = ET.Element(
        "testsuites",
        name="xss-check",
        tests=str(len(report.outcomes)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{report.seconds:.3f}",
    )
    for group in sorted(groups):
        outcomes = groups[group]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"xss-check.{group}",
            tests=str(len(outcomes)),
            failures=str(sum(o.failed and o.error is None for o in outcomes)),
            errors=str(sum(o.error is not None for o in outcomes)),
            skipped="0",
            time=f"{per_case * len(outcomes):.3f}",
        )
        properties = ET.SubElement(suite, "properties")
        for name, value in (("target", report.target), ("corpus", report.corpus), ("browser", report.browser)):
            ET.SubElement(properties, "property", name=name, value=_xml_text(value or "not run"))
        for outcome in outcomes:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"xss-check.{group}",
                name=_xml_text(outcome.payload.name),
                time=f"{per_case:.3f}",
            )
            if outcome.failed:
                kind = "error" if outcome.error is not None else "failure"
                element = ET.SubElement(case, kind, message=_xml_text(_message(outcome)[:500]), type=outcome.worst)
                element.text = _xml_text(_details(outcome))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; } th, td { padding: .2em .7em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
pre { white-space: pre-wrap; word-break: break-all; background: #f6f6f6; padding: .5em; margin: .2em 0; }
.pass { color: #17692b; } .fail { color: #b00020; }
section.payload { border-left: 4px solid #b00020; padding-left: 1em; margin: 1.5em 0; }
.result { font-weight: bold; text-transform: uppercase; }
"""


def _e(text: str) -> str:
    return html_module.escape(_xml_text(text), quote=True)


def to_html(report: Report, *more: Report, title: str = "xss-check report") -> str:
    """A self-contained HTML page: for each report (two in differential
    mode), the summary table, then every failing payload with the payload,
    what happened, and the DOM it produced."""
    reports = (report, *more)
    failed = any(one.failed for one in reports)
    verdict = "FAIL" if failed else "PASS"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f'<h1>{_e(title)}: <span class="{verdict.lower()}" id="verdict">{verdict}</span></h1>',
        "<details><summary>What counts as disallowed for a foreign target</summary><ul>",
        *(f"<li>{_e(rule)}</li>" for rule in DANGER_RULES),
        "</ul></details>",
    ]
    for index, one in enumerate(reports):
        parts += _html_report(one, f"r{index}")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_report(report: Report, key: str) -> list[str]:
    lines = format_report(report)
    table_end = lines.index("", 2) if "" in lines[2:] else len(lines)
    failing = [outcome for outcome in report.outcomes if outcome.failed]
    parts = [
        f'<h2 id="{key}">{_e(report.target or report.sanitizer)}</h2>',
        f"<p>{_e(lines[0])}</p>",
        f'<pre class="summary">{_e(chr(10).join(lines[2:table_end]))}</pre>',
        f"<p>{_e(lines[-1])}</p>",
        f'<h3 id="{key}-failing">{len(failing)} failing payloads</h3>',
    ]
    for number, outcome in enumerate(failing, 1):
        happened = [*([f"error: {outcome.error}"] if outcome.error else []), *outcome.evidence]
        parts += [
            f'<section class="payload" id="{key}-payload-{number}">',
            f'<h4>{_e(outcome.payload.name)} <span class="result">{_e(outcome.worst)}</span></h4>',
            f"<p>classes: {_e(', '.join(outcome.payload.classes) or '-')}; "
            f"source: {_e(outcome.payload.source or '-')}</p>",
            "<h5>Payload</h5>",
            f'<pre class="text">{_e(outcome.payload.text)}</pre>',
            "<h5>What it did</h5><ul>",
            *(f"<li>{_e(item)}</li>" for item in happened),
            *(f"<li>static: {_e(p.route)}: {_e(', '.join(p.found))}</li>" for p in outcome.problems),
            "</ul>",
            "<h5>The DOM it produced</h5>",
            f'<pre class="dom">{_e(outcome.dom)}</pre>',
            "</section>",
        ]
    return parts


# -- progress --------------------------------------------------------------------------------


class ProgressBar:
    """``[#####.......]  120/1000 payloads`` on one terminal line, redrawn in
    place; ``done()`` clears it. Drawn only when ``enabled`` (the command
    turns it on for a terminal, or with ``--progress``), at most once per
    1 % step, so it costs nothing on short runs."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True, label: str = "payloads") -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.label = label
        self._shown = -1
        self.drawn = 0
        """How many times the bar was drawn (tests look here)."""

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        step = done * 100 // total
        if step == self._shown:
            return
        self._shown = step
        filled = done * 30 // total
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:>{len(str(total))}}/{total} {self.label}")
        self.stream.flush()
        self.drawn += 1

    def done(self) -> None:
        if self.enabled and self._shown >= 0:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()
        self._shown = -1

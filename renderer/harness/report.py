"""Reports of a run: text (the table), JSON, JUnit XML and a self-contained HTML page.

``format_report`` gives the text the command prints; ``to_json``,
``to_junit`` and ``to_html`` give the other formats as strings, for files.
The HTML report holds hostile payloads and the DOM they produced: it shows
them only as escaped text, runs no script at all, and says so in its own
Content-Security-Policy (``default-src 'none'``), so opening it is safe.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from .results import BROWSER_CLASSES, Outcome, Report

__all__ = ["format_report"]

_SHOWN_HTML = 100
"""Characters of offending HTML shown in a report line."""
# -- the report ----------------------------------------------------------------------------

_COLUMNS = ("group", "payloads", "states", "disallowed", *BROWSER_CLASSES)
_SHOWN_FAILURES = 20


def _shorten(text: str, limit: int = _SHOWN_HTML) -> str:
    text = json.dumps(text, ensure_ascii=False)[1:-1]
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def format_report(report: Report) -> list[str]:
    """The report as lines of text: a table by payload group, then failures."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in report.outcomes:
        groups.setdefault(outcome.payload.group, []).append(outcome)
    rows: list[tuple[str, ...]] = []

    def row(label: str, outcomes: list[Outcome]) -> tuple[str, ...]:
        verdicts = Counter(outcome.verdict for outcome in outcomes)
        browser = [str(verdicts[name]) if report.browser else "-" for name in BROWSER_CLASSES]
        disallowed = sum(1 for outcome in outcomes if outcome.problems)
        return (label, str(len(outcomes)), str(sum(o.states for o in outcomes)), str(disallowed), *browser)

    for group in sorted(groups):
        rows.append(row(group, groups[group]))
    total = row("total", report.outcomes)
    widths = [max(len(cells[i]) for cells in [_COLUMNS, *rows, total]) for i in range(len(_COLUMNS))]

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
    lines = [
        f"xss-check: {len(report.outcomes)} payloads ({report.corpus}), sanitizer {report.sanitizer}, {where}",
        "",
        heading,
        line(_COLUMNS),
        *map(line, rows),
        line(total),
        "",
    ]
    failures = [outcome for outcome in report.outcomes if outcome.failed]
    for outcome in failures[:_SHOWN_FAILURES]:
        lines.append(f"FAIL {outcome.payload.name}: {_shorten(outcome.payload.text, 60)}")
        for problem in outcome.problems[:2]:
            lines.append(f'  static: {problem.route}: {", ".join(problem.found)} in "{_shorten(problem.html)}"')
        if outcome.verdict in ("disallowed", "executed"):
            lines.append(f"  browser: {outcome.verdict}: {'; '.join(outcome.evidence[:3])}")
    if len(failures) > _SHOWN_FAILURES:
        lines.append(f"... and {len(failures) - _SHOWN_FAILURES} more failing payloads")
    diverged = [outcome for outcome in report.outcomes if outcome.diverged]
    if diverged:
        names = ", ".join(outcome.payload.name for outcome in diverged[:5])
        lines.append(f"note: {len(diverged)} payloads streamed to other HTML than render_markdown ({names})")
    errors = [outcome for outcome in report.outcomes if outcome.client_errors]
    if errors:
        names = ", ".join(outcome.payload.name for outcome in errors[:5])
        lines.append(f"note: stream.js refused ops of {len(errors)} payloads ({names})")
    executed = sum(outcome.verdict == "executed" for outcome in report.outcomes)
    disallowed = sum(bool(outcome.problems) or outcome.verdict == "disallowed" for outcome in report.outcomes)
    verdict = "FAIL" if report.failed else "PASS"
    lines.append(
        f"{verdict}: {executed} executed, {disallowed} with disallowed output, "
        f"{sum(o.states for o in report.outcomes)} HTML states checked in {report.seconds:.1f} s"
    )
    return lines

"""Differential mode: two targets over the same payloads, side by side.

``compare(a, b)`` pairs the two reports payload by payload and sorts every
payload on which they disagree into what one target *lets through* (it
failed with ``executed`` or ``disallowed``, the other did not) or *breaks
on* (an ``error`` the other does not have). ``format_diff`` prints the two
result counts in columns, then those lists; ``diff_json`` is the same as a
value. The run fails (exit status 3) when either target fails.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .report import report_json, shorten
from .results import Report

__all__ = ["Diff", "compare", "diff_json", "format_diff"]

_RESULTS = ("clean", "blocked", "disallowed", "executed", "error")
_LETS_THROUGH = frozenset({"disallowed", "executed"})
_SHOWN = 25


@dataclass(slots=True)
class Diff:
    """Two reports and where they disagree; each list holds
    ``(payload name, result of a, result of b)``."""

    a: Report
    b: Report
    #: Payloads that only ``a`` lets through (b clean, blocked or broken).
    only_a_lets_through: list[tuple[str, str, str]] = field(default_factory=list)
    only_b_lets_through: list[tuple[str, str, str]] = field(default_factory=list)
    #: Payloads that only ``a`` breaks on.
    only_a_breaks: list[tuple[str, str, str]] = field(default_factory=list)
    only_b_breaks: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.a.failed or self.b.failed


def compare(a: Report, b: Report) -> Diff:
    """Where ``a`` and ``b`` (runs over the same payloads, in order) disagree."""
    if [o.payload.name for o in a.outcomes] != [o.payload.name for o in b.outcomes]:
        raise ValueError("the two reports are not over the same payloads")
    diff = Diff(a, b)
    for left, right in zip(a.outcomes, b.outcomes, strict=True):
        row = (left.payload.name, left.worst, right.worst)
        if left.worst in _LETS_THROUGH and right.worst not in _LETS_THROUGH:
            diff.only_a_lets_through.append(row)
        elif right.worst in _LETS_THROUGH and left.worst not in _LETS_THROUGH:
            diff.only_b_lets_through.append(row)
        if left.worst == "error" and right.worst != "error":
            diff.only_a_breaks.append(row)
        elif right.worst == "error" and left.worst != "error":
            diff.only_b_breaks.append(row)
    return diff


def format_diff(diff: Diff) -> list[str]:
    """The comparison as lines of text."""
    a, b = diff.a, diff.b
    counts = Counter(o.worst for o in a.outcomes), Counter(o.worst for o in b.outcomes)
    width = max(len("result"), *map(len, _RESULTS))
    names = ("A", "B")
    lines = [
        f"xss-check --diff: {len(a.outcomes)} payloads ({a.corpus})",
        f"  A = {a.target}" + (f" ({a.browser})" if a.browser else ""),
        f"  B = {b.target}" + (f" ({b.browser})" if b.browser else ""),
        "",
        f"{'result'.ljust(width)}  {'A':>6}  {'B':>6}",
        *(f"{name.ljust(width)}  {counts[0][name]:>6}  {counts[1][name]:>6}" for name in _RESULTS),
        "",
    ]
    by_name = {o.payload.name: o for o in a.outcomes}
    sections = (
        (f"only {names[0]} lets through", diff.only_a_lets_through),
        (f"only {names[1]} lets through", diff.only_b_lets_through),
        (f"only {names[0]} breaks on", diff.only_a_breaks),
        (f"only {names[1]} breaks on", diff.only_b_breaks),
    )
    for title, rows in sections:
        lines.append(f"{title}: {len(rows)}")
        for name, left, right in rows[:_SHOWN]:
            lines.append(f"  {name}: A {left}, B {right}: {shorten(by_name[name].payload.text, 60)}")
        if len(rows) > _SHOWN:
            lines.append(f"  ... and {len(rows) - _SHOWN} more")
    verdict = "FAIL" if diff.failed else "PASS"
    lines.append(
        f"{verdict}: A {'fails' if a.failed else 'passes'}, B {'fails' if b.failed else 'passes'}; "
        f"they disagree on {len({row[0] for _, rows in sections for row in rows})} payloads"
    )
    return lines


def diff_json(diff: Diff) -> dict[str, Any]:
    """The comparison as a value: both reports and the four lists."""
    return {
        "a": report_json(diff.a),
        "b": report_json(diff.b),
        "only_a_lets_through": [row[0] for row in diff.only_a_lets_through],
        "only_b_lets_through": [row[0] for row in diff.only_b_lets_through],
        "only_a_breaks": [row[0] for row in diff.only_a_breaks],
        "only_b_breaks": [row[0] for row in diff.only_b_breaks],
        "passed": not diff.failed,
    }

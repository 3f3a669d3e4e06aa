"""The pytest helper: assert, in a project's own suite, that its render
function lets nothing run.

::

    from renderer.harness.assertions import assert_nothing_runs, xss_params

    def test_our_markdown_renderer_lets_nothing_run():
        assert_nothing_runs(my_app.render_markdown, stream=True)

    @pytest.mark.parametrize("payload", xss_params(classes=["url-scheme"]))
    def test_each_payload(payload):
        assert_safe_html(my_app.render_markdown(payload.text))

``assert_nothing_runs`` runs the shipped corpus (or ``payloads``) through
``render`` (a callable ``text -> html`` or any ``targets.Target``), judges
every state statically by the danger rules (``danger.DANGER_RULES``; pass
``policy="allowlist"`` to hold it to this project's allowlist), and with
``browser=True`` shows each state in Chromium under the oracle. It raises
AssertionError listing the payloads that got through, what they did, and
the HTML, and returns the Report when all is well. pytest is not imported
here, except by ``xss_params`` (which builds ``pytest.param`` values).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .corpus import Payload, load_corpus, select
from .danger import check_danger
from .report import format_report
from .results import Report
from .run import check_target
from .targets import FunctionTarget, Target

__all__ = ["assert_nothing_runs", "assert_safe_html", "xss_params", "xss_payloads"]


def xss_payloads(*, classes: Sequence[str] = (), every: int = 1) -> list[Payload]:
    """The shipped corpus, only ``classes`` when given, every ``every``-th payload."""
    return select(load_corpus(), classes)[:: max(1, every)]


def xss_params(*, classes: Sequence[str] = (), every: int = 1) -> list[Any]:
    """``xss_payloads`` as ``pytest.param`` values with the payloads' names as ids."""
    import pytest

    return [pytest.param(payload, id=payload.name) for payload in xss_payloads(classes=classes, every=every)]


def assert_safe_html(html: str) -> None:
    """Fail when ``html`` holds anything the danger rules forbid."""
    found = check_danger(html)
    assert not found, f"dangerous HTML: {', '.join(found)} in {html!r}"


def assert_nothing_runs(
    render: Callable[[str], str] | Target,
    payloads: Iterable[Payload] | None = None,
    *,
    classes: Sequence[str] = (),
    stream: bool = False,
    chunk_size: int = 1,
    browser: bool = False,
    policy: str = "danger",
    jobs: int = 1,
) -> Report:
    """Fail unless every payload renders to HTML that cannot run script.

    ``stream``: also render every prefix at ``chunk_size`` characters (what a
    page re-rendering a streamed answer shows). ``browser``: also show each
    state in headless Chromium (skips nothing: it raises BackendUnavailable
    when Chromium or Playwright is missing, so guard it in your suite).
    """
    target = render if isinstance(render, Target) else FunctionTarget(render)
    if not isinstance(render, Target):
        target.policy = policy
    chosen = list(payloads) if payloads is not None else load_corpus()
    chosen = select(chosen, classes)
    report = check_target(chosen, target, stream=stream, chunk_size=chunk_size, browser=browser, jobs=jobs)
    if report.failed:
        shown = ("FAIL ", "  static:", "  browser:", "  error:", "... and")
        lines = [line for line in format_report(report) if line.startswith(shown)]
        failing = sum(outcome.failed for outcome in report.outcomes)
        raise AssertionError(
            f"{failing} of {len(report.outcomes)} payloads got through {target.name}:\n" + "\n".join(lines)
        )
    return report

"""Checking a target (``targets.Target``) over a corpus: the states it
shows, their static judgement, and the browser pass.

A payload's *states* are the HTML the target shows for it: ``render(text)``
for the whole payload and, with ``stream``, ``render(prefix)`` after every
chunk of ``chunk_size`` characters and after every chunk of the payload's
own cut (``Payload.chunks``): what a page that re-renders a streamed answer
as it grows shows along the way. Each distinct state is judged statically
(``danger.check_danger``, or the project's allowlist for the built-in
pipeline) and, with ``browser``, shown in Chromium (``oracle.targets``).

A ``--js`` target renders in the browser only: its runs of chunks go to the
page, and the states the page kept come back to be judged statically too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..sanitizer.clean import check_allowlist
from .corpus import Payload
from .danger import check_danger
from .results import Outcome, Problem, Report
from .targets import JsTarget, Target, TargetError

__all__ = ["check_target", "cuts", "runs_of"]

_MAX_PROBLEMS = 5


def cuts(payload: Payload, *, stream: bool, chunk_size: int = 1) -> list[int]:
    """The prefix lengths whose HTML is a state: the whole payload, and with
    ``stream`` every ``chunk_size`` characters and every boundary of the
    payload's own chunks."""
    text = payload.text
    ends = {len(text)}
    if stream:
        ends.update(range(chunk_size, len(text), chunk_size))
        position = 0
        for chunk in payload.chunks or ():
            position += len(chunk)
            ends.add(position)
    return sorted(end for end in ends if end > 0) or [0]


def runs_of(payload: Payload, *, stream: bool, chunk_size: int = 1) -> list[list[str]]:
    """The runs of chunks a ``--js`` target is fed: the whole payload, and
    with ``stream`` chunks of ``chunk_size`` characters and the payload's own cut."""
    text = payload.text
    runs = [[text]]
    if stream and len(text) > chunk_size:
        runs.append([text[start : start + chunk_size] for start in range(0, len(text), chunk_size)])
    if stream and payload.chunks and len(payload.chunks) > 1:
        runs.append(list(payload.chunks))
    return runs


def _judge(outcome: Outcome, states: Sequence[tuple[str, str]], policy: str) -> None:
    """Static judgement of ``(route, html)`` states, each distinct HTML once."""
    judge = check_allowlist if policy == "allowlist" else check_danger
    checked: dict[str, list[str]] = {}
    for route, html in states:
        if html in checked:
            continue
        found = checked[html] = judge(html)
        if found and len(outcome.problems) < _MAX_PROBLEMS:
            outcome.problems.append(Problem(route, found, html))
    outcome.states = len(checked)


def _render_states(payload: Payload, target: Target, *, stream: bool, chunk_size: int) -> tuple[Outcome, list[str]]:
    outcome = Outcome(payload)
    states: list[tuple[str, str]] = []
    try:
        for end in cuts(payload, stream=stream, chunk_size=chunk_size):
            label = "whole" if end == len(payload.text) else f"prefix {end}"
            states.append((label, target.render(payload.text[:end])))
    except TargetError as error:
        outcome.error = str(error)
    _judge(outcome, states, target.policy)
    if states:
        outcome.dom = states[-1][1]
    return outcome, list(dict.fromkeys(html for _, html in states))


def check_target(
    payloads: Sequence[Payload],
    target: Target,
    *,
    stream: bool = False,
    chunk_size: int = 1,
    browser: bool = False,
    jobs: int = 1,
    corpus: str = "shipped corpus",
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Check ``target`` over ``payloads`` (see the module docstring).

    ``jobs`` renders that many payloads at once (threads: a command or a URL
    waits on another process). A ``--js`` target always runs in the browser.
    Raises BackendUnavailable when the browser is needed but missing.
    """
    started = time.monotonic()
    version = None
    if isinstance(target, JsTarget) or target.in_browser:
        from .oracle.targets import check_in_browser

        assert isinstance(target, JsTarget)
        outcomes = [Outcome(payload) for payload in payloads]
        runs = [runs_of(payload, stream=stream, chunk_size=chunk_size) for payload in payloads]
        version, kept = check_in_browser(outcomes, runs=runs, target=target, progress=progress)
        for outcome, states in zip(outcomes, kept, strict=True):
            _judge(outcome, [(f"dom state {n}", html) for n, html in enumerate(states, 1)], target.policy)
            outcome.dom = outcome.problems[0].html if outcome.problems else (states[0] if states else "")
    else:

        def one(payload: Payload) -> tuple[Outcome, list[str]]:
            return _render_states(payload, target, stream=stream, chunk_size=chunk_size)

        results: list[tuple[Outcome, list[str]]] = []
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for result in pool.map(one, payloads):
                results.append(result)
                if progress:
                    progress(len(results), len(payloads))
        outcomes = [outcome for outcome, _ in results]
        if browser:
            from .oracle.targets import check_in_browser

            version, _ = check_in_browser(outcomes, states=[states for _, states in results], progress=progress)
    return Report(outcomes, target.kind, corpus, version, time.monotonic() - started, target=target.name)

"""The built-in pipeline under check: every payload through ``render_markdown``,
``MarkdownStream`` and the sanitizer, every HTML state checked statically.

Each payload goes through the pipeline the way model output does:

- as Markdown, one-shot (``render_markdown``) and streamed through a fresh
  ``MarkdownStream`` for every chunking that matters: whole, every split of
  the payload into two chunks, and one character a chunk (``interval=0``, so
  every feed shows its tail), plus the payload's own ``chunks`` if it has them;
- as HTML, with the sanitizer alone, on every prefix of the payload (what a
  streamed HTML answer shows as it grows, whatever the chunking).

Every HTML string the pipeline produces is re-checked with
``check_allowlist`` (the standard library's parser, not the sanitizer's):
the one-shot output, every op's HTML, and the assembled answer (committed
plus tail) after every op, as a client shows it. Anything outside the
allowlist is a *disallowed output*. ``check`` adds the browser pass
(``oracle.browser.check_browser``) when asked.
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Literal

from ..markdown.ops import Document
from ..markdown.render import render_markdown
from ..markdown.stream import MarkdownStream
from ..sanitizer.clean import DEFAULT_POLICY, Policy, Sanitizer, check_allowlist, make_sanitizer
from .corpus import Payload
from .results import Outcome, Problem, Report

if TYPE_CHECKING:
    from .oracle.browser import BrowserOptions

__all__ = ["Depth", "Progress", "check", "check_payload", "check_static", "chunkings"]

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a run goes on."""

_MAX_PROBLEMS = 5
"""Problems kept per payload: the first ones say enough."""


class _Memo:
    """A sanitizer called through a cache: the check sends the same HTML to
    it many times (every chunking re-renders the same blocks), and the
    sanitizer is a pure function."""

    def __init__(self, sanitizer: Callable[[str], str]) -> None:
        self.sanitizer = sanitizer
        self.cache: dict[str, str] = {}

    def __call__(self, html: str) -> str:
        result = self.cache.get(html)
        if result is None:
            result = self.cache[html] = self.sanitizer(html)
        return result


Depth = Literal["full", "chars", "one-shot"]
"""How thoroughly a payload is streamed: ``full`` (the default) whole, every
2-way split and 1-character chunks; ``chars`` whole and 1-character chunks
(linear in the payload's length rather than quadratic, for long inputs);
``one-shot`` whole only. HTML is checked on every prefix except in
``one-shot``, where only the whole payload is sanitized."""


def chunkings(text: str, depth: Depth = "full", chunks: Sequence[str] | None = None) -> Iterator[tuple[str, list[str]]]:
    """The ways the check cuts a payload, each with a label for reports;
    ``chunks``, a payload's own cut, comes last unless depth is ``one-shot``."""
    yield "whole", [text]
    for cut in range(1, len(text)) if depth == "full" else ():
        yield f"split@{cut}", [text[:cut], text[cut:]]
    if len(text) > 2 and depth != "one-shot":
        yield "chars", list(text)
    if chunks and len(chunks) > 1 and depth != "one-shot":
        yield "corpus-chunks", list(chunks)


def check_payload(
    payload: Payload,
    sanitizer: Callable[[str], str],
    *,
    policy: Policy = DEFAULT_POLICY,
    keep_streams: bool = False,
    depth: Depth = "full",
) -> Outcome:
    """Run one payload through the pipeline and check every HTML it produces."""
    outcome = Outcome(payload)
    gate = _Memo(sanitizer)
    checked: dict[str, list[str]] = {}

    def look(route: str, html: str) -> None:
        found = checked.get(html)
        if found is None:
            found = checked[html] = check_allowlist(html, policy)
            if found and len(outcome.problems) < _MAX_PROBLEMS:
                outcome.problems.append(Problem(route, found, html))

    text = payload.text
    final = render_markdown(text, sanitizer=gate)
    look("markdown one-shot", final)
    outcome.dom = final
    seen_streams: set[tuple[tuple[str, str], ...]] = set()
    for label, chunks in chunkings(text, depth, payload.chunks):
        stream = MarkdownStream(interval=0, sanitizer=gate)
        document = Document()
        ops: list[tuple[str, str]] = []
        for chunk in [*chunks, None]:
            for op in stream.feed(chunk) if chunk is not None else stream.close():
                ops.append((op.kind, op.html))
                route = f"markdown {label} op {len(ops)} ({op.kind})"
                if op.kind != "append":
                    # An append goes inside the tail's innermost open element
                    # (inside a <math>, say): it is judged there, below.
                    look(route, op.html)
                document.apply(op)
                look(route, document.html)
        if document.html != final or document.tail:
            outcome.diverged.append(label)
        if keep_streams and tuple(ops) not in seen_streams:
            seen_streams.add(tuple(ops))
            outcome.streams.append(ops)
    # A streamed HTML answer shows sanitize(prefix) as it grows: every prefix
    # is a state of some chunking, so checking all of them covers them all.
    shown: list[str] = []
    for end in range(len(text) if depth == "one-shot" else 1, len(text) + 1):
        html = gate(text[:end])
        look(f"html prefix {end}", html)
        if keep_streams and (not shown or shown[-1] != html):
            shown.append(html)
    if keep_streams and shown:
        outcome.streams.append([("tail", html) for html in shown] + [("block", shown[-1]), ("tail", "")])
    outcome.states = len(checked)
    return outcome


def check_static(
    payloads: Sequence[Payload],
    sanitizer: Sanitizer | str,
    *,
    policy: Policy = DEFAULT_POLICY,
    keep_streams: bool = False,
    depth: Depth = "full",
    jobs: int = 1,
    progress: Progress | None = None,
) -> list[Outcome]:
    """The static check of every payload (see the module docstring).

    With a backend name and the default policy, ``jobs`` > 1 spreads the
    payloads over that many worker processes (the check is CPU-bound; the
    workers are spawned, so a script that calls this needs the usual
    ``if __name__ == "__main__":`` guard).
    """
    if jobs > 1 and isinstance(sanitizer, str) and policy is DEFAULT_POLICY and len(payloads) > _PER_TASK:
        tasks = [payloads[start : start + _PER_TASK] for start in range(0, len(payloads), _PER_TASK)]
        # spawn, not fork: the caller may run threads (a server, a test runner).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            options = itertools.repeat((sanitizer, keep_streams, depth))
            outcomes: list[Outcome] = []
            for part in pool.map(_check_task, tasks, options):
                outcomes += part
                if progress:
                    progress(len(outcomes), len(payloads))
            return outcomes
    backend = make_sanitizer(sanitizer, report_removed=False) if isinstance(sanitizer, str) else sanitizer
    outcomes = []
    for payload in payloads:
        outcomes.append(check_payload(payload, backend, policy=policy, keep_streams=keep_streams, depth=depth))
        if progress:
            progress(len(outcomes), len(payloads))
    return outcomes


_PER_TASK = 8
"""Payloads a worker process checks per task."""


def _check_task(payloads: Sequence[Payload], options: tuple[str, bool, Depth]) -> list[Outcome]:
    """One worker task (module level, so that it pickles)."""
    sanitizer, keep_streams, depth = options
    return check_static(payloads, sanitizer, keep_streams=keep_streams, depth=depth)


def check(
    payloads: Sequence[Payload],
    sanitizer: Sanitizer | str = "bleach",
    *,
    browser: bool = False,
    browser_options: BrowserOptions | None = None,
    policy: Policy = DEFAULT_POLICY,
    corpus: str = "shipped corpus",
    depth: Depth = "full",
    jobs: int = 1,
    progress: Progress | None = None,
) -> Report:
    """Run the static check (and the browser pass) over the built-in pipeline.

    ``sanitizer`` is a backend name (``SANITIZERS``) or any Sanitizer; the
    output is always judged against ``policy`` (the default allowlist).
    """
    started = time.monotonic()
    name = sanitizer if isinstance(sanitizer, str) else type(sanitizer).__name__
    if isinstance(sanitizer, str):
        make_sanitizer(sanitizer)  # an unknown or missing backend fails now
    if browser:
        from .oracle.browser import BrowserOptions, check_browser, sync_playwright

        sync_playwright()  # fail before the long static pass
    outcomes = check_static(
        payloads, sanitizer, policy=policy, keep_streams=browser, depth=depth, jobs=jobs, progress=progress
    )
    if browser:
        version = check_browser(outcomes, options=browser_options or BrowserOptions(), progress=progress)
    else:
        version = None
    for outcome in outcomes:
        outcome.streams = []  # only the browser needed them
    return Report(outcomes, name, corpus, version, time.monotonic() - started, target=f"pipeline ({name})")

"""The sanitization harness over HTTP: ``GET /sanitize`` and ``POST /api/sanitize``.

``routes(shared)`` gives the two routes for ``make_app``. The page
(``static/sanitize.html`` and ``sanitize.js``) sends what the user types to
the API as they type and shows the answer three ways: rendered through
``static/stream.js`` (the client's one HTML-to-DOM path), as source text, and
as the list of what was removed.

``POST /api/sanitize``::

    {"html": "..."} or {"markdown": "..."}, optionally "sanitizer": "bleach" | "nh3"
    -> 200 {"html": "...", "removed": ["<script>", "<img onerror>", ...]}

``markdown`` is rendered as the chat renders it (``render_markdown``), and
``removed`` lists what the sanitizer took out of the author's HTML. Errors are
JSON: 400 for a body that is not such an object (or names an unknown or
uninstalled backend), 413 for one over ``Config.max_body`` bytes or Markdown
over ``BUDGET.markdown_chars`` characters, 422 for HTML whose tags would cost
more than the budget (``BUDGET``: tags, and how deep unclosed tags nest, which
is what makes both backends quadratic: 180 KB of ``<b>`` took 27 s with
bleach, 40,000 ``<div>`` 22 s with nh3).  What passes costs about a second
at most, and runs in one worker thread per process (``SANITIZE_EXECUTOR``),
one request at a time: the event loop, and every stream on it, stays
responsive, and concurrent requests queue instead of sharing the CPU.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tornado import web

from ..markdown.render import clean_markdown
from ..sanitizer.clean import SANITIZERS, BackendUnavailable, Cleaned, Sanitizer, make_sanitizer
from ..server.handlers import JSONBodyHandler, PageHandler
from ..server.state import AppState

__all__ = [
    "BUDGET",
    "SANITIZE_EXECUTOR",
    "OverBudget",
    "SanitizeBudget",
    "SanitizeHandler",
    "available_sanitizers",
    "routes",
]

_KINDS = ("html", "markdown")


@dataclass(frozen=True, slots=True)
class SanitizeBudget:
    """What one ``POST /api/sanitize`` may ask for (about a second of CPU)."""

    markdown_chars: int = 64 * 1024
    """Characters of Markdown (rendering costs about 10 us a character)."""
    tags: int = 20_000
    """Tags in the HTML (or in the Markdown's raw HTML)."""
    depth: int = 512
    """How deep unclosed tags may nest: the cost grows with tags times depth."""


BUDGET = SanitizeBudget()

SANITIZE_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="renderer-sanitize")
"""The one thread sanitize requests run in (per process)."""

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_VOID = frozenset(
    ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]
)


class OverBudget(Exception):
    """The input would cost more than ``BUDGET`` allows (a 422)."""


def check_budget(text: str, budget: SanitizeBudget) -> None:
    """Raise ``OverBudget`` if ``text``'s tags exceed ``budget`` (one linear scan)."""
    depth = deepest = 0
    for tags, match in enumerate(_TAG.finditer(text), 1):
        if match.group(1):
            depth = max(0, depth - 1)
        elif match.group(2).lower() not in _VOID:
            depth += 1
            deepest = max(deepest, depth)
        if tags > budget.tags:
            raise OverBudget(f"too many tags: more than {budget.tags} (the budget of one request)")
        if deepest > budget.depth:
            raise OverBudget(f"tags nested too deeply: more than {budget.depth} unclosed (the budget of one request)")


def available_sanitizers() -> dict[str, Sanitizer | str]:
    """Each backend name with its sanitizer, or why it is unavailable."""
    backends: dict[str, Sanitizer | str] = {}
    for name in SANITIZERS:
        try:
            backends[name] = make_sanitizer(name)
        except BackendUnavailable as error:
            backends[name] = str(error)
    return backends


def routes(shared: dict[str, Any]) -> list[tuple[str, type[web.RequestHandler], dict[str, Any]]]:
    """The harness's routes; ``shared`` is make_app's ``{"state": state}``."""
    return [
        (r"/sanitize", PageHandler, dict(shared, page="sanitize.html")),
        (r"/api/sanitize", SanitizeHandler, dict(shared, sanitizers=available_sanitizers())),
    ]


class SanitizeHandler(JSONBodyHandler):
    """``POST /api/sanitize``: sanitize HTML, or render Markdown, and say what
    was removed."""

    def initialize(self, state: AppState, sanitizers: Mapping[str, Sanitizer | str]) -> None:  # type: ignore[override]
        super().initialize(state)
        self.sanitizers = sanitizers

    async def post(self) -> None:
        kind, text, sanitizer = self._parse()
        budget = BUDGET
        if kind == "markdown" and len(text) > budget.markdown_chars:
            self.fail(413, f"the markdown is longer than {budget.markdown_chars} characters")
        work = clean_markdown if kind == "markdown" else _clean_html
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                SANITIZE_EXECUTOR, _within_budget, work, text, sanitizer, budget
            )
        except OverBudget as error:
            self.fail(422, str(error))
        self.send_json({"html": result.html, "removed": result.removed})

    def _parse(self) -> tuple[str, str, Sanitizer]:
        """What to sanitize, how, and with which backend; else a 400."""
        body = self.json_object('{"html": "..."} or {"markdown": "..."}')
        kinds = [kind for kind in _KINDS if kind in body]
        if len(kinds) != 1:
            self.fail(400, 'the body needs exactly one of "html" and "markdown"')
        kind = kinds[0]
        text = body[kind]
        if not isinstance(text, str):
            self.fail(400, f"{kind} must be a string")
        name = body.get("sanitizer", SANITIZERS[0])
        if not isinstance(name, str) or name not in self.sanitizers:
            self.fail(400, f"sanitizer must be one of {', '.join(SANITIZERS)}")
        backend = self.sanitizers[name]
        if isinstance(backend, str):
            self.fail(400, backend)
        return kind, text, backend


def _within_budget(
    work: Callable[[str, Sanitizer], Cleaned], text: str, sanitizer: Sanitizer, budget: SanitizeBudget
) -> Cleaned:
    check_budget(text, budget)
    return work(text, sanitizer)


def _clean_html(text: str, sanitizer: Sanitizer) -> Cleaned:
    return sanitizer.clean(text)

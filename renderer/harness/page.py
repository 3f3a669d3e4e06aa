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
uninstalled backend), 413 for one over ``Config.max_body`` bytes.
Sanitizing runs in a worker thread: a large body keeps the event loop, and
every stream on it, responsive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from tornado import web

from ..markdown.render import clean_markdown
from ..sanitizer.clean import SANITIZERS, BackendUnavailable, Cleaned, Sanitizer, make_sanitizer
from ..server.handlers import JSONBodyHandler, PageHandler
from ..server.state import AppState

__all__ = ["SanitizeHandler", "available_sanitizers", "routes"]

_KINDS = ("html", "markdown")


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
        work = clean_markdown if kind == "markdown" else _clean_html
        result = await asyncio.get_running_loop().run_in_executor(None, work, text, sanitizer)
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


def _clean_html(text: str, sanitizer: Sanitizer) -> Cleaned:
    return sanitizer.clean(text)

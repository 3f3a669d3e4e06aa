"""``GET /demo/progressive``: the progressive (suspense) rendering demo page.

Sections of different latency (about 0.2 s, 1 s, 2 s), one that fails, one
that times out, one with slots nested inside it, and one Markdown answer
that streams into its slot as it is written.  ``?speed=10`` runs every delay
ten times faster (tests), ``?order=document`` writes the sections top to
bottom instead of as they complete, ``?nostream=1`` gives the resolved page.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from typing import Any, cast

from ..progressive.suspense import Order, Suspense
from ..server.handlers import JSONHandler
from ..server.state import AppState

__all__ = ["ProgressiveDemoHandler", "routes"]

MAX_SPEED = 1000.0

STREAMED_ANSWER = """## Streamed into its slot

This answer arrives **a few words at a time**, the way a language model
writes it. Each update sends only the *new* blocks and the paragraph in
progress, rendered and sanitized by the same engine as the chat page.

- the shell was on screen before any section was ready;
- slower sections did not hold faster ones back;
- no `innerHTML`: every update is moved into place as nodes.

```python
async def get(self):
    async with Suspense(self) as page:
        answer = page.slot(model_answer(), markdown=True)
        await page.render(shell(answer))
```

That is all it takes.
"""

MEDIUM_MARKDOWN = """A Markdown section, rendered and sanitized by the engine:

| section | latency |
|---|---|
| fast | 0.2 s |
| medium | 1 s |
| slow | 2 s |

Its author also tried <b onclick="alert(1)">an event handler</b> and a
script<script>alert(2)</script>: the sanitizer kept neither.
"""

STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
section{border:1px solid #d0d0d7;border-radius:8px;padding:.75rem 1rem;margin:1rem 0}
h2{font-size:1.05rem;margin:0 0 .5rem}
.rs-pending{color:#6b6b76;background:linear-gradient(90deg,#f2f2f5,#e6e6ec,#f2f2f5);border-radius:6px;padding:.5rem}
.rs-error{color:#a4161a}.rs-timeout{color:#8a5a00}
pre{background:#f6f8fa;padding:.5rem;overflow:auto}
table{border-collapse:collapse}td,th{border:1px solid #d0d0d7;padding:.2rem .5rem}
"""


class ProgressiveDemoHandler(JSONHandler):
    """The demo page; ``scale`` multiplies every delay (tests pass a small one)."""

    authenticated = False  # a public page with canned content

    def initialize(self, state: AppState, scale: float = 1.0) -> None:
        super().initialize(state)
        self.scale = scale

    async def get(self) -> None:
        try:
            speed = float(self.get_query_argument("speed", "1"))
        except ValueError:
            speed = 0.0
        if not 0.1 <= speed <= MAX_SPEED:
            self.fail(400, f"speed must be a number from 0.1 to {MAX_SPEED:g}")
        order = self.get_query_argument("order", "completion")
        if order not in ("completion", "document"):
            self.fail(400, "order must be completion or document")
        factor = self.scale / speed

        async def after(seconds: float, value: str) -> str:
            await asyncio.sleep(seconds * factor)
            return value

        async def fails() -> str:
            await asyncio.sleep(0.5 * factor)
            raise RuntimeError("database password is hunter2")  # must never reach the page

        async def nested(page: Suspense) -> str:
            await asyncio.sleep(0.6 * factor)
            inner_fast = page.slot(
                after(0.3, '<p id="inner-fast">Inner section, 0.3 s after its parent.</p>'),
                fallback="<p>Loading the inner part…</p>",
            )
            inner_slow = page.slot(
                after(1.2, '<p id="inner-slow">Inner section, 1.2 s after its parent.</p>'),
                fallback="<p>Loading the slower inner part…</p>",
            )
            return (
                f'<p id="outer">The outer section came after 0.6 s; two inner ones follow.</p>{inner_fast}{inner_slow}'
            )

        async def streamed() -> AsyncIterator[str]:
            words = STREAMED_ANSWER.split(" ")
            pause = 1.5 * factor / len(words)
            for index, word in enumerate(words):
                await asyncio.sleep(pause)
                yield word if index == 0 else " " + word

        async with Suspense(self, order=cast(Order, order)) as page:
            slots: dict[str, Any] = {
                "fast": page.slot(
                    after(0.2, '<p id="fast-content">Ready after about 0.2 s.</p>'),
                    fallback="<p>Loading the fast section…</p>",
                    min_height="3rem",
                ),
                "medium": page.slot(
                    after(1.0, MEDIUM_MARKDOWN),
                    markdown=True,
                    fallback="<p>Loading the Markdown section…</p>",
                    min_height="9rem",
                ),
                "slow": page.slot(
                    after(2.0, '<p id="slow-content">Ready after about 2 s.</p>'),
                    fallback="<p>Loading the slow section…</p>",
                    min_height="3rem",
                ),
                "fails": page.slot(fails(), fallback="<p>Loading a section that will fail…</p>"),
                "timeout": page.slot(
                    after(30.0, "<p>never shown</p>"),
                    timeout=1.5 * factor,
                    fallback="<p>Loading a section that will time out…</p>",
                ),
                "nested": page.slot(nested(page), fallback="<p>Loading the nested section…</p>", min_height="6rem"),
                "stream": page.slot(
                    streamed(), markdown=True, fallback="<p>Waiting for the answer…</p>", min_height="12rem"
                ),
            }
            titles = {
                "fast": "Fast (0.2 s)",
                "medium": "Markdown (1 s)",
                "slow": "Slow (2 s)",
                "fails": "Fails (0.5 s)",
                "timeout": "Times out (1.5 s)",
                "nested": "Nested (0.6 s, then 0.3 s and 1.2 s)",
                "stream": "Streams (1.5 s)",
            }
            sections = "".join(
                f'<section id="{name}"><h2>{html.escape(titles[name])}</h2>{slot}</section>'
                for name, slot in slots.items()
            )
            await page.render(
                "<!doctype html>\n"
                '<html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                "<title>Progressive rendering demo</title>"
                '<link rel="icon" href="data:,">'  # no favicon request
                f'<style nonce="{page.nonce}">{STYLE}</style></head>'
                "<body><h1>Progressive rendering</h1>"
                "<p>The page's shell arrived at once; each section below is swapped in when it is ready, "
                f"in {'document' if order == 'document' else 'completion'} order, in this same response.</p>"
                f"<main>{sections}</main></body></html>\n"
            )


def routes(shared: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The demo's routes, for ``make_app``."""
    return [(r"/demo/progressive", ProgressiveDemoHandler, shared)]

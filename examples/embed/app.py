"""renderer inside a Tornado application of your own.

    python examples/embed/app.py [--host 127.0.0.1] [--port 8001] [--delay 0.03]

then open http://127.0.0.1:8001/shout.  The application mounts only two of
renderer's route lists: ``api_routes`` (start an answer, follow it, cancel
it) and ``static_routes`` (``/static/stream.js`` and its modules,
``/static/answer.css``, and ``/static/allowlist.js``, generated from the
server's sanitizing policy).  Everything else is its own: the source of
answers (``shout``, below), the page at ``/shout`` and the page's script.
No chat page, no demo pages, no ``/healthz``: anything not mounted is a 404.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from tornado import httpserver, netutil, web

from renderer.server import AppState, Config, Message, Source, api_routes, make_store, static_routes
from renderer.server.handlers import PAGE_CSP

HERE = Path(__file__).resolve().parent

_PIECE = re.compile(r"\s*\S+|\s+")
_WORD = re.compile(r"\w+")


def shout_text(messages: Sequence[Message]) -> str:
    """The whole answer to a conversation, as Markdown: the last thing the
    user said, shouted back, its most frequent words, and the line of Python
    that would shout it."""
    said = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in said.upper().splitlines()) or ">"
    counts = Counter(word.lower() for word in _WORD.findall(said)).most_common(5)
    rows = "\n".join(f"| {word} | {count} |" for word, count in counts)
    table = f"| word | times |\n|:-----|------:|\n{rows}\n" if rows else "*(not a single word)*\n"
    longest = max((len(run) for run in re.findall(r"`+", said)), default=0)
    fence = "`" * max(3, longest + 1)
    return (
        "## YOU SAID\n\n"
        f"{quoted}\n\n"
        "### Your words\n\n"
        f"{table}\n"
        "In Python:\n\n"
        f"{fence}python\nprint({said!r}.upper())\n{fence}\n"
    )


async def shout(messages: Sequence[Message], *, delay: float = 0.03) -> AsyncIterator[str]:
    """A ``Source``: the answer above, a word at a time, ``delay`` seconds apart
    (as a model would stream it)."""
    for piece in _PIECE.findall(shout_text(messages)):
        await asyncio.sleep(delay)
        yield piece


class ShoutPage(web.RequestHandler):
    """``GET /shout``: this application's own page, with renderer's strict
    CSP (scripts from this origin only, HTML into the DOM only through
    stream.js's Trusted Types policy)."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish((HERE / "index.html").read_bytes())


def make_application(config: Config, *, delay: float = 0.03) -> web.Application:
    """The whole application: renderer's API and static files, and our page."""
    sources: dict[str, Source] = {"shout": functools.partial(shout, delay=delay)}
    state = AppState(config, make_store(config), sources)
    return web.Application(
        [
            (r"/shout", ShoutPage),
            (r"/shout/(page\.js|page\.css)", web.StaticFileHandler, {"path": str(HERE)}),
            *api_routes(state),
            *static_routes(state),
        ],
        compress_response=False,  # an event stream must not wait in a gzip buffer
    )


async def main(config: Config, delay: float) -> None:
    sockets = netutil.bind_sockets(config.port, config.host)
    server = httpserver.HTTPServer(make_application(config, delay=delay))
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    print(f"shout: serving on http://{config.host}:{port}/shout", flush=True)
    await asyncio.Event().wait()  # until Ctrl-C


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0: any free port (the one bound is printed)")
    parser.add_argument("--delay", type=float, default=0.03, help="seconds between words of an answer")
    args = parser.parse_args()
    try:
        asyncio.run(main(Config(host=args.host, port=args.port, source="shout"), args.delay))
    except KeyboardInterrupt:
        sys.exit(0)

"""The reference server of ``bench/delivery.py``: sse-starlette on uvicorn.

    python bench/_sse_starlette_app.py < events.json

Reads a JSON list of ``[event, data, id]`` from standard input, serves it to
every ``GET /events`` as an ``EventSourceResponse`` whose generator yields
one ``ServerSentEvent`` per item, and prints ``READY PORT`` once uvicorn
accepts connections on 127.0.0.1.  Stops on SIGTERM.

Kept apart from ``delivery.py`` so that the benchmark's own processes never
import the competitor.  Its settings are the libraries' defaults (keep-alive
pings every 15 s, a disconnect listener per response, uvicorn's backlog of
2048) except two choices made for a like-for-like comparison:

* ``sep="\\n"``: frames are then byte for byte the size of ours (the default
  ``\\r\\n`` would send a few more bytes per event);
* ``loop="asyncio", http="h11"``: the same stdlib event loop and a pure-Python
  HTTP parser, like Tornado.  ``uvicorn[standard]`` (uvloop, httptools) would
  be faster and is a different comparison.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator

from _uvicorn import listening_socket, serve
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route


def make_app(events: list[tuple[str, str, str]]) -> Starlette:
    async def stream(request: Request) -> EventSourceResponse:
        async def generate() -> AsyncIterator[ServerSentEvent]:
            for event, data, event_id in events:
                yield ServerSentEvent(data, event=event, id=event_id, sep="\n")

        return EventSourceResponse(generate(), sep="\n")

    return Starlette(routes=[Route("/events", stream)])


async def main() -> None:
    sock = listening_socket()
    events = [tuple(item) for item in json.load(sys.stdin)]
    await serve(make_app(events), sock)  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(main())

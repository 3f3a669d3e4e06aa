"""The reference of ``bench/capacity.py``: the raw token relay most tutorials build.

    python bench/_capacity_relay.py DELAY WORKERS

Starlette + sse-starlette on uvicorn (h11, the asyncio loop): ``POST /chat``
with a JSON body ``{"message": "..."}`` answers with an
``EventSourceResponse`` that relays the "model": the message cut into
tokens (the list given on standard input, one JSON list per message, looked
up by the message), one SSE event per token, ``DELAY`` seconds apart, then
``event: done``.  Rendering is left to the browser.  ``WORKERS`` processes
share one listening socket (forked after binding).  Prints ``READY PORT``
once uvicorn accepts connections.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator

from _uvicorn import listening_socket, serve
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route


def make_app(answers: dict[str, list[str]], delay: float) -> Starlette:
    async def chat(request: Request) -> EventSourceResponse:
        body = await request.json()
        tokens = answers[body["message"]]

        async def relay() -> AsyncIterator[ServerSentEvent]:
            loop = asyncio.get_running_loop()
            start = loop.time()
            for n, token in enumerate(tokens, 1):  # at the model's pace, as the renderer's echo source
                yield ServerSentEvent(token, sep="\n")
                await asyncio.sleep(max(0.0, start + n * delay - loop.time()))
            yield ServerSentEvent('{"reason": "complete"}', event="done", sep="\n")

        return EventSourceResponse(relay(), sep="\n")

    return Starlette(routes=[Route("/chat", chat, methods=["POST"])])


def main() -> None:
    delay, workers = float(sys.argv[1]), int(sys.argv[2])
    answers = {"".join(tokens): tokens for tokens in json.load(sys.stdin)}
    sock = listening_socket()
    for _ in range(workers - 1):
        if os.fork() == 0:
            asyncio.run(serve(make_app(answers, delay), sock, announce=False))
            return
    asyncio.run(serve(make_app(answers, delay), sock))


if __name__ == "__main__":
    main()

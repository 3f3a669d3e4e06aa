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
import resource
import socket
import sys
from collections.abc import AsyncIterator

import uvicorn
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


async def serve(sock: socket.socket, app: Starlette, announce: bool) -> None:
    config = uvicorn.Config(app, loop="asyncio", http="h11", lifespan="off", access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):  # up to 5 s to start
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        raise SystemExit("uvicorn did not start")
    if announce:
        print("READY", sock.getsockname()[1], flush=True)
    await task


def main() -> None:
    delay, workers = float(sys.argv[1]), int(sys.argv[2])
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    answers = {"".join(tokens): tokens for tokens in json.load(sys.stdin)}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    for _ in range(workers - 1):
        if os.fork() == 0:
            asyncio.run(serve(sock, make_app(answers, delay), announce=False))
            return
    asyncio.run(serve(sock, make_app(answers, delay), announce=True))


if __name__ == "__main__":
    main()

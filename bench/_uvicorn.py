"""How the benchmarks' peers are served (``_sse_starlette_app.py`` for
delivery, ``_capacity_relay.py`` for capacity): an ASGI app on uvicorn with
the asyncio loop and h11 (a pure-Python parser, like Tornado's), on a
loopback socket bound before uvicorn starts, so the parent can fork workers
onto it.  One way for both, so the two comparisons are served alike.
"""

from __future__ import annotations

import asyncio
import resource
import socket
from typing import Any

import uvicorn

BACKLOG = 2048  # uvicorn's default


def listening_socket(backlog: int = BACKLOG) -> socket.socket:
    """A socket listening on a free loopback port, with as many descriptors
    allowed as the hard limit lets (thousands of readers)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock


async def serve(app: Any, sock: socket.socket, *, announce: bool = True) -> None:
    """Serve ``app`` on ``sock`` until stopped; print ``READY PORT`` once
    uvicorn accepts connections (when ``announce``)."""
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

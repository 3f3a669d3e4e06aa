"""make_app: the one place where the server's objects are wired together,
and ``serve``: run it until SIGINT or SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from tornado import httpserver, web

from . import harness, progressive
from .handlers import (
    STREAM_ID,
    CancelHandler,
    ChatHandler,
    EventsHandler,
    HealthHandler,
    PageHandler,
    MetricsHandler,
    NDJSONHandler,
    NotFoundHandler,
    PollHandler,
    StreamSocket,
)
from .state import STATIC_PATH, AppState, Config, SourceFactory
from .store.base import StreamStore
from .store.memory import MemoryStore

__all__ = ["make_app", "make_store", "serve"]

logger = logging.getLogger(__name__)

def make_store(config: Config) -> StreamStore:
    """The store a ``--store`` value names."""
    if config.store == "memory":
        return MemoryStore(ttl=config.ttl, max_live=config.max_streams, max_pending=config.max_pending)
    raise ValueError(f"unsupported store: {config.store!r} (this build knows 'memory')")


def make_app(
    config: Config | None = None,
    *,
    store: StreamStore | None = None,
    sources: dict[str, SourceFactory] | None = None,
) -> web.Application:
    """The Tornado application; its ``state`` attribute holds what handlers share."""
    config = config or Config()
    state = AppState(config, store or make_store(config), sources)
    shared = {"state": state}
    stream = rf"/api/streams/{STREAM_ID}"
    app = web.Application(
        [
            (r"/", PageHandler, shared),
            *harness.routes(shared),
            (r"/api/chat", ChatHandler, shared),
            (rf"{stream}/events", EventsHandler, shared),
            (rf"{stream}/ndjson", NDJSONHandler, shared),
            (rf"{stream}/poll", PollHandler, shared),
            (rf"{stream}/ws", StreamSocket, shared),
            (rf"{stream}/cancel", CancelHandler, shared),
            (r"/healthz", HealthHandler, shared),
            (r"/metrics", MetricsHandler, shared),
            *progressive.routes(shared),
            (r"/static/(.*)", web.StaticFileHandler, {"path": str(STATIC_PATH)}),
        ],
        default_handler_class=NotFoundHandler,
        default_handler_args=shared,
        compress_response=False,  # never gzip an event stream: it would hold chunks back
        websocket_ping_interval=config.heartbeat,
    )
    app.state = state  # type: ignore[attr-defined]
    return app


async def serve(config: Config, *, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT or SIGTERM; then stop accepting, end open streams
    with their final events, and return within seconds."""
    app = make_app(config)
    state: AppState = app.state  # type: ignore[attr-defined]
    # ChatHandler reads its own body and answers 413; this only bounds the
    # bytes a chunked upload may send before the connection is dropped.
    server = httpserver.HTTPServer(app, max_body_size=config.max_body * 16, xheaders=False)
    server.listen(config.port, config.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host = f"[{config.host}]" if ":" in config.host else config.host
    print(f"renderer: serving on http://{host}:{config.port}/ (source {config.source}, store {config.store})", flush=True)
    if ready is not None:
        ready.set()
    await stop.wait()
    print("renderer: shutting down", file=sys.stderr, flush=True)
    server.stop()
    await state.generations.shutdown(timeout=5.0)
    for _ in range(40):  # up to 2 s for readers to write the final events
        if state.metrics.readers == 0:
            break
        await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(server.close_all_connections(), timeout=3.0)
    except asyncio.TimeoutError:
        logger.warning("some connections did not close in time")
    state.store.close()

"""make_app: the one place where the server's objects are wired together,
and ``serve``: run it until SIGINT or SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from tornado import netutil, web

from ..demos import progressive
from ..harness import page
from ..sanitizer.clean import DEFAULT_POLICY, Policy
from . import conversation_handlers
from .access import Authenticator, check_exposure
from .config import Config
from .connections import make_server
from .handlers import (
    STREAM_ID,
    CancelHandler,
    ChatHandler,
    EventsHandler,
    HealthHandler,
    MetricsHandler,
    NDJSONHandler,
    NotFoundHandler,
    PageHandler,
    PollHandler,
    StaticFiles,
    StreamSocket,
)
from .policy_js import AllowlistHandler, policy_module
from .sources import Source
from .state import AppState
from .store.base import StreamStore
from .store.memory import MemoryStore

__all__ = [
    "Route",
    "api_routes",
    "demo_routes",
    "make_app",
    "make_store",
    "page_routes",
    "serve",
    "serve_workers",
    "static_routes",
]

logger = logging.getLogger(__name__)


def make_store(config: Config) -> StreamStore:
    """The store a ``--store`` value names."""
    if config.store == "memory":
        return MemoryStore(
            ttl=config.ttl,
            max_live=config.max_streams,
            max_per_client=config.max_streams_per_client,
            max_pending=config.max_pending,
        )
    if config.store.startswith(("redis://", "rediss://", "unix://")):
        try:
            from .store.redis import RedisStore  # only a Redis deployment needs the redis package
        except ImportError as error:
            raise ValueError(f"--store {config.store} needs the redis package ({error})") from None
        return RedisStore(
            config.store,
            ttl=config.ttl,
            max_live=config.max_streams,
            max_per_client=config.max_streams_per_client,
            max_pending=config.max_pending,
            lease=config.lease,
        )
    raise ValueError(f"unsupported store: {config.store!r} (this build knows 'memory' and 'redis://HOST:PORT/DB')")


Route = tuple[str, type[web.RequestHandler], dict[str, Any]]
"""A Tornado route as ``web.Application`` takes it: pattern, handler, its ``initialize`` arguments."""

STREAM_PATH = rf"/api/streams/{STREAM_ID}"


def api_routes(state: AppState) -> list[Route]:
    """The answer API: start an answer, follow it over any transport, cancel it.

    All a chat page of your own needs (with ``/static/`` for stream.js: see
    ``static_routes``).  Mount them in your own ``web.Application``, with
    ``AppState`` built from your ``Config`` and sources."""
    shared = {"state": state}
    return [
        (r"/api/chat", ChatHandler, shared),
        (rf"{STREAM_PATH}/events", EventsHandler, shared),
        (rf"{STREAM_PATH}/ndjson", NDJSONHandler, shared),
        (rf"{STREAM_PATH}/poll", PollHandler, shared),
        (rf"{STREAM_PATH}/ws", StreamSocket, shared),
        (rf"{STREAM_PATH}/cancel", CancelHandler, shared),
        *conversation_handlers.routes(state),
    ]


def static_routes(state: AppState) -> list[Route]:
    """``/static/...``: stream.js and its modules, answer.css, the chat page's
    files, and ``allowlist.js``, generated from ``state.policy`` (a module
    stream.js imports: the browser checks against the server's own policy)."""
    return [
        (r"/static/allowlist\.js", AllowlistHandler, {"module": policy_module(state.policy)}),
        (r"/static/(.*)", StaticFiles, {"path": str(state.static_path)}),
    ]


def page_routes(state: AppState) -> list[Route]:
    """The chat page at ``/``, ``/healthz`` and ``/metrics``."""
    shared = {"state": state}
    return [
        (r"/", PageHandler, shared),
        (r"/healthz", HealthHandler, shared),
        (r"/metrics", MetricsHandler, shared),
    ]


def demo_routes(state: AppState) -> list[Route]:
    """The demo pages: ``/demo/progressive`` and the sanitizer page with its API."""
    shared = {"state": state}
    return [*progressive.routes(shared), *page.routes(shared)]


def make_app(
    config: Config | None = None,
    *,
    store: StreamStore | None = None,
    sources: Mapping[str, Source] | None = None,
    policy: Policy = DEFAULT_POLICY,
    demos: bool = False,
    authenticator: Authenticator | None = None,
) -> web.Application:
    """The whole server as one Tornado application: the API, the chat page,
    static files and, with ``demos=True`` (as ``python -m renderer serve``
    has it), the demo pages.  Its ``state`` attribute holds what handlers
    share.  ``sources``: the sources by name (default: demo and echo, plus
    upstream when configured); ``store``: default ``make_store(config)``;
    ``policy``: the allowlist answers are sanitized with, also served to the
    browser's re-check; ``authenticator``: the application's own check of who
    calls (a session cookie, a header set by the proxy; see
    ``access.Authenticator``), in addition to ``config.auth_tokens``."""
    config = config or Config()
    state = AppState(config, store or make_store(config), sources, policy=policy, authenticator=authenticator)
    routes = [*page_routes(state), *api_routes(state), *static_routes(state)]
    if demos:
        routes += demo_routes(state)
    app = web.Application(
        routes,
        default_handler_class=NotFoundHandler,
        default_handler_args={"state": state},
        compress_response=False,  # never gzip an event stream: it would hold chunks back
        websocket_ping_interval=config.heartbeat,
    )
    app.state = state  # type: ignore[attr-defined]
    return app


async def serve(
    config: Config,
    *,
    ready: asyncio.Event | None = None,
    sockets: list[socket.socket] | None = None,
    worker: int | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; then stop accepting, end open streams
    with their final events, and return within seconds.

    ``sockets``: listen on these (bound by ``serve_workers`` before it forked)
    instead of binding ``config.host:config.port``; ``worker``: this
    process's number among them, for its log lines."""
    check_exposure(config)
    app = make_app(config, demos=True)
    state: AppState = app.state  # type: ignore[attr-defined]
    server = make_server(app, config, state.access)
    if sockets is None:
        sockets = netutil.bind_sockets(config.port, config.host)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]  # the one bound, when config.port is 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if worker is None:
        _say(f"renderer: serving on {_origin(config, port)}/ (source {config.source}, store {config.store})")
    else:
        _say(f"renderer: worker {worker} ready (pid {os.getpid()})")
    if ready is not None:
        ready.set()
    await stop.wait()
    name = "renderer" if worker is None else f"renderer: worker {worker}"
    _say(f"{name}: shutting down", sys.stderr)
    server.stop()
    await state.generations.shutdown(timeout=5.0)
    for _ in range(40):  # up to 2 s for readers to write the final events
        if state.metrics.readers == 0:
            break
        await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(server.close_all_connections(), timeout=3.0)
    except TimeoutError:
        logger.warning("some connections did not close in time")
    state.store.close()


def _say(line: str, stream: TextIO | None = None) -> None:
    """One line in one write: workers share the parent's stdout and stderr,
    and print() writes the newline apart, so two lines could mix."""
    stream = stream or sys.stdout
    stream.write(line + "\n")
    stream.flush()


def _origin(config: Config, port: int | None = None) -> str:
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"http://{host}:{config.port if port is None else port}"


SIGNALS = (signal.SIGINT, signal.SIGTERM)
MAX_RESTARTS = 100
"""Workers that die (a crash, ``kill -9``) are replaced, this many times in all."""


def serve_workers(config: Config, workers: int | None = None) -> int:
    """Serve with ``workers`` (default ``config.workers``) processes on one
    port until SIGINT or SIGTERM; returns the exit status (0: every worker
    shut down cleanly).

    The listening sockets are bound here, then the workers are forked and
    share them (the kernel hands each connection to one of them).  Each
    worker runs ``serve`` with its own event loop, app and store, so a reader
    finds an answer started by another worker only through a shared store:
    ``--store redis://...`` (the command line refuses ``--workers > 1`` with
    the memory store: ``MEMORY_WORKERS_ERROR``).  SIGINT or SIGTERM
    to this (parent) process is forwarded to every worker, and it returns
    when they have all shut down gracefully.  A worker that dies otherwise
    is replaced.

    Call it from a process with no event loop running and no threads: it forks.
    """
    workers = config.workers if workers is None else workers
    check_exposure(config)
    if workers < 1:
        raise ValueError("workers must be at least 1")
    sockets = netutil.bind_sockets(config.port, config.host)
    port = sockets[0].getsockname()[1]
    children: dict[int, int] = {}  # pid -> worker number
    stopping: list[int] = []  # the signal being forwarded, once one came

    def forward(signum: int, frame: object) -> None:
        if not stopping:
            os.write(sys.stderr.fileno(), b"renderer: shutting down\n")  # no print() in a signal handler
        stopping.append(signum)
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def spawn(number: int) -> None:
        # Signals wait while forking: one that came between fork() and
        # ``children[pid] = ...`` would not be forwarded to the new worker.
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the caller's code
            status = 1
            try:
                for sig in SIGNALS:  # until serve() takes them over: stop quietly
                    signal.signal(sig, signal.default_int_handler)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
                asyncio.run(serve(config, sockets=sockets, worker=number))
                status = 0
            except KeyboardInterrupt:  # a signal before serve() took over SIGINT
                status = 0
            except BaseException:
                logger.exception("worker %d failed", number)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children[pid] = number
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)

    previous = {sig: signal.signal(sig, forward) for sig in SIGNALS}
    status = 0
    restarts = 0
    try:
        sys.stdout.flush()
        sys.stderr.flush()  # or the workers would write the parent's buffered lines again
        for number in range(workers):
            spawn(number)
        _say(
            f"renderer: serving on {_origin(config, port)}/ with {workers} workers "
            f"(source {config.source}, store {config.store})"
        )
        while children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            if pid not in children:
                continue
            number = children.pop(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            if code == 0 and stopping:
                continue
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            if stopping or restarts >= MAX_RESTARTS:
                _say(f"renderer: worker {number} (pid {pid}) {how}", sys.stderr)
                status = 1
                if not stopping:  # too many restarts: stop the others too
                    forward(signal.SIGTERM, None)
                continue
            restarts += 1
            _say(f"renderer: worker {number} (pid {pid}) {how}; starting another", sys.stderr)
            time.sleep(min(0.1 * restarts, 1.0))  # a worker that cannot start must not spin
            if not stopping:
                spawn(number)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sock in sockets:
            sock.close()
    return status


MEMORY_WORKERS_ERROR = (
    "--workers > 1 needs a shared store (--store redis://HOST:PORT/DB): "
    "with the memory store each worker has its own streams"
)

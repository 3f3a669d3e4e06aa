"""The application served from a thread: for tests, and for tools that drive
a browser against the real server (``xss-check --browser``).

``with ServerThread(Config(...)) as server:`` serves ``make_app`` on a free
loopback port, in a thread with its own event loop, until the block ends;
``server.call(fn)`` runs ``fn`` in that loop (to look at or poke the app).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any, Self

from tornado import netutil, web

from .access import Authenticator
from .app import make_app
from .config import Config
from .connections import HardenedHTTPServer, make_server
from .sources import Source
from .state import AppState
from .store.base import StreamStore

__all__ = ["ServerThread"]

TIMEOUT = 30.0


class ServerThread:
    """A live server on ``127.0.0.1:port`` for the duration of a ``with`` block."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        store: StreamStore | None = None,
        sources: Mapping[str, Source] | None = None,
        demos: bool = True,
        name: str = "renderer server",
        authenticator: Authenticator | None = None,
    ) -> None:
        self.config = config or Config()
        self.authenticator = authenticator
        self.store = store
        self.sources = sources
        self.demos = demos
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app: web.Application | None = None
        self.server: HardenedHTTPServer | None = None
        self.shutdown_problems: list[str] = []
        """What went wrong stopping the server (leak tests look here)."""
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def state(self) -> AppState:
        assert self.app is not None
        return self.app.state  # type: ignore[attr-defined,no-any-return]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(TIMEOUT) or self._error is not None:
            raise RuntimeError(f"the server did not start: {self._error}") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the server did not stop"

    def build(self) -> web.Application:
        """The application (called in the server's loop)."""
        return make_app(
            self.config, store=self.store, sources=self.sources, demos=self.demos, authenticator=self.authenticator
        )

    def bind(self) -> list[socket.socket]:
        """The listening sockets: a free loopback port."""
        return netutil.bind_sockets(0, "127.0.0.1")

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported by __enter__
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.app = self.build()
        sockets = self.bind()
        server = self.server = make_server(self.app, self.config, self.state.access)
        server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.stop()
        await self.state.generations.shutdown(timeout=TIMEOUT)
        try:
            # Short: a handler that hangs must not hold everything up;
            # asyncio.run then cancels what is left.
            await asyncio.wait_for(server.close_all_connections(), 3)
        except TimeoutError:
            self.shutdown_problems.append("connections still open after 3 s")
        self.state.store.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=1)

    def _submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        assert self.loop is not None

        async def call() -> Any:
            result = fn()
            if inspect.isawaitable(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(call(), self.loop)

    def call(self, fn: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
        """Run ``fn`` in the server's loop (awaiting what it returns, if
        awaitable), from a thread that runs no loop."""
        return self._submit(fn).result(timeout)

    async def acall(self, fn: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
        """Run ``fn`` in the server's loop from another loop."""
        return await asyncio.wait_for(asyncio.wrap_future(self._submit(fn)), timeout)

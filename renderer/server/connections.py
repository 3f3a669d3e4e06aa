"""The HTTP server in front of the app, hardened for the open internet.

``make_server(app, config, access)`` is Tornado's ``HTTPServer`` with:

* timeouts: a client has ``header_timeout`` seconds to send a request's
  headers (Tornado's default is an hour, so half-sent headers held a
  connection forever) and ``body_timeout`` for a body; an idle keep-alive
  connection closes after ``header_timeout`` too (Tornado uses one timer);
* a cap on open connections per client address
  (``max_connections_per_client``): one over it is accepted and closed at
  once, so one address cannot take every file descriptor.  Trusted proxies
  are exempt (every client behind them shares their address; the proxy
  limits them).  A connection counts until its socket closes, a WebSocket's
  too;
* an accept loop that survives running out of file descriptors: Tornado's
  raises ``EMFILE`` from the accept callback again and again (100% CPU and
  a traceback per attempt); this one stops accepting for a moment, logs one
  line, and lets the kernel's backlog wait;
* a lingering close: a handler that answers before reading the whole body
  (413, 415, 403) marks the connection (``request_linger``), and instead of
  closing the socket with unread data (which the kernel turns into a reset
  that destroys the answer in flight) the server shuts down its sending
  side, reads and discards what the client still sends for up to
  ``LINGER_SECONDS`` (``LINGER_BYTES`` at most), then closes, as nginx does.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from tornado import httpserver, iostream, web
from tornado.http1connection import HTTP1ServerConnection
from tornado.ioloop import IOLoop

from .access import Access
from .config import Config

__all__ = ["LINGER_BYTES", "LINGER_SECONDS", "HardenedHTTPServer", "make_server", "request_linger"]

logger = logging.getLogger(__name__)

LINGER_SECONDS = 5.0
LINGER_BYTES = 64 * 1024 * 1024
ACCEPT_PAUSE = 0.1
"""Seconds accepting stops when the process is out of file descriptors."""
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


HEADERS_TOO_LARGE = b'{"error": "the request headers are too large"}'
HEADERS_TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Content-Type: application/json; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\nCache-Control: no-store\r\nServer: renderer\r\n\r\n%s"
    % (len(HEADERS_TOO_LARGE), HEADERS_TOO_LARGE)
)


class LingeringIOStream(iostream.IOStream):
    """An ``IOStream`` that, when asked (``linger``), closes as the module
    says; and that answers 431 to headers over ``max_header_size``, which
    Tornado meets with a bare close (the only read it bounds by a regex is
    the one of a request's headers)."""

    linger = False
    lingering: dict[socket.socket, Callable[[], None]] | None = None
    """Where a lingering socket is registered until it closes (its server's
    ``lingering``, so that shutdown can close them at once)."""

    on_release: Callable[[], None] | None = None
    """Called once when the stream closes: its connection stops counting
    against its address (a WebSocket, detached from the HTTP server when it
    upgrades, counts until then too)."""

    def close(self, exc_info: Any = False) -> None:
        release, self.on_release = self.on_release, None
        if release is not None:
            release()
        if (
            isinstance(exc_info, iostream.UnsatisfiableReadError)
            and getattr(self, "_read_regex", None) is not None  # reading up to a regex: the headers
            and not self.closed()
            and not self.writing()
            and self.socket is not None
        ):
            try:
                self.socket.send(HEADERS_TOO_LARGE_RESPONSE)  # small: fits the empty send buffer at once
                self.linger = True
            except OSError:
                pass
        super().close(exc_info)

    def close_fd(self) -> None:
        sock = self.socket
        if not self.linger or sock is None:
            super().close_fd()
            return
        self.socket = None  # type: ignore[assignment]
        _linger(sock, self.lingering if self.lingering is not None else {})


def request_linger(handler: web.RequestHandler) -> None:
    """Close ``handler``'s connection lingering (see the module), if it can."""
    stream = getattr(handler.request.connection, "stream", None)
    if isinstance(stream, LingeringIOStream):
        stream.linger = True


def _linger(sock: socket.socket, registry: dict[socket.socket, Callable[[], None]]) -> None:
    """Shut down sending, discard what comes, close at EOF or the bound
    (``registry`` holds the socket and how to finish it meanwhile)."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        sock.close()
        return
    loop = asyncio.get_running_loop()
    fd = sock.fileno()
    received = 0

    def finish() -> None:
        registry.pop(sock, None)
        loop.remove_reader(fd)
        timer.cancel()
        sock.close()

    def readable() -> None:
        nonlocal received
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        received += len(data)
        if not data or received > LINGER_BYTES:
            finish()

    timer = loop.call_later(LINGER_SECONDS, finish)
    loop.add_reader(fd, readable)
    registry[sock] = finish


class HardenedHTTPServer(httpserver.HTTPServer):
    """``HTTPServer`` with the per-address cap, the EMFILE-proof accept loop
    and lingering streams (see the module)."""

    def initialize(  # type: ignore[override]
        self,
        request_callback: Any,
        *,
        access: Access | None = None,
        max_connections_per_client: int = 0,
        **kwargs: Any,
    ) -> None:
        super().initialize(request_callback, **kwargs)
        self.access = access
        self.max_connections_per_client = max_connections_per_client
        self.open_per_address: Counter[str] = Counter()
        """Connections open now per client address (capped ones only)."""
        self.refused_connections = 0
        self.lingering: dict[socket.socket, Callable[[], None]] = {}
        """Sockets closing lingering now, each with what closes it at once."""
        self._addresses: dict[object, str] = {}
        self._last_emfile_log = -1e9

    def add_sockets(self, sockets: Any) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = self._add_accept_handler(sock, self._handle_connection)

    def _add_accept_handler(
        self, sock: socket.socket, callback: Callable[[socket.socket, Any], None]
    ) -> Callable[[], None]:
        loop = IOLoop.current()
        removed = False
        paused: list[object] = []  # the timer of a pause, while accepting is paused

        def accept(fd: Any, events: int) -> None:
            for _ in range(128):  # then yield to the loop
                if removed:
                    return
                try:
                    connection, address = sock.accept()
                except (BlockingIOError, InterruptedError):
                    return
                except ConnectionAbortedError:
                    continue
                except OSError as error:
                    if error.errno in OUT_OF_DESCRIPTORS:
                        pause(error)
                        return
                    if error.errno == errno.EINVAL:
                        continue
                    raise
                callback(connection, address)

        def pause(error: OSError) -> None:
            loop.remove_handler(sock)
            paused.append(loop.call_later(ACCEPT_PAUSE, resume))
            now = time.monotonic()
            if now - self._last_emfile_log > 10.0:  # one line per 10 s, not one per attempt
                self._last_emfile_log = now
                logger.warning("cannot accept connections (%s); pausing", error.strerror)

        def resume() -> None:
            paused.clear()
            if not removed:
                loop.add_handler(sock, accept, IOLoop.READ)

        def remove() -> None:
            nonlocal removed
            removed = True
            for timer in paused:
                loop.remove_timeout(timer)
            if not paused:
                loop.remove_handler(sock)
            paused.clear()

        loop.add_handler(sock, accept, IOLoop.READ)
        return remove

    def handle_stream(self, stream: iostream.IOStream, address: Any) -> None:
        address_text = address[0] if isinstance(address, tuple) and address else ""
        capped = self.max_connections_per_client > 0 and not (
            self.access is not None and self.access.is_trusted_proxy(address_text)
        )
        if capped:
            if self.open_per_address[address_text] >= self.max_connections_per_client:
                self.refused_connections += 1
                stream.close()
                return
            self.open_per_address[address_text] += 1
        context = httpserver._HTTPRequestContext(stream, address, self.protocol, self.trusted_downstream)
        conn = HTTP1ServerConnection(stream, self.conn_params, context)
        if type(stream) is iostream.IOStream:
            stream.__class__ = LingeringIOStream  # same object, same state: only closing differs
            lingering = cast(LingeringIOStream, stream)
            lingering.lingering = self.lingering
            if capped:
                lingering.on_release = lambda: self._release(address_text)
        elif capped:  # TLS: counted until the HTTP connection ends
            self._addresses[conn] = address_text
        self._connections.add(conn)
        conn.start_serving(self)

    async def close_all_connections(self) -> None:
        await super().close_all_connections()
        for finish in list(self.lingering.values()):  # shutting down: no more lingering
            finish()

    def on_close(self, server_conn: object) -> None:
        super().on_close(server_conn)
        address = self._addresses.pop(server_conn, None)
        if address is not None:
            self._release(address)

    def _release(self, address: str) -> None:
        self.open_per_address[address] -= 1
        if self.open_per_address[address] <= 0:
            del self.open_per_address[address]


def make_server(app: web.Application, config: Config, access: Access | None = None) -> HardenedHTTPServer:
    """The server ``serve`` (and the test server) runs ``app`` behind."""
    return HardenedHTTPServer(
        app,
        access=access,
        max_connections_per_client=config.max_connections_per_client,
        # ChatHandler reads its own body and answers 413 past max_body; this
        # only bounds what a chunked upload may send before Tornado drops it.
        max_body_size=config.max_body * 16,
        idle_connection_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
        xheaders=False,  # the client address comes from Access (trusted proxies only)
    )

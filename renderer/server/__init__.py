"""The streaming server: answers generated from a source, rendered by the
engine, kept in a stream store, and carried to readers over SSE, NDJSON,
long-polling and WebSocket.

- ``app``: ``make_app`` and the route lists (``api_routes``, ``page_routes``,
  ``static_routes``, ``demo_routes``) to mount in an application of your own;
  ``serve``/``serve_workers`` for the command line;
- ``state``: ``Config`` (every setting) and ``AppState`` (what handlers share);
- ``handlers``: thin Tornado handlers; ``sse``: the one SSE encoder;
- ``generation``: one task per answer, source -> engine -> store;
- ``sources``: the source type and the built-in demo and echo sources;
  ``upstream``: any OpenAI-compatible API;
- ``store``: the stream-store contract, in memory and on Redis Streams;
- ``testing``: ``ServerThread``, the app served from a thread (tests, tools).
"""

from .app import api_routes, demo_routes, make_app, page_routes, serve, static_routes
from .generation import SourceError
from .sources import Message
from .state import AppState, Config, SourceFactory

__all__ = [
    "AppState",
    "Config",
    "Message",
    "SourceError",
    "SourceFactory",
    "api_routes",
    "demo_routes",
    "make_app",
    "page_routes",
    "serve",
    "static_routes",
]

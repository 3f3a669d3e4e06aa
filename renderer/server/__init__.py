"""The streaming server: answers generated from a source, rendered by the
engine, kept in a stream store, and carried to readers over SSE, NDJSON,
long-polling and WebSocket.

- ``app``: ``make_app`` and the route lists (``api_routes``, ``page_routes``,
  ``static_routes``, ``demo_routes``) to mount in an application of your own;
  ``serve``/``serve_workers`` for the command line;
- ``config``: ``Config``, every setting, with its flag and environment variable;
- ``state``: ``AppState``, what handlers share;
- ``handlers``: thin Tornado handlers; ``sse``: the one SSE encoder;
- ``generation``: one task per answer, source -> engine -> store;
- ``sources``: the source type and the built-in demo and echo sources;
  ``upstream``: any OpenAI-compatible API;
- ``store``: the stream-store contract, in memory and on Redis Streams;
- ``testing``: ``ServerThread``, the app served from a thread (tests, tools).


Importing a submodule (``renderer.server.config``, ``.sources``) loads no
more than it needs: the names below are loaded on first use (PEP 562), so
``python -m renderer render`` never imports tornado.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import api_routes, demo_routes, make_app, make_store, page_routes, serve, static_routes
    from .config import Config, config_from_env
    from .sources import Message, Source, SourceError
    from .state import AppState, default_sources

_HOMES = {
    "AppState": "state",
    "Config": "config",
    "Message": "sources",
    "Source": "sources",
    "SourceError": "sources",
    "api_routes": "app",
    "config_from_env": "config",
    "default_sources": "state",
    "demo_routes": "app",
    "make_app": "app",
    "make_store": "app",
    "page_routes": "app",
    "serve": "app",
    "static_routes": "app",
}

__all__ = [
    "AppState",
    "Config",
    "Message",
    "Source",
    "SourceError",
    "api_routes",
    "config_from_env",
    "default_sources",
    "demo_routes",
    "make_app",
    "make_store",
    "page_routes",
    "serve",
    "static_routes",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)

"""What the server's handlers share: configuration, store, tasks, counters."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .generation import Generations
from .sources import DEFAULT_TOKEN_DELAY, Message, demo, echo
from .store.base import StreamStore

__all__ = ["AppState", "Config", "Metrics", "SourceFactory"]

STATIC_PATH = Path(__file__).resolve().parent.parent / "static"
"""The browser code and pages (beside the package in a checkout)."""

SourceFactory = Callable[[Sequence[Message]], AsyncIterator[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Settings of one server; the defaults are the contract's."""

    host: str = "127.0.0.1"
    port: int = 8000
    store: str = "memory"
    """``memory`` or ``redis://HOST:PORT/DB``."""
    source: str = "demo"
    """The source used when a request names none."""
    upstream: str | None = None
    """Base URL of an OpenAI-compatible API (``.../v1``)."""
    model: str = "gpt-4o-mini"
    api_key: str | None = field(default=None, repr=False)
    token_delay: float = DEFAULT_TOKEN_DELAY
    """Seconds between tokens of the demo and echo sources."""
    heartbeat: float = 15.0
    """Seconds of silence after which a reader gets a comment frame."""
    retry_ms: int = 2000
    """The reconnection delay the first SSE frame tells browsers."""
    max_body: int = 256 * 1024
    max_message: int = 32_000
    """Characters of message text in one request."""
    max_streams: int = 200
    """Answers generating at once in this process."""
    max_streams_per_client: int = 8
    """Answers generating at once for one client address."""
    max_pending: int = 1000
    """Undelivered events a reader may fall behind before it is cut off."""
    ttl: float = 600.0
    """Seconds a finished answer stays readable."""


class Metrics:
    """Counters for ``/metrics`` (Prometheus text format)."""

    def __init__(self) -> None:
        self.readers = 0
        self.events_sent = 0
        self.cut_off = 0
        self.resumes = 0

    def exposition(self, *, live_streams: int) -> str:
        rows = (
            ("renderer_open_readers", "gauge", "Readers connected now.", self.readers),
            ("renderer_live_streams", "gauge", "Answers generating now in this process.", live_streams),
            ("renderer_events_sent_total", "counter", "Events written to readers.", self.events_sent),
            ("renderer_slow_readers_cut_off_total", "counter", "Readers cut off for falling behind.", self.cut_off),
            ("renderer_resumes_total", "counter", "Readers that resumed with a Last-Event-ID.", self.resumes),
        )
        return "".join(f"# HELP {name} {text}\n# TYPE {name} {kind}\n{name} {value}\n" for name, kind, text, value in rows)


class AppState:
    """The objects handlers use, wired once by ``make_app``."""

    def __init__(self, config: Config, store: StreamStore, sources: dict[str, SourceFactory] | None = None) -> None:
        self.config = config
        self.store = store
        self.generations = Generations(store)
        self.metrics = Metrics()
        self.sources = sources if sources is not None else default_sources(config)
        self.static_path = STATIC_PATH

    def make_source(self, name: str, messages: Sequence[Message]) -> AsyncIterator[str]:
        return self.sources[name](messages)


def default_sources(config: Config) -> dict[str, SourceFactory]:
    """demo and echo always; upstream when a URL is configured."""
    sources: dict[str, SourceFactory] = {
        "demo": functools.partial(demo, delay=config.token_delay),
        "echo": functools.partial(echo, delay=config.token_delay),
    }
    if config.upstream:
        from .upstream import upstream

        sources["upstream"] = functools.partial(
            upstream, url=config.upstream, model=config.model, api_key=config.api_key
        )
    return sources

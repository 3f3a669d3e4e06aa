"""What the server's handlers share: configuration, store, tasks, counters."""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .generation import Generations
from .sources import DEFAULT_TOKEN_DELAY, Message, demo, echo
from .store.base import StreamStore

__all__ = ["AppState", "Config", "Metrics", "SourceFactory"]

STATIC_PATH = Path(str(importlib.resources.files("renderer.static")))
"""The browser code and pages: the checkout's ``static/``, shipped in the
wheel as the package ``renderer.static``."""

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
    lease: float = 10.0
    """Redis store only: seconds a generating process may stay silent (it
    died) before readers end its answer with ``error`` and ``done``."""


class Metrics(Collector):
    """This app's counters, exposed by ``/metrics`` in Prometheus text format.

    Handlers count with plain attributes (``metrics.readers += 1``,
    ``metrics.events_sent += n``): no lock and no call on the hot path.  The
    object is a ``prometheus_client`` collector registered in a
    ``CollectorRegistry`` of its own (``metrics.registry``), never in the
    library's global default registry, so several apps in one process (tests)
    each report their own numbers.  ``live_streams`` is read when scraped.

    With ``serve --workers N`` every process has its own ``Metrics``: a
    scrape answers for the process that accepted it.
    """

    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
    """The text format ``generate_latest`` writes (recent prometheus_client versions label it 1.0.0)."""

    def __init__(self, live_streams: Callable[[], int] = lambda: 0) -> None:
        self.readers = 0
        """Readers connected now (SSE, NDJSON, WebSocket, the chat POST's own stream)."""
        self.events_sent = 0
        self.cut_off = 0
        self.resumes = 0
        self.live_streams = live_streams
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("renderer_open_readers", "Readers connected now.", value=self.readers)
        yield GaugeMetricFamily(
            "renderer_live_streams", "Answers generating now in this process.", value=self.live_streams()
        )
        yield CounterMetricFamily("renderer_events_sent", "Events written to readers.", value=self.events_sent)
        yield CounterMetricFamily(
            "renderer_slow_readers_cut_off", "Readers cut off for falling behind.", value=self.cut_off
        )
        yield CounterMetricFamily("renderer_resumes", "Readers that resumed with a Last-Event-ID.", value=self.resumes)

    def exposition(self) -> bytes:
        """The Prometheus text format (``CONTENT_TYPE``) of this app's metrics."""
        return generate_latest(self.registry)


class AppState:
    """The objects handlers use, wired once by ``make_app``."""

    def __init__(self, config: Config, store: StreamStore, sources: Mapping[str, SourceFactory] | None = None) -> None:
        self.config = config
        self.store = store
        self.generations = Generations(store)
        self.metrics = Metrics(live_streams=lambda: len(self.generations))
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

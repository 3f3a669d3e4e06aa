"""What the server's handlers share: configuration, store, tasks, counters."""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..sanitizer.clean import DEFAULT_POLICY, DEFAULT_SANITIZER, BleachSanitizer, Policy
from .access import Access, Authenticator
from .config import Config
from .conversations import conversation_store
from .generation import Generations
from .parts import PartWriter, Piece
from .presence import Presence, Remote
from .sources import Message, Source, demo, echo, load_source
from .store.base import StreamStore

__all__ = ["AppState", "Metrics", "default_sources", "upstream_params"]


def _static_path() -> Path:
    # In a source checkout, its own static/ (an editable install's finder
    # maps ``renderer.static`` to the checkout it was installed from, which
    # is not this one when this one is a second worktree on PYTHONPATH).
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "static" / "index.html").is_file():
        return checkout / "static"
    return Path(str(importlib.resources.files("renderer.static")))


STATIC_PATH = _static_path()
"""The browser code and pages: the checkout's ``static/``, shipped in the
wheel as the package ``renderer.static``."""


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
        self.prompt_tokens = 0
        """Tokens of the prompts of ended answers, as the upstream counted them (its ``usage``)."""
        self.completion_tokens = 0
        self.idle_cancelled: Callable[[], int] = lambda: 0
        """Answers cancelled because no reader followed them (``Config.idle_cancel``)."""
        self.live_streams = live_streams
        self.preview_interval: Callable[[], float] = lambda: 0.0
        """Seconds between two previews of an answer's tail now (``pacing``)."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("renderer_open_readers", "Readers connected now.", value=self.readers)
        yield GaugeMetricFamily(
            "renderer_live_streams", "Answers generating now in this process.", value=self.live_streams()
        )
        yield GaugeMetricFamily(
            "renderer_preview_interval_seconds",
            "Seconds between two previews of an answer's tail (grows with the load).",
            value=self.preview_interval(),
        )
        yield CounterMetricFamily("renderer_events_sent", "Events written to readers.", value=self.events_sent)
        yield CounterMetricFamily(
            "renderer_slow_readers_cut_off", "Readers cut off for falling behind.", value=self.cut_off
        )
        yield CounterMetricFamily("renderer_resumes", "Readers that resumed with a Last-Event-ID.", value=self.resumes)
        yield CounterMetricFamily(
            "renderer_prompt_tokens", "Prompt tokens of ended answers (upstream usage).", value=self.prompt_tokens
        )
        yield CounterMetricFamily(
            "renderer_completion_tokens",
            "Completion tokens of ended answers (upstream usage).",
            value=self.completion_tokens,
        )
        yield CounterMetricFamily(
            "renderer_idle_cancelled", "Answers cancelled with no reader left.", value=self.idle_cancelled()
        )

    def count_usage(self, stream_id: str, writer: PartWriter, reason: str) -> None:
        """Generations' ``on_end``: add an answer's usage."""
        if writer.usage is not None:
            self.prompt_tokens += writer.usage.prompt_tokens
            self.completion_tokens += writer.usage.completion_tokens

    def exposition(self) -> bytes:
        """The Prometheus text format (``CONTENT_TYPE``) of this app's metrics."""
        return generate_latest(self.registry)


class AppState:
    """The objects handlers use, wired once by ``make_app``."""

    def __init__(
        self,
        config: Config,
        store: StreamStore,
        sources: Mapping[str, Source] | None = None,
        *,
        policy: Policy = DEFAULT_POLICY,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.config = config
        self.access = Access(config, authenticator=authenticator)
        """Who may call: client addresses, origins, authentication (``access.py``)."""
        self.store = store
        self.policy = policy
        """The one allowlist: answers are sanitized with it, and the browser's
        re-check gets it as ``/static/allowlist.js``."""
        sanitizer = DEFAULT_SANITIZER if policy is DEFAULT_POLICY else BleachSanitizer(policy)
        self.conversations = conversation_store(store, config.conversation_ttl)
        """Conversations kept by the server, beside the streams (memory or Redis)."""
        self.presence = Presence(config.idle_cancel, remote=remote_presence(store))
        """Readers per stream: an answer no one follows is cancelled."""
        self.generations = Generations(store, sanitizer=sanitizer, presence=self.presence)
        self.metrics = Metrics(live_streams=lambda: len(self.generations))
        self.metrics.idle_cancelled = lambda: self.generations.idle_cancelled
        self.metrics.preview_interval = lambda: self.generations.pacer.interval()
        self.generations.on_end.append(self.metrics.count_usage)
        if sources is None:
            sources = default_sources(config)
            if config.source not in sources:  # a --source name with nothing behind it
                known = ", ".join(sorted(sources))
                raise ValueError(f"unknown source {config.source!r} (this server has {known})")
        self.sources = dict(sources)
        """The sources by name; a request without one gets ``config.source``
        (an application that passes its own may name each in its requests)."""
        self.static_path = STATIC_PATH

    def make_source(
        self, name: str, messages: Sequence[Message], params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[Piece]:
        """The answer of source ``name``; ``params`` (a request's own
        temperature, top_p, max_tokens, already within bounds) go to the
        upstream source only, over the configured ones."""
        if params and name == "upstream":
            merged = {**upstream_params(self.config), **params}
            return self.sources[name](messages, params=merged)  # type: ignore[call-arg]
        return self.sources[name](messages)


def remote_presence(store: StreamStore) -> Remote | None:
    """Where readers of every process are counted: the Redis store's server
    (``None``: one process, the memory store)."""
    if type(store).__name__ != "RedisStore":  # no import: redis is optional
        return None
    from .store.redis import RedisStore
    from .store.redis_presence import RedisPresence

    return RedisPresence(cast(RedisStore, store))


def upstream_params(config: Config) -> dict[str, Any]:
    """The sampling parameters ``config`` sets for the upstream."""
    values = {"temperature": config.temperature, "top_p": config.top_p, "max_tokens": config.max_tokens}
    return {name: value for name, value in values.items() if value is not None}


def default_sources(config: Config) -> dict[str, Source]:
    """The sources ``config`` names: demo and echo always, upstream when a
    URL is configured, and ``config.source`` when it is ``module:callable``.

    An application that brings its own sources passes them to ``make_app``
    instead (``{**default_sources(config), "mine": mine}`` keeps these)."""
    sources: dict[str, Source] = {
        "demo": functools.partial(demo, delay=config.token_delay),
        "echo": functools.partial(echo, delay=config.token_delay),
    }
    if config.upstream:
        from .upstream import upstream

        sources["upstream"] = functools.partial(
            upstream,
            url=config.upstream,
            model=config.model,
            api_key=config.api_key,
            timeout=config.upstream_timeout,
            connect_timeout=config.upstream_connect_timeout,
            total_timeout=config.upstream_total_timeout or None,
            params=upstream_params(config),
            include_usage=bool(config.upstream_usage),
        )
    if ":" in config.source:
        sources[config.source] = load_source(config.source)
    return sources

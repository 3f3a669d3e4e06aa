"""Every setting of the server, defined once: ``Config``.

Each field is also a flag of ``python -m renderer serve`` (``max_streams``:
``--max-streams``) and an environment variable (``RENDERER_MAX_STREAMS``);
a flag wins over the variable, the variable over the default.  The flags,
their help, the variables and the table in docs/configuration.md are all
made from the fields below (``Setting``), so none of them can drift.
Values are checked when a ``Config`` is made: a bad one raises
``ValueError`` naming the setting, whichever way it came in.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .sources import DEFAULT_TOKEN_DELAY

__all__ = ["ENV_PREFIX", "Config", "Setting", "config_from_env", "markdown_table", "settings"]

ENV_PREFIX = "RENDERER_"


@dataclass(frozen=True, slots=True)
class Setting:
    """What the command line and the docs know of one ``Config`` field."""

    help: str
    minimum: float | None = None
    maximum: float | None = None
    metavar: str | None = None
    secret: bool = False
    """Never shown (repr, docs, help text): an API key."""
    extra_env: tuple[str, ...] = ()
    """Other variables read when ``RENDERER_...`` is unset (``OPENAI_API_KEY``)."""


def _setting(default: Any, help: str, **options: Any) -> Any:
    setting = Setting(help, **options)
    return field(default=default, repr=not setting.secret, metadata={"setting": setting})


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Settings of one server; the defaults are the contract's."""

    host: str = _setting("127.0.0.1", "address to listen on")
    port: int = _setting(8000, "port to listen on (0: any free port)", minimum=0, maximum=65535)
    workers: int = _setting(
        1, "processes sharing the port; more than 1 needs --store redis://...", minimum=1, metavar="N"
    )
    store: str = _setting("memory", "where answers are kept: memory, or redis://HOST:PORT/DB", metavar="URL")
    source: str = _setting(
        "demo",
        "the source of answers when a request names none: demo, echo, upstream, or module:callable",
        metavar="NAME",
    )
    upstream: str | None = _setting(
        None, "base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1", metavar="URL"
    )
    model: str = _setting("gpt-4o-mini", "model name sent upstream")
    api_key: str | None = _setting(
        None, "API key sent upstream (prefer the environment variable)", secret=True, extra_env=("OPENAI_API_KEY",)
    )
    upstream_timeout: float = _setting(60.0, "seconds the upstream may send nothing", minimum=0.001, metavar="SECONDS")
    upstream_connect_timeout: float = _setting(
        10.0, "seconds to connect to the upstream", minimum=0.001, metavar="SECONDS"
    )
    upstream_total_timeout: float = _setting(
        600.0, "seconds one upstream answer may take in all (0: no limit)", minimum=0, metavar="SECONDS"
    )
    token_delay: float = _setting(
        DEFAULT_TOKEN_DELAY,
        "pause between tokens of the demo and echo sources (0: as fast as possible)",
        minimum=0,
        metavar="SECONDS",
    )
    heartbeat: float = _setting(
        15.0, "seconds of silence after which a reader gets a heartbeat", minimum=0.01, metavar="SECONDS"
    )
    retry_ms: int = _setting(
        2000, "reconnection delay the first SSE frame tells browsers", minimum=0, metavar="MILLISECONDS"
    )
    max_body: int = _setting(256 * 1024, "bytes of one request body", minimum=1, metavar="BYTES")
    max_message: int = _setting(32_000, "characters of message text in one request", minimum=1, metavar="CHARS")
    max_streams: int = _setting(
        200,
        "answers generating at once; the Redis store counts them across every process that shares it "
        "(0: refuse new answers)",
        minimum=0,
        metavar="N",
    )
    max_streams_per_client: int = _setting(
        8,
        "answers generating at once for one client address (counted in the store, across processes)",
        minimum=0,
        metavar="N",
    )
    max_pending: int = _setting(
        1000, "events a reader may fall behind before it is cut off (it may resume)", minimum=1, metavar="N"
    )
    write_timeout: float = _setting(
        30.0,
        "seconds a reader may take to accept 64 KB before it is cut off (it may resume)",
        minimum=0.001,
        metavar="SECONDS",
    )
    ttl: float = _setting(600.0, "seconds a finished answer stays readable", minimum=0.001, metavar="SECONDS")
    allowed_origin: str = _setting(
        "",
        "other origins (scheme://host[:port], comma-separated) whose pages may call the API; "
        "the server's own origin always may",
        metavar="ORIGINS",
    )
    auth_tokens: str | None = _setting(
        None,
        "bearer tokens (comma-separated) that API requests must carry; unset: no authentication",
        secret=True,
        metavar="TOKENS",
    )
    allow_unauthenticated: bool = _setting(
        False,
        "serve on a non-loopback address without authentication (something in front authenticates)",
        metavar="BOOL",
    )
    trusted_proxy: str = _setting(
        "",
        "addresses or networks (comma-separated) of proxies whose X-Forwarded-For names the client",
        metavar="ADDRESSES",
    )
    max_connections_per_client: int = _setting(
        256, "open connections from one address (trusted proxies exempt; 0: no cap)", minimum=0, metavar="N"
    )
    header_timeout: float = _setting(
        30.0,
        "seconds a client may take to send a request's headers (also: how long an idle connection stays open)",
        minimum=0.001,
        metavar="SECONDS",
    )
    body_timeout: float = _setting(
        60.0, "seconds a client may take to send a request body", minimum=0.001, metavar="SECONDS"
    )
    lease: float = _setting(
        10.0,
        "Redis store: seconds a generating process may stay silent before readers end its answer",
        minimum=0.001,
        metavar="SECONDS",
    )
    conversation_ttl: float = _setting(
        86_400.0, "seconds a conversation is kept after its last message", minimum=0.001, metavar="SECONDS"
    )
    idle_cancel: float = _setting(
        60.0,
        "seconds an answer may go on with no reader at all before it is cancelled (a closed tab stops spending)",
        minimum=0.001,
        metavar="SECONDS",
    )
    history_budget: int = _setting(
        16_000,
        "characters of earlier turns sent upstream with a conversation's new message (oldest dropped first)",
        minimum=0,
        metavar="CHARS",
    )
    send_reasoning: int = _setting(
        0, "1: send kept reasoning back upstream with earlier answers (0: never)", minimum=0, maximum=1
    )
    system_prompt: str | None = _setting(None, "system message sent first with every conversation", metavar="TEXT")
    temperature: float | None = _setting(None, "sampling temperature sent upstream", minimum=0, maximum=2)
    top_p: float | None = _setting(None, "nucleus sampling top_p sent upstream", minimum=0, maximum=1)
    max_tokens: int | None = _setting(None, "max_tokens sent upstream (the answer's length limit)", minimum=1)
    request_params: str = _setting(
        "temperature,top_p,max_tokens",
        "which of temperature, top_p, max_tokens a request may set (comma-separated; empty: none)",
        metavar="NAMES",
    )
    max_tokens_limit: int = _setting(
        32_768, "the largest max_tokens a request may ask for", minimum=1, metavar="TOKENS"
    )
    upstream_usage: int = _setting(
        1, "1: ask the upstream for token usage (stream_options.include_usage); 0: do not", minimum=0, maximum=1
    )

    def __post_init__(self) -> None:
        for name, setting in settings().items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
            low, high = setting.minimum, setting.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                bounds = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
                raise ValueError(f"{name} must be {bounds}, got {value:g}")


def settings() -> dict[str, Setting]:
    """Each ``Config`` field's name with its ``Setting``, in declaration order."""
    return {f.name: f.metadata["setting"] for f in dataclasses.fields(Config)}


def value_type(name: str) -> type:
    """The type a field's text is converted to: ``int``, ``float``, ``bool`` or ``str``."""
    hint = typing.get_type_hints(Config)[name]
    if isinstance(hint, types.UnionType):  # X | None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint  # type: ignore[no-any-return]


def env_names(name: str) -> tuple[str, ...]:
    """The environment variables a field is read from, first found wins."""
    return (ENV_PREFIX + name.upper(), *settings()[name].extra_env)


def parse_value(name: str, text: str) -> Any:
    """A field's value from text (a flag or an environment variable)."""
    kind = value_type(name)
    if kind is str:
        return text
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{name} must be true or false, got {text!r}")
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, got {text!r}") from None


def config_from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """A ``Config`` from ``RENDERER_*`` variables (then ``overrides``, then
    the defaults).  Raises ``ValueError`` for a value that does not parse or
    is out of bounds, naming the variable."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name in settings():
        for variable in env_names(name):
            if environ.get(variable):
                try:
                    values[name] = parse_value(name, environ[variable])
                except ValueError as error:
                    raise ValueError(f"{variable}: {error}") from None
                break
    values.update(overrides)
    return Config(**values)


def markdown_table() -> str:
    """The settings as the Markdown table in docs/configuration.md."""
    rows = [
        "| flag | environment variable | default | what it sets |",
        "|---|---|---|---|",
    ]
    for f in dataclasses.fields(Config):
        setting: Setting = f.metadata["setting"]
        default = "unset" if f.default is None else f"`{f.default}`"
        variables = ", ".join(f"`{variable}`" for variable in env_names(f.name))
        rows.append(f"| `--{f.name.replace('_', '-')}` | {variables} | {default} | {setting.help} |")
    return "\n".join(rows) + "\n"

"""Who may call: the client's address, cross-site refusal, authentication.

* The client address is the TCP peer, or, when the peer is one of the
  configured trusted proxies (``--trusted-proxy``), the last address in
  ``X-Forwarded-For`` that is not itself a trusted proxy.  A header from
  anyone else is ignored: it is client input, and believing it would let a
  client choose whose limits it spends.
* A state-changing request (``POST``) from a browser page of another origin
  is refused (403): the browser says where a request comes from in
  ``Sec-Fetch-Site`` and ``Origin``, and only this server's own origin and
  those configured (``--allowed-origin``) may start, cancel or sanitize.  A
  request with neither header is not from a browser (curl, an SDK): it is
  judged by authentication alone.  WebSocket upgrades check ``Origin`` the
  same way, so a foreign page cannot read a stream over ``/ws``.
* Authentication is optional.  With bearer tokens configured
  (``--auth-tokens``), or an ``Authenticator`` passed to ``make_app`` (a
  session cookie, a header set by the proxy), every API request names a
  principal or gets 401, and a stream belongs to the principal that created
  it: anyone else gets 404, whatever id it holds.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import ipaddress
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TypeAlias

from tornado import httputil

from .config import Config

__all__ = [
    "Access",
    "Authenticator",
    "ExposureError",
    "check_exposure",
    "is_loopback",
    "token_principal",
]

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

Authenticator: TypeAlias = Callable[[httputil.HTTPServerRequest], "str | Awaitable[str | None] | None"]
"""An application's own check: the request in, the principal (any stable
string naming who calls: a user id) out, or ``None`` for nobody.  May be a
coroutine function (a session store lookup)."""

SAFE_FETCH_SITES = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of requests a page of this origin (or the user,
typing a URL) made."""


class ExposureError(ValueError):
    """A server about to listen beyond loopback with no authentication."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a listening address) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(config: Config, *, authenticator: Authenticator | None = None) -> None:
    """Refuse (``ExposureError``) to serve on a non-loopback address without
    authentication, unless ``config.allow_unauthenticated`` says so."""
    if is_loopback(config.host) or config.auth_tokens or authenticator is not None:
        return
    if config.allow_unauthenticated:
        return
    raise ExposureError(
        f"refusing to listen on {config.host} with no authentication: anyone who reaches it could "
        "spend the upstream API key; set --auth-tokens (RENDERER_AUTH_TOKENS), or say "
        "--allow-unauthenticated true if something in front of it authenticates"
    )


def token_principal(token: str) -> str:
    """The principal a bearer token stands for: a digest, so that the token
    itself is never stored (in Redis) or logged."""
    return "token:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:24]


def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _origin(text: str) -> str | None:
    """``scheme://host[:port]`` in canonical form (lower case, default port
    dropped), or ``None`` for something that is not an origin (``null``)."""
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host.lower()}" + ("" if port in (None, default) else f":{port}")


class Access:
    """The rules above for one app, built from its ``Config``."""

    def __init__(self, config: Config, *, authenticator: Authenticator | None = None) -> None:
        self.allowed_origins = frozenset(o for o in map(_origin, _split(config.allowed_origin)) if o)
        bad = [item for item in _split(config.allowed_origin) if _origin(item) is None]
        if bad:
            raise ValueError(f"allowed_origin: not an origin (scheme://host[:port]): {bad[0]!r}")
        try:
            self.trusted_proxies: tuple[Network, ...] = tuple(
                ipaddress.ip_network(item, strict=False) for item in _split(config.trusted_proxy)
            )
        except ValueError as error:
            raise ValueError(f"trusted_proxy: {error}") from None
        self._tokens = {token_principal(token): token.encode("utf-8") for token in _split(config.auth_tokens)}
        self.authenticator = authenticator

    @property
    def enabled(self) -> bool:
        """Whether requests must name a principal (tokens or a hook configured)."""
        return bool(self._tokens) or self.authenticator is not None

    # --- addresses --------------------------------------------------------------

    def is_trusted_proxy(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    def client_address(self, request: httputil.HTTPServerRequest) -> str:
        """The address a request's limits are counted against (see the module)."""
        peer = request.remote_ip or ""
        if not self.trusted_proxies or not self.is_trusted_proxy(peer):
            return peer
        hops = [hop.strip() for header in request.headers.get_list("X-Forwarded-For") for hop in header.split(",")]
        for hop in reversed(hops):
            if not hop:
                continue
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return peer  # garbage from the proxy: count the proxy, not a made-up name
            if not self.is_trusted_proxy(hop):
                return hop
        return peer

    # --- origins ------------------------------------------------------------------

    def own_origin(self, request: httputil.HTTPServerRequest) -> str | None:
        """This server's origin as the browser sees it: the ``Host`` it was
        asked for, with the scheme a trusted proxy reports (TLS ends there)."""
        scheme = request.protocol
        if self.is_trusted_proxy(request.remote_ip or ""):
            forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            if forwarded in ("http", "https"):
                scheme = forwarded
        return _origin(f"{scheme}://{request.host}")

    def origin_allowed(self, origin: str, request: httputil.HTTPServerRequest) -> bool:
        """Whether a page of ``origin`` may act on this server."""
        canonical = _origin(origin)
        return canonical is not None and (canonical == self.own_origin(request) or canonical in self.allowed_origins)

    def cross_site(self, request: httputil.HTTPServerRequest) -> bool:
        """Whether a request comes from a page that may not act here.

        ``Origin`` decides when present; else ``Sec-Fetch-Site`` (a browser
        always sends one of them with a POST); a request with neither is
        not from a browser page."""
        origin = request.headers.get("Origin")
        if origin is not None:
            return not self.origin_allowed(origin, request)
        site = request.headers.get("Sec-Fetch-Site")
        return site is not None and site.strip().lower() not in SAFE_FETCH_SITES

    # --- authentication -------------------------------------------------------------

    async def principal(self, request: httputil.HTTPServerRequest) -> str | None:
        """Who calls: a token's principal, or the hook's answer; ``None``: nobody."""
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if self._tokens and scheme.lower() == "bearer" and credentials.strip():
            given = credentials.strip().encode("utf-8", "replace")
            for principal, token in self._tokens.items():
                if hmac.compare_digest(given, token):
                    return principal
        if self.authenticator is not None:
            answer = self.authenticator(request)
            if inspect.isawaitable(answer):
                answer = await answer
            if answer:
                return str(answer)
        return None

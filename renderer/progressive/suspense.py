"""Progressive HTML for users' own Tornado handlers: the page's shell at once,
each slow part streamed into it when it is ready, in one HTTP response.

::

    class ProductPage(web.RequestHandler):
        async def get(self, product_id: str) -> None:
            product = await load_product(product_id)   # decides the status: before the shell
            if product is None:
                raise web.HTTPError(404)
            async with Suspense(self) as page:
                reviews = page.slot(load_reviews(product_id), fallback="<p>Loading…</p>", timeout=3)
                summary = page.slot(summarize(product), markdown=True)  # async iterator of Markdown
                await page.render(f"<!doctype html>...<main>{reviews}{summary}</main></body></html>")

What goes over the wire, for a slot ``rs1``:

* In the shell, its placeholder: ``<?start name="rs1"><div id="rs1"
  class="rs-pending" aria-busy="true">FALLBACK</div><?end>``.  Browsers that
  know HTML processing instructions keep the markers as such; older ones
  parse them as comments.
* When the slot is ready, at the end of ``<body>``: ``<template
  for="rs1">HTML</template><script nonce=N>$RS("rs1")</script>``.  A browser
  with native out-of-order patching (Chromium 150+) replaces the marked
  range with the template's content while parsing, with no script at all;
  elsewhere the template stays inert in the DOM and ``$RS`` (``RUNTIME``,
  defined once in the shell) moves its content over the placeholder.  Either
  way, the script then removes itself: no template, marker or swap script is
  left in the DOM.  Content reaches the DOM by node moves (``replaceWith`` of
  the template's ``DocumentFragment``), never through ``innerHTML``.
* A slot fed by an async iterator streams: its content so far is sent with a
  new placeholder after it (HTML), or, for Markdown, inside a
  ``rs-streaming`` box whose in-progress tail is a range of its own, so each
  update sends only the new committed blocks and the tail; the last update
  sends the slot's final HTML once more (the only way to also apply the
  engine's rare ``replace`` op without script).

Trust: the shell, fallbacks and the HTML a slot returns are the handler's
own markup, trusted like a template (they may contain nested placeholders);
pass ``sanitize=True`` for HTML from elsewhere.  Markdown (``markdown=True``)
is always rendered and sanitized by the engine.

Slots start when ``render`` is called (slots declared later, inside another
slot, at once); the shell is written and flushed before any slot's result is
awaited.  A client that leaves cancels every pending slot; ``cancelled``
counts them.  Crawlers, ``?nostream=1`` and (through a ``<noscript>``
refresh to ``?nostream=1``) browsers without JavaScript get the resolved
page: every slot awaited, in place, in document order, with no script.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import html
import inspect
import logging
import math
import re
import secrets
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeAlias

from tornado import httputil, iostream, web

from ..markdown.ops import Document, Op
from ..markdown.stream import DEFAULT_INTERVAL, MarkdownStream
from ..sanitizer.clean import sanitize as sanitize_html

__all__ = [
    "CRAWLERS",
    "DEFAULT_CSP",
    "DEFAULT_ERROR_FALLBACK",
    "DEFAULT_TIMEOUT_FALLBACK",
    "RUNTIME",
    "Order",
    "Slot",
    "SlotSource",
    "Suspense",
    "wants_stream",
]

logger = logging.getLogger(__name__)

SlotContent: TypeAlias = "Awaitable[Any] | AsyncIterable[Any]"
SlotSource: TypeAlias = "Awaitable[Any] | AsyncIterable[Any] | Callable[[], Awaitable[Any] | AsyncIterable[Any]]"
"""What a slot shows: an awaitable of HTML (or Markdown), an async iterator of
chunks, or a function returning either (called when the slot starts)."""
Order = Literal["completion", "document"]

RUNTIME = (
    "function $RS(i){var d=document,s=d.currentScript,t=s.previousSibling,e=d.getElementById(i);"
    'if(t&&t.content&&t.getAttribute("for")==i&&e){e.previousSibling.remove();e.nextSibling.remove();'
    "e.replaceWith(t.content);t.remove()}s.remove()}"
)
"""The swap runtime, inline in the shell.  With native patching the template
never reaches the DOM and this only removes its own call; otherwise the
template is the script's previous sibling and its content replaces the
placeholder element and the two markers around it."""

DEFAULT_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}' 'strict-dynamic'; style-src 'self' 'nonce-{nonce}'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"
)
"""Scripts and styles only with this response's nonce (``'strict-dynamic'``
lets a nonce'd script load others), inline ``style`` attributes refused, and
no HTML sink may be used at all (the runtime only moves nodes)."""

DEFAULT_ERROR_FALLBACK = '<p class="rs-error">This part of the page could not be loaded.</p>'
DEFAULT_TIMEOUT_FALLBACK = '<p class="rs-timeout">This part of the page took too long to load.</p>'

CRAWLERS = re.compile(
    r"googlebot|google-inspectiontool|adsbot-google|mediapartners-google|bingbot|bingpreview|slurp|"
    r"duckduckbot|baiduspider|yandex(?:bot|images)|applebot|facebookexternalhit|facebot|twitterbot|"
    r"linkedinbot|pinterestbot|redditbot|discordbot|slackbot|telegrambot|whatsapp|embedly|skypeuripreview|"
    r"semrushbot|ahrefsbot|mj12bot|dotbot|petalbot|bytespider|amazonbot|gptbot|chatgpt-user|oai-searchbot|"
    r"claudebot|claude-web|perplexitybot|ccbot|ia_archiver|archive\.org_bot|seznambot|sogou|exabot",
    re.IGNORECASE,
)
"""User agents that get the resolved page: crawlers index what they parse,
and most do not run the swap scripts (a list, not ``bot``: ``Cubot`` is a phone)."""

_LENGTH = re.compile(r"(?:\d{1,5}(?:\.\d{1,3})?)(?:px|r?em|ex|ch|lh|vh|vw|vmin|vmax|%)")
_TAG = re.compile(r"[a-z][a-z0-9]{0,15}")
_PREFIX = re.compile(r"[a-z][a-z0-9-]{0,15}")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_current: contextvars.ContextVar[Slot | None] = contextvars.ContextVar("renderer_suspense_slot", default=None)
"""The slot whose source is running (set in its task's own context): slots
declared there are its children."""


def wants_stream(request: httputil.HTTPServerRequest, crawlers: re.Pattern[str] = CRAWLERS) -> bool:
    """Whether a request gets the streamed page (else the resolved one):
    not for ``?nostream=1`` (any value but ``0``) nor a known crawler."""
    nostream = request.query_arguments.get("nostream")
    if nostream and nostream[-1] not in (b"0", b""):
        return False
    return not crawlers.search(request.headers.get("User-Agent", ""))


class Slot:
    """One slow part of a page: where it goes, what it shows meanwhile, and
    how far it has got.  ``str(slot)`` is its placeholder markup."""

    __slots__ = (
        "children",
        "document",
        "done",
        "engine",
        "error_fallback",
        "fallback",
        "id",
        "key",
        "markdown",
        "min_height",
        "needs_full",
        "opened",
        "outcome",
        "page",
        "parent",
        "parts",
        "placed",
        "placeholder",
        "sanitize",
        "sent",
        "settled",
        "source",
        "suffix",
        "tag",
        "task",
        "timeout",
        "timeout_fallback",
        "unsent",
    )

    def __init__(
        self,
        page: Suspense,
        slot_id: str,
        source: SlotSource,
        *,
        parent: Slot | None,
        fallback: str,
        markdown: bool,
        sanitize: bool,
        timeout: float | None,
        timeout_fallback: str,
        error_fallback: str,
        min_height: str | None,
        tag: str,
    ) -> None:
        self.page = page
        self.id = slot_id
        self.source: SlotSource | None = source
        self.parent = parent
        self.children: list[Slot] = []
        self.fallback = fallback
        self.markdown = markdown
        self.sanitize = sanitize
        self.timeout = timeout
        self.timeout_fallback = timeout_fallback
        self.error_fallback = error_fallback
        self.min_height = min_height
        self.tag = tag
        self.placeholder = (
            f'<?start name="{slot_id}"><{tag} id="{slot_id}" class="rs-pending" aria-busy="true">'
            f"{fallback}</{tag}><?end>"
        )
        self.task: asyncio.Task[None] | None = None
        self.outcome: Literal["pending", "ok", "error", "timeout", "cancelled"] = "pending"
        self.done = False
        """The source has ended (or failed): what is left to send is final."""
        self.placed = False
        """Its placeholder has gone out (in the shell or a parent's content)."""
        self.settled = False
        """Nothing more will be written for it (final patch sent, or dropped)."""
        self.key: tuple[int, ...] = ()
        """Its place in document order (compared as tuples: a child sorts
        after its parent and before the parent's next sibling)."""
        self.parts: list[str] = []
        """HTML content, in chunks as the source gave them."""
        self.unsent = 0
        """Index of the first chunk of ``parts`` not yet written."""
        self.suffix = ""
        """A fallback shown after what arrived (error or timeout)."""
        self.engine: MarkdownStream | None = None
        self.document = Document()
        """Markdown slots: the committed HTML and tail the engine's ops built."""
        self.sent = 0
        """Markdown slots: characters of committed HTML already written."""
        self.opened = False
        """Markdown slots: its streaming box has been written."""
        self.needs_full = False
        """Markdown slots: a ``replace`` op came, the box must be resent whole."""

    def __str__(self) -> str:
        return self.placeholder

    def __html__(self) -> str:
        """The placeholder, for template engines that honour ``__html__``."""
        return self.placeholder

    def __repr__(self) -> str:
        return f"<Slot {self.id} {self.outcome}>"

    # -- content -------------------------------------------------------------

    def add(self, value: Any) -> bool:
        """Take one chunk (or the whole result) from the source; whether there
        is something new to show."""
        if hasattr(value, "__html__"):
            value = value.__html__()
        if not isinstance(value, str):
            raise TypeError(f"slot {self.id} gave {type(value).__name__}, not str")
        if self.engine is not None:
            return self.apply(self.engine.feed(value))
        if value:
            self.parts.append(sanitize_html(value) if self.sanitize else value)
        return bool(value)

    def apply(self, ops: list[Op]) -> bool:
        for op in ops:
            if op.kind == "replace":
                self.needs_full = True
            self.document.apply(op)
        return bool(ops)

    def content(self) -> str:
        """All its final HTML, as the resolved page shows it."""
        if self.engine is not None:
            return self.document.html + self.suffix
        return "".join(self.parts) + self.suffix

    def take_patch(self) -> tuple[str, str]:
        """The next patch to write, as (target, HTML); see the module docstring."""
        slot_id, tag = self.id, self.tag
        if self.engine is not None:
            if self.done:
                return slot_id, self.document.html + self.suffix
            committed, tail = self.document.committed, self.document.tail
            tail_range = f'<?start name="{slot_id}-t"><div id="{slot_id}-t">{tail}</div><?end>'
            if not self.opened or self.needs_full:
                self.opened, self.needs_full, self.sent = True, False, len(committed)
                box = f'<{tag} id="{slot_id}" class="rs-streaming" aria-busy="true">{committed}{tail_range}</{tag}>'
                return slot_id, f'<?start name="{slot_id}">{box}<?end>'
            new, self.sent = committed[self.sent :], len(committed)
            return f"{slot_id}-t", new + tail_range
        new = "".join(self.parts[self.unsent :])
        self.unsent = len(self.parts)
        if self.done:
            return slot_id, new + self.suffix
        rest = f'<?start name="{slot_id}"><{tag} id="{slot_id}" class="rs-streaming" aria-busy="true"></{tag}><?end>'
        return slot_id, new + rest


class Suspense:
    """One progressive page: declare slots, then ``render`` the shell.

    ``order``: write slots as they complete (``"completion"``) or in the
    order they appear in the page (``"document"``).  ``stream``: force the
    streamed (``True``) or resolved (``False``) page; by default
    ``wants_stream`` decides.  ``csp``: the Content-Security-Policy, with
    ``{nonce}`` where this response's nonce goes (``None`` sets none);
    ``nonce`` is also there for the shell's own scripts and styles.
    ``interval``: seconds between two updates of a streaming Markdown slot.
    """

    def __init__(
        self,
        handler: web.RequestHandler,
        *,
        order: Order = "completion",
        stream: bool | None = None,
        csp: str | None = DEFAULT_CSP,
        prefix: str = "rs",
        interval: float = DEFAULT_INTERVAL,
        error_fallback: str = DEFAULT_ERROR_FALLBACK,
        timeout_fallback: str = DEFAULT_TIMEOUT_FALLBACK,
        noscript_redirect: bool = True,
        crawlers: re.Pattern[str] = CRAWLERS,
    ) -> None:
        if order not in ("completion", "document"):
            raise ValueError(f"order must be 'completion' or 'document', not {order!r}")
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix must match {_PREFIX.pattern}")
        self.handler = handler
        self.order = order
        self.streaming = wants_stream(handler.request, crawlers) if stream is None else stream
        self.nonce = secrets.token_urlsafe(18)
        self.csp = csp
        self.prefix = prefix
        self.interval = interval
        self.error_fallback = error_fallback
        self.timeout_fallback = timeout_fallback
        self.noscript_redirect = noscript_redirect
        self.cancelled = 0
        """Slot tasks this page cancelled (the client left, or their
        placeholder never went out)."""
        self.slots: list[Slot] = []
        self._unsettled: set[Slot] = set()
        self._dirty: dict[Slot, None] = {}
        """Slots with something to write, in the order they got it."""
        self._wake = asyncio.Event()
        self._started = False
        self._rendered = False
        self._closed = False
        # Tornado tells the handler when the client leaves (also while the
        # response waits and nothing is written); hear it too, then pass it on.
        connection = handler.request.connection
        if connection is not None and hasattr(connection, "set_close_callback"):
            connection.set_close_callback(self._connection_closed)

    # -- declaring -----------------------------------------------------------

    def slot(
        self,
        source: SlotSource,
        *,
        fallback: str = "",
        markdown: bool = False,
        sanitize: bool = False,
        timeout: float | None = None,
        timeout_fallback: str | None = None,
        error_fallback: str | None = None,
        min_height: str | None = None,
        tag: str = "div",
    ) -> Slot:
        """Declare a slot; put ``str(slot)`` where it goes in the shell (or in
        the HTML of the slot whose source declares it: slots nest).

        ``fallback``: HTML shown meanwhile.  ``markdown``: the source gives
        Markdown, rendered and sanitized by the engine (an async iterator
        streams into the slot as it grows).  ``sanitize``: pass the HTML it
        gives through ``renderer.sanitizer.clean``.  ``timeout``: seconds the whole
        slot may take; then its task is cancelled and ``timeout_fallback``
        shows (after what a stream already showed).  A source that raises
        shows ``error_fallback`` instead (the error is logged, never sent).
        ``min_height``: a CSS length the placeholder reserves (a rule in a
        nonce'd ``<style>``; inline style attributes are refused by the CSP).
        ``tag``: the placeholder's element (``div``; ``span`` inline, ``li``...).
        A Markdown slot cannot hold nested slots (its HTML is sanitized).
        """
        problem = _slot_problem(self, min_height, tag, timeout)
        if problem is not None:
            _close_source(source)  # refused: it will never be awaited
            raise problem
        current = _current.get()
        parent = current if current is not None and current.page is self else None
        slot = Slot(
            self,
            f"{self.prefix}{len(self.slots) + 1}",
            source,
            parent=parent,
            fallback=fallback,
            markdown=markdown,
            sanitize=sanitize,
            timeout=timeout,
            timeout_fallback=self.timeout_fallback if timeout_fallback is None else timeout_fallback,
            error_fallback=self.error_fallback if error_fallback is None else error_fallback,
            min_height=min_height,
            tag=tag,
        )
        if markdown:
            slot.engine = MarkdownStream(interval=self.interval if self.streaming else math.inf)
        self.slots.append(slot)
        self._unsettled.add(slot)
        if parent is not None:
            parent.children.append(slot)
        if self._started:
            self._start(slot)
        return slot

    # -- rendering -------------------------------------------------------------

    async def render(self, shell: str) -> None:
        """Write the page: the shell at once (streamed) or with every slot in
        place (resolved), then finish the response.  Returns when the
        response is complete or the client has gone."""
        if self._rendered:
            raise RuntimeError("render() called twice")
        self._rendered = True
        try:
            self._set_headers()
            for slot in list(self.slots):
                if not self._place(slot, shell, ()):
                    logger.warning("slot %s: its placeholder is not in the shell; dropped", slot.id)
                    self._drop(slot)
            self._started = True
            for slot in list(self.slots):
                self._start(slot)
            if self.streaming:
                await self._stream(shell)
            else:
                await self._resolve(shell)
        finally:
            self.close()

    def _set_headers(self) -> None:
        handler = self.handler
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        # no-store: the page carries a one-time nonce; no-transform: no proxy
        # or CDN may recompress (and so hold back) the chunks.
        handler.set_header("Cache-Control", "no-store, no-transform")
        handler.set_header("X-Accel-Buffering", "no")  # nginx: pass each chunk on at once
        handler.set_header("Vary", "User-Agent")  # crawlers get the resolved page
        if self.csp is not None:
            handler.set_header("Content-Security-Policy", self.csp.replace("{nonce}", self.nonce))
        # An application with compress_response=True would gzip this response
        # and hold chunks back in the compressor: not this one.
        transforms = getattr(handler, "_transforms", None)
        if transforms:
            handler._transforms = [t for t in transforms if not isinstance(t, web.GZipContentEncoding)]

    async def _stream(self, shell: str) -> None:
        head, end = _split_body(shell)
        handler = self.handler
        try:
            handler.write(_insert_head(head, self._head_extras()))
            await handler.flush()  # the shell goes out before any slot is awaited
            while not self._closed:
                self._wake.clear()
                slot = self._next_writable()
                if slot is None:
                    if not self._unsettled:
                        break
                    await self._wake.wait()
                    continue
                handler.write(self._patch(slot))
                await handler.flush()  # a slow reader holds the writer back, not memory
            if not self._closed:
                handler.write(end)
                await handler.finish()
        except iostream.StreamClosedError:
            # The client left; Tornado finishes the (closed) response itself.
            self.close()

    async def _resolve(self, shell: str) -> None:
        while self._unsettled and not self._closed:
            self._wake.clear()
            await self._wake.wait()
        page = self._fill(shell, [slot for slot in self.slots if slot.parent is None])
        if not self._closed:
            with contextlib.suppress(iostream.StreamClosedError):
                await self.handler.finish(page)

    def _fill(self, html_text: str, slots: list[Slot]) -> str:
        """``html_text`` with each slot's placeholder replaced by its content."""
        for slot in slots:
            if slot.placeholder in html_text:
                content = self._fill(slot.content(), slot.children)
                html_text = html_text.replace(slot.placeholder, content, 1)
        return html_text

    def _head_extras(self) -> str:
        nonce = self.nonce
        extras = f'<script nonce="{nonce}">{RUNTIME}</script>'
        rules = _rules(slot for slot in self.slots if slot.placed and slot.parent is None)
        if rules:
            extras += f'<style nonce="{nonce}">{rules}</style>'
        if self.noscript_redirect:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.handler.request.uri or "").query))
            query["nostream"] = "1"
            # Only a query: the browser keeps the path (no open redirect).
            url = "?" + urllib.parse.urlencode(query)
            extras += f'<noscript><meta http-equiv="refresh" content="0; url={html.escape(url)}"></noscript>'
        return extras

    def _next_writable(self) -> Slot | None:
        if self.order == "document":
            placed = [slot for slot in self._unsettled if slot.placed]
            if not placed:
                return None
            head = min(placed, key=lambda slot: slot.key)
            return head if head in self._dirty else None
        for slot in self._dirty:
            if slot.placed:
                return slot
        return None

    def _patch(self, slot: Slot) -> str:
        """The bytes that bring ``slot`` up to date; marks its children placed
        (and, after its final patch, drops those that were not)."""
        del self._dirty[slot]
        final = slot.done
        target, content = slot.take_patch()
        newly = [
            child
            for child in slot.children
            if not child.placed and not child.settled and self._place(child, content, (*slot.key, slot.unsent))
        ]
        nonce = self.nonce
        rules = _rules(newly)
        style = f'<style nonce="{nonce}">{rules}</style>' if rules else ""
        if final:
            self._settle(slot)
            for child in slot.children:
                if not child.placed and not child.settled:
                    self._drop(child)
        return f'{style}<template for="{target}">{content}</template><script nonce="{nonce}">$RS("{target}")</script>'

    def _place(self, slot: Slot, html_text: str, key: tuple[int, ...]) -> bool:
        position = html_text.find(slot.placeholder)
        if position < 0:
            return False
        slot.placed = True
        slot.key = (*key, position)
        self._wake.set()
        return True

    # -- running slots ---------------------------------------------------------

    def _start(self, slot: Slot) -> None:
        if slot.task is None and not slot.settled and not self._closed:
            slot.task = asyncio.ensure_future(self._run(slot))

    async def _run(self, slot: Slot) -> None:
        """Run one slot's source to its end, its timeout or its first error."""
        _current.set(slot)
        source, slot.source = slot.source, None
        scope = asyncio.timeout(slot.timeout)
        try:
            async with scope:
                if callable(source) and not inspect.isawaitable(source) and not isinstance(source, AsyncIterable):
                    source = source()
                if isinstance(source, AsyncIterable):
                    await self._consume(slot, source)
                elif inspect.isawaitable(source):
                    self._changed(slot, slot.add(await source))
                else:
                    raise TypeError(f"slot {slot.id}: not an awaitable or async iterator: {type(source).__name__}")
                if slot.engine is not None:
                    slot.apply(slot.engine.close())
            slot.outcome = "ok"
        except asyncio.CancelledError:
            slot.outcome = "cancelled"
            _close_source(source)
            raise
        except TimeoutError:
            if not scope.expired():
                self._failed(slot, "error")
            else:
                self._failed(slot, "timeout")
        except Exception:
            self._failed(slot, "error")
        slot.done = True
        self._changed(slot, True)

    async def _consume(self, slot: Slot, source: AsyncIterable[Any]) -> None:
        """Read chunks; a Markdown source that goes quiet still gets its tail
        shown (the engine buffers between its updates)."""
        iterator = aiter(source)
        quiet = self.interval if slot.engine is not None and self.streaming and self.interval > 0 else None
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait({pending}, timeout=quiet)
                if not done:
                    assert slot.engine is not None
                    self._changed(slot, slot.apply(slot.engine.flush()))
                    continue
                chunk, pending = pending, None
                try:
                    value = chunk.result()
                except StopAsyncIteration:
                    break
                self._changed(slot, slot.add(value))
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            if isinstance(iterator, AsyncIterator) and hasattr(iterator, "aclose"):
                with contextlib.suppress(Exception):
                    await iterator.aclose()

    def _failed(self, slot: Slot, outcome: Literal["error", "timeout"]) -> None:
        if outcome == "error":
            logger.exception("slot %s failed; showing its error fallback", slot.id)
        else:
            logger.info("slot %s timed out after %s s", slot.id, slot.timeout)
        slot.outcome = outcome
        slot.suffix = slot.error_fallback if outcome == "error" else slot.timeout_fallback
        if slot.engine is not None:
            with contextlib.suppress(Exception):
                slot.apply(slot.engine.close())
        for child in slot.children:
            self._drop(child)  # their placeholders will not appear

    def _changed(self, slot: Slot, new: bool) -> None:
        if new and not slot.settled:
            if not self.streaming:
                if slot.done:
                    self._resolved(slot)
                return
            self._dirty.setdefault(slot, None)
            self._wake.set()

    def _resolved(self, slot: Slot) -> None:
        """Resolved page: a slot is settled once its content is known; its
        children that the content does not show will never be needed."""
        content = slot.content()
        self._settle(slot)
        for child in slot.children:
            if child.placeholder not in content:
                self._drop(child)

    def _settle(self, slot: Slot) -> None:
        slot.settled = True
        self._unsettled.discard(slot)
        self._dirty.pop(slot, None)
        self._wake.set()

    def _drop(self, slot: Slot) -> None:
        """Give up on a slot (and its children): cancel it, write nothing."""
        if slot.settled:
            return
        self._settle(slot)
        if slot.task is not None and not slot.task.done():
            slot.task.cancel()
            self.cancelled += 1
        elif slot.task is None:
            _close_source(slot.source)
            slot.source = None
        for child in slot.children:
            self._drop(child)

    # -- ending ------------------------------------------------------------------

    def close(self) -> None:
        """Cancel every pending slot (idempotent).  ``render`` calls it when it
        returns; call it yourself if you declared slots and do not render."""
        if self._closed:
            return
        self._closed = True
        for slot in self.slots:
            self._drop(slot)
        self._wake.set()

    def _connection_closed(self) -> None:
        self.close()
        self.handler.on_connection_close()

    async def __aenter__(self) -> Suspense:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


def _slot_problem(page: Suspense, min_height: str | None, tag: str, timeout: float | None) -> Exception | None:
    """Why ``slot()`` refuses these arguments, if it does."""
    if page._closed:
        return RuntimeError("this page is finished")
    if min_height is not None and not _LENGTH.fullmatch(min_height):
        return ValueError(f"min_height must be a CSS length such as '12rem' or '80px', not {min_height!r}")
    if not _TAG.fullmatch(tag) or tag in _VOID or tag in ("script", "style", "template", "textarea", "title"):
        return ValueError(f"tag must name an ordinary element, not {tag!r}")
    if timeout is not None and not timeout > 0:
        return ValueError("timeout must be a number of seconds > 0")
    return None


def _close_source(source: Any) -> None:
    """Close a coroutine that will never be awaited (no "never awaited"
    warning) or a task or future that will never be read."""
    if inspect.iscoroutine(source):
        source.close()
    elif isinstance(source, asyncio.Future):
        source.cancel()


def _rules(slots: Any) -> str:
    return "".join(f"#{slot.id}{{min-height:{slot.min_height}}}" for slot in slots if slot.min_height)


_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_DOCTYPE = re.compile(r"\s*<!doctype[^>]*>", re.IGNORECASE)


def _split_body(shell: str) -> tuple[str, str]:
    """The shell up to its last ``</body>``, and the rest: patches go between,
    so that each template is a child of ``<body>``."""
    ends = list(_BODY_END.finditer(shell))
    if not ends:
        return shell, ""
    cut = ends[-1].start()
    return shell[:cut], shell[cut:]


def _insert_head(shell: str, extras: str) -> str:
    """The runtime (and reserved heights) before ``</head>``, else just after
    the doctype: before any placeholder or patch."""
    match = _HEAD_END.search(shell)
    if match is None:
        if "<noscript>" in extras:
            extras = extras[: extras.index("<noscript>")]  # only valid in <head>
        doctype = _DOCTYPE.match(shell)
        cut = doctype.end() if doctype else 0
        return shell[:cut] + extras + shell[cut:]
    return shell[: match.start()] + extras + shell[match.start() :]

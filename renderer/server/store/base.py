"""The stream-store interface.  Its docstrings are the contract every store
(memory, Redis Streams) keeps.

An answer is a *stream* of events, written by one generation task and read
by any number of readers, each from any position:

* events that change committed HTML or end the stream (``block``,
  ``replace``, ``commit``, ``done``) get an id, increasing within the
  stream; ``tail``, ``append`` and ``error`` get none;
* the store keeps the stream's log of id'd events and its current tail;
  ``tail`` and ``append`` only update that tail (both as
  ``renderer.markdown.ops.Tail`` says, see ``apply_event``);
* a reader that starts after an id gets the log after it, then (if the
  stream is still going) the current tail as one ``tail`` event, then live
  events: nothing lost, nothing twice (see ``replay``).  In the log a
  ``commit`` is kept as the ``block`` it made, since a resuming reader may
  not hold the tail it promoted;
* a reader that falls too far behind is cut off (``SlowReader``); while it
  is behind, its pending ``tail`` and ``append`` events collapse into one
  ``tail``.

Errors: every store raises these and nothing else of its own, so that code
above a store (handlers, generation) never sees a backend's exceptions::

    StoreError
    ├── StreamNotFound (also KeyError)    no such stream: never created, or expired
    ├── BadEventId (also ValueError)      a malformed event id (``after``)
    ├── StreamEnded (also ValueError)     ``publish`` after ``done``
    ├── StoreFull                         too many live streams; retry later
    │   └── ClientLimit                   too many live streams for one client
    ├── StoreUnavailable                  the store is unreachable (Redis down or
    │                                     restarting); retry later
    └── SlowReader                        ends a subscription whose reader fell behind

``health`` answers ``False`` rather than raising ``StoreUnavailable``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from ...markdown.ops import OP_KINDS, Tail

__all__ = [
    "ID_EVENTS",
    "TAIL_EVENTS",
    "BadEventId",
    "ClientLimit",
    "Event",
    "SlowReader",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "StreamEnded",
    "StreamNotFound",
    "StreamStore",
    "Subscription",
    "apply_event",
    "replay",
]

ID_EVENTS = frozenset({"block", "replace", "commit", "done", "part"})
"""Events that carry an id: they change committed HTML, open an answer's
next part (``part``), or end the stream."""
TAIL_EVENTS = frozenset({"tail", "append"})
"""Events that only change the tail."""


class StoreError(Exception):
    """Base of every error a stream store raises."""


class StreamNotFound(StoreError, KeyError):
    """No such stream (never created, or expired)."""


class BadEventId(StoreError, ValueError):
    """An event id that this store never writes (a reader's ``Last-Event-ID``
    is client input).  The message may quote it: do not echo it to clients."""


class StreamEnded(StoreError, ValueError):
    """Something was published to a stream after its ``done``."""


class StoreFull(StoreError):
    """Too many live streams; try again later."""


class ClientLimit(StoreFull):
    """Too many live streams for one client; try again when one ends."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now (its server is down or restarting);
    the same call may succeed later."""


class SlowReader(StoreError):
    """The reader fell too far behind and was cut off; it may resume."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a stream, as every transport carries it."""

    event: str
    """``block``, ``tail``, ``append``, ``commit``, ``replace``, ``error`` or ``done``."""
    data: str
    """Sanitized HTML, or JSON for ``error`` and ``done``."""
    id: str | None = None
    """Opaque, increasing within the stream; ``None`` for tail and error events."""


def apply_event(tail: Tail, event: Event) -> Event | None:
    """Apply a published event to a stream's tail; returns what the stream's
    log keeps of it (``None``: nothing).

    Ops change the tail as ``Tail.apply`` says and are logged as what they
    did to committed HTML (a ``commit`` as the ``block`` it made, with the
    commit's id); other events (``done``) are logged as they are if they
    carry an id.  An ``append`` that does not fit the tail is a
    ``ValueError``."""
    if event.event in OP_KINDS:
        done = tail.apply(event.event, event.data)
        return None if done is None else Event(done.kind, done.html, event.id)
    return event if event.id is not None else None


def replay(log: list[Event], *, tail: str, done: bool, resuming: bool) -> list[Event]:
    """What a reader gets before live events: ``log`` (the logged events after
    where it starts), and the tail as the contract says.

    A resuming reader (one that gave an id, so it may hold a stale tail)
    of a live stream ends its replay with the current tail, even an empty
    one; of a done stream, it first gets an empty tail, which clears a stale
    one.  A reader from the start of a live stream gets the tail only if
    there is one; of a done stream, none (a done stream's tail is empty)."""
    if done:
        return [Event("tail", ""), *log] if resuming else log
    if resuming or tail:
        return [*log, Event("tail", tail)]
    return log


class Subscription(AsyncIterator[Event]):
    """A reader's view of one stream: the replay, then live events, ending
    after ``done`` or with ``SlowReader``.

    Readers take what is ready in batches (``take_ready``, then ``wait`` when
    nothing is), so that one write and one flush carry many events; or
    iterate one event at a time.  ``wait`` may be cancelled (a reader waiting
    with a heartbeat timeout) without losing an event.

    A reader blocked writing to a slow client does not ask for events, so a
    store that cuts a reader off also calls ``on_cut_off`` (set by the
    reader: it closes the connection).
    """

    on_cut_off: Callable[[], None] | None

    @abstractmethod
    def take_ready(self, limit: int) -> list[Event]:
        """Up to ``limit`` events that are ready now (none: ``[]``);
        ``SlowReader`` if the reader was cut off."""

    @property
    @abstractmethod
    def finished(self) -> bool:
        """Whether nothing more will come (after ``done``, or closed)."""

    @abstractmethod
    async def wait(self) -> None:
        """Return when events are ready, or the subscription finished."""

    @abstractmethod
    def close(self) -> None:
        """Stop reading: frees the subscription at once (idempotent), and
        wakes a pending ``wait``."""

    async def __anext__(self) -> Event:
        while not (events := self.take_ready(1)):
            if self.finished:
                raise StopAsyncIteration
            await self.wait()
        return events[0]


class StreamStore(ABC):
    """Where streams live.  All methods are coroutines except ``on_cancel``
    and ``close``.

    Every coroutine but ``health`` may raise ``StoreUnavailable``; those
    that take a stream id raise ``StreamNotFound`` for an unknown or expired
    stream, and those that take ``after`` raise ``BadEventId`` for an id
    this store could not have written, whether the stream is live or done."""

    @abstractmethod
    async def create(self, *, client: str = "", owner: str = "") -> str:
        """A new, empty, live stream; returns its id (URL-safe).

        ``StoreFull`` when the store holds as many live streams as it may,
        ``ClientLimit`` when ``client`` (an address) holds as many as one
        client may: the check and the count are one atomic step, in the
        store, so that concurrent requests (and processes sharing the store)
        cannot all pass it.  A stream stops counting when it is done, or
        when its writer stops renewing it (``abandon``, a crash).
        ``owner``: the principal that created it, for ``owner``."""

    @abstractmethod
    async def owner(self, stream_id: str) -> str:
        """Who created the stream (``create``'s ``owner``; "" for nobody)."""

    def abandon(self, stream_id: str) -> None:  # noqa: B027 (optional: most stores need nothing)
        """This process stops writing a live stream it could not end (the
        store failed every attempt): it stops counting and stops being kept
        alive, so readers end it (``error`` then ``done``) when it falls
        silent.  The default does nothing (a store whose streams die with
        the process)."""

    @abstractmethod
    async def publish(self, stream_id: str, event: str, data: str) -> Event:
        """Append an event (the id is assigned here) and return it as readers
        get it.  After ``done`` nothing more may be published
        (``StreamEnded``).  An ``append`` that does not fit the tail is the
        writer's bug: a ``ValueError`` (from ``Tail``), and nothing changes."""

    async def publish_many(self, stream_id: str, events: Sequence[tuple[str, str]]) -> list[Event]:
        """``publish`` each of ``events`` (event, data) in order, as one call:
        a store may write them in one step (Redis: one round trip for a
        flush's ops, all of them or none)."""
        return [await self.publish(stream_id, event, data) for event, data in events]

    @abstractmethod
    async def subscribe(self, stream_id: str, after: str | None = None) -> Subscription:
        """Read a stream from after event id ``after`` (from the start if
        None): the replay (see ``replay``), then live events."""

    @abstractmethod
    async def read(self, stream_id: str, after: str | None = None) -> tuple[list[Event], bool]:
        """What a subscription would replay now, and whether the stream is done."""

    @abstractmethod
    async def is_done(self, stream_id: str, after: str | None = None) -> bool:
        """Whether the stream is done and ``after`` is its last id (or the
        stream is done and ``after`` is None): nothing is left to read."""

    @abstractmethod
    async def cancel(self, stream_id: str) -> bool:
        """Ask the stream's generator to stop; False if it is already done."""

    @abstractmethod
    def on_cancel(self, stream_id: str, callback: Callable[[], None]) -> None:
        """Register what stops the stream's generator when ``cancel`` is asked."""

    @abstractmethod
    async def health(self) -> bool:
        """Whether the store can serve; ``False`` (never an error) when it
        cannot be reached."""

    @abstractmethod
    def close(self) -> None:
        """Release resources; open subscriptions end."""

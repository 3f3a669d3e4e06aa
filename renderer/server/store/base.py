"""The stream-store interface.  Its docstrings are the contract every store
(memory, Redis Streams) keeps.

An answer is a *stream* of events, written by one generation task and read
by any number of readers, each from any position:

* events that change committed HTML or end the stream (``block``,
  ``replace``, ``commit``, ``done``) get an id, increasing within the
  stream; ``tail``, ``append`` and ``error`` get none;
* the store keeps the stream's log of id'd events and its current tail;
  ``tail`` and ``append`` only update that tail;
* a reader that starts after an id gets the log after it, then (if the
  stream is still going) the current tail as one ``tail`` event, then live
  events: nothing lost, nothing twice.  In the log a ``commit`` is kept as
  the ``block`` it made, since a resuming reader may not hold the tail it
  promoted;
* a reader that falls too far behind is cut off (``SlowReader``); while it
  is behind, its pending ``tail`` and ``append`` events collapse into one
  ``tail``.

Errors: ``StreamNotFound`` (a ``KeyError``) for unknown or expired streams;
``ValueError`` for a malformed event id; ``SlowReader`` ends a subscription.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

__all__ = ["ID_EVENTS", "TAIL_EVENTS", "Event", "SlowReader", "StreamNotFound", "StreamStore", "Subscription"]

ID_EVENTS = frozenset({"block", "replace", "commit", "done"})
"""Events that carry an id: they change committed HTML or end the stream."""
TAIL_EVENTS = frozenset({"tail", "append"})
"""Events that only change the tail."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a stream, as every transport carries it."""

    event: str
    """``block``, ``tail``, ``append``, ``commit``, ``replace``, ``error`` or ``done``."""
    data: str
    """Sanitized HTML, or JSON for ``error`` and ``done``."""
    id: str | None = None
    """Opaque, increasing within the stream; ``None`` for tail and error events."""


class StreamNotFound(KeyError):
    """No such stream (never created, or expired)."""


class SlowReader(Exception):
    """The reader fell too far behind and was cut off; it may resume."""


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

    def take_ready(self, limit: int) -> list[Event]:
        """Up to ``limit`` events that are ready now (none: ``[]``);
        ``SlowReader`` if the reader was cut off."""
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        """Whether nothing more will come (after ``done``, or closed)."""
        raise NotImplementedError

    async def wait(self) -> None:
        """Return when events are ready, or the subscription finished."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop reading: frees the subscription at once (idempotent), and
        wakes a pending ``wait``."""
        raise NotImplementedError

    async def __anext__(self) -> Event:
        while not (events := self.take_ready(1)):
            if self.finished:
                raise StopAsyncIteration
            await self.wait()
        return events[0]


class StreamStore:
    """Where streams live.  All methods are coroutines except ``close``."""

    async def create(self) -> str:
        """A new, empty, live stream; returns its id (URL-safe)."""
        raise NotImplementedError

    async def publish(self, stream_id: str, event: str, data: str) -> Event:
        """Append an event (the id is assigned here); after ``done`` nothing
        more may be published."""
        raise NotImplementedError

    async def subscribe(self, stream_id: str, after: str | None = None) -> Subscription:
        """Read a stream from after event id ``after`` (from the start if None)."""
        raise NotImplementedError

    async def read(self, stream_id: str, after: str | None = None) -> tuple[list[Event], bool]:
        """What a subscription would replay now, and whether the stream is done."""
        raise NotImplementedError

    async def is_done(self, stream_id: str, after: str | None = None) -> bool:
        """Whether the stream is done and ``after`` is its last id (or the
        stream is done and ``after`` is None): nothing is left to read."""
        raise NotImplementedError

    async def cancel(self, stream_id: str) -> bool:
        """Ask the stream's generator to stop; False if it is already done."""
        raise NotImplementedError

    def on_cancel(self, stream_id: str, callback: Callable[[], None]) -> None:
        """Register what stops the stream's generator when ``cancel`` is asked."""
        raise NotImplementedError

    async def health(self) -> bool:
        """Whether the store can serve."""
        raise NotImplementedError

    def close(self) -> None:
        """Release resources; open subscriptions end."""
        raise NotImplementedError

"""Who is reading which answer, so that an answer nobody follows stops.

A reader that disconnects does not stop its answer at once (it may be a
reload, or a dropped connection about to resume).  But an answer that no
reader has followed for ``Config.idle_cancel`` seconds is cancelled, and
its upstream connection closed with it: a closed tab stops spending.

Readers are counted where they read: every transport enters when it starts
following a stream and leaves when it stops; a long-poll counts as a
reader for as long as it waits and re-arms the timer when it returns.
The timer of a stream runs only while it has no reader.  With several
processes on one Redis, a reader on another process than the generating
one is seen through ``remote`` (see ``RedisPresence``); a reader in the
generating process is not counted there (two Redis round trips saved per
answer read where it is generated, the common case).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

__all__ = ["Presence", "Remote"]

logger = logging.getLogger(__name__)


class Remote(Protocol):
    """Readers of every process, kept where all of them see it (Redis):
    ``enter`` and ``leave`` count them, ``mark`` says one was here now (and
    ``leave`` does too); ``seen``: whether one is reading, or was within the
    last ``idle`` seconds."""

    async def enter(self, stream_id: str) -> None: ...

    async def leave(self, stream_id: str, idle: float) -> None: ...

    async def mark(self, stream_id: str, idle: float) -> None: ...

    async def seen(self, stream_id: str) -> bool: ...


class Presence:
    """Reader counts per stream, and an idle timer for each watched stream."""

    def __init__(
        self,
        idle: float,
        *,
        call_later: Callable[[float, Callable[[], None]], asyncio.TimerHandle] | None = None,
        remote: Remote | None = None,
    ) -> None:
        self.idle = idle
        self._call_later = call_later
        self._remote = remote
        self._readers: dict[str, int] = {}
        self._counted: dict[str, int] = {}
        """Readers here that ``remote`` counts: those of streams generated
        elsewhere (a stream generated here sees its readers here itself)."""
        self._watched: dict[str, Callable[[], None]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def readers(self, stream_id: str) -> int:
        """Readers of ``stream_id`` in this process now."""
        return self._readers.get(stream_id, 0)

    def watch(self, stream_id: str, stop: Callable[[], None]) -> None:
        """Call ``stop`` once the stream has had no reader for ``idle`` seconds."""
        self._watched[stream_id] = stop
        if not self.readers(stream_id):
            self._arm(stream_id)

    def unwatch(self, stream_id: str) -> None:
        """The stream ended: no timer any more."""
        self._watched.pop(stream_id, None)
        self._disarm(stream_id)

    def enter(self, stream_id: str) -> None:
        """A reader starts following the stream."""
        self._readers[stream_id] = self.readers(stream_id) + 1
        self._disarm(stream_id)
        if self._remote is not None and stream_id not in self._watched:
            self._counted[stream_id] = self._counted.get(stream_id, 0) + 1
            self._spawn(self._remote.enter(stream_id))

    def leave(self, stream_id: str) -> None:
        """A reader stopped following it; the last one starts the timer."""
        counted = self._counted.pop(stream_id, 0)
        if self._remote is not None and counted:
            if counted > 1:
                self._counted[stream_id] = counted - 1
            self._spawn(self._remote.leave(stream_id, self.idle))
        count = self.readers(stream_id) - 1
        if count > 0:
            self._readers[stream_id] = count
            return
        self._readers.pop(stream_id, None)
        if stream_id in self._watched:
            self._arm(stream_id)

    def touch(self, stream_id: str) -> None:
        """A reader is still here (a heartbeat): it counts as seen now."""
        self._mark(stream_id)
        if stream_id in self._watched and not self.readers(stream_id):
            self._arm(stream_id)

    def _mark(self, stream_id: str) -> None:
        if self._remote is not None:
            self._spawn(self._remote.mark(stream_id, self.idle))

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception as error:  # a store hiccup must not cancel anyone
                logger.warning("reader presence: %s", error)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _arm(self, stream_id: str) -> None:
        self._disarm(stream_id)
        call_later = self._call_later or asyncio.get_running_loop().call_later
        self._timers[stream_id] = call_later(self.idle, lambda: self._fire(stream_id))

    def _disarm(self, stream_id: str) -> None:
        timer = self._timers.pop(stream_id, None)
        if timer is not None:
            timer.cancel()

    def _fire(self, stream_id: str) -> None:
        self._timers.pop(stream_id, None)
        if self.readers(stream_id) or stream_id not in self._watched:
            return
        if self._remote is None:
            self._stop(stream_id)
            return
        remote = self._remote

        async def check() -> None:
            if stream_id not in self._watched or self.readers(stream_id):
                return
            if await remote.seen(stream_id):
                self._arm(stream_id)  # followed elsewhere: look again later
            else:
                self._stop(stream_id)

        self._spawn(check())

    def _stop(self, stream_id: str) -> None:
        stop = self._watched.pop(stream_id, None)
        if stop is not None:
            logger.info("stream %s: no reader for %g s; cancelling it", stream_id, self.idle)
            stop()

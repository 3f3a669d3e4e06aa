"""Generation tasks: a source's text through the engine into the store.

One task per answer.  Readers never drive it: a reader that leaves does not
stop generation; ``cancel`` (or shutdown) does, and so does having no reader
at all for ``Config.idle_cancel`` seconds (``presence``).  However a task ends,
the stream ends with what was generated so far committed, then ``done``
(after an ``error`` event when something failed).

A write the store refuses (Redis unreachable or out of memory) ends the
answer: its last events are retried a bounded number of times
(``END_RETRIES``), and if the store still refuses them the stream is
abandoned (``StreamStore.abandon``), so that its readers end it when it
falls silent instead of waiting on an answer nobody writes.

How often a tail is re-rendered depends on the load (``pacing``): the
previews of all live answers share a fixed budget of CPU.

Engine work stays on the event loop while it is small (the common case: a
token appended to a short tail).  A call that would re-render more than
``OFFLOAD_CHARS`` of uncommitted text (a huge paragraph, a long raw-HTML
line such as ``<b>`` x 10,600, which took 13.9 s inside the loop) runs in
``ENGINE_EXECUTOR`` instead, so that no answer holds the loop: the thread
still shares the GIL, but Python hands it back every switch interval (5 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..markdown.stream import DEFAULT_INTERVAL
from ..sanitizer.clean import DEFAULT_SANITIZER, Sanitizer
from .pacing import Pacer
from .parts import PartWriter, Piece, split_think
from .presence import Presence
from .sources import SourceError
from .store.base import StoreError, StreamEnded, StreamNotFound, StreamStore

OFFLOAD_CHARS = 2048
"""Uncommitted characters above which an engine call runs off the loop."""

ENGINE_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="renderer-engine")
"""The threads large engine calls run in (per process)."""

_T = TypeVar("_T")


async def off_loop(call: Callable[..., _T], *args: object) -> _T:
    """``call(*args)`` in ``ENGINE_EXECUTOR``; if cancelled meanwhile, it still
    waits for the call to end (the engine must not be used by two threads)."""
    future = asyncio.wrap_future(ENGINE_EXECUTOR.submit(call, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise


__all__ = ["END_RETRIES", "Generations"]

logger = logging.getLogger(__name__)

END_RETRIES = 6
"""Attempts at writing an answer's last events (backing off from 50 ms to
1.6 s, about 3 s in all: a short Redis out-of-memory spell passes)."""

STORE_FAILED = "the stream store refused a write; the answer stopped"


class _QuietFlush:
    """Shows the tail of a source that went quiet, without a timer per token.

    One timer handle per answer, armed by the first feed after a flush and
    re-armed (to the last feed plus ``interval``) only when it fires too
    early; when the source has been quiet for ``interval``, a task flushes
    the engine and publishes, under ``lock`` (which feeds hold too, so ops
    are published in the order the engine made them).  A failure there is
    kept in ``error`` and cancels the generation."""

    def __init__(self, generations: Generations, stream_id: str, engine: PartWriter) -> None:
        self._generations = generations
        self._stream_id = stream_id
        self._engine = engine
        self._pacer = generations.pacer
        self._loop = asyncio.get_running_loop()
        self._owner = asyncio.current_task()
        self._last = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.lock = asyncio.Lock()
        self.error: BaseException | None = None

    def fed(self) -> None:
        self._last = self._loop.time()
        if self._handle is None and self._task is None and not self._stopped and (interval := self._pacer.interval()):
            self._handle = self._loop.call_at(self._last + interval, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if self._stopped:
            return
        due = self._last + self._pacer.interval()
        if self._loop.time() < due:
            self._handle = self._loop.call_at(due, self._fire)
            return
        self._task = self._loop.create_task(self._flush(), name=f"quiet flush {self._stream_id}")

    async def _flush(self) -> None:
        engine = self._engine
        try:
            async with self.lock:
                flushed = await self._generations._engine_call(engine.backlog(), engine.flush)
                await self._generations._publish(self._stream_id, flushed)
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            self.error = error
            if self._owner is not None:
                self._owner.cancel()
        finally:
            self._task = None

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    async def stop(self) -> None:
        """No more flushes; waits for one in progress (it uses the engine)."""
        self._stopped = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class Generations:
    """The generation tasks this process runs."""

    def __init__(
        self,
        store: StreamStore,
        *,
        interval: float = DEFAULT_INTERVAL,
        sanitizer: Sanitizer = DEFAULT_SANITIZER,
        presence: Presence | None = None,
    ) -> None:
        self._store = store
        self.pacer = Pacer(interval)
        """How often the answers' tails are re-rendered."""
        self._sanitizer = sanitizer
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._owners: dict[str, str] = {}
        self._stop_reasons: dict[str, tuple[str, str | None]] = {}
        self._presence = presence
        self.idle_cancelled = 0
        """Answers cancelled because no reader followed them (``presence``)."""
        self.on_end: list[Callable[[str, PartWriter, str], Awaitable[None] | None]] = []
        """Called with (stream id, writer, done reason) when an answer has
        ended: metrics count its usage, conversations keep it."""

    def __len__(self) -> int:
        return len(self._tasks)

    def count(self, owner: str) -> int:
        """Live generations started for ``owner`` (a client address)."""
        return sum(1 for stream_owner in self._owners.values() if stream_owner == owner)

    async def start(
        self,
        source: AsyncIterator[Piece],
        *,
        owner: str = "",
        client: str = "",
        notice: str | None = None,
        think_tags: bool = True,
        on_end: Callable[[str, PartWriter, str], Awaitable[None] | None] | None = None,
    ) -> str:
        """Create a stream and start generating into it; returns its id.

        ``client`` (an address) is what the store's per-client limit counts;
        ``owner`` the principal the stream belongs to;
        ``notice``: Markdown the answer opens with as a ``notice`` part;
        ``think_tags``: a leading ``<think>...</think>`` is reasoning;
        ``on_end``: called as ``self.on_end`` are, for this answer only."""
        stream_id = await self._store.create(client=client, owner=owner)
        if think_tags:
            source = split_think(source)
        task = asyncio.create_task(self._run(stream_id, source, notice, on_end), name=f"generate {stream_id}")
        self._tasks[stream_id] = task
        self._owners[stream_id] = client
        self.pacer.started()
        task.add_done_callback(lambda done: self._forget(stream_id, done))
        self._store.on_cancel(stream_id, lambda: self.stop(stream_id, "cancelled"))
        if self._presence is not None:
            self._presence.watch(stream_id, lambda: self._idle(stream_id))
        return stream_id

    def _idle(self, stream_id: str) -> None:
        self.idle_cancelled += 1
        self.stop(stream_id, "cancelled")

    def _forget(self, stream_id: str, task: asyncio.Task[None] | None = None) -> None:
        if task is not None and not task.cancelled() and task.exception() is not None:
            # Never silently: _run catches everything, so this is a bug.
            logger.error("generation of %s died", stream_id, exc_info=task.exception())
        if self._presence is not None:
            self._presence.unwatch(stream_id)
        if self._tasks.pop(stream_id, None) is not None:
            self.pacer.ended()
        self._owners.pop(stream_id, None)
        self._stop_reasons.pop(stream_id, None)

    def stop(self, stream_id: str, reason: str, message: str | None = None) -> None:
        """Stop a local generation; its stream ends with ``done`` ``reason``."""
        task = self._tasks.get(stream_id)
        if task is not None and not task.done():
            self._stop_reasons.setdefault(stream_id, (reason, message))
            task.cancel()

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every generation and wait (bounded) for their final events."""
        for stream_id in list(self._tasks):
            self.stop(stream_id, "error", "the server is shutting down")
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def _engine_call(self, backlog: int, call: Callable[..., _T], *args: Any, preview: bool = True) -> _T:
        """``call(*args)``, an engine call that re-renders ``backlog``
        characters: on the loop (a ``preview``'s CPU time measured by the
        pacer) up to ``OFFLOAD_CHARS``, else in an engine thread."""
        if backlog > OFFLOAD_CHARS:
            return await off_loop(call, *args)
        return self.pacer.timed(call, *args) if preview else call(*args)

    async def _publish(self, stream_id: str, events: list[tuple[str, str]]) -> None:
        if events:
            await self._store.publish_many(stream_id, events)

    async def _run(
        self,
        stream_id: str,
        source: AsyncIterator[Piece],
        notice: str | None = None,
        on_end: Callable[[str, PartWriter, str], Awaitable[None] | None] | None = None,
    ) -> None:
        engine = PartWriter(interval=self.pacer.interval, sanitizer=self._sanitizer)
        reason: str | None = None
        message: str | None = None
        quiet = _QuietFlush(self, stream_id, engine)
        try:
            if notice:
                await self._publish(stream_id, engine.open("notice", notice))
            async for chunk in source:
                async with quiet.lock:  # a quiet flush publishes whole, before or after
                    backlog = engine.backlog(chunk)  # 0: the chunk is only buffered
                    fed = await self._engine_call(backlog, engine.feed, chunk) if backlog else engine.feed(chunk)
                    if fed:
                        await self._publish(stream_id, fed)
                quiet.fed()
            quiet.raise_error()
        except asyncio.CancelledError:
            if isinstance(quiet.error, StreamNotFound):
                logger.warning("stream %s is gone from the store (expired, or the store lost it)", stream_id)
                return
            if quiet.error is None:
                reason, message = self._stop_reasons.get(stream_id, ("cancelled", None))
            else:
                reason, message = self._reason(stream_id, quiet.error)
        except StreamNotFound:
            logger.warning("stream %s is gone from the store (expired, or the store lost it)", stream_id)
            return
        except Exception as error:
            reason, message = self._reason(stream_id, error)
        finally:
            await quiet.stop()
            with contextlib.suppress(Exception):
                await source.aclose()  # type: ignore[attr-defined]
        await self._finish(stream_id, engine, reason, message, on_end)

    def _reason(self, stream_id: str, error: BaseException) -> tuple[str, str | None]:
        """The ``done`` reason and error message for what ended a generation."""
        if isinstance(error, SourceError):
            return "error", str(error)
        if isinstance(error, StoreError):  # unreachable, out of memory: end it (bounded retries)
            logger.warning("stream %s: the store refused a write: %s", stream_id, error)
            return "error", STORE_FAILED
        logger.error("generation of %s failed", stream_id, exc_info=error)
        return "error", "the answer could not be generated"

    async def _finish(
        self,
        stream_id: str,
        engine: PartWriter,
        reason: str | None,
        message: str | None,
        on_end: Callable[[str, PartWriter, str], Awaitable[None] | None] | None,
    ) -> None:
        """Commit what was generated, tell ``on_end``, then end the stream:
        whoever sees ``done`` finds the answer already kept (a follow-up
        sent at once builds its history from it)."""
        events = await self._engine_call(engine.backlog(), engine.end, reason, message, preview=False)
        ended = str(json.loads(events[-1][1])["reason"])
        if not await self._publish_last(stream_id, events[:-1]):
            return
        for callback in [*self.on_end, *([on_end] if on_end else [])]:
            try:
                result = callback(stream_id, engine, ended)
                if result is not None:
                    await result
            except Exception:
                logger.exception("an on_end callback of %s failed", stream_id)
        await self._publish_last(stream_id, events[-1:])

    async def _publish_last(self, stream_id: str, events: list[tuple[str, str]]) -> bool:
        """Write an answer's last events, each retried (bounded) while the
        store refuses it; abandon the stream if it still does.  False: the
        stream is over (expired, ended by a reader, or abandoned)."""
        last = list(events)
        attempt = 0
        while last:
            event, data = last[0]
            try:
                await self._store.publish(stream_id, event, data)
            except (StreamNotFound, StreamEnded):
                return False  # expired, lost, or ended by a reader: nothing left to end
            except StoreError as error:  # a failed publish changes nothing: retry it
                attempt += 1
                if attempt >= END_RETRIES:
                    logger.error("could not end stream %s (%s); abandoning it to its readers", stream_id, error)
                    self._store.abandon(stream_id)
                    return False
                logger.warning("stream %s: the store refused its last events (%s); retrying", stream_id, error)
                await asyncio.sleep(0.05 * 2 ** (attempt - 1))
                continue
            except ValueError:  # an op the store could not apply: end without it
                logger.exception("could not write the last events of %s", stream_id)
                if event == "done":
                    return False
                if event not in ("error", "done") and not any(kind == "error" for kind, _ in last):
                    last.insert(1, ("error", json.dumps({"message": "the answer could not be generated"})))
            last.pop(0)
        return True

"""Streams in Redis, shared by every process that names the same Redis.

Layout, per stream ``S`` (keys under ``prefix``, ``renderer:`` by default):

* ``S:events`` -- a Redis Stream with every published event (fields ``e``
  and ``d``; a ``commit`` also keeps ``b``, the block it made).  Its entry
  ids are the SSE ids of the events that carry one; readers follow it with
  ``XREAD BLOCK`` and replay it with ``XRANGE``, keeping only the id'd
  events (the contract's log);
* ``S:meta`` -- a hash: ``done``, ``tail`` (the current tail), ``pos`` (the
  last entry of any kind) and ``last`` (the last id'd entry);
* ``S:lease`` -- set with a PX expiry by the generating process while the
  stream is live.  A reader that finds it gone on a live stream ends the
  stream with ``error`` and ``done`` (reason ``error``), so readers of a
  generator that died are not left waiting.

Writes go through Lua scripts, so a check (done? lease gone?) and the write
it guards are one atomic step: at most one process ends a stream whose lease
expired, and nothing is written after ``done``.  One process writes a stream
(its generation task): ``append`` is applied to the tail here, in Python, and
the ops of one flush are one script call (``publish_many``).  That process
keeps the stream as Redis holds it (``_Written``), so its own readers start
from it without reading it back.

Per process, one reader task follows every stream with local subscriptions
(one more per ``READER_STREAMS``, 200, streams): each round is one
``XREAD BLOCK`` over all its streams, from each stream's last entry read,
and the entries go to each stream's ``_Follower``, which fans them out to
the local subscriptions (bounded queues, as in the memory store).  A stream
is followed from its first local subscription until the last leaves (the
next round leaves it out).  A stream followed while the reader is blocked
gets an entry in the reader's wake-up stream (``{prefix}wake:ORIGIN:N``,
trimmed to one entry, expiring), which the ``XREAD`` also reads, so the
call returns and the next round includes it.  A stream quiet for
``block_ms`` has its lease checked (``_EXPIRE_LEASE``; at most
``LEASE_CHECKS`` per round, in one pipeline).  So a process holds a few
connections for reading, not one per followed stream.  Cancel is a
``PUBLISH`` that every store listens to.

Faults: no redis-py exception leaves this module.  A call made while Redis
is unreachable raises ``StoreUnavailable`` (see ``_store_call``); a reader
that finds Redis unreachable retries a few times (bounded),
then gives the subscriptions of all its streams an ``error`` event and ends them; when Redis
comes back without the stream (a restart without persistence) readers get an
``error`` event and end, and the stream is then unknown (``StreamNotFound``);
when it comes back with it (persistence on) they resume where they were.
Streams expire ``ttl`` seconds after ``done``, or ``ttl`` plus the lease
after their last write if nobody ends them.

Limits: ``{prefix}live`` and ``{prefix}client:ADDRESS`` are sorted sets of
the live streams (all, and one client's), each scored with the time its
lease ends.  ``create`` is one script (``_CREATE``): drop the members whose
lease ended (a crashed or stalled writer), check both counts, add the new
stream; so concurrent requests, in any process or on any host sharing the
Redis, cannot all pass.  Lease refreshes move the scores on; ``done`` (and
``abandon``) remove the stream.

Out of memory: Redis refusing a write (``maxmemory`` with ``noeviction``,
the policy to use) is ``StoreUnavailable`` like Redis being down (503 to a
client; a generation ends its answer, see ``generation.py``).  Under an
evicting policy Redis may drop a live answer's keys: its readers then get an
``error`` ("lost") and ``done``; the store logs a warning at start when the
policy is not ``noeviction``.  A reader that ends a stream for any reason
other than its ``done`` gives its subscriptions an ``error`` and then a
``done`` (reason ``error``, no id), so every reader sees the end.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import itertools
import json
import logging
import re
import secrets
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, ParamSpec, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...markdown.ops import Tail
from .base import (
    ID_EVENTS,
    BadEventId,
    ClientLimit,
    Event,
    StoreFull,
    StoreUnavailable,
    StreamEnded,
    StreamNotFound,
    StreamStore,
    apply_event,
    replay,
)
from .memory import MemorySubscription

__all__ = ["RedisStore", "parse_id"]

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
"""What Redis being down or restarting looks like to a client."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _store_call(method: Callable[_P, Coroutine[Any, Any, _T]]) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """The store's boundary, around each of its public coroutines: Redis
    being unreachable leaves as ``StoreUnavailable``, so that nothing above
    the store knows about redis-py."""

    @functools.wraps(method)
    async def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await method(*args, **kwargs)
        except UNREACHABLE as error:
            raise StoreUnavailable(f"Redis is unreachable: {error}") from error
        except ResponseError as error:
            if _out_of_memory(error):
                raise StoreUnavailable(f"Redis is out of memory: {error}") from error
            raise

    return call


def _out_of_memory(error: BaseException) -> bool:
    """Whether Redis refused a write for ``maxmemory`` (redis-py's
    ``OutOfMemoryError``; a script's own write fails with the same message)."""
    return isinstance(error, OutOfMemoryError) or (isinstance(error, ResponseError) and "maxmemory" in str(error))


_CREATE = """
redis.call('SET', KEYS[4], ARGV[9], 'PX', ARGV[4])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms)
local refused
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then refused = 'full'
elseif redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then refused = 'client' end
if refused then
  redis.call('DEL', KEYS[4])
  return refused
end
local expires = ms + tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('ZADD', KEYS[2], expires, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[3], 'done', '0', 'tail', '', 'pos', '0-0', 'last', '', 'owner', ARGV[6], 'client', ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[8])
return 'ok'
"""
"""KEYS: live, client's live, meta, lease.  ARGV: stream id, max live, max
for one client, lease (ms), ttl of the sets (ms), owner, client, ttl of
the meta hash (ms), this process's origin.  The limits and the new stream
in one step: returns ``ok``, ``full`` or ``client``.  The lease is set
first: Redis checks ``maxmemory`` only until a script's first write, and
SET is refused out of memory, so a create then changes nothing."""

_RENEW = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local expires = ms + tonumber(ARGV[1])
for i = 1, #KEYS / 3 do
  local lease, client = KEYS[3 * i - 2], KEYS[3 * i]
  redis.call('SET', lease, ARGV[2], 'PX', ARGV[1])
  redis.call('ZADD', KEYS[3 * i - 1], 'XX', expires, ARGV[3 + i])
  redis.call('ZADD', client, 'XX', expires, ARGV[3 + i])
  redis.call('PEXPIRE', KEYS[3 * i - 1], ARGV[3])
  redis.call('PEXPIRE', client, ARGV[3])
end
return 'ok'
"""
"""KEYS: (lease, live, client's live) per stream.  ARGV: lease (ms), origin,
ttl of the sets (ms), then the stream ids.  Renews the leases and their scores in the limit sets."""

_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 'ok'
"""
"""KEYS: live, client's live.  ARGV: stream id.  (ZREM is allowed out of memory.)"""


_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
_MAX_PART = 2**64 - 1

_PUBLISH = """
local done = redis.call('HGET', KEYS[2], 'done')
if not done then return '!missing' end
if done == '1' then return '!done' end
local tail = redis.call('HGET', KEYS[2], 'tail')
local ids, last, ended = {}, nil, false
for i = 5, #ARGV, 4 do
  local event, data = ARGV[i], ARGV[i + 1]
  local id
  if event == 'commit' then
    id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', event, 'd', data, 'b', tail)
  else
    id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', event, 'd', data)
  end
  ids[#ids + 1] = id
  if event == 'tail' then tail = data
  elseif event == 'append' then tail = ARGV[i + 2]
  elseif event == 'commit' or event == 'replace' then tail = '' end
  if ARGV[i + 3] == '1' then last = id end
  if event == 'done' then ended = true end
end
redis.call('HSET', KEYS[2], 'pos', ids[#ids], 'tail', tail)
if last then redis.call('HSET', KEYS[2], 'last', last) end
if ended then
  redis.call('HSET', KEYS[2], 'done', '1')
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[4], ARGV[4])
  redis.call('ZREM', KEYS[5], ARGV[4])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return ids
"""
"""KEYS: events, meta, lease, live, client's live.  ARGV: maxlen, ttl after
done (ms), ttl while live (ms), the stream id (``done`` removes it from the
limit sets), then four per event: event, data, the new tail after an
``append`` (worked out by ``Tail`` in ``publish_many``; a ``tail`` is its
data), whether the event carries an id.  Returns the entry ids, or
``!missing`` / ``!done`` (then nothing is written).  A commit keeps the
stored tail as its block ``b`` (what ``Tail`` logs for it), read here so
that it is the tail Redis holds."""

_EXPIRE_LEASE = """
local done = redis.call('HGET', KEYS[2], 'done')
if not done then return 'missing' end
if done == '1' then return 'done' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'live' end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', 'error', 'd', ARGV[1])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', 'done', 'd', ARGV[2])
redis.call('HSET', KEYS[2], 'done', '1', 'pos', id, 'last', id)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[4], ARGV[5])
redis.call('ZREM', KEYS[5], ARGV[5])
return 'expired'
"""
"""KEYS: events, meta, lease, live, client's live.  ARGV: error data, done
data, maxlen, ttl (ms), stream id.
Ends a live stream whose lease is gone; returns what it found."""

LEASE_EXPIRED = json.dumps(
    {"message": "the answer stopped: nothing wrote to it for too long (its server went away or could not write)"}
)
STORE_LOST = json.dumps({"message": "the stream store lost this answer"})
STORE_UNREACHABLE = json.dumps({"message": "the stream store is unreachable"})
ENDED_BY_READER = json.dumps({"reason": "error"})
UNLIMITED = 2**62


def parse_id(event_id: str | None) -> tuple[int, int]:
    """A Redis entry id as ``(ms, seq)``, for ordering; ``BadEventId`` if malformed."""
    if event_id is None or event_id == "":
        return (0, 0)
    match = _ID.fullmatch(event_id) if event_id.isascii() else None
    if match is None:
        raise BadEventId(f"malformed event id: {event_id[:40]!r}")
    ms, seq = int(match.group(1)), int(match.group(2))
    if ms > _MAX_PART or seq > _MAX_PART:
        raise BadEventId(f"malformed event id: {event_id[:40]!r}")
    return ms, seq


Entry = tuple[str, dict[str, str]]
"""A Redis Stream entry as this store's client (``decode_responses``) gives it."""


def _entries(raw: Any) -> list[Entry]:
    """XRANGE's answer, typed (redis-py's hints cover every client mode at once)."""
    return cast(list[Entry], raw or [])


def _event(entry_id: str, fields: dict[str, str]) -> Event:
    """An entry as a live reader gets it."""
    kind = fields.get("e", "")
    return Event(kind, fields.get("d", ""), entry_id if kind in ID_EVENTS else None)


def _without_client_setinfo() -> dict[str, Any]:
    """Client options that skip ``CLIENT SETINFO`` on each new connection:
    redis-py looks its own version up in the installed package metadata for
    it, about a millisecond per connection, and readers arriving in a burst
    open hundreds of connections."""
    try:
        from redis import DriverInfo  # noqa: F401  (redis-py >= 7.1: the old options warn)
    except ImportError:
        return {"lib_name": None, "lib_version": None}
    return {"driver_info": None}


_WITHOUT_CLIENT_SETINFO = _without_client_setinfo()


class _Meta:
    """A stream's hash, read in one command (so its fields agree)."""

    __slots__ = ("client", "done", "last", "owner", "pos", "tail")

    def __init__(self, fields: dict[str, str]) -> None:
        self.client = fields.get("client", "")
        self.owner = fields.get("owner", "")
        self.done = fields.get("done") == "1"
        self.tail = fields.get("tail", "")
        self.pos = fields.get("pos") or "0-0"
        self.last = fields.get("last") or "0-0"


class _Written:
    """A live stream generated by this process, as Redis holds it after the
    last publish that Redis confirmed: so the writer need not read it back,
    and a reader here can start from it."""

    __slots__ = ("client", "pos", "tail")

    def __init__(self, client: str) -> None:
        self.client = client
        self.tail = Tail()
        self.pos = "0-0"

    def meta(self) -> _Meta:
        return _Meta({"client": self.client, "done": "0", "tail": self.tail.html, "pos": self.pos})


class _Follower:
    """This process's reading of one stream, and the subscriptions it feeds.

    ``tail`` and ``pos`` are the stream as of the last entry read, so a new
    subscription replays up to ``pos`` and then takes live events from here:
    nothing lost, nothing twice.  ``heard`` is when the stream last gave an
    entry (or its lease was last checked): a stream quiet for a reader's
    ``block_ms`` has its lease checked."""

    __slots__ = ("client", "failures", "heard", "key", "pos", "reader", "stream_id", "subscribers", "tail")

    def __init__(
        self, tail: str, pos: str, client: str = "", *, stream_id: str = "", key: str = "", heard: float = 0.0
    ) -> None:
        self.stream_id = stream_id
        self.key = key  # the stream's events key
        self.client = client
        self.tail = Tail(tail)
        self.pos = pos
        self.heard = heard
        self.failures = 0  # lease checks refused in a row (out of memory)
        self.subscribers: set[MemorySubscription] = set()
        self.reader: _Reader | None = None

    def push(self, event: Event) -> None:
        apply_event(self.tail, event)
        for subscription in list(self.subscribers):
            subscription.push(event)

    def end(self, error: str | None = None) -> None:
        """No more events: tell subscriptions why (if not ``done``: an
        ``error``, then a ``done`` with no id, so that a reader that resumes
        later reads what the stream really holds) and close them."""
        for subscription in list(self.subscribers):
            if error is not None:
                subscription.push(Event("error", error))
                subscription.push(Event("done", ENDED_BY_READER))
            subscription.close()


READER_STREAMS = 200
"""Streams one reader task follows with its one ``XREAD`` (past that, another reader)."""
LEASE_CHECKS = 64
"""Quiet streams a reader checks the leases of per round (one pipeline)."""
WAKE_TTL_MS = 60_000
"""Expiry of a reader's wake-up stream, renewed by each wake-up."""


class _Reader:
    """One task of this process following up to ``READER_STREAMS`` streams
    with one ``XREAD BLOCK`` over all of them, plus its wake-up stream
    ``wake``: a stream followed while the call is blocked gets an entry
    there, so that the call returns and the next round includes it."""

    __slots__ = ("blocked", "failures", "followers", "task", "wake", "wake_pos", "woken")

    def __init__(self, wake: str) -> None:
        self.wake = wake
        self.wake_pos = "0-0"
        self.followers: dict[str, _Follower] = {}  # by events key
        self.blocked = False  # in XREAD now
        self.woken = False  # a wake-up was sent during this XREAD
        self.failures = 0  # rounds failed in a row (Redis unreachable)
        self.task: asyncio.Task[None] | None = None


class RedisSubscription(MemorySubscription):
    """A memory subscription fed by a ``_Follower``; the last one to leave
    stops it."""

    __slots__ = ("_on_empty",)

    def __init__(self, follower: _Follower, on_empty: Callable[[], None] | None, max_pending: int) -> None:
        super().__init__(follower, [], max_pending)
        self._on_empty = on_empty

    def prepend(self, replay: list[Event]) -> None:
        """Put the replay before the live events that came while it was read."""
        self._queue.extendleft(reversed(replay))
        self._wake()

    def _detach(self) -> None:
        super()._detach()
        if not self._stream.subscribers and self._on_empty is not None:
            on_empty, self._on_empty = self._on_empty, None
            on_empty()


REPLAY_CACHE_BYTES = 64 * 1024 * 1024
"""Characters of logged events a process keeps for replays (all streams)."""
REPLAY_CACHE_STREAMS = 1024
"""Streams whose logs a process keeps for replays."""


class _Replay:
    """What this process has read of one stream's log: its id'd events (a
    commit as its block) up to entry ``upto``.  Entries never change once
    written, so the copy stays right; readers of the stream share it."""

    __slots__ = ("events", "keys", "lock", "size", "upto")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.keys: list[tuple[int, int]] = []
        self.upto = ""
        self.size = 0
        self.lock = asyncio.Lock()

    def extend(self, entries: list[Entry], upto: str) -> int:
        """Add the entries read after ``upto``; returns the characters added."""
        added = 0
        for entry_id, fields in entries:
            kind = fields.get("e", "")
            if kind == "commit":
                event = Event("block", fields.get("b", ""), entry_id)
            elif kind in ID_EVENTS:
                event = Event(kind, fields.get("d", ""), entry_id)
            else:
                continue
            self.events.append(event)
            self.keys.append(parse_id(entry_id))
            added += len(event.data)
        self.upto = upto
        self.size += added
        return added

    def after(self, after: str | None, upto: str) -> list[Event]:
        """The events after ``after`` up to ``upto``."""
        start = bisect.bisect_right(self.keys, parse_id(after)) if after else 0
        end = bisect.bisect_right(self.keys, parse_id(upto))
        return self.events[start:end]


class RedisStore(StreamStore):
    """Streams in Redis (``redis://HOST:PORT/DB``), shared between processes.

    ``max_live`` bounds the streams this process generates at once;
    ``lease``: seconds a generating process may go silent (dead) before its
    readers end the stream; ``max_entries``: the trimming bound of a stream,
    generous enough for a whole answer; ``retries``: reconnection attempts of
    a reader before it gives up with an ``error`` event."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 600.0,
        max_live: int = 1000,
        max_per_client: int | None = None,
        max_pending: int = 1000,
        lease: float = 10.0,
        max_entries: int = 100_000,
        retries: int = 5,
        prefix: str = "renderer:",
    ) -> None:
        self._block_ms = max(10, min(int(lease * 250), 1000))
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            # A burst of readers connecting at once (hundreds) each needs a
            # connection for its replay; redis-py's default cap is 100.
            max_connections=1024,
            decode_responses=True,
            socket_connect_timeout=2.0,
            # A blocked XREAD answers within block_ms; past this the host is gone.
            socket_timeout=self._block_ms / 1000 + 5.0,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            **_WITHOUT_CLIENT_SETINFO,
        )
        self._ttl_ms = max(1, int(ttl * 1000))
        self._lease_ms = max(1, int(lease * 1000))
        self._live_ttl_ms = self._ttl_ms + self._lease_ms
        self._max_live = max_live
        self._max_per_client = UNLIMITED if max_per_client is None else max_per_client
        self._max_pending = max_pending
        self._max_entries = max_entries
        self._retries = retries
        self._prefix = prefix
        self._channel = f"{prefix}cancel"
        self._origin = secrets.token_hex(8)
        self._publish_script = self._redis.register_script(_PUBLISH)
        self._expire_script = self._redis.register_script(_EXPIRE_LEASE)
        self._create_script = self._redis.register_script(_CREATE)
        self._renew_script = self._redis.register_script(_RENEW)
        self._release_script = self._redis.register_script(_RELEASE)
        self._owned: dict[str, _Written] = {}  # live streams generated here
        self._background: set[asyncio.Task[None]] = set()
        self._policy_checked = False
        self._followers: dict[str, _Follower] = {}
        self._readers: list[_Reader] = []
        self._reader_numbers = itertools.count()
        self._replays: dict[str, _Replay] = {}  # LRU order: least recently used first
        self._replay_bytes = 0
        self._cancel_callbacks: dict[str, list[Callable[[], None]]] = {}
        self._lease_task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listening: asyncio.Future[None] | None = None
        self._pubsub: PubSub | None = None
        self._released: asyncio.Task[None] | None = None
        self._closed = False

    # --- keys and reads -------------------------------------------------------

    def _keys(self, stream_id: str) -> list[str]:
        base = f"{self._prefix}{stream_id}"
        return [f"{base}:events", f"{base}:meta", f"{base}:lease"]

    def _limit_keys(self, client: str) -> list[str]:
        """The sorted sets ``create`` counts: all live streams, one client's."""
        return [f"{self._prefix}live", f"{self._prefix}client:{client}"]

    async def _meta(self, stream_id: str) -> _Meta:
        fields = cast(dict[str, str], await self._redis.hgetall(self._keys(stream_id)[1]))
        if not fields:
            raise StreamNotFound(stream_id)
        return _Meta(fields)

    async def _log(self, stream_id: str, after: str | None, upto: str) -> list[Event]:
        """The id'd events after ``after`` up to entry ``upto``; a commit as its block.

        From the process's replay cache (``_Replay``): the readers of an
        answer in this process share one copy of its log, and Redis is asked
        only for the entries no reader here has read yet (one ``XRANGE`` for
        a crowd arriving at once, not one whole log per reader)."""
        if parse_id(upto) <= parse_id(after):
            return []
        cached = self._replays.pop(stream_id, None) or _Replay()
        self._replays[stream_id] = cached  # most recently used last
        async with cached.lock:
            if parse_id(cached.upto) < parse_id(upto):
                start = "-" if not cached.upto else f"({cached.upto}"
                entries = _entries(await self._redis.xrange(self._keys(stream_id)[0], start, upto))
                added = cached.extend(entries, upto)
                if self._replays.get(stream_id) is cached:  # not evicted meanwhile
                    self._replay_bytes += added
                    self._evict_replays(keep=stream_id)
        return cached.after(after, upto)

    def _evict_replays(self, keep: str) -> None:
        """Drop the least recently used replays past ``REPLAY_CACHE_BYTES``/``_STREAMS``."""
        for stream_id in list(self._replays):
            if self._replay_bytes <= REPLAY_CACHE_BYTES and len(self._replays) <= REPLAY_CACHE_STREAMS:
                return
            if stream_id != keep:
                self._replay_bytes -= self._replays.pop(stream_id).size

    # --- the contract ---------------------------------------------------------

    @property
    def live(self) -> int:
        """Streams this process is generating."""
        return len(self._owned)

    @property
    def subscriptions(self) -> int:
        """Open local subscriptions over all streams (a leak shows here)."""
        return sum(len(follower.subscribers) for follower in self._followers.values())

    @property
    def readers(self) -> int:
        """Reader tasks of this process (each follows up to ``READER_STREAMS`` streams)."""
        return len(self._readers)

    @property
    def followers(self) -> int:
        """Streams this process follows in Redis (for local subscriptions)."""
        return len(self._followers)

    @_store_call
    async def create(self, *, client: str = "", owner: str = "") -> str:
        await self._listen()
        await self._check_policy()
        stream_id = secrets.token_urlsafe(12)
        _, meta, lease = self._keys(stream_id)
        result = await self._create_script(
            keys=[*self._limit_keys(client), meta, lease],
            args=[
                stream_id,
                self._max_live,
                self._max_per_client,
                self._lease_ms,
                self._live_ttl_ms,
                owner,
                client,
                self._live_ttl_ms,
                self._origin,
            ],
        )
        if result == "full":
            raise StoreFull("as many streams are live as the store may hold")
        if result == "client":
            raise ClientLimit("as many streams are live for this client as it may have")
        self._owned[stream_id] = _Written(client)
        if self._lease_task is None or self._lease_task.done():
            self._lease_task = self._spawn(self._refresh_leases(), "redis store leases")
        return stream_id

    @_store_call
    async def owner(self, stream_id: str) -> str:
        return (await self._meta(stream_id)).owner

    def abandon(self, stream_id: str) -> None:
        """Stop renewing the stream's lease and counting it; readers end it
        once the lease runs out.  Best effort: Redis may be failing."""
        written = self._owned.get(stream_id)
        if written is None:
            return
        client = written.client
        self._forget(stream_id)
        if not self._closed:
            self._spawn(self._release_limits(stream_id, client), f"release {stream_id}")

    async def _release_limits(self, stream_id: str, client: str) -> None:
        with contextlib.suppress(RedisError, *UNREACHABLE):
            await self._release_script(keys=self._limit_keys(client), args=[stream_id])
            await self._redis.delete(self._keys(stream_id)[2])  # the lease: readers end it sooner

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A background task that is kept (not garbage-collected) and never
        dies silently: an exception it lets out is logged."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed", task.get_name(), exc_info=task.exception())

    async def _check_policy(self) -> None:
        """Warn once if Redis may evict live answers (see the module)."""
        if self._policy_checked:
            return
        self._policy_checked = True
        try:
            policy = cast(dict[str, str], await self._redis.config_get("maxmemory-policy")).get("maxmemory-policy")
        except RedisError:
            return  # CONFIG may be disabled (managed Redis): nothing to say
        if policy and policy != "noeviction":
            logger.warning(
                "Redis maxmemory-policy is %s: Redis may evict live answers; use noeviction (docs/security.md)", policy
            )

    async def publish(self, stream_id: str, event: str, data: str) -> Event:
        return (await self.publish_many(stream_id, [(event, data)]))[0]

    @_store_call
    async def publish_many(self, stream_id: str, events: Sequence[tuple[str, str]]) -> list[Event]:
        """All of ``events`` in one script call (one round trip, whatever
        their number: a flush's ops go together)."""
        # The new tail is worked out here, on a copy: the script stores it,
        # and this process's copy changes only once Redis has it.
        written = self._owned.get(stream_id)
        if written is not None:
            tail, client = Tail(written.tail.html), written.client
        else:  # written from a process that did not create it
            meta = await self._meta(stream_id)
            tail, client = Tail(meta.tail), meta.client
        args: list[str | int] = [self._max_entries, self._ttl_ms, self._live_ttl_ms, stream_id]
        for event, data in events:
            apply_event(tail, Event(event, data))
            args += [event, data, tail.html if event == "append" else "", "1" if event in ID_EVENTS else "0"]
        result = await self._publish_script(keys=[*self._keys(stream_id), *self._limit_keys(client)], args=args)
        if result == "!missing":  # expired, or evicted: stop counting it now, not when its lease would end
            if stream_id in self._owned:
                self.abandon(stream_id)
            raise StreamNotFound(stream_id)
        if result == "!done":
            self._forget(stream_id)
            raise StreamEnded(f"stream {stream_id} is done")
        ids = cast(list[str], result)
        if events[-1][0] == "done":
            self._forget(stream_id)
        elif written is not None:
            written.tail, written.pos = tail, ids[-1]
        return [
            Event(event, data, entry_id if event in ID_EVENTS else None)
            for (event, data), entry_id in zip(events, ids, strict=True)
        ]

    def _forget(self, stream_id: str) -> None:
        self._owned.pop(stream_id, None)
        self._cancel_callbacks.pop(stream_id, None)

    @_store_call
    async def subscribe(self, stream_id: str, after: str | None = None) -> MemorySubscription:
        # The stream first, then the id (as the memory store): an unknown
        # stream is StreamNotFound whatever the id; a followed one is known.
        follower = self._followers.get(stream_id)
        if follower is None:
            written = self._owned.get(stream_id)  # generated here: as Redis holds it, no need to ask
            meta = written.meta() if written is not None else await self._meta(stream_id)
            parse_id(after)
            follower = self._followers.get(stream_id)  # another subscribe may have started one meanwhile
            if follower is None:
                if meta.done:
                    log = await self._log(stream_id, after, meta.pos)
                    events = replay(log, tail="", done=True, resuming=after is not None)
                    ended = MemorySubscription(_Follower("", meta.pos), events, 1)
                    ended.close()
                    return ended
                follower = self._follow(stream_id, meta)
        else:
            parse_id(after)
        subscription = RedisSubscription(follower, lambda: self._unfollow(stream_id, follower), self._max_pending)
        upto, tail = follower.pos, follower.tail.html
        try:
            log = await self._log(stream_id, after, upto)
        except BaseException:
            subscription.close()
            raise
        subscription.prepend(replay(log, tail=tail, done=False, resuming=after is not None))
        return subscription

    @_store_call
    async def read(self, stream_id: str, after: str | None = None) -> tuple[list[Event], bool]:
        meta = await self._meta(stream_id)
        parse_id(after)
        log = await self._log(stream_id, after, meta.pos)
        return replay(log, tail=meta.tail, done=meta.done, resuming=after is not None), meta.done

    @_store_call
    async def is_done(self, stream_id: str, after: str | None = None) -> bool:
        meta = await self._meta(stream_id)
        seen = parse_id(after)
        return meta.done and (after is None or seen >= parse_id(meta.last))

    @_store_call
    async def cancel(self, stream_id: str) -> bool:
        meta = await self._meta(stream_id)
        if meta.done:
            return False
        self._call_cancel(stream_id)
        await self._redis.publish(self._channel, f"{self._origin} {stream_id}")
        return True

    def on_cancel(self, stream_id: str, callback: Callable[[], None]) -> None:
        self._cancel_callbacks.setdefault(stream_id, []).append(callback)
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen_forever())

    async def health(self) -> bool:
        try:
            async with asyncio.timeout(1.0):
                return bool(await self._redis.ping())
        except (TimeoutError, *UNREACHABLE):
            return False

    def close(self) -> None:
        """Stop this process's tasks (leases stop being refreshed) and end
        local subscriptions; the connections close in the background."""
        if self._closed:
            return
        self._closed = True
        tasks = [
            self._lease_task,
            self._listener,
            *self._background,
        ]
        for task in tasks:
            if task is not None:
                task.cancel()
        for follower in list(self._followers.values()):
            follower.end()
        self._followers.clear()
        self._owned.clear()
        self._cancel_callbacks.clear()
        with contextlib.suppress(RuntimeError):  # no running loop: nothing left to await
            self._released = asyncio.get_running_loop().create_task(self._release([t for t in tasks if t]))

    async def aclose(self) -> None:
        """``close``, then wait until the connections are closed."""
        self.close()
        if self._released is not None:
            await self._released

    async def _release(self, tasks: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    # --- background tasks -------------------------------------------------------

    def _follow(self, stream_id: str, meta: _Meta) -> _Follower:
        loop = asyncio.get_running_loop()
        key = self._keys(stream_id)[0]
        follower = _Follower(meta.tail, meta.pos, meta.client, stream_id=stream_id, key=key, heard=loop.time())
        self._followers[stream_id] = follower
        reader = next((r for r in self._readers if len(r.followers) < READER_STREAMS), None)
        if reader is None:
            reader = _Reader(f"{self._prefix}wake:{self._origin}:{next(self._reader_numbers)}")
            self._readers.append(reader)
            reader.task = self._spawn(self._read_forever(reader), f"redis reader {reader.wake}")
        reader.followers[key] = follower
        follower.reader = reader
        if reader.blocked and not reader.woken:
            reader.woken = True
            self._spawn(self._wake(reader), f"wake {reader.wake}")
        return follower

    def _unfollow(self, stream_id: str, follower: _Follower) -> None:
        """Stop following: the reader leaves the stream out of its next round."""
        if self._followers.get(stream_id) is follower:
            del self._followers[stream_id]
        reader = follower.reader
        if reader is not None and reader.followers.get(follower.key) is follower:
            del reader.followers[follower.key]

    def _end(self, follower: _Follower, error: str | None) -> None:
        self._unfollow(follower.stream_id, follower)
        follower.end(error)

    async def _wake(self, reader: _Reader) -> None:
        """Make the reader's blocked ``XREAD`` return (best effort: else it
        returns within ``block_ms``)."""
        with contextlib.suppress(RedisError, *UNREACHABLE):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xadd(reader.wake, {"w": "1"}, maxlen=1, approximate=False)
                pipe.pexpire(reader.wake, WAKE_TTL_MS)
                await pipe.execute()

    async def _read_forever(self, reader: _Reader) -> None:
        """Follow the reader's streams for local subscriptions, in rounds of
        one ``XREAD BLOCK`` over all of them, until it has none left.  A
        stream ends at its ``done``, when it is lost, or when Redis stays
        unreachable (then all of the reader's streams end)."""
        block_s = self._block_ms / 1000
        loop = asyncio.get_running_loop()
        error: str | None = None
        try:
            while reader.followers:
                try:
                    # Quiet streams: is their generator still there?
                    now = loop.time()
                    due = [f for f in reader.followers.values() if now - f.heard >= block_s]
                    if due:
                        await self._check_leases(reader, due[:LEASE_CHECKS])
                        if not reader.followers:
                            break
                    if len(due) > LEASE_CHECKS:
                        block: int | None = None  # more to check: do not wait
                    else:
                        oldest = min(f.heard for f in reader.followers.values())
                        block = max(1, min(self._block_ms, int((oldest + block_s - loop.time()) * 1000) + 1))
                    streams: dict[Any, Any] = {key: f.pos for key, f in reader.followers.items()}
                    streams[reader.wake] = reader.wake_pos
                    reader.blocked, reader.woken = True, False
                    try:
                        response: Any = await self._redis.xread(streams, count=500, block=block)
                    finally:
                        reader.blocked = False
                except (*UNREACHABLE, ResponseError) as problem:
                    if isinstance(problem, ResponseError) and not _out_of_memory(problem):
                        raise
                    reader.failures += 1  # down, or out of memory (ending a stream writes): retry, bounded
                    if reader.failures > self._retries:
                        error = STORE_UNREACHABLE
                        return
                    await asyncio.sleep(min(0.05 * 2**reader.failures, 1.0))
                    continue
                reader.failures = 0
                if response:
                    self._deliver(reader, response, loop.time())
        except Exception:
            logger.exception("reading %d streams failed", len(reader.followers))
            error = STORE_LOST
        finally:
            if reader in self._readers:
                self._readers.remove(reader)
            if not self._closed:
                for follower in list(reader.followers.values()):
                    self._end(follower, error)

    def _deliver(self, reader: _Reader, response: Any, now: float) -> None:
        """Push what one ``XREAD`` read to each stream's subscriptions."""
        for key, entries in response.items() if isinstance(response, dict) else response:
            if key == reader.wake:
                if entries:
                    reader.wake_pos = entries[-1][0]
                continue
            follower = reader.followers.get(key)
            if follower is None or not entries:
                continue  # no longer followed
            follower.heard, follower.failures = now, 0
            read = _entries(entries)
            if parse_id(read[0][0]) <= parse_id(follower.pos):
                # Read for a follower of this stream that has since been
                # replaced by a newer one: only what it has not seen.
                after = parse_id(follower.pos)
                read = [entry for entry in read if parse_id(entry[0]) > after]
            for entry_id, fields in read:
                follower.pos = entry_id
                event = _event(entry_id, fields)
                follower.push(event)
                if event.event == "done":
                    self._end(follower, None)
                    break

    async def _check_leases(self, reader: _Reader, due: list[_Follower]) -> None:
        """End the streams of ``due`` whose lease is gone (one pipeline);
        a stream Redis no longer has ends as lost."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for follower in due:
                await self._expire_script(
                    keys=[*self._keys(follower.stream_id), *self._limit_keys(follower.client)],
                    args=[LEASE_EXPIRED, ENDED_BY_READER, self._max_entries, self._ttl_ms, follower.stream_id],
                    client=pipe,
                )
            results = await pipe.execute(raise_on_error=False)
        now = asyncio.get_running_loop().time()
        for follower, found in zip(due, results, strict=True):
            if reader.followers.get(follower.key) is not follower:
                continue
            if isinstance(found, ResponseError) and _out_of_memory(found):
                follower.failures += 1  # ending a stream writes: retry, bounded
                if follower.failures > self._retries:
                    self._end(follower, STORE_UNREACHABLE)
                else:  # checked again after a backoff
                    follower.heard = now - self._block_ms / 1000 + min(0.05 * 2**follower.failures, 1.0)
            elif isinstance(found, Exception):
                logger.error("checking the lease of stream %s failed: %s", follower.stream_id, found)
                self._end(follower, STORE_LOST)
            else:
                follower.heard, follower.failures = now, 0
                if found == "missing":
                    self._end(follower, STORE_LOST)

    async def _refresh_leases(self) -> None:
        """Keep the leases (and limit scores) of the streams generated here
        while they are live.  Survives any Redis error (down, out of
        memory): a lease it cannot renew runs out, and readers end that
        stream, which is right when this process cannot write to it."""
        while self._owned:
            await asyncio.sleep(self._lease_ms / 3000)
            streams = list(self._owned)
            keys: list[str] = []
            for stream_id in streams:
                keys += [self._keys(stream_id)[2], *self._limit_keys(self._owned[stream_id].client)]
            try:
                await self._renew_script(keys=keys, args=[self._lease_ms, self._origin, self._live_ttl_ms, *streams])
            except (*UNREACHABLE, RedisError) as error:
                logger.warning("could not renew %d leases (%s); retrying", len(streams), error)
            except Exception:
                logger.exception("renewing leases failed; retrying")

    async def _listen(self) -> None:
        """Listen for cancels before the first stream is generated here
        (bounded: with Redis down, ``create`` fails on its own)."""
        if self._listening is None:
            self._listening = asyncio.get_running_loop().create_future()
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(), name="redis store cancels")
        await asyncio.wait([self._listening], timeout=2.0)

    async def _listen_forever(self) -> None:
        if self._listening is None:
            self._listening = asyncio.get_running_loop().create_future()
        failures = 0
        while True:
            try:
                if self._pubsub is None:
                    self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                    await self._pubsub.subscribe(self._channel)
                    if not self._listening.done():
                        self._listening.set_result(None)
                message = await self._pubsub.get_message(timeout=1.0)
                failures = 0
            except (*UNREACHABLE, RedisError) as error:
                # Cancels published while this is down are lost; the reader
                # that asked may ask again.
                if not isinstance(error, UNREACHABLE):
                    logger.warning("listening for cancels failed (%s); retrying", error)
                failures += 1
                if self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                    self._pubsub = None
                await asyncio.sleep(min(0.05 * 2**failures, 1.0))
                continue
            if message is not None and message.get("type") == "message":
                self._on_message(message["data"])

    def _on_message(self, data: Any) -> None:
        origin, _, stream_id = str(data).partition(" ")
        if origin != self._origin:
            self._call_cancel(stream_id)

    def _call_cancel(self, stream_id: str) -> None:
        for callback in list(self._cancel_callbacks.get(stream_id, ())):
            callback()

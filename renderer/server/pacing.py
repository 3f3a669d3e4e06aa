"""How often each answer's tail is re-rendered, from what previews cost.

A tail preview costs CPU in proportion to the text it re-renders.  Ten a
second per answer look fluid and cost little for a few answers; for hundreds
at once they would take the whole process, and a process that falls behind
stretches every answer, so that each re-renders its tail more times still.
The pacer spreads a fixed budget instead: the previews of all live answers
may use ``PREVIEW_SHARE`` of one core, whatever their number.  It measures
what a preview costs (the CPU time of each engine call that renders, as a
moving average) and gives every answer the same interval::

    max(base interval, live answers * cost of a preview / PREVIEW_SHARE)

Committed text is never re-rendered, and a source that goes quiet still has
its tail shown: pacing changes how often the tail moves under load, not
what an answer says or when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["PREVIEW_SHARE", "Pacer"]

PREVIEW_SHARE = 0.1
"""Share of one core that the tail previews of a process's answers may use."""

_WEIGHT = 0.05
"""Weight of the newest measurement in the moving average of preview costs."""

_T = TypeVar("_T")


class Pacer:
    """The update interval of a process's answers, from their number and the
    measured cost of a preview.  ``base`` 0 turns pacing off (every feed
    renders)."""

    def __init__(self, base: float, share: float = PREVIEW_SHARE) -> None:
        self.base = base
        self.share = share
        self.live = 0
        """Answers being generated."""
        self.cost = 0.0
        """Seconds of CPU a preview takes, averaged."""
        self._interval = base

    def interval(self) -> float:
        """Seconds between two previews of an answer's tail, now."""
        return self._interval

    def started(self) -> None:
        self.live += 1
        self._update()

    def ended(self) -> None:
        self.live -= 1
        self._update()

    def timed(self, call: Callable[..., _T], *args: object) -> _T:
        """``call(*args)``, a call that renders a preview, its CPU time recorded."""
        start = time.thread_time()
        try:
            return call(*args)
        finally:
            self.cost += _WEIGHT * (time.thread_time() - start - self.cost)
            self._update()

    def _update(self) -> None:
        if self.base:
            self._interval = max(self.base, self.live * self.cost / self.share)

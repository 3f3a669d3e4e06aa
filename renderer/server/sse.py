"""Server-Sent Events framing: one event to bytes, and nothing else.

Every frame this server writes comes from :func:`encode`, so no other code
can split a field or inject one.  Data is cut into ``data:`` lines at CR, LF
and CRLF (the three line ends the WHATWG parser accepts), so text holding
any of them arrives joined by LF and can never start a new field or event.
Event names and ids cannot hold CR, LF or NUL: those raise ``ValueError``
(an id with NUL would be ignored by browsers, one with a line break would
forge a field).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_RETRY_MS", "ServerSentEvent", "comment", "encode", "retry"]

DEFAULT_RETRY_MS = 2000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORBIDDEN = re.compile(r"[\r\n\0]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event as the browser's EventSource receives it."""

    data: str
    """The payload; any line breaks in it are preserved, as LF."""
    event: str | None = None
    """The event name (``message`` when None)."""
    id: str | None = None
    """The id the browser sends back as ``Last-Event-ID`` when it reconnects."""

    def encode(self) -> bytes:
        """The frame, UTF-8 encoded, ending with the blank line that dispatches it."""
        return encode(self.data, event=self.event, id=self.id)


def _field(name: str, value: str | None) -> str:
    if value is None:
        return ""
    if _FORBIDDEN.search(value):
        raise ValueError(f"SSE {name} must not hold CR, LF or NUL: {value!r}")
    return f"{name}: {value}\n"


def _utf8(text: str) -> bytes:
    """UTF-8, with lone surrogates (which it cannot carry) as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def encode(data: str, *, event: str | None = None, id: str | None = None) -> bytes:
    """One SSE frame, ending with the blank line that dispatches it."""
    head = _field("event", event) + _field("id", id)
    body = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return _utf8(head + body + "\n")


def retry(milliseconds: int = DEFAULT_RETRY_MS) -> bytes:
    """A frame that only sets the reconnection delay (it dispatches no event)."""
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int) or milliseconds < 0:
        raise ValueError(f"SSE retry must be a non-negative integer: {milliseconds!r}")
    return f"retry: {milliseconds}\n\n".encode("ascii")


def comment(text: str = "") -> bytes:
    """A comment frame (a heartbeat): ignored by parsers, keeps proxies awake."""
    return _utf8("".join(f": {line}\n" for line in _LINE_BREAK.split(text)) + "\n")

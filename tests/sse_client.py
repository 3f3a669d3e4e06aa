"""A Server-Sent Events parser that follows the WHATWG HTML standard
("Server-sent events", section 9.2.6 "Interpreting an event stream").

A helper module for tests, not a test.  The server's framing is checked
against this parser rather than against ``renderer.server.sse`` itself, so the two
cannot share a mistake.  Bytes go in, in any chunks; events come out:

    parser = SSEParser()
    for chunk in chunks:
        for event in parser.feed(chunk):
            ...
    parser.close()  # an unfinished event at the end is discarded, as browsers do

What the standard asks, and where this parser does it:

* the stream is UTF-8, decoded with a streaming decoder (a character may be
  cut between chunks), invalid bytes becoming U+FFFD;
* one leading BOM is dropped, once;
* lines end with CRLF, LF or CR; a CR at the end of a chunk followed by LF
  at the start of the next is one line end, not two;
* a line starting with ``:`` is a comment; ``field: value`` loses one
  leading space of the value; a line without ``:`` is a field with an empty
  value;
* ``data`` lines are joined by LF; an event whose data buffer is empty is
  not dispatched (but its ``event`` name is reset);
* an ``id`` holding NUL is ignored; the last event id is kept across events
  that carry no ``id`` field;
* ``retry`` is honoured only when it is ASCII digits alone;
* unknown fields are ignored.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["SSEEvent", "SSEParser", "parse"]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event, as ``EventSource`` hands it to a listener."""

    event: str
    """The type: ``message`` when the stream named none."""
    data: str
    """The data lines joined by LF (without the final LF)."""
    last_event_id: str
    """The last event id at dispatch time (kept from earlier events)."""
    id_field: bool = False
    """Whether this event's own block carried a valid ``id`` field (so a
    test can tell an id'd event from one that inherits the last id)."""

    def as_dict(self) -> dict[str, str]:
        """The shape ``renderer.assemble`` takes."""
        return {"event": self.event, "data": self.data}

    @property
    def id(self) -> str | None:
        """The event's own id, or None when its block carried none."""
        return self.last_event_id if self.id_field else None


@dataclass(slots=True)
class SSEParser:
    """Feed bytes, get events.  One parser per connection."""

    last_event_id: str = ""
    """Persists across events (and, for a browser, across reconnections)."""
    retry: int | None = None
    """The reconnection time the stream set last, in milliseconds."""
    comments: list[str] = field(default_factory=list)
    """Comment lines seen (without the leading colon), e.g. heartbeats."""
    fields: list[str] = field(default_factory=list)
    """Every field name seen, in order, known or not (to spot injection)."""

    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    _started: bool = False
    _buffer: str = ""
    _after_cr: bool = False
    _data: list[str] = field(default_factory=list)
    _has_data: bool = False
    _event_type: str = ""
    _id_field: bool = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse a chunk; returns the events it completes."""
        return self._feed_text(self._decoder.decode(chunk))

    def close(self) -> list[SSEEvent]:
        """End of stream: flush the decoder.  An incomplete event (no blank
        line after it) is discarded, as the standard says."""
        text = self._decoder.decode(b"", final=True)
        return self._feed_text(text)

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if not self._started and text:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        events: list[SSEEvent] = []
        if text and self._after_cr:
            self._after_cr = False
            if text.startswith("\n"):
                text = text[1:]  # the LF of a CRLF cut between two chunks
        buffer = self._buffer + text
        start = 0
        for match in _LINE_END.finditer(buffer):
            if match.group() == "\r" and match.end() == len(buffer):
                self._after_cr = True  # its LF, if any, comes in the next chunk
            self._line(buffer[start : match.start()], events)
            start = match.end()
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if line == "":
            self._dispatch(events)
            return
        if line.startswith(":"):
            self.comments.append(line[1:])
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self.fields.append(name)
        if name == "event":
            self._event_type = value
        elif name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
                self._id_field = True
        elif name == "retry" and value and value.isascii() and value.isdigit():
            self.retry = int(value)
        # any other field is ignored

    def _dispatch(self, events: list[SSEEvent]) -> None:
        has_data, data = self._has_data, "\n".join(self._data)
        event_type, id_field = self._event_type, self._id_field
        self._data = []
        self._has_data = False
        self._event_type = ""
        self._id_field = False
        if not has_data:
            return
        events.append(SSEEvent(event_type or "message", data, self.last_event_id, id_field))


def parse(chunks: bytes | Iterable[bytes]) -> list[SSEEvent]:
    """Every event in ``chunks`` (one bytes object or an iterable of them)."""
    parser = SSEParser()
    if isinstance(chunks, (bytes, bytearray)):
        chunks = [bytes(chunks)]
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.close()
    return events

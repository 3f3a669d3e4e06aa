"""The corpus: hostile inputs, how they are read, and how they are selected.

A corpus file is JSON Lines (``.jsonl``/``.ndjson``), each line a JSON string
or an object::

    {"name": "group/name", "payload": "...",
     "classes": ["event-handler", "markdown"], "source": "OWASP XSS Filter Evasion Cheat Sheet",
     "chunks": ["<img src=x oner", "ror=__xss=1>"]}

or plain text, one payload a line. Only ``payload`` is required. ``classes``
tag what kind of attack a payload is (``CLASSES``; ``--class`` selects by
them), ``source`` credits where it comes from, and ``chunks`` is a cut of the
payload that a streaming target is also fed, for payloads that only work
when split in a particular place (their class is ``split-chunks``).

Errors: ``CorpusError`` (a ValueError) for a file that cannot be read or a
line that cannot be parsed; the message names the line.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "CLASSES",
    "CorpusError",
    "Payload",
    "default_corpus_path",
    "load_corpus",
    "parse_corpus",
    "select",
]

#: The attack classes a payload may be tagged with, and what each means.
CLASSES: dict[str, str] = {
    "script": "<script> in its many spellings, split, unclosed, nested",
    "event-handler": "on* attributes on any element, however spelled",
    "url-scheme": "javascript:, vbscript:, data: URLs in any URL attribute or Markdown link, obfuscated",
    "mutation-xss": "markup that changes meaning when parsed again (serialise, re-parse)",
    "namespace-confusion": "SVG and MathML content that the HTML parser and a sanitizer read differently",
    "css": "style attributes and elements: expressions, url(), @import, exfiltration",
    "markdown": "attacks through Markdown syntax: links, images, references, fences, raw HTML blocks",
    "split-chunks": "payloads whose danger depends on where a stream cuts them",
    "encoding": "character references, UTF-7, zero-width and control characters, look-alikes",
    "polyglot": "one input that breaks out of many contexts at once",
    "dom-clobbering": "ids and names that shadow globals the page relies on",
}

_CORPUS_PACKAGE = "renderer.harness"
_CORPUS_FILE = ("corpus", "xss.jsonl")
_JSON_LINES_SUFFIXES = frozenset({".jsonl", ".ndjson"})


class CorpusError(ValueError):
    """A corpus file that cannot be read or parsed; the message names the line."""


@dataclass(frozen=True, slots=True)
class Payload:
    """One hostile input."""

    #: ``group/name`` in the shipped corpus; the part before ``/`` groups
    #: rows of the report (``custom`` when there is none).
    name: str
    #: The text fed to the target, as Markdown and as HTML.
    text: str
    #: Attack classes (keys of ``CLASSES``; a user corpus may use others).
    classes: tuple[str, ...] = ()
    #: Where the payload comes from (a cheat sheet, a test suite, a write-up).
    source: str = ""
    #: A cut of ``text`` that streaming targets are fed as well, or None.
    chunks: tuple[str, ...] | None = None

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0] if "/" in self.name else "custom"


def default_corpus_path() -> Path:
    """The shipped corpus (package data)."""
    return Path(str(importlib.resources.files(_CORPUS_PACKAGE).joinpath(*_CORPUS_FILE)))


def load_corpus(path: str | Path | None = None, *, format: Literal["jsonl", "lines"] | None = None) -> list[Payload]:
    """Read a corpus file (None: the shipped one).

    ``format`` defaults by the file name: ``.jsonl`` and ``.ndjson`` are JSON
    Lines, anything else one payload a line. Files are UTF-8, strictly.
    Raises CorpusError.
    """
    path = default_corpus_path() if path is None else Path(path)
    if format is None:
        format = "jsonl" if path.suffix.lower() in _JSON_LINES_SUFFIXES else "lines"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CorpusError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"cannot read {str(path)!r}: not valid UTF-8 at byte {error.start} ({error.reason})"
        ) from None
    return parse_corpus(text, format=format, source=str(path))


def _strings(value: object) -> tuple[str, ...] | None:
    """value as a tuple of strings, or None when it is not a list of them."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def parse_corpus(text: str, *, format: Literal["jsonl", "lines"], source: str = "<corpus>") -> list[Payload]:
    """Payloads from a corpus file's text.

    ``jsonl``: each non-blank line is a JSON string (the payload) or an object
    with a string ``payload`` and optionally a string ``name``, a list of
    strings ``classes``, a string ``source`` and a list of strings ``chunks``
    that join to the payload. ``lines``: each non-blank line is a payload as
    it is (no escapes, so no newlines in a payload: use JSON Lines for
    those). Unnamed payloads are named after their line, ``line 12``. Raises
    CorpusError for a malformed line or a corpus without payloads.
    """
    payloads: list[Payload] = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        name = f"line {number}"
        if format == "lines":
            payloads.append(Payload(name, line))
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise CorpusError(f"{source}: line {number}: not JSON ({error})") from None
        if isinstance(record, str):
            payloads.append(Payload(name, record))
            continue
        if not isinstance(record, dict):
            raise CorpusError(f'{source}: line {number}: expected a JSON string or {{"payload": ...}}')
        payload, name = record.get("payload"), record.get("name", name)
        if not isinstance(payload, str) or not isinstance(name, str):
            raise CorpusError(f'{source}: line {number}: "payload" and "name" must be strings')
        classes = _strings(record.get("classes", []))
        credit = record.get("source", "")
        if classes is None or not isinstance(credit, str):
            raise CorpusError(f'{source}: line {number}: "classes" must be a list of strings, "source" a string')
        chunks = None
        if "chunks" in record:
            chunks = _strings(record["chunks"])
            if chunks is None or "".join(chunks) != payload:
                raise CorpusError(f'{source}: line {number}: "chunks" must be strings that join to the payload')
        payloads.append(Payload(name, payload, classes, credit, chunks))
    if not payloads:
        raise CorpusError(f"{source}: no payloads")
    return payloads


def select(payloads: Iterable[Payload], classes: Sequence[str]) -> list[Payload]:
    """The payloads tagged with any of ``classes`` (all of them when empty)."""
    wanted = set(classes)
    return [payload for payload in payloads if not wanted or wanted.intersection(payload.classes)]

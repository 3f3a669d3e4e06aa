"""Where answers come from: a ``Source`` takes the conversation and yields
the answer's text in chunks.

Built in: ``demo`` streams canned answers (no model needed), ``echo``
streams the user's own message back (to try any Markdown, hostile or not),
and ``upstream`` (``renderer.server.upstream``) streams from any
OpenAI-compatible ``/v1/chat/completions``.  A source of your own is any
callable of that shape: pass it to ``make_app(sources={"name": source})``,
or name it on the command line as ``--source package.module:callable``.

Besides answer text (``str``), a source may yield the other pieces of
``renderer.server.parts`` (reasoning, refusals, tool calls, its finish
reason, usage): each kind becomes a part of the answer.

A source ends its answer by returning; it fails with ``SourceError``, whose
message readers see (any other exception is logged, and readers get a fixed
message).  Either way what was generated so far stays, then ``done``.
Generation is cancelled by raising ``CancelledError`` inside the iterator
(and ``aclose()``): release connections in ``finally``.
"""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import AsyncIterator, Sequence
from typing import NotRequired, Protocol, TypedDict, cast

from .parts import Piece

__all__ = [
    "DEFAULT_TOKEN_DELAY",
    "DEMO_ANSWERS",
    "Message",
    "Source",
    "SourceError",
    "demo",
    "echo",
    "last_user_message",
    "load_source",
    "tokens",
]

DEFAULT_TOKEN_DELAY = 0.02
"""Seconds between tokens of the demo and echo sources: about the pace of a
fast hosted model (50 tokens a second)."""

_TOKEN = re.compile(r"\s*\S{1,4}|\s+", re.DOTALL)


class Message(TypedDict):
    """One chat message, as OpenAI's API has them."""

    role: str
    """``user``, ``assistant`` or ``system``."""
    content: str
    reasoning_content: NotRequired[str]
    """An earlier answer's reasoning, sent back only when configured
    (``Config.send_reasoning``)."""


class Source(Protocol):
    """Where one answer comes from: the conversation in, the answer's text
    out, in chunks of any size, as they arrive."""

    def __call__(self, messages: Sequence[Message], /) -> AsyncIterator[Piece]: ...


class SourceError(Exception):
    """A source failed in a way worth telling the reader (its message is shown)."""


def load_source(spec: str) -> Source:
    """The source ``package.module:callable`` names (``--source``).

    Raises ``ValueError`` with a one-line reason when the module cannot be
    imported or has no such callable."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"a source of your own is named as module:callable, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r} for --source {spec}: {error}") from None
    source: object = module
    for part in attribute.split("."):
        source = getattr(source, part, None)
        if source is None:
            raise ValueError(f"{module_name!r} has no {attribute!r} (--source {spec})")
    if not callable(source):
        raise ValueError(f"--source {spec} is not callable")
    return cast(Source, source)


def tokens(text: str) -> list[str]:
    """Cut text roughly as a model's tokenizer does: short pieces of words,
    each with the whitespace before it.  Joined, they give back ``text``."""
    return _TOKEN.findall(text)


def last_user_message(messages: Sequence[Message]) -> str:
    """The text the user sent last."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    return ""


async def _paced(text: str, delay: float) -> AsyncIterator[str]:
    """The tokens at a model's pace: token ``i`` is due ``i * delay`` after the
    first, whatever the time the reader took (a model does not wait for the
    server: its tokens queue up in the socket), so a busy event loop does
    not slow the model down, it only delays the tokens."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n, token in enumerate(tokens(text), 1):
        yield token
        await asyncio.sleep(max(0.0, start + n * delay - loop.time()))  # 0 still yields to the event loop


async def echo(messages: Sequence[Message], *, delay: float = DEFAULT_TOKEN_DELAY) -> AsyncIterator[str]:
    """The user's last message, token by token."""
    async for token in _paced(last_user_message(messages), delay):
        yield token


async def demo(messages: Sequence[Message], *, delay: float = DEFAULT_TOKEN_DELAY) -> AsyncIterator[str]:
    """A canned answer (picked by the message, so a conversation varies)."""
    text = last_user_message(messages)
    answer = DEMO_ANSWERS[sum(map(ord, text)) % len(DEMO_ANSWERS)]
    async for token in _paced(answer, delay):
        yield token


DEMO_ANSWERS: tuple[str, ...] = (
    """## Streaming Markdown, safely

This answer is **streamed token by token**: the server renders the growing
Markdown, sanitizes it, and sends only what changed. Committed blocks never
change again, so you can *select text* while the rest arrives.

### What happens to each token

1. The engine appends it to the pending text.
2. Blocks that nothing can change any more are **committed**:
   - rendered once with `markdown-it-py`,
   - sanitized once with an allowlist,
   - sent as a `block` event.
3. The rest is the *tail*, previewed and sent as an `append` or `tail` event.

```python
from renderer import MarkdownStream

stream = MarkdownStream()
for chunk in ["# Hel", "lo\\n\\nWor", "ld"]:
    for op in stream.feed(chunk):
        print(op.kind, op.html)
```

| Event | Has an id | Meaning |
|---|:---:|---|
| `block` | yes | append to the committed HTML |
| `tail` | no | replace the in-progress tail |
| `done` | yes | the answer is complete |

Read more about [Server-Sent Events](https://html.spec.whatwg.org/multipage/server-sent-events.html)
or the [CommonMark spec](https://spec.commonmark.org/0.31.2/).
""",
    """## Progressive rendering in three steps

A page does not have to wait for its slowest part:

- **Shell first**: the layout, styles and placeholders go out at once.
- **Slots later**: each slow part is sent as soon as it is ready, in any
  order, and swapped into its placeholder.
- **No script needed** for crawlers: they get the whole page in order.

> The browser shows what it has as soon as it has it. That is what
> *progressive* means.

~~~js
// the client appends parsed nodes; it never concatenates HTML strings
const template = document.createElement("template");
template.innerHTML = policy.createHTML(fragment);
target.append(template.content);
~~~

That is all there is to it. Try the **echo** source to stream your own Markdown.
""",
)

"""Where answers come from: async iterators of text chunks.

``demo`` streams canned answers (no model needed), ``echo`` streams the
user's own message back (to try any Markdown, hostile or not), and
``upstream`` streams from any OpenAI-compatible ``/v1/chat/completions``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from typing import TypedDict

__all__ = ["DEFAULT_TOKEN_DELAY", "DEMO_ANSWERS", "Message", "demo", "echo", "last_user_message", "tokens"]

DEFAULT_TOKEN_DELAY = 0.02
"""Seconds between tokens of the demo and echo sources: about the pace of a
fast hosted model (50 tokens a second)."""

_TOKEN = re.compile(r"\s*\S{1,4}|\s+", re.DOTALL)


class Message(TypedDict):
    """One chat message, as OpenAI's API has them."""

    role: str
    content: str


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
    for token in tokens(text):
        yield token
        await asyncio.sleep(delay)  # 0 still yields to the event loop


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

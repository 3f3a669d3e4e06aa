"""A source of a user's own, named on the command line as ``own_source:shout``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from renderer.server.sources import Message, SourceError, last_user_message

NOT_CALLABLE = "a string is no source"


async def shout(messages: Sequence[Message]) -> AsyncIterator[str]:
    """The user's last message in capitals, a word at a time."""
    text = last_user_message(messages)
    if not text.strip():
        raise SourceError("nothing to shout")
    for word in text.upper().split(" "):
        yield word + " "

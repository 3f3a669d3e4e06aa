"""What goes upstream with a conversation's new message: the system prompt,
the earlier turns that fit the budget (newest kept, oldest dropped first,
whole turns only), and the new message.

Earlier answers go as their Markdown source, exactly as generated, never as
rendered text; their reasoning stays behind unless ``send_reasoning``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .sources import Message

__all__ = ["Exchange", "fit_history", "omitted_notice"]


@dataclass(frozen=True, slots=True)
class Exchange:
    """One earlier turn: the question and the answer's Markdown source."""

    question: str
    answer: str
    reasoning: str = ""


def fit_history(
    exchanges: Sequence[Exchange],
    question: str,
    *,
    budget: int,
    system: str | None = None,
    send_reasoning: bool = False,
) -> tuple[list[Message], int]:
    """The messages to send, and how many earlier turns were left out.

    A turn counts the characters of its question and answer (and reasoning,
    when sent).  Turns are taken newest first while they fit; the first
    that does not ends the history (older ones would leave a gap).  Turns
    without an answer (one that failed before saying anything) are skipped
    and not counted as left out."""
    kept: list[Exchange] = []
    size = 0
    usable = [exchange for exchange in exchanges if exchange.answer.strip()]
    for exchange in reversed(usable):
        cost = len(exchange.question) + len(exchange.answer) + (len(exchange.reasoning) if send_reasoning else 0)
        if size + cost > budget:
            break
        kept.append(exchange)
        size += cost
    kept.reverse()
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    for exchange in kept:
        messages.append({"role": "user", "content": exchange.question})
        answer: Message = {"role": "assistant", "content": exchange.answer}
        if send_reasoning and exchange.reasoning:
            answer["reasoning_content"] = exchange.reasoning
        messages.append(answer)
    messages.append({"role": "user", "content": question})
    return messages, len(usable) - len(kept)


def omitted_notice(omitted: int) -> str | None:
    """The notice an answer opens with when earlier turns were left out."""
    if not omitted:
        return None
    turns = "turn was" if omitted == 1 else "turns were"
    return f"*{omitted} earlier {turns} left out of what the model saw (the history budget).*"

"""Conversations kept by the server, beside the answers' streams (memory or
Redis, expiring ``Config.conversation_ttl`` seconds after their last change).

A conversation is its turns: each the question, the id of the stream that
answers it, and once that stream has ended, the answer as its Markdown
source (never as rendered text), its reasoning kept apart, and its ``done``
reason.  ``POST /api/chat`` with ``"conversation"`` (an id, or ``null`` for a
new one) asks in it: the server builds the history itself
(``renderer.server.history``: system prompt, the turns that fit the budget,
the new message), so a page never sends earlier answers back.  With it:

* ``"message": "..."``: a new turn;
* ``"regenerate": true``: the last turn asked again (its answer replaced);
* ``"edit": N, "message": "..."``: turn N asked anew with this text (turns
  from N on are dropped);
* ``"continue": true``: after an answer cut at the length limit, the model
  is asked to go on (a turn of its own).

``GET /api/conversations/ID`` gives the turns, each with its events URL, so
that a reloaded page replays every answer, and follows one still streaming.

Errors::

    ConversationNotFound (KeyError)    no such conversation, or expired
"""

from __future__ import annotations

import json
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..markdown.render import render_markdown
from .history import Exchange, fit_history, omitted_notice
from .parts import PartWriter
from .sources import Message
from .store.base import StreamNotFound, StreamStore

if TYPE_CHECKING:
    from .handlers import JSONBodyHandler
    from .state import AppState

__all__ = [
    "CONTINUE_PROMPT",
    "Conversation",
    "ConversationNotFound",
    "ConversationStore",
    "MemoryConversations",
    "Plan",
    "RedisConversations",
    "Turn",
    "conversation_store",
    "plan_turn",
    "request_params",
]

CONTINUE_PROMPT = "Continue exactly where your last answer stopped."
"""The message a ``continue`` turn sends."""

PARAM_BOUNDS: Mapping[str, tuple[float, float]] = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}


class ConversationNotFound(KeyError):
    """No such conversation (never created, or expired)."""


@dataclass(slots=True)
class Turn:
    """One question and its answer."""

    question: str
    """What the user asked (for a ``continue`` turn: ``CONTINUE_PROMPT``)."""
    stream: str | None = None
    """The stream that answers it."""
    answer: str = ""
    """The answer's Markdown source, once it has ended."""
    reasoning: str = ""
    """Its reasoning, kept apart (sent back only with ``Config.send_reasoning``)."""
    reason: str | None = None
    """Its ``done`` reason; ``None`` while it is generating."""
    omitted: int = 0
    """Earlier turns left out of what the model saw for it."""
    kind: str = "ask"
    """``ask`` or ``continue``."""


@dataclass(slots=True)
class Conversation:
    id: str
    turns: list[Turn] = field(default_factory=list)
    owner: str = ""
    """Who created it (the principal; "" with authentication off): only
    they may read or continue it, anyone else gets 404."""

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "owner": self.owner, "turns": [asdict(turn) for turn in self.turns]})

    @classmethod
    def from_json(cls, text: str) -> Conversation:
        value = json.loads(text)
        return cls(value["id"], [Turn(**turn) for turn in value["turns"]], value.get("owner", ""))


class ConversationStore(ABC):
    """Where conversations live; each ``save`` restarts its TTL."""

    @abstractmethod
    async def load(self, conversation_id: str) -> Conversation:
        """The conversation; ``ConversationNotFound`` if unknown or expired."""

    @abstractmethod
    async def save(self, conversation: Conversation) -> None: ...

    async def create(self, owner: str = "") -> Conversation:
        conversation = Conversation(secrets.token_urlsafe(12), owner=owner)
        await self.save(conversation)
        return conversation

    async def load_for(self, conversation_id: str, principal: str) -> Conversation:
        """The conversation if ``principal`` owns it; ``ConversationNotFound``
        otherwise (another caller cannot tell it exists)."""
        conversation = await self.load(conversation_id)
        if conversation.owner != principal:
            raise ConversationNotFound(conversation_id)
        return conversation


class MemoryConversations(ConversationStore):
    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._items: dict[str, tuple[float, str]] = {}

    async def load(self, conversation_id: str) -> Conversation:
        now = self._clock()
        for key in [key for key, (expires, _) in self._items.items() if expires <= now]:
            del self._items[key]
        item = self._items.get(conversation_id)
        if item is None:
            raise ConversationNotFound(conversation_id)
        return Conversation.from_json(item[1])

    async def save(self, conversation: Conversation) -> None:
        self._items[conversation.id] = (self._clock() + self._ttl, conversation.to_json())


class RedisConversations(ConversationStore):
    """On the Redis store's own connection: key ``{prefix}conversation:{id}``."""

    def __init__(self, client: Any, prefix: str, ttl: float) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_ms = max(1, int(ttl * 1000))

    def _key(self, conversation_id: str) -> str:
        return f"{self._prefix}conversation:{conversation_id}"

    async def load(self, conversation_id: str) -> Conversation:
        text = await self._redis.get(self._key(conversation_id))
        if text is None:
            raise ConversationNotFound(conversation_id)
        return Conversation.from_json(text if isinstance(text, str) else text.decode())

    async def save(self, conversation: Conversation) -> None:
        await self._redis.set(self._key(conversation.id), conversation.to_json(), px=self._ttl_ms)


def conversation_store(store: StreamStore, ttl: float) -> ConversationStore:
    """Conversations kept where ``store`` keeps streams."""
    if type(store).__name__ == "RedisStore":
        return RedisConversations(store._redis, store._prefix, ttl)  # type: ignore[attr-defined]
    return MemoryConversations(ttl)


def request_params(handler: JSONBodyHandler, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """A request's own ``"params"`` (temperature, top_p, max_tokens), those
    ``Config.request_params`` allows and within bounds; else a 400."""
    params = body.get("params")
    if params is None:
        return None
    config = handler.state.config
    allowed = {name.strip() for name in config.request_params.split(",") if name.strip()}
    if not isinstance(params, dict):
        handler.fail(400, "params must be an object")
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in allowed:
            handler.fail(400, f"params may hold only {', '.join(sorted(allowed)) or 'nothing'}")
        if name == "max_tokens":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= config.max_tokens_limit:
                handler.fail(400, f"max_tokens must be a whole number from 1 to {config.max_tokens_limit}")
        else:
            low, high = PARAM_BOUNDS[name]
            if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
                handler.fail(400, f"{name} must be a number from {low:g} to {high:g}")
        out[name] = value
    return out


@dataclass(slots=True)
class Plan:
    """A conversation request, ready to start: what to send and how to keep it."""

    conversation: Conversation
    messages: list[Message]
    notice: str | None
    source: str

    async def attach(self, state: AppState, stream_id: str) -> None:
        """Record the new turn's stream (before its first reader could ask)."""
        self.conversation.turns[-1].stream = stream_id
        await state.conversations.save(self.conversation)

    def on_end(self, state: AppState) -> Callable[[str, PartWriter, str], Awaitable[None]]:
        conversation_id = self.conversation.id

        async def keep(stream_id: str, writer: PartWriter, reason: str) -> None:
            try:
                conversation = await state.conversations.load(conversation_id)
            except ConversationNotFound:
                return
            for turn in conversation.turns:
                if turn.stream == stream_id:
                    turn.answer, turn.reasoning, turn.reason = writer.answer, writer.reasoning, reason
                    await state.conversations.save(conversation)
                    return

        return keep


def _text(handler: JSONBodyHandler, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        handler.fail(400, "message must be a non-empty string")
    if len(value) > handler.state.config.max_message:
        handler.fail(400, f"the message is longer than {handler.state.config.max_message} characters")
    return value


async def plan_turn(handler: JSONBodyHandler, body: Mapping[str, Any]) -> Plan | None:
    """The plan of a ``"conversation"`` request (``None``: the body has no
    such field, a stateless request); a 400, 404 or 409 for a bad one."""
    if "conversation" not in body:
        return None
    state = handler.state
    conversations = state.conversations
    conversation_id = body["conversation"]
    source = body.get("source", state.config.source)
    if not isinstance(source, str) or source not in state.sources:
        handler.fail(400, f"source must be one of {', '.join(sorted(state.sources))}")
    if conversation_id is None:
        conversation = await conversations.create(handler.principal)
    elif isinstance(conversation_id, str):
        try:
            conversation = await conversations.load_for(conversation_id, handler.principal)
        except ConversationNotFound:
            handler.fail(404, "unknown conversation")
    else:
        handler.fail(400, "conversation must be an id or null")
    turns = conversation.turns
    if turns and turns[-1].reason is None and await _live(state, turns[-1]):
        handler.fail(409, "the conversation's last answer is still generating")
    kind = "ask"
    if body.get("regenerate") is True:
        if not turns:
            handler.fail(400, "nothing to regenerate")
        question, kind = turns[-1].question, turns[-1].kind
        del turns[-1]
    elif body.get("continue") is True:
        if not turns:
            handler.fail(400, "nothing to continue")
        question, kind = CONTINUE_PROMPT, "continue"
    elif "edit" in body:
        index = body["edit"]
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(turns):
            handler.fail(400, "edit must be the number of an earlier turn")
        question = _text(handler, body.get("message"))
        del turns[index:]
    else:
        question = _text(handler, body.get("message"))
    config = state.config
    exchanges = [Exchange(turn.question, turn.answer, turn.reasoning) for turn in turns]
    messages, omitted = fit_history(
        exchanges,
        question,
        budget=config.history_budget,
        system=config.system_prompt,
        send_reasoning=bool(config.send_reasoning),
    )
    turns.append(Turn(question, omitted=omitted, kind=kind))
    return Plan(conversation, messages, omitted_notice(omitted), source)


async def _live(state: AppState, turn: Turn) -> bool:
    """Whether a turn's answer is still generating (its stream may be gone)."""
    if turn.stream is None:
        return False
    try:
        return not await state.store.is_done(turn.stream)
    except StreamNotFound:
        return False


async def describe(state: AppState, conversation: Conversation) -> dict[str, Any]:
    """``GET /api/conversations/ID``: each turn with its events URL, and
    (when its stream has expired) its answer rendered from the kept source."""
    turns = []
    for number, turn in enumerate(conversation.turns):
        item: dict[str, Any] = {
            "turn": number,
            "question": turn.question,
            "kind": turn.kind,
            "reason": turn.reason,
            "omitted": turn.omitted,
            "stream": turn.stream,
            "events": f"/api/streams/{turn.stream}/events" if turn.stream else None,
        }
        if turn.reason is not None:
            item["answer"] = turn.answer  # its Markdown source (the page's "Copy Markdown")
        expired = turn.stream is None
        if turn.stream is not None:
            try:
                await state.store.is_done(turn.stream)
            except StreamNotFound:
                expired = True
        if expired:
            item["events"] = None
            item["html"] = render_markdown(turn.answer)
        turns.append(item)
    return {"id": conversation.id, "turns": turns}

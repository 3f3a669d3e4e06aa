"""``GET /api/conversations/ID`` (a conversation's turns, for a reloaded
page) and ``GET /api/info`` (what the chat page adapts to)."""

from __future__ import annotations

from .conversations import ConversationNotFound, describe
from .handlers import STREAM_ID, JSONHandler
from .state import AppState

__all__ = ["CONVERSATION_PATH", "ConversationHandler", "InfoHandler", "routes"]

CONVERSATION_PATH = rf"/api/conversations/{STREAM_ID}"

DEVELOPER_SOURCES = frozenset({"demo", "echo"})
"""Sources whose page shows the developer controls (source picker, transport)."""


class ConversationHandler(JSONHandler):
    async def get(self, conversation_id: str) -> None:
        try:
            conversation = await self.state.conversations.load_for(conversation_id, self.principal)
        except ConversationNotFound:
            self.fail(404, "unknown conversation")
        self.set_header("Cache-Control", "no-store")
        self.send_json(await describe(self.state, conversation))


class InfoHandler(JSONHandler):
    def get(self) -> None:
        config = self.state.config
        self.set_header("Cache-Control", "no-store")
        self.send_json(
            {
                "source": config.source,
                "sources": sorted(self.state.sources),
                "developer": config.source in DEVELOPER_SOURCES,
                "max_message": config.max_message,
                "request_params": [name.strip() for name in config.request_params.split(",") if name.strip()],
            }
        )


def routes(state: AppState) -> list[tuple[str, type[JSONHandler], dict[str, AppState]]]:
    shared = {"state": state}
    return [(CONVERSATION_PATH, ConversationHandler, shared), (r"/api/info", InfoHandler, shared)]

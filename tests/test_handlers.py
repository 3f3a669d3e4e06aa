"""How the handlers answer the store's errors (``STORE_ERRORS`` in
``renderer/server/handlers.py``, the one place they are mapped): a fixed
JSON message with the right status, never the error's own text, which may
quote client input or name the store's backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from server_fixtures import ServerThread, fetch, finished_stream, run

from renderer.server.config import Config
from renderer.server.store import MemoryStore, StoreUnavailable

CONFIG = Config(token_delay=0)


class DownStore(MemoryStore):
    """A memory store whose reads fail as a store whose server is down."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.down = False

    async def is_done(self, stream_id: str, after: str | None = None) -> bool:
        if self.down:
            raise StoreUnavailable("Redis is unreachable: Connection refused (127.0.0.1:6379)")
        return await super().is_done(stream_id, after)


@pytest.fixture(scope="module")
def store() -> DownStore:
    return DownStore()


@pytest.fixture(scope="module")
def server(store: DownStore) -> Iterator[ServerThread]:
    with ServerThread(CONFIG, store=store) as running:
        yield running


@pytest.fixture(scope="module")
def stream_id(server: ServerThread) -> str:
    return finished_stream(server)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param("/api/streams/{sid}/events", {"Last-Event-ID": "<script>alert(1)</script>"}, id="events-header"),
        pytest.param("/api/streams/{sid}/events?lastEventId=%3Cb%3Ex", {}, id="events-query"),
        pytest.param("/api/streams/{sid}/ndjson", {"Last-Event-ID": "<script>alert(1)</script>"}, id="ndjson"),
        pytest.param("/api/streams/{sid}/poll?after=%3Cb%3Ex", {}, id="poll-after"),
    ],
)
def test_a_malformed_event_id_is_a_400_with_a_fixed_message_that_does_not_echo_it(
    server: ServerThread, stream_id: str, path: str, headers: dict[str, str]
) -> None:
    async def test() -> None:
        response = await fetch(server.url(path.replace("{sid}", stream_id)), headers=headers)
        assert response.code == 400, response.body
        assert response.headers["Content-Type"].split(";")[0] == "application/json"
        assert json.loads(response.body) == {"error": "malformed event id (Last-Event-ID, lastEventId or after)"}
        assert b"<" not in response.body and b"script" not in response.body

    run(test())


def test_an_unreachable_store_is_a_503_with_retry_after_and_no_backend_details(
    server: ServerThread, store: DownStore, stream_id: str
) -> None:
    async def test() -> None:
        store.down = True
        try:
            response = await fetch(server.url(f"/api/streams/{stream_id}/events"))
        finally:
            store.down = False
        assert response.code == 503, response.body
        assert response.headers.get("Retry-After", "").isdigit()
        assert json.loads(response.body) == {"error": "the stream store is unavailable; retry later"}
        assert b"Redis" not in response.body and b"6379" not in response.body

    run(test())

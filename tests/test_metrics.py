"""``/metrics``: Prometheus text from prometheus_client, one registry per app."""

from __future__ import annotations

import asyncio
import json

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families
from server_fixtures import ControlledSource, ServerThread, fetch, post_chat, read_sse, run

from renderer import assemble, render_markdown
from renderer.server.app import make_app
from renderer.server.config import Config
from renderer.server.state import AppState

NAMES = {
    "renderer_open_readers": "gauge",
    "renderer_live_streams": "gauge",
    "renderer_preview_interval_seconds": "gauge",
    "renderer_events_sent": "counter",
    "renderer_slow_readers_cut_off": "counter",
    "renderer_resumes": "counter",
    "renderer_prompt_tokens": "counter",
    "renderer_completion_tokens": "counter",
    "renderer_idle_cancelled": "counter",
}
MESSAGE = "Some *text* to count.\n\nA second paragraph.\n"


def samples(text: str) -> dict[str, float]:
    """Sample name -> value; and every family of NAMES there with its type."""
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert {name: families[name].type for name in NAMES} == NAMES
    return {sample.name: sample.value for family in families.values() for sample in family.samples}


def exposition(state: AppState) -> dict[str, float]:
    return samples(state.metrics.exposition().decode())


def test_each_app_has_its_own_registry_and_the_default_one_has_none() -> None:
    first: AppState = make_app(Config()).state  # type: ignore[attr-defined]
    second: AppState = make_app(Config()).state  # type: ignore[attr-defined]
    first.metrics.readers += 2
    first.metrics.events_sent += 7
    first.metrics.cut_off += 1
    first.metrics.resumes += 3
    assert exposition(first) == {
        "renderer_open_readers": 2,
        "renderer_live_streams": 0,
        "renderer_preview_interval_seconds": 0.1,
        "renderer_events_sent_total": 7,
        "renderer_slow_readers_cut_off_total": 1,
        "renderer_resumes_total": 3,
        "renderer_prompt_tokens_total": 0,
        "renderer_completion_tokens_total": 0,
        "renderer_idle_cancelled_total": 0,
    }
    assert set(exposition(second).values()) == {0, 0.1}  # the preview interval: its base
    assert first.metrics.registry is not second.metrics.registry
    default = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "renderer_" not in default
    first.store.close()
    second.store.close()


def test_metrics_endpoint_counts_readers_streams_events_and_resumes() -> None:
    control = ControlledSource(pause_at=1)
    with ServerThread(Config(token_delay=0), sources={"controlled": control}, interval=0) as server:

        async def scrape() -> dict[str, float]:
            response = await fetch(server.url("/metrics"))
            assert response.code == 200
            assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            return samples(response.body.decode())

        async def test() -> None:
            assert set((await scrape()).values()) == {0}
            stream_id = await post_chat(server, MESSAGE, source="controlled")
            await server.acall(lambda: control.answers[-1].wait_paused())
            # A reader of the live answer reads its first event and leaves.
            first = await read_sse(server.port, f"/api/streams/{stream_id}/events", limit=1)
            assert len(first.events) == 1
            now = await scrape()
            assert now["renderer_live_streams"] == 1
            assert now["renderer_events_sent_total"] >= 1
            await server.acall(control.release_all)
            whole = await read_sse(server.port, f"/api/streams/{stream_id}/events")
            assert assemble(whole.dicts) == render_markdown(MESSAGE)
            await server.until(lambda: server.state.metrics.readers == 0, "the readers to leave")
            ids = [event.id for event in whole.events if event.id is not None]
            assert len(ids) >= 2
            # A resume from an event before the last (after ``done`` it would be a 204).
            again = await read_sse(server.port, f"/api/streams/{stream_id}/events", headers={"Last-Event-ID": ids[0]})
            assert again.status == 200 and again.ended and again.events
            await server.until(lambda: len(server.state.generations) == 0, "the answer to end")
            await server.until(lambda: server.state.metrics.readers == 0, "the readers to leave")
            after = await scrape()
            assert after["renderer_live_streams"] == 0
            assert after["renderer_open_readers"] == 0
            assert after["renderer_resumes_total"] == 1
            sent = len(first.events) + len(whole.events) + len(again.events)
            assert after["renderer_events_sent_total"] == sent
            assert after["renderer_slow_readers_cut_off_total"] == 0
            # The attributes handlers count with read the same numbers.
            metrics = server.state.metrics
            assert await server.acall(lambda: (metrics.events_sent, metrics.resumes)) == (sent, 1)

        run(test())


def test_open_readers_gauge_while_a_reader_follows() -> None:
    control = ControlledSource(pause_at=1)
    with ServerThread(Config(token_delay=0), sources={"controlled": control}, interval=0) as server:

        async def test() -> None:
            stream_id = await post_chat(server, MESSAGE, source="controlled")
            await server.acall(lambda: control.answers[-1].wait_paused())
            reading = asyncio.ensure_future(read_sse(server.port, f"/api/streams/{stream_id}/events"))
            await server.until(lambda: server.state.metrics.readers == 1, "the reader to be counted")
            response = await fetch(server.url("/metrics"))
            assert samples(response.body.decode())["renderer_open_readers"] == 1
            await server.acall(control.release_all)
            done = await reading
            assert json.loads(done.events[-1].data) == {"reason": "complete"}

        run(test())

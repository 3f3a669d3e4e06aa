"""The pytest helper (``renderer.harness.assertions``), used on this
project's own render functions, and shown failing on a weak one."""

from __future__ import annotations

import html
import re

import pytest

from renderer import render_markdown, sanitize
from renderer.harness.assertions import assert_nothing_runs, assert_safe_html, xss_params, xss_payloads
from renderer.harness.corpus import Payload

pytestmark = pytest.mark.filterwarnings("error")


def weak_render(text: str) -> str:
    """Markdown links by regex, everything else as it is."""
    return "<p>" + re.sub(r"\[([^\]]*)\]\(([^)\s]*)\)", r'<a href="\2">\1</a>', text) + "</p>"


def test_render_markdown_lets_nothing_of_the_corpus_run() -> None:
    # The whole corpus, held to this project's own allowlist.
    report = assert_nothing_runs(render_markdown, policy="allowlist")
    assert len(report.outcomes) >= 1000


def test_render_markdown_lets_nothing_run_while_it_streams() -> None:
    assert_nothing_runs(render_markdown, xss_payloads(classes=["split-chunks"], every=4), stream=True)


def test_sanitize_lets_no_event_handler_or_url_scheme_through() -> None:
    assert_nothing_runs(sanitize, classes=["event-handler", "url-scheme"])


@pytest.mark.parametrize("payload", xss_params(classes=["namespace-confusion"], every=10))
def test_each_namespace_confusion_payload_is_safe(payload: Payload) -> None:
    assert_safe_html(render_markdown(payload.text))


def test_a_weak_renderer_fails_with_the_payloads_that_got_through() -> None:
    payloads = [
        Payload("t/link", "[x](javascript:__xss=1)"),
        Payload("t/ok", "fine"),
        Payload("t/img", "<img src=x onerror=__xss=1>"),
    ]
    with pytest.raises(AssertionError) as caught:
        assert_nothing_runs(weak_render, payloads)
    message = str(caught.value)
    assert message.startswith("2 of 3 payloads got through weak_render:")
    assert "FAIL t/link: [x](javascript:__xss=1)" in message
    assert '<a href="javascript:...">' in message and "<img onerror>" in message
    assert "t/ok" not in message


def test_a_renderer_that_escapes_everything_passes() -> None:
    assert_nothing_runs(lambda text: f"<pre>{html.escape(text)}</pre>", classes=["script", "mutation-xss"])


def test_a_renderer_that_raises_fails_as_broken() -> None:
    def broken(text: str) -> str:
        raise ValueError("no")

    with pytest.raises(AssertionError, match=r"error: ValueError: no"):
        assert_nothing_runs(broken, [Payload("t/x", "x")])


def test_assert_safe_html_names_what_it_found() -> None:
    assert_safe_html("<p class=x style='color:red'><img src='data:image/png;base64,AA'></p>")
    with pytest.raises(AssertionError, match=re.escape("dangerous HTML: <svg onload>")):
        assert_safe_html("<svg onload=x>")

"""Targets (``renderer.harness.targets``) and checking them
(``renderer.harness.run``): a command, a URL (the real ``/api/sanitize``,
and a raw echo server), a Python function; streamed states."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from renderer.harness.corpus import Payload
from renderer.harness.run import check_target, cuts, runs_of
from renderer.harness.targets import (
    CommandTarget,
    FunctionTarget,
    PipelineTarget,
    TargetError,
    TargetUnusable,
    UrlTarget,
)
from renderer.server.testing import ServerThread

ROOT = Path(__file__).resolve().parent.parent
WEAK = f"{sys.executable} {ROOT / 'examples' / 'harness' / 'weak_render.py'}"
HOSTILE = [
    Payload("t/img", "<img src=x onerror=__xss=1>"),
    Payload("t/link", "[a](javascript:__xss=1)"),
    Payload("t/fine", "*fine*"),
]


@pytest.fixture(scope="module")
def echo_server() -> Iterator[str]:
    """POST answers the body back as text/html: a renderer that trusts everything."""

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = 500 if body == b"boom" else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/render"
    server.shutdown()
    server.server_close()
    thread.join()


def test_cuts_are_the_whole_payload_and_chunk_boundaries() -> None:
    payload = Payload("t/x", "abcdefg", chunks=("ab", "cdefg"))
    assert cuts(payload, stream=False) == [7]
    assert cuts(payload, stream=True, chunk_size=3) == [2, 3, 6, 7]
    assert runs_of(payload, stream=True, chunk_size=3) == [["abcdefg"], ["abc", "def", "g"], ["ab", "cdefg"]]
    assert runs_of(payload, stream=False) == [["abcdefg"]]


def test_a_weak_command_is_caught_and_the_pipeline_is_not() -> None:
    report = check_target(HOSTILE, CommandTarget(WEAK), jobs=2)
    assert [outcome.worst for outcome in report.outcomes] == ["disallowed", "disallowed", "clean"]
    assert report.outcomes[1].problems[0].found == ['<a href="javascript:...">']
    assert report.target == f"command: {WEAK}"
    clean = check_target(HOSTILE, PipelineTarget("bleach"), stream=True)
    assert not clean.failed and clean.outcomes[0].states > 1


def test_streaming_checks_every_prefix_a_re_rendering_page_shows() -> None:
    # Whole, the output is escaped; one prefix shows a live handler.
    def render(text: str) -> str:
        return "<img src=x onerror=y>" if text == "<b" else "<p>" + text.replace("<", "&lt;") + "</p>"

    payload = [Payload("t/p", "<b>x</b>")]
    assert not check_target(payload, FunctionTarget(render)).failed
    streamed = check_target(payload, FunctionTarget(render), stream=True)
    assert streamed.failed
    assert streamed.outcomes[0].problems[0].route == "prefix 2"


def test_a_command_that_fails_breaks_on_the_payload() -> None:
    script = "import sys; t = sys.stdin.read(); sys.exit(3 if 'x' in t else 0)"
    report = check_target([Payload("t/x", "x"), Payload("t/y", "y")], CommandTarget(f'{sys.executable} -c "{script}"'))
    assert report.outcomes[0].error == "exit status 3"
    assert report.outcomes[0].worst == "error" and report.outcomes[1].worst == "clean"
    assert report.failed


@pytest.mark.parametrize(
    ("command", "message"),
    [
        pytest.param("", "--command is empty", id="empty"),
        pytest.param("no-such-renderer-here --x", "'no-such-renderer-here' not found", id="missing"),
        pytest.param("'unclosed", "No closing quotation", id="quote"),
    ],
)
def test_unusable_commands_are_refused_at_once(command: str, message: str) -> None:
    with pytest.raises(TargetUnusable, match=message):
        CommandTarget(command)


def test_a_url_target_posts_json_to_the_real_sanitize_api() -> None:
    with ServerThread() as server:
        target = UrlTarget(server.url("/api/sanitize"), request_field="markdown", response_field="html")
        assert target.render("**b** <img src=x onerror=y>") == '<p dir="auto"><strong>b</strong> <img src="x"></p>\n'
        report = check_target(HOSTILE, target, stream=True, chunk_size=4)
        assert not report.failed and report.outcomes[0].states >= 2
        broken = UrlTarget(server.url("/api/sanitize"), request_field="text")
        with pytest.raises(TargetError, match="HTTP 400"):
            broken.render("x")


def test_a_url_target_can_post_raw_text_and_read_the_body(echo_server: str) -> None:
    target = UrlTarget(echo_server, request_field="", response_field="")
    report = check_target(HOSTILE, target)
    assert [outcome.worst for outcome in report.outcomes] == ["disallowed", "clean", "clean"]
    with pytest.raises(TargetError, match="HTTP 500"):
        target.render("boom")


def test_a_url_must_be_http() -> None:
    with pytest.raises(TargetUnusable, match="http or https URL"):
        UrlTarget("file:///etc/passwd")


def test_a_lone_surrogate_reaches_a_command_as_a_replacement_character() -> None:
    script = "import sys; sys.stdout.write(repr(sys.stdin.buffer.read().decode('utf-8')))"
    target = CommandTarget(f'{sys.executable} -c "{script}"')
    assert target.render("a\ud800b") == repr("a\ufffdb")

"""One place for every setting: ``Config``, its flags, its environment
variables, and the table in docs/configuration.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from renderer import render_markdown
from renderer.__main__ import build_parser
from renderer.server.config import Config, config_from_env, markdown_table, settings
from renderer.server.state import default_sources

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
TIMEOUT = 30


def serve_help() -> str:
    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    serve: argparse.ArgumentParser = commands.choices["serve"]
    return serve.format_help()


def test_every_setting_is_a_flag_of_serve_with_its_environment_variable() -> None:
    text = serve_help()
    for name in settings():
        flag = "--" + name.replace("_", "-")
        assert re.search(rf"^  {flag}\b", text, re.M), flag
        assert "RENDERER_" + name.upper() in text.replace("\n", " ").replace(" ", ""), name


def test_the_docs_table_is_made_from_config() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = docs.split("<!-- settings:start -->\n", 1)[1].split("<!-- settings:end -->", 1)[0]
    assert table == markdown_table()


def test_the_defaults_are_defined_once_in_config() -> None:
    # The command line passes nothing it was not given: Config's defaults hold.
    parser = build_parser()
    args = parser.parse_args(["serve"])
    assert all(getattr(args, name) is None for name in settings())
    assert config_from_env({}) == Config()


def test_environment_variables_set_values_and_overrides_win() -> None:
    env = {"RENDERER_PORT": "9001", "RENDERER_MAX_STREAMS": "7", "RENDERER_TTL": "1.5", "OPENAI_API_KEY": "k1"}
    config = config_from_env(env, max_streams=9)
    assert (config.port, config.max_streams, config.ttl, config.api_key) == (9001, 9, 1.5, "k1")
    assert config_from_env({**env, "RENDERER_API_KEY": "k2"}).api_key == "k2"


def test_the_api_key_is_never_shown() -> None:
    config = Config(api_key="sk-secret")
    assert "sk-secret" not in repr(config)
    assert "sk-secret" not in markdown_table()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"RENDERER_PORT": "eighty"}, "RENDERER_PORT: port must be a whole number, got 'eighty'", id="text"
        ),
        pytest.param({"RENDERER_PORT": "70000"}, "port must be between 0 and 65535, got 70000", id="range"),
        pytest.param({"RENDERER_TTL": "nan"}, "ttl must be a finite number, got nan", id="nan"),
        pytest.param({"RENDERER_HEARTBEAT": "0"}, "heartbeat must be at least 0.01, got 0", id="zero"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        config_from_env(env)


def run_serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "renderer", "serve", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}", **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        pytest.param(["--port", "x"], {}, "port must be a whole number", id="flag"),
        pytest.param([], {"RENDERER_MAX_PENDING": "0"}, "max_pending must be at least 1", id="env"),
        pytest.param(["--source", "nowhere_at_all:answer"], {}, "cannot import 'nowhere_at_all'", id="no-module"),
        pytest.param(["--source", "own_source:whisper"], {}, "'own_source' has no 'whisper'", id="no-callable"),
        pytest.param(["--source", "own_source:NOT_CALLABLE"], {}, "is not callable", id="not-callable"),
        pytest.param(["--source", "mine"], {}, "unknown source 'mine' (this server has demo, echo)", id="unknown"),
        pytest.param(["--source", "upstream"], {}, "--source upstream needs --upstream URL", id="no-upstream"),
    ],
)
def test_serve_refuses_bad_settings_in_one_line(args: list[str], env: dict[str, str], message: str) -> None:
    result = run_serve(*args, env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_a_source_of_ones_own_by_module_and_callable() -> None:
    """``--source own_source:shout`` streams through the real server."""
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "renderer",
            "serve",
            "--port",
            "0",
            "--token-delay",
            "0",
            "--source",
            "own_source:shout",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"serving on (http://\S+)/ \(source own_source:shout", line)
        assert match, line
        request = urllib.request.Request(
            match.group(1) + "/api/chat",
            data=json.dumps({"message": "hello *there*"}).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/x-ndjson"},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            events_path = json.load(response)["events"]
        with urllib.request.urlopen(match.group(1) + events_path.replace("/events", "/ndjson"), timeout=TIMEOUT) as r:
            events = [json.loads(line) for line in r.read().decode().splitlines()]
        process.terminate()
        assert process.wait(TIMEOUT) == 0
    html = "".join(e["data"] for e in events if e["event"] in ("block",))
    assert events[-1]["event"] == "done" and json.loads(events[-1]["data"])["reason"] == "complete"
    assert html == render_markdown("HELLO *THERE* ")


def test_config_fields_all_have_settings() -> None:
    assert [f.name for f in dataclasses.fields(Config)] == list(settings())


def test_default_sources_follow_the_config() -> None:
    assert sorted(default_sources(Config())) == ["demo", "echo"]
    with_upstream = default_sources(Config(upstream="http://127.0.0.1:9/v1", source="own_source:shout"))
    assert sorted(with_upstream) == ["demo", "echo", "own_source:shout", "upstream"]

"""The command line, run the way scripts run it: ``python -m renderer`` in a subprocess.

A subprocess, not main() in-process, because what scripts rely on is the
process's bytes on stdout, its stderr and its exit status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from renderer import assemble, render_markdown, sanitize
from renderer.__main__ import main
from renderer.sanitizer.clean import clean

ROOT = Path(__file__).resolve().parent.parent

DOC = """\
# Streaming *Markdown*

A paragraph with a [link](https://example.org/a?b=1&c=2), `code` and **bold**.
Non-ASCII too: café, 日本語, emoji 🎉.

- one
- two
  with a lazy line

```python
def f(x):
    return x < 1 and "<b>"
```

> a quote <script>alert(1)</script>

1. first
2. second

Setext heading
--------------

Last paragraph, no trailing newline"""

HOSTILE_HTML = '<p onclick="steal()">Hi <a href="javascript:alert(1)">there</a></p><script>alert(1)</script>'


def run_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m renderer ARGS`` from the repository root, bytes in and out."""
    return subprocess.run(
        [sys.executable, "-m", "renderer", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )


def printed(html: str) -> str:
    """What the CLI prints for some HTML: the HTML, ending in exactly one newline if not empty."""
    return html if not html or html.endswith("\n") else html + "\n"


@pytest.fixture
def doc_file(tmp_path: Path) -> Path:
    path = tmp_path / "doc.md"
    path.write_bytes(DOC.encode("utf-8"))
    return path


def test_render_prints_the_same_html_as_render_markdown(doc_file: Path) -> None:
    result = run_cli("render", str(doc_file))
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert result.stdout.decode("utf-8") == printed(render_markdown(DOC))


@pytest.mark.parametrize("args", [pytest.param((), id="no-file"), pytest.param(("-",), id="dash")])
def test_render_reads_standard_input(args: tuple[str, ...]) -> None:
    result = run_cli("render", *args, stdin=DOC.encode("utf-8"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == printed(render_markdown(DOC))


def test_render_keeps_crlf_line_endings_as_the_engine_sees_them(tmp_path: Path) -> None:
    text = "# Title\r\n\r\nline one\r\nline two\r\n"
    path = tmp_path / "crlf.md"
    path.write_bytes(text.encode("utf-8"))
    result = run_cli("render", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == printed(render_markdown(text))


def parse_events(stdout: bytes) -> list[dict[str, str]]:
    """Every line of --events output is one JSON object with exactly kind and html."""
    lines = stdout.decode("utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    for event in events:
        assert set(event) == {"kind", "html"}
        assert isinstance(event["kind"], str) and isinstance(event["html"], str)
    return events


def as_sse(events: list[dict[str, str]]) -> list[dict[str, str]]:
    """The same ops in the SSE-event shape that assemble() also accepts."""
    return [{"event": e["kind"], "data": e["html"]} for e in events]


@pytest.mark.parametrize(
    "chunk_args",
    [
        pytest.param((), id="default-chunk-size"),
        pytest.param(("--chunk-size", "1"), id="chunk-size-1"),
        pytest.param(("--chunk-size", "7"), id="chunk-size-7"),
        pytest.param(("--chunk-size", str(len(DOC) + 10)), id="one-chunk"),
    ],
)
def test_render_events_assemble_to_render_markdown(doc_file: Path, chunk_args: tuple[str, ...]) -> None:
    result = run_cli("render", str(doc_file), "--events", *chunk_args)
    assert result.returncode == 0, result.stderr
    events = parse_events(result.stdout)
    assert events, "a non-empty document gives at least one op"
    assert assemble(as_sse(events)) == render_markdown(DOC)


def test_render_events_from_standard_input() -> None:
    result = run_cli("render", "--events", "--chunk-size", "3", stdin=DOC.encode("utf-8"))
    assert result.returncode == 0, result.stderr
    assert assemble(as_sse(parse_events(result.stdout))) == render_markdown(DOC)


def test_render_of_empty_input_matches_render_markdown() -> None:
    result = run_cli("render")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == printed(render_markdown(""))
    events = run_cli("render", "--events")
    assert events.returncode == 0, events.stderr
    assert assemble(as_sse(parse_events(events.stdout))) == render_markdown("")


def test_sanitize_prints_the_default_policy_output(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HOSTILE_HTML, encoding="utf-8")
    result = run_cli("sanitize", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode("utf-8")
    assert out == printed(sanitize(HOSTILE_HTML))
    assert "<script" not in out and "onclick" not in out and "javascript:" not in out


def test_sanitize_json_reports_html_and_what_was_removed() -> None:
    result = run_cli("sanitize", "--json", stdin=HOSTILE_HTML.encode("utf-8"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(b"\n") == 1, "one JSON document on one line"
    payload = json.loads(result.stdout)
    assert set(payload) == {"html", "removed"}
    expected = clean(HOSTILE_HTML)
    assert payload["html"] == expected.html == sanitize(HOSTILE_HTML)
    assert isinstance(payload["removed"], list) and payload["removed"]
    assert payload["removed"] == expected.removed


def test_output_is_utf8_whatever_the_locale_says(doc_file: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PYTHONIOENCODING": "ascii", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "renderer", "render", str(doc_file)],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == printed(render_markdown(DOC))


def test_help_names_both_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    out = result.stdout.decode()
    assert "render" in out and "sanitize" in out


@pytest.mark.parametrize(
    ("command", "option"), [("render", "--chunk-size"), ("render", "--events"), ("sanitize", "--json")]
)
def test_each_command_documents_its_options(command: str, option: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert option in result.stdout.decode()


BAD_INPUTS = [
    # (arguments, with {tmp} for a folder holding the files below; stdin; a fragment of the error line)
    pytest.param(["render", "{tmp}/nope.md"], b"", "No such file or directory", id="missing-file"),
    pytest.param(
        ["sanitize", "--json", "{tmp}/nope.html"], b"", "No such file or directory", id="missing-file-sanitize"
    ),
    pytest.param(["render", "{tmp}/a-directory"], b"", "Is a directory", id="directory"),
    pytest.param(["render", "{tmp}/latin1.md"], b"", "UTF-8", id="invalid-utf8-file"),
    pytest.param(["render", "--events", "{tmp}/truncated.md"], b"", "UTF-8", id="truncated-utf8-events"),
    pytest.param(["sanitize"], b"\xff\xfe<b>x</b>", "UTF-8", id="invalid-utf8-stdin"),
    pytest.param(["render", "--chunk-size", "0"], b"# hi\n", "--chunk-size", id="chunk-size-0"),
    pytest.param(["render", "--chunk-size=-3"], b"# hi\n", "--chunk-size", id="chunk-size-negative"),
    pytest.param(["render", "--chunk-size", "four"], b"# hi\n", "--chunk-size", id="chunk-size-not-a-number"),
    pytest.param(["frobnicate"], b"", "frobnicate", id="unknown-command"),
    pytest.param([], b"", "required", id="no-command"),
    pytest.param(["render", "--colour"], b"", "--colour", id="unknown-option"),
]


@pytest.mark.parametrize(("args", "stdin", "fragment"), BAD_INPUTS)
def test_bad_input_gives_one_error_line_and_exit_status_2(
    tmp_path: Path, args: list[str], stdin: bytes, fragment: str
) -> None:
    (tmp_path / "latin1.md").write_bytes(b"caf\xe9\n")
    (tmp_path / "truncated.md").write_bytes(b"ok \xe2\x82")
    (tmp_path / "a-directory").mkdir()
    result = run_cli(*(arg.format(tmp=tmp_path) for arg in args), stdin=stdin)
    err = result.stderr.decode("utf-8")
    assert result.returncode == 2, err
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, f"one line expected, got {err!r}"
    assert err.startswith("renderer: error: ")
    assert fragment in err
    assert result.stdout == b"", "nothing is printed before an input error"


def test_missing_file_error_names_the_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "x.md")
    result = run_cli("render", missing)
    assert result.stderr.decode() == f"renderer: error: cannot read {missing!r}: No such file or directory\n"


@pytest.mark.parametrize("python_flags", [pytest.param([], id="buffered"), pytest.param(["-u"], id="unbuffered")])
def test_a_closed_stdout_pipe_ends_quietly(tmp_path: Path, python_flags: list[str]) -> None:
    # More output than a pipe holds (64 KiB), so the writer meets the closed pipe.
    path = tmp_path / "big.md"
    path.write_text("".join(f"Paragraph {i} with *some* text.\n\n" for i in range(4_000)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(
        [sys.executable, *python_flags, "-m", "renderer", "render", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b'<p dir="auto">')
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1, "status 1: not all the output was written"
    assert err == b"", err.decode(errors="replace")


def test_main_returns_the_exit_status_instead_of_exiting(doc_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(doc_file)]) == 0
    assert capsys.readouterr().out == printed(render_markdown(DOC))
    assert main(["render", "--chunk-size", "0"]) == 2
    assert capsys.readouterr().err.startswith("renderer: error: argument --chunk-size")

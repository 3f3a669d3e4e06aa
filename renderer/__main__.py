"""The command line: ``python -m renderer serve|render|sanitize|xss-check``.

Scripts call this, so it keeps two promises: what it prints is UTF-8
whatever the locale says (HTML in, HTML out), and bad input ends with one
line on standard error and exit status 2, never a traceback. Exit statuses:

    0  done
    1  standard output was closed early (``... | head``); no message
    2  bad arguments or unreadable input
    3  xss-check found an execution or a disallowed output (after its report)
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from . import MarkdownStream, render_markdown, sanitize
from .sanitizer.clean import clean

PROG = "renderer"
DEFAULT_CHUNK_SIZE = 4

EXIT_OK = 0
EXIT_BROKEN_PIPE = 1
EXIT_USAGE = 2
EXIT_CHECK_FAILED = 3
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad arguments or input: reported as one line, exit status 2."""


class CheckFailed(Exception):
    """Raised by a command's lines after its report: exit status 3."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, so scripts can log them.

    argparse prints the whole usage before the error by default; the usage
    is one ``--help`` away and would make stderr several lines long.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _number(convert: Callable[[str], float], what: str, low: float, high: float = math.inf) -> Callable[[str], Any]:
    """An argparse type: ``convert`` the value and keep it in ``[low, high]``
    (finite), with a one-line message otherwise."""

    def parse(value: str) -> float:
        try:
            number = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}") from None
        if not low <= number <= high or number == math.inf:
            bounds = f"at least {low}" if high == math.inf else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return number

    return parse


# A zero-sized chunk would never advance the text.
_chunk_size = _number(int, "a whole number >= 1", 1)
_jobs = _number(int, "a whole number >= 1", 1)


def _add_settings(parser: argparse.ArgumentParser) -> None:
    """One flag per ``Config`` field; the values stay text until ``_run_serve``
    (a flag wins over ``RENDERER_*``, and both are checked by ``Config``)."""
    from .server.config import Config, env_names, settings

    defaults = Config()
    for name, setting in settings().items():
        default = getattr(defaults, name)
        shown = "" if setting.secret or default is None else f"; default {default}"
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            default=None,
            metavar=setting.metavar or name.split("_")[-1].upper(),
            help=f"{setting.help} (env {env_names(name)[0]}{shown})",
        )


def build_parser() -> argparse.ArgumentParser:
    """The parser, built apart from main() so the help text can be tested."""
    parser = _Parser(
        prog=PROG,
        description="Render Markdown to sanitized HTML, or sanitize HTML, from a file or stdin.",
        epilog=(
            "examples:\n"
            "  python -m renderer render README.md > readme.html\n"
            "  echo '# Hi' | python -m renderer render --events --chunk-size 1\n"
            "  python -m renderer sanitize --json page.html\n"
            "\n"
            "Input must be UTF-8; output is UTF-8. Bad input exits with status 2."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    render = commands.add_parser(
        "render",
        help="Markdown -> sanitized HTML (or the ops of the streaming engine)",
        description=(
            "Print the sanitized HTML of a Markdown document. With --events, feed the\n"
            "document to the streaming engine in chunks and print each op it emits\n"
            'as one JSON object a line: {"kind": "block", "html": "..."}.\n'
            "Applying the ops in order (renderer.assemble) gives the same HTML as\n"
            "plain `render`."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    render.add_argument("file", nargs="?", metavar="FILE", help="Markdown file (default or '-': stdin)")
    render.add_argument(
        "--chunk-size",
        type=_chunk_size,
        default=DEFAULT_CHUNK_SIZE,
        metavar="N",
        help=f"characters per chunk fed to the engine with --events (default {DEFAULT_CHUNK_SIZE})",
    )
    render.add_argument(
        "--events", action="store_true", help="print the engine's ops as JSON lines instead of the final HTML"
    )
    render.set_defaults(run=_run_render)

    sanitize_cmd = commands.add_parser(
        "sanitize",
        help="untrusted HTML -> HTML that passes the default allowlist",
        description=(
            "Print HTML cleaned by the default policy. With --json, print\n"
            '{"html": "...", "removed": [...]} to see what the policy took out.'
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sanitize_cmd.add_argument("file", nargs="?", metavar="FILE", help="HTML file (default or '-': stdin)")
    sanitize_cmd.add_argument("--json", action="store_true", help='print {"html": ..., "removed": [...]}')
    sanitize_cmd.set_defaults(run=_run_sanitize)

    serve = commands.add_parser(
        "serve",
        help="run the streaming server (chat API, SSE, demo pages)",
        description=(
            "Serve the chat API and pages until SIGINT or SIGTERM. Works with no model\n"
            "and no Redis: the demo source streams canned answers, the memory store\n"
            "keeps the streams. Every setting is also an environment variable\n"
            "(RENDERER_ and the flag's name: --max-streams is RENDERER_MAX_STREAMS);\n"
            "a flag wins over the variable. The API key is read from RENDERER_API_KEY\n"
            "or OPENAI_API_KEY.\n"
            "\n"
            "--source also takes a source of your own as package.module:callable: a\n"
            "callable taking the messages and returning an async iterator of text."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_settings(serve)
    serve.set_defaults(run=_run_serve)

    xss_check = commands.add_parser(
        "xss-check",
        help="prove that no payload of a corpus gets script to run through the pipeline",
        description=(
            "Feed every payload of CORPUS (default: the shipped corpus, 590+ payloads)\n"
            "through the pipeline as Markdown (one-shot, and streamed: whole, every\n"
            "2-way split, 1-character chunks) and as HTML (every prefix), and check\n"
            "every intermediate and final HTML against the allowlist. With --browser,\n"
            "also show the streamed output through the real page, client code and CSP\n"
            "in headless Chromium, and class each payload as clean, blocked (by the\n"
            "CSP), disallowed (the client had to remove something) or executed.\n"
            "Prints a table; exits 3 on any execution or disallowed output.\n"
            "\n"
            "CORPUS: JSON Lines (.jsonl, .ndjson), each line a JSON string or\n"
            '{"name": "group/name", "payload": "..."}; any other file: one payload\n'
            "a line. Payloads that try to run script should set window.__xss."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    xss_check.add_argument(
        "corpus",
        nargs="?",
        metavar="CORPUS",
        help="corpus file ('-': stdin, one payload a line; default: the shipped corpus)",
    )
    xss_check.add_argument("--browser", action="store_true", help="also run the payloads in headless Chromium")
    xss_check.add_argument(
        "--sanitizer", choices=("bleach", "nh3"), default="bleach", help="sanitizer backend (default bleach)"
    )
    xss_check.add_argument(
        "--format", choices=("jsonl", "lines"), default=None, help="CORPUS format (default: by its extension)"
    )
    xss_check.add_argument(
        "--depth",
        choices=("full", "chars", "one-shot"),
        default="full",
        help="chunkings streamed: all (full, the default), whole and 1-character only (chars: for long payloads), whole only",
    )
    xss_check.add_argument(
        "--jobs",
        type=_jobs,
        default=os.cpu_count() or 1,
        metavar="N",
        help="processes for the static check (default: one per CPU)",
    )
    xss_check.set_defaults(run=_run_xss_check)
    return parser


def _run_serve(args: argparse.Namespace) -> Iterator[str]:
    """Run the server in the foreground; it prints its own lines."""
    import asyncio

    from .server.access import check_exposure
    from .server.app import MEMORY_WORKERS_ERROR, make_app, serve, serve_workers
    from .server.config import config_from_env, parse_value, settings

    try:
        flags = {name: parse_value(name, text) for name in settings() if (text := getattr(args, name)) is not None}
        config = config_from_env(os.environ, **flags)
        if config.source == "upstream" and not config.upstream:
            raise ValueError("--source upstream needs --upstream URL (or RENDERER_UPSTREAM)")
        if config.workers > 1 and config.store == "memory":
            raise ValueError(MEMORY_WORKERS_ERROR)
        check_exposure(config)
        make_app(config).state.store.close()  # type: ignore[attr-defined]  # a bad store URL or source fails here, in one line
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        if config.workers == 1:
            asyncio.run(serve(config))
        else:
            serve_workers(config)  # a worker that failed has said so on stderr
    except OSError as error:
        raise UsageError(f"cannot listen on {config.host}:{config.port}: {error.strerror or error}") from None
    return iter(())


def read_text(path: str | None) -> str:
    """Read FILE (or stdin for None/'-') as bytes and decode UTF-8 strictly.

    Bytes, not text mode: text mode would follow the locale and translate
    newlines, so the same file could render differently on two machines.
    """
    name = "<stdin>" if path in (None, "-") else repr(path)
    try:
        if path in (None, "-"):
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        raise UsageError(f"cannot read {name}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"cannot read {name}: not valid UTF-8 at byte {e.start} ({e.reason})") from None


def _with_newline(html: str) -> str:
    """The HTML as printed: unchanged, plus a final newline if it lacks one."""
    return html if not html or html.endswith("\n") else html + "\n"


def _event_lines(text: str, chunk_size: int) -> Iterator[str]:
    """Feed text to a fresh engine in chunks; yield one JSON line per op."""
    stream = MarkdownStream()
    for start in range(0, len(text), chunk_size):
        for op in stream.feed(text[start : start + chunk_size]):
            yield _op_line(op.kind, op.html)
    for op in stream.close():
        yield _op_line(op.kind, op.html)


def _op_line(kind: str, html: str) -> str:
    return json.dumps({"kind": kind, "html": html}, ensure_ascii=False) + "\n"


def _run_render(args: argparse.Namespace) -> Iterator[str]:
    text = read_text(args.file)
    if args.events:
        return _event_lines(text, args.chunk_size)
    return iter([_with_newline(render_markdown(text))])


def _run_sanitize(args: argparse.Namespace) -> Iterator[str]:
    text = read_text(args.file)
    if not args.json:
        return iter([_with_newline(sanitize(text))])
    result = clean(text)
    payload = {"html": result.html, "removed": result.removed}
    return iter([json.dumps(payload, ensure_ascii=False) + "\n"])


def _run_xss_check(args: argparse.Namespace) -> Iterator[str]:
    from .harness import xss

    try:
        if args.corpus == "-":
            payloads = xss.parse_corpus(read_text("-"), format=args.format or "lines", source="<stdin>")
        else:
            payloads = xss.load_corpus(args.corpus, format=args.format)
        xss.make_sanitizer(args.sanitizer)
        if args.browser:
            xss.check_browser([])  # Playwright and Chromium are there, or a one-line error now
    except (xss.CorpusError, xss.BackendUnavailable) as error:
        raise UsageError(str(error)) from None
    corpus = {None: "shipped corpus", "-": "<stdin>"}.get(args.corpus, repr(args.corpus))
    try:
        report = xss.check(
            payloads, args.sanitizer, browser=args.browser, corpus=corpus, depth=args.depth, jobs=args.jobs
        )
    except xss.BackendUnavailable as error:
        raise UsageError(str(error)) from None
    return _report_lines(xss.format_report(report), report.failed)


def _report_lines(lines: list[str], failed: bool) -> Iterator[str]:
    yield from (line + "\n" for line in lines)
    if failed:
        raise CheckFailed


def _write(chunk: str) -> None:
    """Write UTF-8 to stdout whatever its text encoding says.

    Loops because under ``python -u`` (or PYTHONUNBUFFERED) stdout's binary
    layer is a raw file whose write() may write only part of the data, for
    instance when the reader goes away, and the rest would be lost silently.
    """
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # replaced by a plain text stream (io.StringIO in a caller's test)
        sys.stdout.write(chunk)
        return
    data = memoryview(chunk.encode("utf-8"))
    while data:
        written = buffer.write(data)
        data = data[written or 0 :]


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's exit flush cannot fail again.

    Without this, Python prints "Exception ignored ... BrokenPipeError" at
    shutdown (see the signal module docs, "Note on SIGPIPE").
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status instead of exiting."""
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # --help: argparse has printed it and exits 0
            sys.stdout.flush()  # here, where a closed pipe is still caught
            return e.code if isinstance(e.code, int) else EXIT_OK
        # Input errors surface before anything is printed: commands read all
        # input first, and their lines are produced lazily after that.
        lines = args.run(args)
        for line in lines:
            _write(line)
        sys.stdout.flush()
    except UsageError as e:
        message = " ".join(str(e).splitlines())  # one line, even for odd file names
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except CheckFailed:
        sys.stdout.flush()
        return EXIT_CHECK_FAILED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

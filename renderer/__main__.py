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
_seconds = _number(float, "a number of seconds", 0.001)


class _TargetAction(argparse.Action):
    """Collects target flags in order as ``(kind, value)``: two make a diff."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        kind = (option or "").removeprefix("--")
        previous = getattr(namespace, self.dest, None) or []
        setattr(namespace, self.dest, [*previous, (kind, values if isinstance(values, str) else "")])


def _corpus_classes() -> list[str]:
    from .harness.corpus import CLASSES

    return list(CLASSES)


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
        help="prove that no payload of a corpus gets script to run, through this pipeline or any renderer",
        description=(
            "Feed every payload of CORPUS (default: the shipped corpus, 1000+ payloads)\n"
            "to a target and check every HTML it shows. Without a target flag the\n"
            "target is this project's pipeline: as Markdown (one-shot, and streamed:\n"
            "whole, every 2-way split, 1-character chunks) and as HTML (every prefix),\n"
            "every intermediate and final HTML checked against the allowlist; with\n"
            "--browser also shown through the real page, client code and CSP in\n"
            "headless Chromium, each payload classed clean, blocked (by the CSP),\n"
            "disallowed (something outside the allowlist reached the DOM) or executed.\n"
            "\n"
            "Other targets (their HTML is held to the danger rules: no script, no\n"
            "event handler, no javascript: URL...; see docs/harness.md):\n"
            "  --command CMD   the payload on CMD's standard input, HTML on its output\n"
            "  --url URL       the payload POSTed as JSON {FIELD: text}, HTML in the answer\n"
            "  --js MODULE     an ES module exporting render(text) or mount(element),\n"
            "                  run in Chromium (always), bare imports from --node-modules\n"
            "  --pipeline      this project's pipeline, as a target (for --diff)\n"
            "Two target flags compare the targets side by side (differential mode).\n"
            "--stream feeds each payload in chunks and checks every intermediate state.\n"
            "\n"
            "CORPUS: JSON Lines (.jsonl, .ndjson), each line a JSON string or\n"
            '{"name": "group/name", "payload": "...", "classes": [...], "source": "..."};\n'
            "any other file: one payload a line. Payloads that try to run script\n"
            "should set window.__xss.\n"
            "\n"
            "exit status: 0 every payload passed; 2 bad arguments, unreadable corpus,\n"
            "unusable target or missing browser; 3 something executed, reached the\n"
            "DOM that must not, or broke the target (the report says which)."
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
    targets = xss_check.add_argument_group("targets (default: this project's pipeline)")
    for flag, metavar, text in (
        ("--command", "CMD", "a command: payload on stdin, HTML on stdout (split like a shell, run without one)"),
        ("--url", "URL", "an HTTP endpoint: payload POSTed, HTML in the answer"),
        ("--js", "MODULE", "an ES module exporting render(text) -> html or mount(element) -> writer"),
    ):
        targets.add_argument(flag, action=_TargetAction, metavar=metavar, dest="targets", default=[], help=text)
    targets.add_argument(
        "--pipeline", action=_TargetAction, nargs=0, dest="targets", help="this project's pipeline as a target"
    )
    targets.add_argument(
        "--request-field",
        default="text",
        metavar="NAME",
        help="--url: JSON field of the payload ('' : raw text body; default text)",
    )
    targets.add_argument(
        "--response-field",
        default="html",
        metavar="NAME",
        help="--url: JSON field of the HTML ('' : the whole body; default html)",
    )
    targets.add_argument(
        "--node-modules", metavar="DIR", help="--js: where bare imports resolve (default: the nearest node_modules)"
    )
    targets.add_argument(
        "--timeout", type=_seconds, default=30.0, metavar="SECONDS", help="--command, --url: per render (default 30)"
    )
    targets.add_argument(
        "--stream", action="store_true", help="targets: feed chunks and check every intermediate state"
    )
    targets.add_argument(
        "--chunk-size", type=_chunk_size, default=1, metavar="N", help="--stream: characters per chunk (default 1)"
    )
    outputs = xss_check.add_argument_group("selection and outputs")
    outputs.add_argument(
        "--class",
        dest="classes",
        action="append",
        default=[],
        metavar="CLASS",
        help="only payloads of this class (repeatable): " + ", ".join(_corpus_classes()),
    )
    outputs.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    outputs.add_argument("--junit", metavar="FILE", help="also write the report as JUnit XML to FILE")
    outputs.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report to FILE")
    outputs.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a progress bar on stderr (default: when stderr is a terminal)",
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
    from .harness.corpus import select
    from .harness.targets import TargetUnusable

    if len(args.targets) > 2:
        raise UsageError("at most two targets (two compare them side by side)")
    try:
        if args.corpus == "-":
            payloads = xss.parse_corpus(read_text("-"), format=args.format or "lines", source="<stdin>")
        else:
            payloads = xss.load_corpus(args.corpus, format=args.format)
        xss.make_sanitizer(args.sanitizer)
        targets = [_make_target(kind, value, args) for kind, value in args.targets]
        if args.browser or any(kind == "js" for kind, _ in args.targets):
            xss.check_browser([])  # Playwright and Chromium are there, or a one-line error now
    except (xss.CorpusError, xss.BackendUnavailable, TargetUnusable) as error:
        raise UsageError(str(error)) from None
    if args.classes:
        payloads = select(payloads, args.classes)
        if not payloads:
            raise UsageError(f"no payload of class {', '.join(args.classes)} in the corpus")
    corpus = {None: "shipped corpus", "-": "<stdin>"}.get(args.corpus, repr(args.corpus))
    if args.classes:
        corpus += f", class {', '.join(args.classes)}"
    bar = _progress_bar(args)
    try:
        reports = [_check_one(target, payloads, args, corpus, bar) for target in targets or [None]]
    except (xss.BackendUnavailable, TargetUnusable) as error:
        raise UsageError(str(error)) from None
    finally:
        bar.done()
    return _xss_outputs(reports, args)


def _make_target(kind: str, value: str, args: argparse.Namespace) -> Any:
    """A target from its flag; TargetUnusable when it cannot be used."""
    from .harness import targets

    if kind == "command":
        return targets.CommandTarget(value, timeout=args.timeout)
    if kind == "url":
        return targets.UrlTarget(
            value, request_field=args.request_field, response_field=args.response_field, timeout=args.timeout
        )
    if kind == "js":
        return targets.JsTarget(value, node_modules=args.node_modules)
    return None if not args.targets[1:] else targets.PipelineTarget(args.sanitizer)


def _progress_bar(args: argparse.Namespace) -> Any:
    from .harness.report import ProgressBar

    enabled = args.progress if args.progress is not None else sys.stderr.isatty()
    return ProgressBar(sys.stderr, enabled=enabled)


def _check_one(target: Any, payloads: Sequence[Any], args: argparse.Namespace, corpus: str, bar: Any) -> Any:
    """One target's report (None: the built-in pipeline, checked in depth)."""
    from .harness import xss
    from .harness.run import check_target

    if target is None:
        return xss.check(
            payloads,
            args.sanitizer,
            browser=args.browser,
            corpus=corpus,
            depth=args.depth,
            jobs=args.jobs,
            progress=bar,
        )
    return check_target(
        payloads,
        target,
        stream=args.stream,
        chunk_size=args.chunk_size,
        browser=args.browser,
        jobs=args.jobs,
        corpus=corpus,
        progress=bar,
    )


def _xss_outputs(reports: list[Any], args: argparse.Namespace) -> Iterator[str]:
    """Write the report files, then give the lines for standard output."""
    from .harness import report as formats
    from .harness.diff import compare, diff_json, format_diff

    first = reports[0]
    for path, render in ((args.junit, formats.to_junit), (args.html, formats.to_html)):
        if not path:
            continue
        text = render(first) if len(reports) == 1 else _both(render, reports)
        try:
            with open(path, "w", encoding="utf-8") as file:
                file.write(text)
        except OSError as error:
            raise UsageError(f"cannot write {path!r}: {error.strerror or error}") from None
    if len(reports) == 2:
        diff = compare(*reports)
        lines = [json.dumps(diff_json(diff), indent=1)] if args.json else format_diff(diff)
        return _report_lines(lines, diff.failed)
    lines = [formats.to_json(first).rstrip("\n")] if args.json else formats.format_report(first)
    return _report_lines(lines, first.failed)


def _both(render: Callable[[Any], str], reports: list[Any]) -> str:
    """A file format for two reports: JUnit gets both runs as one
    ``testsuites`` (suite names prefixed A/B), HTML one page after the other."""
    from .harness import report as formats

    if render is formats.to_junit:
        import xml.etree.ElementTree as ET

        roots = [ET.fromstring(formats.to_junit(one)) for one in reports]
        for label, root in zip("AB", roots, strict=True):
            for suite in root:
                suite.set("name", f"{label}.{suite.get('name')}")
                for case in suite.iter("testcase"):
                    case.set("classname", f"{label}.{case.get('classname')}")
        merged = roots[0]
        for key in ("tests", "failures", "errors", "skipped"):
            merged.set(key, str(sum(int(root.get(key, "0")) for root in roots)))
        merged.set("time", f"{sum(float(root.get('time', '0')) for root in roots):.3f}")
        merged.extend(list(roots[1]))
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(merged, encoding="unicode") + "\n"
    return formats.to_html(*reports, title="xss-check --diff")


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
    data = memoryview(chunk.encode("utf-8", "backslashreplace"))  # a lone surrogate in a report line
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

"""The XSS check: every payload through the whole pipeline, checked twice.

``python -m renderer xss-check`` runs this over a corpus (the one shipped in
``renderer/corpus/xss.jsonl`` by default). Each payload goes through the
pipeline the way model output does:

- as Markdown, one-shot (``render_markdown``) and streamed through a fresh
  ``MarkdownStream`` for every chunking that matters: whole, every split of
  the payload into two chunks, and one character a chunk (``interval=0``, so
  every feed shows its tail);
- as HTML, with the sanitizer alone, on every prefix of the payload (what a
  streamed HTML answer shows as it grows, whatever the chunking).

**Statically**, every HTML string the pipeline produces is re-checked with
``check_allowlist`` (the standard library's parser, not the sanitizer's): the
one-shot output, every op's HTML, and the assembled answer (committed plus
tail) after every op, as a client shows it. Anything outside the allowlist is
a *disallowed output*.

**In a browser** (``browser=True``), the streamed ops of every chunking and
the HTML prefixes go through the real page and client code: the ``/sanitize``
page served by the real application (``make_app``) with its real
Content-Security-Policy, and ``static/stream.js``'s ``createAnswer(root).apply``,
in headless Chromium. An oracle watches each payload:

- hooks on ``alert``, ``confirm``, ``prompt``, ``print``, ``open``,
  ``document.write``, ``fetch``, ``XMLHttpRequest``, ``sendBeacon``,
  ``WebSocket`` and ``EventSource``, and dialogs, popups and navigations;
- a canary global, ``window.__xss``, that payloads try to set;
- requests to other origins that get past the CSP (Playwright routing sees
  them; the page's own origin serves the page and its scripts, and the
  oracle answers the relative URLs the policy allows with a 404);
- ``securitypolicyviolation`` events;
- what ``stream.js``'s own re-check removed, and a final scan of the live DOM
  (elements, attributes, and URLs as the browser's URL parser reads them).

Payloads run one after another, many to a page load (``BrowserOptions.batch``):
each is given time to settle (its images load or fail, queued events fire)
before the next starts, so whatever happens is its own; navigations are
reported as they start (the Navigation API's ``navigate`` event) and stopped,
and a payload that executed gets a fresh page after it.

Each payload is then classed (the worst that happened):

========== ==================================================================
clean      nothing happened
blocked    the CSP refused something (a remote image, an inline handler)
disallowed the client had to remove something the server sent, or the live
           DOM holds something outside the allowlist
executed   a hook or the canary fired, a request left for another origin, or
           the page navigated
========== ==================================================================

The check fails on any static disallowed output and on any payload classed
``disallowed`` or ``executed``. Convergence (streamed output equal to
``render_markdown``) is reported too, but it is the engine tests' job.

Corpus files: JSON Lines (``.jsonl``/``.ndjson``), each line a JSON string or
an object ``{"name": "group/name", "payload": "..."}``, or plain text, one
payload a line (see ``load_corpus``).

Errors::

    CorpusError (ValueError)        a corpus file that cannot be read or parsed
    BackendUnavailable (RuntimeError) nh3 or Playwright/Chromium is missing
"""

from __future__ import annotations

import importlib.resources
import itertools
import json
import multiprocessing
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..markdown.ops import Document, Op
from ..markdown.render import clean_markdown, render_markdown
from ..markdown.stream import MarkdownStream
from ..sanitizer.clean import (
    DEFAULT_POLICY,
    SANITIZERS,
    BackendUnavailable,
    Policy,
    Sanitizer,
    check_allowlist,
    make_sanitizer,
)
from .chromium import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from ..server.testing import ServerThread

__all__ = [
    "BROWSER_CLASSES",
    "CANARY",
    "CHROMIUM",
    "SANITIZERS",
    "BackendUnavailable",
    "BrowserOptions",
    "CorpusError",
    "Depth",
    "Outcome",
    "Payload",
    "Problem",
    "Report",
    "check",
    "check_browser",
    "check_payload",
    "check_static",
    "chunkings",
    "clean_markdown",
    "default_corpus_path",
    "format_report",
    "load_corpus",
    "make_sanitizer",
    "parse_corpus",
    "with_browser",
]

_T = TypeVar("_T")

#: The sanitizer backends a name can pick (``--sanitizer``).

#: The global that corpus payloads try to set: ``window.__xss=1``.
CANARY = "__xss"

#: Browser classes, from best to worst.
BROWSER_CLASSES = ("clean", "blocked", "disallowed", "executed")

#: Where the shipped corpus lives inside the package.
_CORPUS_PACKAGE = "renderer.harness"
_CORPUS_FILE = ("corpus", "xss.jsonl")
_JSON_LINES_SUFFIXES = frozenset({".jsonl", ".ndjson"})
_SHOWN_HTML = 100
"""Characters of offending HTML shown in a report line."""


class CorpusError(ValueError):
    """A corpus file that cannot be read or parsed; the message names the line."""


# -- the corpus ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Payload:
    """One hostile input."""

    #: ``group/name`` in the shipped corpus; the part before ``/`` groups
    #: rows of the report (``custom`` when there is none).
    name: str
    #: The text fed to the pipeline, as Markdown and as HTML.
    text: str

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0] if "/" in self.name else "custom"


def default_corpus_path() -> Path:
    """The shipped corpus (package data)."""
    return Path(str(importlib.resources.files(_CORPUS_PACKAGE).joinpath(*_CORPUS_FILE)))


def load_corpus(path: str | Path | None = None, *, format: Literal["jsonl", "lines"] | None = None) -> list[Payload]:
    """Read a corpus file (None: the shipped one).

    ``format`` defaults by the file name: ``.jsonl`` and ``.ndjson`` are JSON
    Lines, anything else one payload a line. Files are UTF-8, strictly.
    Raises CorpusError.
    """
    path = default_corpus_path() if path is None else Path(path)
    if format is None:
        format = "jsonl" if path.suffix.lower() in _JSON_LINES_SUFFIXES else "lines"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CorpusError(f"cannot read {str(path)!r}: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"cannot read {str(path)!r}: not valid UTF-8 at byte {error.start} ({error.reason})"
        ) from None
    return parse_corpus(text, format=format, source=str(path))


def parse_corpus(text: str, *, format: Literal["jsonl", "lines"], source: str = "<corpus>") -> list[Payload]:
    """Payloads from a corpus file's text.

    ``jsonl``: each non-blank line is a JSON string (the payload) or an object
    with a string ``payload`` and optionally a string ``name``. ``lines``:
    each non-blank line is a payload as it is (no escapes, so no newlines in
    a payload: use JSON Lines for those). Unnamed payloads are named after
    their line, ``line 12``. Raises CorpusError for a malformed line or a
    corpus without payloads.
    """
    payloads: list[Payload] = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        name = f"line {number}"
        if format == "lines":
            payloads.append(Payload(name, line))
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise CorpusError(f"{source}: line {number}: not JSON ({error})") from None
        if isinstance(record, dict):
            payload, name = record.get("payload"), record.get("name", name)
            if not isinstance(payload, str) or not isinstance(name, str):
                raise CorpusError(f'{source}: line {number}: "payload" and "name" must be strings')
        elif isinstance(record, str):
            payload = record
        else:
            raise CorpusError(f'{source}: line {number}: expected a JSON string or {{"payload": ...}}')
        payloads.append(Payload(name, payload))
    if not payloads:
        raise CorpusError(f"{source}: no payloads")
    return payloads


# -- results -----------------------------------------------------------------------------


@dataclass(slots=True)
class Problem:
    """HTML that the static check refused."""

    #: Where in the pipeline: ``markdown split@12 op 3 (tail)``, ``html prefix 7``...
    route: str
    #: What ``check_allowlist`` found (the ``removed`` format).
    found: list[str]
    #: The HTML it found it in.
    html: str


@dataclass(slots=True)
class Outcome:
    """What happened to one payload."""

    payload: Payload
    #: Distinct HTML strings checked statically.
    states: int = 0
    #: Disallowed outputs (the first few per payload).
    problems: list[Problem] = field(default_factory=list)
    #: Chunkings whose streamed result differs from ``render_markdown``.
    diverged: list[str] = field(default_factory=list)
    #: The distinct op sequences, as ``[kind, html]`` pairs, for the browser.
    streams: list[list[tuple[str, str]]] = field(default_factory=list)
    #: The browser's class (``BROWSER_CLASSES``), None without a browser pass.
    verdict: str | None = None
    #: What the browser oracle saw, one line each.
    evidence: list[str] = field(default_factory=list)
    #: Ops the client code refused (an engine/client mismatch, not an attack).
    client_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems) or self.verdict in ("disallowed", "executed")


@dataclass(slots=True)
class Report:
    """The result of a run."""

    outcomes: list[Outcome]
    sanitizer: str
    corpus: str
    browser: str | None = None
    """The browser's name and version, when there was a browser pass."""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return any(outcome.failed for outcome in self.outcomes)


# -- the static check ----------------------------------------------------------------

_MAX_PROBLEMS = 5
"""Problems kept per payload: the first ones say enough."""


class _Memo:
    """A sanitizer called through a cache: the check sends the same HTML to
    it many times (every chunking re-renders the same blocks), and the
    sanitizer is a pure function."""

    def __init__(self, sanitizer: Callable[[str], str]) -> None:
        self.sanitizer = sanitizer
        self.cache: dict[str, str] = {}

    def __call__(self, html: str) -> str:
        result = self.cache.get(html)
        if result is None:
            result = self.cache[html] = self.sanitizer(html)
        return result


Depth = Literal["full", "chars", "one-shot"]
"""How thoroughly a payload is streamed: ``full`` (the default) whole, every
2-way split and 1-character chunks; ``chars`` whole and 1-character chunks
(linear in the payload's length rather than quadratic, for long inputs);
``one-shot`` whole only. HTML is checked on every prefix except in
``one-shot``, where only the whole payload is sanitized."""


def chunkings(text: str, depth: Depth = "full") -> Iterator[tuple[str, list[str]]]:
    """The ways the check cuts a payload, each with a label for reports."""
    yield "whole", [text]
    for cut in range(1, len(text)) if depth == "full" else ():
        yield f"split@{cut}", [text[:cut], text[cut:]]
    if len(text) > 2 and depth != "one-shot":
        yield "chars", list(text)


def check_payload(
    payload: Payload,
    sanitizer: Callable[[str], str],
    *,
    policy: Policy = DEFAULT_POLICY,
    keep_streams: bool = False,
    depth: Depth = "full",
) -> Outcome:
    """Run one payload through the pipeline and check every HTML it produces."""
    outcome = Outcome(payload)
    gate = _Memo(sanitizer)
    checked: dict[str, list[str]] = {}

    def look(route: str, html: str) -> None:
        found = checked.get(html)
        if found is None:
            found = checked[html] = check_allowlist(html, policy)
            if found and len(outcome.problems) < _MAX_PROBLEMS:
                outcome.problems.append(Problem(route, found, html))

    text = payload.text
    final = render_markdown(text, sanitizer=gate)
    look("markdown one-shot", final)
    seen_streams: set[tuple[tuple[str, str], ...]] = set()
    for label, chunks in chunkings(text, depth):
        stream = MarkdownStream(interval=0, sanitizer=gate)
        document = Document()
        ops: list[tuple[str, str]] = []
        for chunk in [*chunks, None]:
            for op in stream.feed(chunk) if chunk is not None else stream.close():
                ops.append((op.kind, op.html))
                route = f"markdown {label} op {len(ops)} ({op.kind})"
                if op.kind != "append":
                    # An append goes inside the tail's innermost open element
                    # (inside a <math>, say): it is judged there, below.
                    look(route, op.html)
                document.apply(op)
                look(route, document.html)
        if document.html != final or document.tail:
            outcome.diverged.append(label)
        if keep_streams and tuple(ops) not in seen_streams:
            seen_streams.add(tuple(ops))
            outcome.streams.append(ops)
    # A streamed HTML answer shows sanitize(prefix) as it grows: every prefix
    # is a state of some chunking, so checking all of them covers them all.
    shown: list[str] = []
    for end in range(len(text) if depth == "one-shot" else 1, len(text) + 1):
        html = gate(text[:end])
        look(f"html prefix {end}", html)
        if keep_streams and (not shown or shown[-1] != html):
            shown.append(html)
    if keep_streams and shown:
        outcome.streams.append([("tail", html) for html in shown] + [("block", shown[-1]), ("tail", "")])
    outcome.states = len(checked)
    return outcome


def check_static(
    payloads: Sequence[Payload],
    sanitizer: Sanitizer | str,
    *,
    policy: Policy = DEFAULT_POLICY,
    keep_streams: bool = False,
    depth: Depth = "full",
    jobs: int = 1,
) -> list[Outcome]:
    """The static check of every payload (see the module docstring).

    With a backend name and the default policy, ``jobs`` > 1 spreads the
    payloads over that many worker processes (the check is CPU-bound; the
    workers are spawned, so a script that calls this needs the usual
    ``if __name__ == "__main__":`` guard).
    """
    if jobs > 1 and isinstance(sanitizer, str) and policy is DEFAULT_POLICY and len(payloads) > _PER_TASK:
        tasks = [payloads[start : start + _PER_TASK] for start in range(0, len(payloads), _PER_TASK)]
        # spawn, not fork: the caller may run threads (a server, a test runner).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            options = itertools.repeat((sanitizer, keep_streams, depth))
            return [outcome for part in pool.map(_check_task, tasks, options) for outcome in part]
    backend = make_sanitizer(sanitizer, report_removed=False) if isinstance(sanitizer, str) else sanitizer
    return [
        check_payload(payload, backend, policy=policy, keep_streams=keep_streams, depth=depth) for payload in payloads
    ]


_PER_TASK = 8
"""Payloads a worker process checks per task."""


def _check_task(payloads: Sequence[Payload], options: tuple[str, bool, Depth]) -> list[Outcome]:
    """One worker task (module level, so that it pickles)."""
    sanitizer, keep_streams, depth = options
    return check_static(payloads, sanitizer, keep_streams=keep_streams, depth=depth)


# -- the browser check ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowserOptions:
    """How the browser pass runs. The defaults are the real thing; the others
    exist to prove that the oracle sees what each defence stops."""

    #: ``stream``: ops applied with ``static/stream.js`` (parse in an inert
    #: template, re-check, append). ``raw``: each assembled state assigned
    #: with ``innerHTML`` to a live element, no client re-check.
    client: Literal["stream", "raw"] = "stream"
    #: False: the page's Content-Security-Policy is ignored (Playwright's
    #: ``bypass_csp``).
    csp: bool = True
    #: The page the payloads are shown in.
    page: str = "/sanitize"
    #: Payloads per page load (a fresh page limits what one payload can
    #: leave behind for the next).
    batch: int = 100
    #: Milliseconds a payload is given, after its images settle, for late
    #: events (``ontoggle``, violation reports) to arrive.
    settle_ms: int = 15


# Installed before any script of the page, in every frame.
_ORACLE_JS = r"""
(() => {
  if (window.__xssOracle) return;
  const signals = [];
  const note = (kind, detail) => { signals.push([kind, String(detail).slice(0, 200)]); };
  Object.defineProperty(window, "__xssOracle", { value: { signals, note }, enumerable: false });
  const top = (() => { try { return window.top.__xssOracle || null; } catch { return null; } })();
  const report = (kind, detail) => (top && top !== window.__xssOracle ? top.note : note)(kind, detail);
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    window[name] = (message) => { report("hook", `${name}(${message === undefined ? "" : message})`); return null; };
  }
  Object.defineProperty(window, "__CANARY__", {
    configurable: false,
    get() { return undefined; },
    set(value) { report("canary", `__CANARY__ = ${value}`); },
  });
  const wrap = (owner, name, label) => {
    const original = owner[name];
    if (typeof original !== "function") return;
    owner[name] = function (...args) {
      report("hook", `${label}(${args.length ? String(args[0]) : ""})`);
      return undefined;
    };
  };
  wrap(window, "open", "open");
  wrap(window, "fetch", "fetch");
  wrap(window, "WebSocket", "WebSocket");
  wrap(window, "EventSource", "EventSource");
  wrap(Navigator.prototype, "sendBeacon", "sendBeacon");
  wrap(XMLHttpRequest.prototype, "open", "XMLHttpRequest.open");
  wrap(Document.prototype, "write", "document.write");
  wrap(Document.prototype, "writeln", "document.writeln");
  // Navigations are reported (and stopped when they can be) as they start,
  // while the payload that started them is still the one running.
  window.navigation?.addEventListener("navigate", (event) => {
    report("navigation", event.destination.url);
    if (event.cancelable) event.preventDefault();
  });
  document.addEventListener("securitypolicyviolation", (event) => {
    const what = event.blockedURI || event.sample || "";
    report("csp", `${event.effectiveDirective} ${what}`);
  }, true);
})();
"""

# Runs one payload in the page: page.evaluate(_RUN_JS, {...}).
_RUN_JS = r"""
async ({ id, streams, states, client, settleMs }) => {
  const oracle = window.__xssOracle;
  const stream = await import("/static/stream.js");
  const allow = await import("/static/allowlist.js");
  const host = document.createElement("div");
  host.className = "xss-check";
  host.dataset.payload = String(id);
  document.body.append(host);
  const scrubbed = new Set();
  const errors = new Set();
  if (client === "stream") {
    for (const ops of streams) {
      const root = document.createElement("div");
      host.append(root);
      const answer = stream.createAnswer(root, { onViolation: (problem) => scrubbed.add(problem) });
      for (const [kind, html] of ops) {
        try {
          answer.apply(kind, html);
        } catch (error) {
          errors.add(`${kind}: ${error}`);
          break;
        }
      }
    }
  } else {
    const tt = window.trustedTypes;
    let policy = window.__xssRawPolicy;
    if (policy === undefined && tt) {
      try { policy = tt.createPolicy("renderer-stream", { createHTML: (s) => s }); } catch { policy = null; }
      Object.defineProperty(window, "__xssRawPolicy", { value: policy });
    }
    for (const html of states) {
      const root = document.createElement("div");
      host.append(root);
      try {
        root.innerHTML = policy ? policy.createHTML(html) : html;
      } catch (error) {
        errors.add(`innerHTML: ${error}`);
      }
    }
  }
  // Let what the payload started finish: images load or fail, queued events fire.
  const pending = [...host.querySelectorAll("img")].filter((img) => !img.complete);
  await Promise.race([
    Promise.all(pending.map((img) => new Promise((done) => {
      img.addEventListener("load", done, { once: true });
      img.addEventListener("error", done, { once: true });
    }))),
    new Promise((done) => setTimeout(done, 1000)),
  ]);
  await new Promise((done) => setTimeout(done, settleMs));
  await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
  // The live DOM, judged by the browser's own parsers (HTML and URL).
  const dom = new Set();
  const containers = client === "stream" ? host.querySelectorAll(".answer-committed, .answer-tail") : host.children;
  for (const container of containers) {
    for (const element of container.querySelectorAll("*")) {
      const name = element.localName;
      // MathML elements only inside <math> (math itself only outside one), HTML only outside it.
      const parent = element.parentElement;
      const inMath = parent !== null && parent.namespaceURI === "http://www.w3.org/1998/Math/MathML";
      const ok = element.namespaceURI === "http://www.w3.org/1998/Math/MathML"
        ? allow.MATHML_TAGS.has(name) && (name === "math") !== inMath
        : element.namespaceURI === "http://www.w3.org/1999/xhtml" && !inMath && allow.TAGS.has(name);
      if (!ok) {
        dom.add(`<${name}>`);
        continue;
      }
      const allowed = allow.ATTRIBUTES[name];
      for (const attribute of element.attributes) {
        if (!allowed || !allowed.has(attribute.name)) {
          dom.add(`<${name} ${attribute.name}>`);
          continue;
        }
        const key = `${name} ${attribute.name}`;
        const schemes = allow.URL_SCHEMES[key];
        if (schemes) {
          let scheme = "unparsable";
          try { scheme = new URL(attribute.value, document.baseURI).protocol.slice(0, -1); } catch {}
          if (!schemes.has(scheme)) dom.add(`<${name} ${attribute.name}="${scheme}:...">`);
        }
        const pattern = allow.ATTRIBUTE_VALUES[key];
        if (pattern && !pattern.test(attribute.value)) dom.add(`<${name} ${attribute.name}="${attribute.value.slice(0, 40)}">`);
      }
    }
  }
  host.remove();
  return { signals: oracle.signals.splice(0), scrubbed: [...scrubbed], errors: [...errors], dom: [...dom] };
}
"""


def _launch(playwright: Any) -> Any:
    executable = os.environ.get("RENDERER_CHROMIUM") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    try:
        return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BackendUnavailable(f"cannot start Chromium ({executable or 'Playwright build'}): {first}") from None


def _sync_playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BackendUnavailable("--browser needs Playwright: pip install playwright (and Chromium)") from None
    return sync_playwright


def _states(streams: Sequence[Sequence[tuple[str, str]]]) -> list[str]:
    """Every distinct assembled answer the op sequences pass through."""
    seen: dict[str, None] = {}
    for ops in streams:
        document = Document()
        for kind, html in ops:
            document.apply(Op(kind, html))  # type: ignore[arg-type]
            seen.setdefault(document.html)
    return list(seen)


def _classify(outcome: Outcome, result: dict[str, Any], extra: list[tuple[str, str]]) -> None:
    """Set the outcome's verdict and evidence from what the oracle saw."""
    evidence: list[str] = []
    executed = blocked = disallowed = False
    for kind, detail in [*(tuple(signal) for signal in result["signals"]), *extra]:
        if kind == "csp":
            blocked = True
            evidence.append(f"csp blocked {detail}")
        else:
            executed = True
            evidence.append(f"{kind}: {detail}")
    for problem in result["scrubbed"]:
        disallowed = True
        evidence.append(f"client re-check removed {problem}")
    for problem in result["dom"]:
        disallowed = True
        evidence.append(f"live DOM holds {problem}")
    outcome.client_errors = list(result["errors"])
    outcome.evidence = list(dict.fromkeys(evidence))
    outcome.verdict = "executed" if executed else "disallowed" if disallowed else "blocked" if blocked else "clean"


class _Oracle:
    """One browser context showing payloads in pages of the harness server,
    and what it saw outside the page's own reports (requests, dialogs,
    popups, navigations), for the payload running now."""

    def __init__(self, context: Any, server: ServerThread, options: BrowserOptions) -> None:
        self.context = context
        self.server = server
        self.options = options
        self.seen: list[tuple[str, str]] = []
        self.page: Any = None
        self.loaded = ""
        self._opening = False
        context.add_init_script(_ORACLE_JS.replace("__CANARY__", CANARY))
        context.route(self._unexpected, self._answer)
        context.on("page", self._new_page)

    def _unexpected(self, url: str) -> bool:
        """Whether a request is for something other than the page, its
        scripts and styles (and the API, which the page calls only when the
        user types)."""
        origin = self.server.origin
        return not (
            url == self.server.url(self.options.page) or url.startswith((f"{origin}/static/", f"{origin}/api/"))
        )

    def _answer(self, route: Any) -> None:
        """Answer unexpected requests here. Only requests the CSP let through
        get this far: one to another origin is a leak; a relative URL (which
        the policy allows in links and images) is answered 404 without
        troubling the server."""
        url = route.request.url
        if route.request.is_navigation_request():
            self.seen.append(("navigation", url))
            route.abort()
        elif url.startswith(self.server.origin + "/"):
            route.fulfill(status=404, body="")
        else:
            self.seen.append(("request", f"{url} left the page"))
            route.abort()

    def _new_page(self, page: Any) -> None:
        if not self._opening:
            self.seen.append(("popup", page.url))

    def _dialog(self, dialog: Any) -> None:
        self.seen.append(("dialog", f"{dialog.type}: {dialog.message}"))
        dialog.dismiss()

    def open(self) -> None:
        """A fresh page (the previous one closed)."""
        if self.page is not None and not self.page.is_closed():
            self.page.close()
        self._opening = True
        try:
            self.page = self.context.new_page()
        finally:
            self._opening = False
        self.page.on("dialog", self._dialog)
        self.page.goto(self.server.url(self.options.page), wait_until="load")
        self.loaded = self.page.url

    def run(self, index: int, outcome: Outcome) -> None:
        """Show one payload's streams; class it."""
        self.seen.clear()
        raw = self.options.client == "raw"
        argument = {
            "id": index,
            "streams": [] if raw else outcome.streams,
            "states": _states(outcome.streams) if raw else [],
            "client": self.options.client,
            "settleMs": self.options.settle_ms,
        }
        try:
            result = self.page.evaluate(_RUN_JS, argument)
        except Exception as error:  # the payload took the page away (navigation, crash)
            result = {"signals": [], "scrubbed": [], "errors": [], "dom": []}
            self.seen.append(("page", f"lost the page: {str(error).strip().splitlines()[0]}"))
        if self.page.is_closed() or self.page.url != self.loaded:
            self.seen.append(("navigation", "the page navigated away"))
        _classify(outcome, result, list(self.seen))
        if outcome.verdict == "executed":
            self.open()  # whatever ran may have left something behind


def with_browser(function: Callable[[Any], _T]) -> _T:
    """``function(browser)`` with a headless Chromium (a Playwright ``Browser``),
    run in a thread of its own: Playwright's sync API refuses to start in a
    thread that runs an asyncio loop or another Playwright session (a test
    runner's, for instance). Raises BackendUnavailable without Playwright
    or Chromium; whatever ``function`` raises is raised here."""
    sync_playwright = _sync_playwright()
    results: list[_T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as playwright:
                browser = _launch(playwright)
                try:
                    results.append(function(browser))
                finally:
                    browser.close()
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=run, name="xss-check browser", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


def check_browser(outcomes: Sequence[Outcome], *, options: BrowserOptions = BrowserOptions()) -> str:
    """Show every outcome's streams in Chromium and class each payload.

    ``outcomes`` come from ``check_static(..., keep_streams=True)``; payloads
    run one after another, ``options.batch`` to a page load. Returns the
    browser's name and version. Raises BackendUnavailable without Playwright
    or Chromium.
    """

    def run(browser: Any) -> str:
        from ..server.testing import ServerThread

        with ServerThread(name="xss-check server") as server:
            context = browser.new_context(bypass_csp=not options.csp)
            try:
                oracle = _Oracle(context, server, options)
                batch = max(1, options.batch)
                for index, outcome in enumerate(outcomes):
                    if index % batch == 0:
                        oracle.open()
                    oracle.run(index, outcome)
            finally:
                context.close()
        return f"chromium {browser.version}"

    return with_browser(run)


# -- the whole check ------------------------------------------------------------------------


def check(
    payloads: Sequence[Payload],
    sanitizer: Sanitizer | str = "bleach",
    *,
    browser: bool = False,
    browser_options: BrowserOptions = BrowserOptions(),
    policy: Policy = DEFAULT_POLICY,
    corpus: str = "shipped corpus",
    depth: Depth = "full",
    jobs: int = 1,
) -> Report:
    """Run the static check (and the browser pass) and report.

    ``sanitizer`` is a backend name (``SANITIZERS``) or any Sanitizer; the
    output is always judged against ``policy`` (the default allowlist).
    """
    started = time.monotonic()
    name = sanitizer if isinstance(sanitizer, str) else type(sanitizer).__name__
    if isinstance(sanitizer, str):
        make_sanitizer(sanitizer)  # an unknown or missing backend fails now
    if browser:
        _sync_playwright()  # fail before the long static pass
    outcomes = check_static(payloads, sanitizer, policy=policy, keep_streams=browser, depth=depth, jobs=jobs)
    version = check_browser(outcomes, options=browser_options) if browser else None
    for outcome in outcomes:
        outcome.streams = []  # only the browser needed them
    return Report(outcomes, name, corpus, version, time.monotonic() - started)


# -- the report ----------------------------------------------------------------------------

_COLUMNS = ("group", "payloads", "states", "disallowed", *BROWSER_CLASSES)
_SHOWN_FAILURES = 20


def _shorten(text: str, limit: int = _SHOWN_HTML) -> str:
    text = json.dumps(text, ensure_ascii=False)[1:-1]
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def format_report(report: Report) -> list[str]:
    """The report as lines of text: a table by payload group, then failures."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in report.outcomes:
        groups.setdefault(outcome.payload.group, []).append(outcome)
    rows: list[tuple[str, ...]] = []

    def row(label: str, outcomes: list[Outcome]) -> tuple[str, ...]:
        verdicts = Counter(outcome.verdict for outcome in outcomes)
        browser = [str(verdicts[name]) if report.browser else "-" for name in BROWSER_CLASSES]
        disallowed = sum(1 for outcome in outcomes if outcome.problems)
        return (label, str(len(outcomes)), str(sum(o.states for o in outcomes)), str(disallowed), *browser)

    for group in sorted(groups):
        rows.append(row(group, groups[group]))
    total = row("total", report.outcomes)
    widths = [max(len(cells[i]) for cells in [_COLUMNS, *rows, total]) for i in range(len(_COLUMNS))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join(
            [first, *(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))]
        ).rstrip()

    def span(label: str, first: int, last: int) -> str:
        """label centred in dashes over columns first..last."""
        width = sum(widths[first : last + 1]) + 2 * (last - first)
        return f" {label} ".center(width, "-")

    heading = "  ".join([" " * (widths[0] + 2 + widths[1]), span("static", 2, 3), span("browser", 4, 7)])

    where = f"browser: {report.browser}" if report.browser else "browser: not run (add --browser)"
    lines = [
        f"xss-check: {len(report.outcomes)} payloads ({report.corpus}), sanitizer {report.sanitizer}, {where}",
        "",
        heading,
        line(_COLUMNS),
        *map(line, rows),
        line(total),
        "",
    ]
    failures = [outcome for outcome in report.outcomes if outcome.failed]
    for outcome in failures[:_SHOWN_FAILURES]:
        lines.append(f"FAIL {outcome.payload.name}: {_shorten(outcome.payload.text, 60)}")
        for problem in outcome.problems[:2]:
            lines.append(f'  static: {problem.route}: {", ".join(problem.found)} in "{_shorten(problem.html)}"')
        if outcome.verdict in ("disallowed", "executed"):
            lines.append(f"  browser: {outcome.verdict}: {'; '.join(outcome.evidence[:3])}")
    if len(failures) > _SHOWN_FAILURES:
        lines.append(f"... and {len(failures) - _SHOWN_FAILURES} more failing payloads")
    diverged = [outcome for outcome in report.outcomes if outcome.diverged]
    if diverged:
        names = ", ".join(outcome.payload.name for outcome in diverged[:5])
        lines.append(f"note: {len(diverged)} payloads streamed to other HTML than render_markdown ({names})")
    errors = [outcome for outcome in report.outcomes if outcome.client_errors]
    if errors:
        names = ", ".join(outcome.payload.name for outcome in errors[:5])
        lines.append(f"note: stream.js refused ops of {len(errors)} payloads ({names})")
    executed = sum(outcome.verdict == "executed" for outcome in report.outcomes)
    disallowed = sum(bool(outcome.problems) or outcome.verdict == "disallowed" for outcome in report.outcomes)
    verdict = "FAIL" if report.failed else "PASS"
    lines.append(
        f"{verdict}: {executed} executed, {disallowed} with disallowed output, "
        f"{sum(o.states for o in report.outcomes)} HTML states checked in {report.seconds:.1f} s"
    )
    return lines

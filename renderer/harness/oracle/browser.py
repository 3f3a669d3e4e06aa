"""The browser oracle: Chromium watching what a payload's HTML does in a page.

``check_browser`` shows the built-in pipeline's streamed ops through the real
page and client code: the ``/sanitize`` page served by the real application
(``make_app``) with its real Content-Security-Policy, and
``static/stream.js``'s ``createAnswer(root).apply``. ``oracle.targets`` uses
the same oracle for other targets, in a page of its own. The oracle watches
each payload:

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

Raises ``BackendUnavailable`` (a RuntimeError) without Playwright or Chromium.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from ...markdown.ops import Document, Op
from ...sanitizer.clean import BackendUnavailable
from ..chromium import CHROMIUM, CHROMIUM_ARGS
from ..results import CANARY, Outcome

__all__ = [
    "ORACLE_JS",
    "BrowserOptions",
    "Oracle",
    "Origin",
    "check_browser",
    "classify",
    "sync_playwright",
    "with_browser",
]

_T = TypeVar("_T")


class Origin(Protocol):
    """A loopback server the oracle's pages come from."""

    @property
    def origin(self) -> str: ...

    def url(self, path: str) -> str: ...


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

# Installed before any script of the page, in every frame.
ORACLE_JS = r"""
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


def sync_playwright() -> Any:
    """Playwright's ``sync_playwright``; BackendUnavailable without it."""
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


def classify(outcome: Outcome, result: dict[str, Any], extra: list[tuple[str, str]]) -> None:
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


class Oracle:
    """One browser context showing payloads in pages of the harness server,
    and what it saw outside the page's own reports (requests, dialogs,
    popups, navigations), for the payload running now."""

    def __init__(self, context: Any, server: Origin, options: BrowserOptions) -> None:
        self.context = context
        self.server = server
        self.options = options
        self.seen: list[tuple[str, str]] = []
        self.page: Any = None
        self.loaded = ""
        self._opening = False
        context.add_init_script(ORACLE_JS.replace("__CANARY__", CANARY))
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
        classify(outcome, result, list(self.seen))
        if outcome.verdict == "executed":
            self.open()  # whatever ran may have left something behind


def with_browser(function: Callable[[Any], _T]) -> _T:
    """``function(browser)`` with a headless Chromium (a Playwright ``Browser``),
    run in a thread of its own: Playwright's sync API refuses to start in a
    thread that runs an asyncio loop or another Playwright session (a test
    runner's, for instance). Raises BackendUnavailable without Playwright
    or Chromium; whatever ``function`` raises is raised here."""
    playwright_session = sync_playwright()
    results: list[_T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with playwright_session() as playwright:
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


def check_browser(
    outcomes: Sequence[Outcome],
    *,
    options: BrowserOptions = BrowserOptions(),
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Show every outcome's streams in Chromium and class each payload.

    ``outcomes`` come from ``check_static(..., keep_streams=True)``; payloads
    run one after another, ``options.batch`` to a page load. Returns the
    browser's name and version. Raises BackendUnavailable without Playwright
    or Chromium.
    """

    def run(browser: Any) -> str:
        from ...server.testing import ServerThread

        with ServerThread(name="xss-check server") as server:
            context = browser.new_context(bypass_csp=not options.csp)
            try:
                oracle = Oracle(context, server, options)
                batch = max(1, options.batch)
                for index, outcome in enumerate(outcomes):
                    if index % batch == 0:
                        oracle.open()
                    oracle.run(index, outcome)
                    if progress:
                        progress(index + 1, len(outcomes))
            finally:
                context.close()
        return f"chromium {browser.version}"

    return with_browser(run)

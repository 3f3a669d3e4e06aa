"""Browser tests' helpers: Debian's Chromium through Playwright, a live server,
a source the test can pause, and a store whose readers the test can cut off.

A helper module for tests, not a test.

* The ``chromium`` fixture itself is in ``conftest.py``.
* ``LiveServer``: ``make_app(Config(...))`` behind a Tornado ``HTTPServer``
  on a free loopback port, in a background thread with its own event loop;
  ``server.call(fn)`` runs ``fn`` (or awaits it) in that loop, the only safe
  way to look at the server's state.
* ``GatedSource``: a source whose answers stop before a chosen token until
  the test releases them, and say when they stopped, so a test acts at a
  known point of an answer without sleeping.
* ``CuttableStore``: the memory store, remembering its subscriptions, so a
  test can cut every reader's connection from the server side the way the
  store cuts a slow reader off (``Subscription.on_cut_off``).
* ``RECORDER_JS``: an init script that watches the page from before its
  first script: a MutationObserver checking every node and attribute that
  answers gain against the server's allowlist, noting every change to
  committed nodes, and hooks for script that should never run.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from renderer.sanitizer.clean import DEFAULT_POLICY
from renderer.server.config import Config
from renderer.server.sources import Message, Source, last_user_message, tokens
from renderer.server.state import default_sources
from renderer.server.store.memory import MemoryStore, MemorySubscription
from renderer.server.testing import ServerThread

__all__ = [
    "RECORDER_JS",
    "TIMEOUT",
    "CuttableStore",
    "GatedSource",
    "LiveServer",
    "allowlist_json",
]
TIMEOUT = 10.0
"""Seconds any single wait may take before it is a failure."""


# -- the server ---------------------------------------------------------------------


class LiveServer(ServerThread):
    """``with LiveServer(Config(...)) as server:``, serving on ``server.port``."""

    def __init__(
        self,
        config: Config,
        *,
        store: MemoryStore | None = None,
        sources: dict[str, Source] | None = None,
    ) -> None:
        super().__init__(config, store=store, sources=sources, name="browser test server")


def browser_sources(config: Config, gated: GatedSource) -> dict[str, Source]:
    """The server's demo and echo sources, plus ``gated``."""
    return {**default_sources(config), "gated": gated}


class CuttableStore(MemoryStore):
    """The memory store; it remembers subscriptions so a test can cut readers off."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.opened: list[MemorySubscription] = []

    async def subscribe(self, stream_id: str, after: str | None = None) -> MemorySubscription:
        subscription = await super().subscribe(stream_id, after)
        self.opened.append(subscription)
        return subscription

    def cut_readers(self) -> int:
        """In the server's loop: close the connection of every reader still
        reading, as the store does to a reader that fell behind. Returns how
        many were cut."""
        cut = 0
        for subscription in self.opened:
            if not subscription.finished and subscription.on_cut_off is not None:
                subscription.on_cut_off()
                cut += 1
        self.opened = [subscription for subscription in self.opened if not subscription.finished]
        return cut


# -- a source the test steps ----------------------------------------------------------


class GatedAnswer:
    """One answer of a GatedSource."""

    def __init__(self, text: str, pause_at: int) -> None:
        self.text = text
        self.pause_at = pause_at
        self.paused = threading.Event()
        """Set (in the server's thread) when the answer stops at its gate."""
        self._gate: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.released = False
        self.ended = False
        """Set when its generator ended (finished, or closed by a cancel)."""

    @property
    def over(self) -> bool:
        """Released or ended: no later test step is about this answer."""
        return self.released or self.ended

    @property
    def shown(self) -> str:
        """The text generated before the gate."""
        return "".join(tokens(self.text)[: self.pause_at])

    def wait_paused(self) -> None:
        assert self.paused.wait(TIMEOUT), "the answer never reached its gate"

    def release(self) -> None:
        """From the test's thread: let the answer run to its end."""
        self.wait_paused()
        assert self._loop is not None and self._gate is not None
        self.released = True
        self._loop.call_soon_threadsafe(self._gate.set)


class GatedSource:
    """A source factory: each answer (``text(messages)``, token by token)
    stops before token ``pause_at`` until the test releases it."""

    def __init__(
        self, text: Callable[[Sequence[Message]], str] = last_user_message, *, pause_at: int, delay: float = 0.0
    ) -> None:
        self.text = text
        self.pause_at = pause_at
        self.delay = delay
        self.answers: list[GatedAnswer] = []
        self._started = threading.Condition()

    def __call__(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        answer = GatedAnswer(self.text(messages), self.pause_at)
        with self._started:
            self.answers.append(answer)
            self._started.notify_all()
        return self._stream(answer)

    async def _stream(self, answer: GatedAnswer) -> AsyncIterator[str]:
        answer._loop = asyncio.get_running_loop()
        answer._gate = asyncio.Event()
        try:
            for index, piece in enumerate(tokens(answer.text)):
                if index == answer.pause_at:
                    answer.paused.set()
                    await answer._gate.wait()
                yield piece
                await asyncio.sleep(self.delay)
        finally:
            answer.ended = True

    @property
    def latest(self) -> GatedAnswer:
        """The answer in progress: waits (bounded) for one, since the page's
        POST may not have arrived yet, and the source outlives a test whose
        answers are over."""
        with self._started:
            live = self._started.wait_for(lambda: self.answers and not self.answers[-1].over, TIMEOUT)
            assert live, "no answer was started"
            return self.answers[-1]


# -- watching the page ---------------------------------------------------------------


def allowlist_json() -> str:
    """The server's policy (renderer.sanitizer.clean.DEFAULT_POLICY) for the page-side
    checker: independent of static/allowlist.js, which the client itself uses."""
    policy = DEFAULT_POLICY
    return json.dumps(
        {
            "tags": sorted(policy.tags),
            "mathml": sorted(policy.mathml_tags),
            "attributes": {tag: sorted(names) for tag, names in policy.attributes.items()},
            "schemes": {f"{tag} {name}": sorted(schemes) for (tag, name), schemes in policy.url_schemes.items()},
            "patterns": {f"{tag} {name}": pattern.pattern for (tag, name), pattern in policy.attribute_values.items()},
            "linkRel": policy.link_rel,
        }
    )


RECORDER_JS = r"""
(() => {
  const ALLOW = __ALLOWLIST__;
  const HTML_NS = "http://www.w3.org/1999/xhtml";
  const TAGS = new Set(ALLOW.tags);
  const MATHML_NS = "http://www.w3.org/1998/Math/MathML";
  const MATHML_TAGS = new Set(ALLOW.mathml);
  const PATTERNS = Object.fromEntries(Object.entries(ALLOW.patterns).map(([k, p]) => [k, new RegExp(`^(?:${p})$`)]));
  // Elements and attributes that must never appear anywhere on the page once it has loaded.
  const NEVER_TAGS = new Set(["script", "iframe", "frame", "object", "embed", "style", "link", "meta", "base",
    "svg", "template", "noscript", "form", "textarea", "video", "audio", "source", "portal"]);
  const URL_ATTRIBUTES = new Set(["href", "src", "action", "formaction", "xlink:href", "data", "poster", "srcdoc", "background", "ping"]);

  const rec = {
    calls: [],          // alert/confirm/prompt/print calls
    canary: [],         // values payloads assigned to window.__xss
    csp: [],            // securitypolicyviolation events (blocked attempts)
    problems: [],       // nodes/attributes/URLs outside the allowlist, as seen by the MutationObserver
    committed: [],      // changes to committed nodes other than appending after them
    states: [],         // [answer number, data-state] as they change
    growth: [],         // [answer number, committed children, tail children, text length, aria-busy] per mutation batch while generating
    mutations: { committedAdded: 0, tailAdded: 0, tailRemoved: 0 },
    loaded: false,
  };
  window.__rec = rec;
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    window[name] = (...args) => { rec.calls.push(`${name}(${args.map(String).join(", ")})`); };
  }
  Object.defineProperty(window, "__xss", {
    configurable: false,
    get() { return undefined; },
    set(value) { rec.canary.push(String(value)); },
  });
  document.addEventListener("securitypolicyviolation", (event) => {
    rec.csp.push({ directive: event.effectiveDirective, blocked: event.blockedURI, sample: event.sample });
  });
  document.addEventListener("DOMContentLoaded", () => { rec.loaded = true; });

  const numbers = new WeakMap();
  let answers = 0;
  const answerNumber = (article) => {
    if (!numbers.has(article)) numbers.set(article, ++answers);
    return numbers.get(article);
  };
  const describe = (node) => node.nodeType === 1 ? `<${node.localName}>` : node.nodeType === 3 ? `#text ${JSON.stringify(node.data.slice(0, 30))}` : `node type ${node.nodeType}`;
  const elementOf = (node) => node.nodeType === 1 ? node : node.parentElement;
  // Where a node is: committed content, tail content, or the page around them
  // (the two containers themselves belong to the page).
  const region = (node, ofChildren = false) => {
    const element = elementOf(node);
    if (!element) return "page";
    if (!ofChildren && element.matches(".answer-committed, .answer-tail")) return "page";
    if (element.closest(".answer-committed")) return "committed";
    if (element.closest(".answer-tail")) return "tail";
    return "page";
  };

  function checkAttribute(element, name, value, where) {
    const tag = element.localName;
    const lower = name.toLowerCase();
    if (lower.startsWith("on")) rec.problems.push(`${where}: <${tag} ${name}>`);
    if (URL_ATTRIBUTES.has(lower) && /^\s*(javascript|vbscript|data|file):/i.test(value.replace(/[\u0000-\u001f]/g, ""))) {
      rec.problems.push(`${where}: <${tag} ${name}="${value.slice(0, 60)}">`);
    }
    if (where === "page") return;
    if (tag === "a" && name === "rel") {
      if (value !== ALLOW.linkRel) rec.problems.push(`${where}: <a rel="${value}">`);
      return;
    }
    if (!(ALLOW.attributes[tag] ?? []).includes(name)) {
      rec.problems.push(`${where}: <${tag} ${name}>`);
      return;
    }
    const key = `${tag} ${name}`;
    const schemes = ALLOW.schemes[key];
    if (schemes) {
      let scheme = "";
      try { scheme = new URL(value, document.baseURI).protocol.slice(0, -1); } catch { scheme = "(unparsable)"; }
      if (!schemes.includes(scheme)) rec.problems.push(`${where}: <${tag} ${name}="${value.slice(0, 60)}"> (${scheme})`);
    }
    const pattern = PATTERNS[key];
    if (pattern && !pattern.test(value)) rec.problems.push(`${where}: <${tag} ${name}="${value.slice(0, 60)}">`);
  }

  function checkElement(element, where) {
    const tag = element.localName;
    // MathML only inside <math> (math itself only outside one), HTML only outside it.
    const parent = element.parentElement;
    const inMath = parent !== null && parent.namespaceURI === MATHML_NS;
    const mathml = element.namespaceURI === MATHML_NS && MATHML_TAGS.has(tag) && (tag === "math") !== inMath;
    if (where !== "page" || rec.loaded) {
      if (NEVER_TAGS.has(tag) || (element.namespaceURI !== HTML_NS && !mathml) || (element.namespaceURI === HTML_NS && inMath)) {
        rec.problems.push(`${where}: <${tag}> (${element.namespaceURI})`);
      }
    }
    if (where !== "page" && !TAGS.has(tag) && !mathml) rec.problems.push(`${where}: <${tag}>`);
    // <math> and <input> may appear now, but only as the policy shapes them.
    if (where !== "page" && tag === "input" && !(element.type === "checkbox" && element.disabled)) rec.problems.push(`${where}: live <input>`);
    if (where !== "page" || rec.loaded) {
      for (const attribute of element.attributes) checkAttribute(element, attribute.name, attribute.value, where);
    }
  }

  function checkTree(node, where) {
    if (node.nodeType === 8 && where !== "page") rec.problems.push(`${where}: comment`);
    if (node.nodeType !== 1 && node.nodeType !== 11) return;
    if (node.nodeType === 1) checkElement(node, where);
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_COMMENT);
    for (let next = walker.nextNode(); next; next = walker.nextNode()) {
      if (next.nodeType === 8) { if (where !== "page") rec.problems.push(`${where}: comment`); }
      else checkElement(next, where);
    }
  }

  function snapshot() {
    for (const article of document.querySelectorAll("article.answer")) {
      const state = article.dataset.state;
      if (state !== "generating" && state !== "reconnecting") continue;
      const committed = article.querySelector(".answer-committed");
      const tail = article.querySelector(".answer-tail");
      if (!committed || !tail) continue;
      rec.growth.push([answerNumber(article), committed.childNodes.length, tail.childNodes.length,
        committed.textContent.length + tail.textContent.length, article.querySelector(".answer-body").getAttribute("aria-busy")]);
    }
  }

  const observer = new MutationObserver((records) => {
    for (const record of records) {
      const where = region(record.target, record.type === "childList");
      if (record.type === "childList") {
        if (where === "committed") {
          const isContainer = record.target.classList?.contains("answer-committed");
          if (record.removedNodes.length) rec.committed.push(`removed ${[...record.removedNodes].map(describe).join(" ")} from ${describe(record.target)}`);
          if (record.addedNodes.length && (!isContainer || record.nextSibling !== null)) {
            rec.committed.push(`inserted ${[...record.addedNodes].map(describe).join(" ")} into ${describe(record.target)}${record.nextSibling ? " before a committed node" : ""}`);
          }
          rec.mutations.committedAdded += record.addedNodes.length;
        } else if (where === "tail") {
          rec.mutations.tailAdded += record.addedNodes.length;
          rec.mutations.tailRemoved += record.removedNodes.length;
        }
        for (const node of record.addedNodes) checkTree(node, where);
      } else if (record.type === "attributes") {
        const element = record.target;
        if (where === "committed") rec.committed.push(`attribute ${record.attributeName} of ${describe(element)} changed`);
        const value = element.getAttribute(record.attributeName);
        if (value !== null && (where !== "page" || rec.loaded)) checkAttribute(element, record.attributeName, value, where);
        if (record.attributeName === "data-state" && element.matches("article.answer")) rec.states.push([answerNumber(element), value]);
      } else if (record.type === "characterData" && where === "committed") {
        rec.committed.push(`text of ${describe(record.target.parentNode ?? record.target)} changed`);
      }
    }
    snapshot();
  });
  observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
})();
"""


def recorder_script() -> str:
    """RECORDER_JS with the server's allowlist filled in."""
    return RECORDER_JS.replace("__ALLOWLIST__", allowlist_json())

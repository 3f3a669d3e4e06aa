"""What a run found: records only, no behaviour beyond a few summaries.

``Problem`` (HTML the static check refused), ``Outcome`` (one payload),
``Report`` (a run), and the verdict vocabulary ``BROWSER_CLASSES`` that every
oracle and every report format shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .corpus import Payload

__all__ = ["BROWSER_CLASSES", "CANARY", "Outcome", "Problem", "Report"]

#: The global that corpus payloads try to set: ``window.__xss=1``.
CANARY = "__xss"

#: Browser classes, from best to worst:
#: ``clean`` nothing happened; ``blocked`` a CSP refused something;
#: ``disallowed`` the DOM held something it must not (or a client re-check
#: had to remove it); ``executed`` script ran, a request left, or the page navigated.
BROWSER_CLASSES = ("clean", "blocked", "disallowed", "executed")


@dataclass(slots=True)
class Problem:
    """HTML that the static check refused."""

    #: Where: ``markdown split@12 op 3 (tail)``, ``html prefix 7``, ``state 4 (chars)``...
    route: str
    #: What the check found (the ``removed`` format: ``<img onerror>``).
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
    #: Chunkings whose streamed result differs from the one-shot result.
    diverged: list[str] = field(default_factory=list)
    #: The distinct op sequences, as ``[kind, html]`` pairs, for the browser.
    streams: list[list[tuple[str, str]]] = field(default_factory=list)
    #: The browser's class (``BROWSER_CLASSES``), None without a browser pass.
    verdict: str | None = None
    #: What the browser oracle saw, one line each.
    evidence: list[str] = field(default_factory=list)
    #: Ops the client code refused (an engine/client mismatch, not an attack).
    client_errors: list[str] = field(default_factory=list)
    #: The target failed on this payload (exit status, HTTP error, exception).
    error: str | None = None
    #: The last HTML (or DOM, in a browser) the target produced, for reports.
    dom: str = ""

    @property
    def failed(self) -> bool:
        """Whether this payload fails the check: disallowed output, something
        ran, or the target broke (then nothing was proven)."""
        return bool(self.problems) or self.verdict in ("disallowed", "executed") or self.error is not None

    @property
    def worst(self) -> str:
        """One word for the payload: ``error``, the browser's class, or
        ``disallowed``/``clean`` from the static check alone."""
        if self.error is not None:
            return "error"
        if self.verdict == "executed":
            return "executed"
        if self.problems or self.verdict == "disallowed":
            return "disallowed"
        return self.verdict or "clean"


@dataclass(slots=True)
class Report:
    """The result of a run."""

    outcomes: list[Outcome]
    #: The sanitizer backend of the built-in pipeline, or the target's kind.
    sanitizer: str
    corpus: str
    #: The browser's name and version, when there was a browser pass.
    browser: str | None = None
    seconds: float = 0.0
    #: What was checked: ``pipeline (bleach)``, ``command: ./render.sh``, ``js: a.mjs``...
    target: str = ""

    @property
    def failed(self) -> bool:
        return any(outcome.failed for outcome in self.outcomes)

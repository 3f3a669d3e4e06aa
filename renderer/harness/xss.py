"""The XSS check's public names in one place (``renderer.harness.xss``).

The harness lives in modules by job; this module keeps the names that
scripts and tests have imported from it since the first version:

- ``corpus``: payloads, their classes and sources, reading corpus files;
- ``pipeline``: the built-in pipeline's static check (``check``);
- ``targets``: other renderers: a command, a URL, an ES module (``--js``);
- ``danger``: the static judgement of HTML from renderers with other policies;
- ``oracle.browser``: Chromium, the hooks, canary, CSP and DOM audit;
- ``oracle.targets``: the page and loopback server other targets run in;
- ``report``: text, JSON, JUnit XML and HTML reports;
- ``diff``: two targets side by side;
- ``assertions``: the pytest helper (``assert_nothing_runs``).

See each module's docstring, and docs/harness.md.
"""

from __future__ import annotations

from ..markdown.render import clean_markdown
from ..sanitizer.clean import SANITIZERS, BackendUnavailable, make_sanitizer
from .chromium import CHROMIUM
from .corpus import CLASSES, CorpusError, Payload, default_corpus_path, load_corpus, parse_corpus, select
from .oracle.browser import BrowserOptions, check_browser, with_browser
from .pipeline import Depth, check, check_payload, check_static, chunkings
from .report import format_report
from .results import BROWSER_CLASSES, CANARY, Outcome, Problem, Report

__all__ = [
    "BROWSER_CLASSES",
    "CANARY",
    "CHROMIUM",
    "CLASSES",
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
    "select",
    "with_browser",
]

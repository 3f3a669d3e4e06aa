"""Targets: the renderers the harness can check, behind one small interface.

The contract (``Target``): ``render(text)`` returns the HTML that the target
would put in a page for ``text``; it is a pure function of the text, so a
streamed answer that is re-rendered as it grows shows ``render(prefix)`` for
each prefix. A target that breaks on a payload raises ``TargetError``; the
harness reports the payload as ``error`` (nothing was proven about it).

=================  ===========================================================
``PipelineTarget`` the built-in pipeline: ``render_markdown`` with a backend
``FunctionTarget`` any Python callable (what the pytest helper wraps)
``CommandTarget``  ``--command CMD``: the payload on standard input, HTML on
                   standard output, one process per render
``UrlTarget``      ``--url URL``: the payload POSTed (JSON ``{field: text}``
                   or a raw text body), HTML in the answer (a JSON field or
                   the whole body)
``JsTarget``       ``--js MODULE``: an ES module run in Chromium, exporting
                   ``render(text) -> html`` or ``mount(element) -> writer``;
                   only the browser oracle (``oracle/targets.py``) can run it
=================  ===========================================================

Errors::

    TargetError (RuntimeError)     the target failed on one payload
    TargetUnusable (ValueError)    the target cannot be used at all (bad
                                   command, bad URL, missing module)
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

__all__ = [
    "CommandTarget",
    "FunctionTarget",
    "JsTarget",
    "PipelineTarget",
    "Target",
    "TargetError",
    "TargetUnusable",
    "UrlTarget",
]

_SURROGATE = re.compile("[\ud800-\udfff]")

DEFAULT_TIMEOUT = 30.0
"""Seconds one render may take before the payload is reported as an error."""


class TargetError(RuntimeError):
    """The target failed on one payload (exit status, HTTP error, exception)."""


class TargetUnusable(ValueError):
    """The target cannot be used at all; the message says why, in one line."""


class Target:
    """A renderer under check.

    Subclasses set ``kind`` and implement ``render``. ``in_browser`` targets
    (``JsTarget``) have no Python ``render``: the browser oracle runs them.
    ``policy`` says how output is judged statically: ``danger`` (nothing that
    can run script or navigate, ``danger.check_danger``) or ``allowlist``
    (this project's own allowlist, ``check_allowlist``).
    """

    kind: ClassVar[str] = "target"
    in_browser: ClassVar[bool] = False
    policy: str = "danger"

    def __init__(self, name: str) -> None:
        #: How reports name the target: ``command: ./weak.sh``.
        self.name = name

    def render(self, text: str) -> str:
        """The HTML for ``text``; raises TargetError."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the target holds (nothing, by default)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class FunctionTarget(Target):
    """A Python callable ``text -> html``; its exceptions become TargetError."""

    kind = "function"

    def __init__(self, function: Callable[[str], str], name: str | None = None) -> None:
        super().__init__(name or str(getattr(function, "__qualname__", repr(function))))
        self.function = function

    def render(self, text: str) -> str:
        try:
            html = self.function(text)
        except Exception as error:
            raise TargetError(f"{type(error).__name__}: {error}") from error
        if not isinstance(html, str):
            raise TargetError(f"returned {type(html).__name__}, not str")
        return html


class PipelineTarget(Target):
    """This project's ``render_markdown`` with a sanitizer backend, judged by
    its own allowlist."""

    kind = "pipeline"
    policy = "allowlist"

    def __init__(self, sanitizer: str = "bleach") -> None:
        from ..markdown.render import render_markdown
        from ..sanitizer.clean import make_sanitizer

        super().__init__(f"pipeline ({sanitizer})")
        self._sanitizer = make_sanitizer(sanitizer, report_removed=False)
        self._render = render_markdown

    def render(self, text: str) -> str:
        html: str = self._render(text, sanitizer=self._sanitizer)
        return html


def utf8(text: str) -> bytes:
    """text as UTF-8 on the wire: a lone surrogate (the corpus has some)
    becomes U+FFFD, as the browser's encoder makes it when a page sends it."""
    return _SURROGATE.sub("\ufffd", text).encode("utf-8")


class CommandTarget(Target):
    """``--command CMD``: CMD (split like a shell would, but run without one)
    reads the payload as UTF-8 on standard input and writes HTML on standard
    output; a non-zero exit status or a timeout is a TargetError."""

    kind = "command"

    def __init__(self, command: str, *, timeout: float = DEFAULT_TIMEOUT, cwd: str | None = None) -> None:
        super().__init__(f"command: {command}")
        try:
            self.argv = shlex.split(command)
        except ValueError as error:
            raise TargetUnusable(f"--command {command!r}: {error}") from None
        if not self.argv:
            raise TargetUnusable("--command is empty")
        if shutil.which(self.argv[0], path=None) is None and not Path(self.argv[0]).is_file():
            raise TargetUnusable(f"--command: {self.argv[0]!r} not found")
        self.timeout = timeout
        self.cwd = cwd

    def render(self, text: str) -> str:
        try:
            done = subprocess.run(self.argv, input=utf8(text), capture_output=True, timeout=self.timeout, cwd=self.cwd)
        except subprocess.TimeoutExpired:
            raise TargetError(f"no answer within {self.timeout:g} s") from None
        except OSError as error:
            raise TargetError(f"cannot run: {error.strerror or error}") from None
        if done.returncode != 0:
            first = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise TargetError(f"exit status {done.returncode}" + (f": {first[0]}" if first else ""))
        return done.stdout.decode("utf-8", "replace")


class UrlTarget(Target):
    """``--url URL``: POST the payload, read HTML from the answer.

    ``request_field``: the payload goes as JSON ``{request_field: text}``
    (default ``text``), or, when it is empty, as a ``text/plain`` body.
    ``response_field``: the HTML is that field of a JSON answer (default
    ``html``), or, when it is empty or the answer is not JSON, the whole body.
    An HTTP error status or a refused connection is a TargetError.
    """

    kind = "url"

    def __init__(
        self,
        url: str,
        *,
        request_field: str = "text",
        response_field: str = "html",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(f"url: {url}")
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise TargetUnusable(f"--url must be an http or https URL, got {url!r}")
        self.url = url
        self.request_field = request_field
        self.response_field = response_field
        self.timeout = timeout

    def render(self, text: str) -> str:
        if self.request_field:
            body = json.dumps({self.request_field: text}).encode("utf-8")
            kind = "application/json"
        else:
            body, kind = utf8(text), "text/plain; charset=utf-8"
        request = urllib.request.Request(self.url, data=body, method="POST", headers={"Content-Type": kind})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                data: bytes = answer.read()
                is_json = answer.headers.get_content_type() == "application/json"
        except urllib.error.HTTPError as error:
            raise TargetError(f"HTTP {error.code}: {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            raise TargetError(f"cannot POST: {getattr(error, 'reason', error)}") from None
        answer_text: str = data.decode("utf-8", "replace")
        if not (self.response_field and is_json):
            return answer_text
        try:
            value = json.loads(answer_text)[self.response_field]
        except (ValueError, KeyError, TypeError):
            raise TargetError(f"the answer has no string field {self.response_field!r}") from None
        if not isinstance(value, str):
            raise TargetError(f"the answer has no string field {self.response_field!r}")
        return value


class JsTarget(Target):
    """``--js MODULE``: an ES module that Chromium imports from a loopback
    server, with the bare imports of ``node_modules`` resolved by an import
    map (``oracle.targets``). It exports ``render(text)`` returning HTML (or
    a promise of it), which the page assigns to an element's ``innerHTML``,
    or ``mount(element)`` returning a writer: a function taking each chunk,
    or an object with ``write(chunk)`` and optionally ``end()``, which
    renders into the element itself (a streaming renderer)."""

    kind = "js"
    in_browser = True

    def __init__(self, module: str | Path, *, node_modules: str | Path | None = None) -> None:
        path = Path(module).resolve()
        super().__init__(f"js: {module}")
        if not path.is_file():
            raise TargetUnusable(f"--js: no module at {str(module)!r}")
        self.module = path
        self.node_modules = Path(node_modules).resolve() if node_modules else _nearest_node_modules(path)
        if node_modules and not (self.node_modules and self.node_modules.is_dir()):
            raise TargetUnusable(f"--node-modules: no directory at {str(node_modules)!r}")

    def render(self, text: str) -> str:
        raise TargetError("a --js target runs in the browser only")


def _nearest_node_modules(path: Path) -> Path | None:
    """The ``node_modules`` directory Node would look in first for ``path``."""
    for folder in path.parents:
        if (folder / "node_modules").is_dir():
            return folder / "node_modules"
    return None

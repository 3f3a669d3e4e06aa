"""Other renderers in Chromium: a plain page from a loopback server, the
oracle of ``oracle.browser``, and the DOM audit of ``danger``.

``PageServer`` serves, on ``127.0.0.1`` and a free port, from the standard
library alone (no tornado):

- ``/``: a blank page with no Content-Security-Policy (the target's own page
  may have none; a CSP would hide what the HTML can do) and, for a ``--js``
  target, an import map that resolves the packages of its ``node_modules``;
- ``/module/...``: the target module's directory (so its relative imports work);
- ``/node_modules/...``: the ``node_modules`` directory; anything else is 404.

``check_in_browser`` then shows each payload there:

- for a target rendered in Python (a command, a URL, a function): each
  distinct HTML state the target produced is assigned to a live element's
  ``innerHTML``, the way a chat UI that re-renders on every token does;
- for a ``--js`` target: each run of chunks (the whole payload; with
  ``--stream`` also chunks of N characters and the payload's own cut) goes
  through the module's ``render`` (re-rendering the text so far, assigned
  to ``innerHTML``) or ``mount`` writer, and after every chunk the page
  lets images load or fail, audits the live DOM, and keeps its HTML.

Whatever the oracle hooks see (canary, ``alert``, ``fetch`` and the other
hooks, navigations, popups) classes the payload ``executed``; the live DOM
holding what ``danger.DANGER_RULES`` forbids classes it ``disallowed``. A
request that leaves for another origin without script (a remote image,
which is what a Markdown image is) is noted in the evidence as a remote
load, and changes no class: this page has no CSP, the target's page may.
"""

from __future__ import annotations

import json
import mimetypes
import posixpath
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from ..danger import DANGEROUS_ELEMENTS, MEDIA_DATA_URLS, NAVIGATING_SCHEMES, URL_ATTRIBUTES
from ..results import Outcome
from ..targets import JsTarget, TargetUnusable
from .browser import BrowserOptions, Oracle, classify, with_browser

__all__ = ["PageServer", "check_in_browser", "import_map", "package_entry"]

_CONDITIONS = ("browser", "import", "module", "default")
"""Export conditions a browser import takes, in order (never ``require``)."""


def package_entry(package: Path) -> str | None:
    """The file (relative to ``package``) a browser ``import "name"`` loads,
    from ``package.json``'s ``exports`` (the ``.`` entry, by the conditions
    ``browser``, ``import``, ``module``, ``default``), else ``module``, else
    ``main``; None when there is none."""
    try:
        manifest = json.loads((package / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    exports = manifest.get("exports") if isinstance(manifest, dict) else None
    if isinstance(exports, dict) and any(key.startswith(".") for key in exports):
        exports = exports.get(".")
    while isinstance(exports, dict):
        exports = next((exports[key] for key in _CONDITIONS if key in exports), None)
    if isinstance(exports, str):
        return exports
    for key in ("module", "main"):
        if isinstance(manifest.get(key), str):
            return str(manifest[key])
    return None


def import_map(node_modules: Path | None) -> dict[str, dict[str, str]]:
    """An import map for every package in ``node_modules`` (scoped ones too):
    ``name`` to its entry file and ``name/`` to its folder."""
    imports: dict[str, str] = {}
    if node_modules is None or not node_modules.is_dir():
        return {"imports": imports}
    folders = []
    for folder in sorted(node_modules.iterdir()):
        if folder.name.startswith("@") and folder.is_dir():
            folders += sorted(folder.iterdir())
        elif not folder.name.startswith("."):
            folders.append(folder)
    for folder in folders:
        name = folder.relative_to(node_modules).as_posix()
        entry = package_entry(folder)
        if entry:
            imports[name] = f"/node_modules/{name}/{posixpath.normpath(entry)}"
        imports[f"{name}/"] = f"/node_modules/{name}/"
    return {"imports": imports}


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>xss-check target</title>
<script type="importmap">__IMPORTS__</script>
</head><body></body></html>
"""


class _QuietServer(ThreadingHTTPServer):
    """Connections the browser drops are no error of the harness's."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class PageServer:
    """The target page and its files on a free loopback port, served from a
    thread for the duration of a ``with`` block."""

    def __init__(self, target: JsTarget | None = None) -> None:
        self.roots: dict[str, Path] = {}
        imports = import_map(None)
        if target is not None:
            self.roots["module"] = target.module.parent
            if target.node_modules is not None:
                self.roots["node_modules"] = target.node_modules
            imports = import_map(target.node_modules)
        #: Where the page imports the target from (None: no module).
        self.module_url = f"/module/{target.module.name}" if target else None
        # "</" cannot end the script element early inside a JSON string.
        self.page = _PAGE.replace("__IMPORTS__", json.dumps(imports).replace("</", "<\\/")).encode()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="xss-check page", daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.origin + path

    def file(self, path: str) -> Path | None:
        """The file a request path names, or None (outside the roots, or missing)."""
        parts = urllib.parse.unquote(urllib.parse.urlsplit(path).path).lstrip("/").split("/", 1)
        root = self.roots.get(parts[0])
        if root is None or len(parts) < 2:
            return None
        candidate = (root / parts[1]).resolve()
        return candidate if candidate.is_file() and candidate.is_relative_to(root) else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urllib.parse.urlsplit(self.path).path == "/":
                    self._send(200, "text/html; charset=utf-8", server.page)
                    return
                found = server.file(self.path)
                if found is None:
                    self._send(404, "text/plain", b"not found")
                    return
                kind = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
                if found.suffix in (".js", ".mjs", ".cjs"):
                    kind = "text/javascript"
                self._send(200, f"{kind}; charset=utf-8" if kind.startswith("text/") else kind, found.read_bytes())

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the page moved on (a payload navigated, a request was cancelled)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the harness reports; the server stays quiet

        return Handler

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# Runs one payload in the target page: page.evaluate(_RUN_JS, {...}).
_RUN_JS = r"""
async ({ id, states, runs, moduleUrl, settleMs, rules }) => {
  const oracle = window.__xssOracle;
  const host = document.createElement("div");
  host.className = "xss-check";
  host.dataset.payload = String(id);
  document.body.append(host);
  const dangerous = new Set(rules.elements);
  const urlAttributes = new Set(rules.urlAttributes);
  const schemes = new Set(rules.schemes);
  const media = new Set(rules.media);
  const dom = new Set();
  const errors = [];
  const seen = [];
  const settle = async (root) => {
    const pending = [...root.querySelectorAll("img, image, video, audio, source")].filter((e) => e.complete === false);
    await Promise.race([
      Promise.all(pending.map((e) => new Promise((done) => {
        e.addEventListener("load", done, { once: true });
        e.addEventListener("error", done, { once: true });
      }))),
      new Promise((done) => setTimeout(done, 1000)),
    ]);
    await new Promise((done) => setTimeout(done, 0));
  };
  const audit = (root) => {
    for (const element of root.querySelectorAll("*")) {
      const name = element.localName;
      if (dangerous.has(name)) dom.add(`<${name}>`);
      for (const attribute of element.attributes) {
        const key = attribute.name.toLowerCase();
        if (/^on[a-z]+$/.test(key) || key === "srcdoc") {
          dom.add(`<${name} ${key}>`);
        } else if (urlAttributes.has(key)) {
          let scheme = "";
          try { scheme = new URL(attribute.value, document.baseURI).protocol.slice(0, -1); } catch {}
          if (schemes.has(scheme) && !(scheme === "data" && media.has(`${name} ${key}`))) {
            dom.add(`<${name} ${key}="${scheme}:...">`);
          }
        }
      }
      if ((name === "animate" || name === "set") && /^(xlink:)?href$/i.test(element.getAttribute("attributeName") || "")) {
        dom.add(`<${name} attributename=href>`);
      }
    }
  };
  const keep = (root) => { if (seen[seen.length - 1] !== root.innerHTML) seen.push(root.innerHTML); };
  if (moduleUrl) {
    let target;
    try { target = await import(moduleUrl); } catch (error) { errors.push(`import: ${error}`); }
    for (const chunks of target ? runs : []) {
      const root = document.createElement("div");
      host.append(root);
      try {
        if (typeof target.mount === "function") {
          const writer = await target.mount(root);
          const write = typeof writer === "function" ? writer : (chunk) => writer.write(chunk);
          for (const chunk of chunks) {
            await write(chunk);
            await settle(root); audit(root); keep(root);
          }
          const end = writer && typeof writer === "object" ? (writer.end || writer.close) : null;
          if (typeof end === "function") {
            await end.call(writer);
            await settle(root); audit(root); keep(root);
          }
        } else if (typeof target.render === "function") {
          let text = "";
          for (const chunk of chunks) {
            text += chunk;
            root.innerHTML = await target.render(text);
            await settle(root); audit(root); keep(root);
          }
        } else {
          errors.push("the module exports neither render(text) nor mount(element)");
        }
      } catch (error) {
        errors.push(String(error && error.stack ? error.stack.split("\n")[0] : error));
      }
    }
  } else {
    for (const html of states) {
      const root = document.createElement("div");
      host.append(root);
      root.innerHTML = html;
    }
    await settle(host); audit(host);
  }
  await new Promise((done) => setTimeout(done, settleMs));
  await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
  host.remove();
  return { signals: oracle.signals.splice(0), scrubbed: [], errors, dom: [...dom], states: seen };
}
"""

_RULES = {
    "elements": sorted(DANGEROUS_ELEMENTS),
    "urlAttributes": sorted(URL_ATTRIBUTES),
    "schemes": sorted(NAVIGATING_SCHEMES),
    "media": sorted(f"{tag} {name}" for tag, name in MEDIA_DATA_URLS),
}


class _TargetOracle(Oracle):
    """The oracle on the target page: everything from the page's own server
    is the target's (its module, its packages, a relative image's 404)."""

    def _unexpected(self, url: str) -> bool:
        return not url.startswith(self.server.origin + "/")

    def show(self, index: int, outcome: Outcome, argument: dict[str, Any]) -> list[str]:
        """Run one payload; class it; return the HTML states the page kept."""
        self.seen.clear()
        try:
            result = self.page.evaluate(_RUN_JS, {"id": index, **argument})
        except Exception as error:  # the payload took the page away (navigation, crash)
            result = {"signals": [], "scrubbed": [], "errors": [], "dom": [], "states": []}
            self.seen.append(("page", f"lost the page: {str(error).strip().splitlines()[0]}"))
        if self.page.is_closed() or self.page.url != self.loaded:
            self.seen.append(("navigation", "the page navigated away"))
        # A remote image or stylesheet is what Markdown images are for, and
        # this page has no CSP to stop it: noted, not counted as script.
        remote = [detail for kind, detail in self.seen if kind == "request"]
        classify(outcome, result, [(kind, detail) for kind, detail in self.seen if kind != "request"])
        outcome.evidence += [f"remote load (not script): {detail}" for detail in dict.fromkeys(remote)]
        if outcome.verdict == "executed":
            self.open()
        return list(result.get("states", []))


def check_in_browser(
    outcomes: Sequence[Outcome],
    *,
    states: Sequence[Sequence[str]] = (),
    runs: Sequence[Sequence[Sequence[str]]] = (),
    target: JsTarget | None = None,
    options: BrowserOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[str, list[list[str]]]:
    """Show each outcome's payload in the target page and class it.

    For a Python-side target, ``states[i]`` are the HTML states of
    ``outcomes[i]``; for a ``--js`` target, ``runs[i]`` are its runs of
    chunks. Returns the browser's name and version, and the HTML states each
    payload left in the page (empty lists for Python-side targets). A module
    that throws sets the outcome's ``error``; one that cannot be imported
    (a bare import without ``node_modules``, a syntax error) raises
    TargetUnusable at the first payload.
    """
    options = options or BrowserOptions(page="/", batch=50)

    def run(browser: Any) -> tuple[str, list[list[str]]]:
        kept: list[list[str]] = []
        with PageServer(target) as server:
            context = browser.new_context()
            try:
                oracle = _TargetOracle(context, server, options)
                for index, outcome in enumerate(outcomes):
                    if index % max(1, options.batch) == 0:
                        oracle.open()
                    argument = {
                        "states": list(states[index]) if states else [],
                        "runs": [list(chunks) for chunks in runs[index]] if runs else [],
                        "moduleUrl": server.module_url,
                        "settleMs": options.settle_ms,
                        "rules": _RULES,
                    }
                    kept.append(oracle.show(index, outcome, argument))
                    failed_import = [error for error in outcome.client_errors if error.startswith("import: ")]
                    if failed_import and target is not None:
                        hint = "" if target.node_modules else " (no node_modules found: pass --node-modules DIR)"
                        raise TargetUnusable(f"--js: cannot import {target.module.name}: {failed_import[0][8:]}{hint}")
                    if outcome.client_errors and target is not None:
                        outcome.error = outcome.client_errors[0]
                    if progress:
                        progress(index + 1, len(outcomes))
            finally:
                context.close()
        return f"chromium {browser.version}", kept

    return with_browser(run)

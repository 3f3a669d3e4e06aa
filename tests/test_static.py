"""The browser's allowlist (``/static/allowlist.js``) is generated from the
server's Policy: it says what the Policy says, for the default policy and
for one an application brings, and it is served as a module should be."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from tornado import web

from renderer.sanitizer.clean import DEFAULT_POLICY, Policy
from renderer.server import AppState, Config, static_routes
from renderer.server.policy_js import policy_module
from renderer.server.store.memory import MemoryStore
from renderer.server.testing import ServerThread

STATIC = Path(__file__).resolve().parent.parent / "static"

CUSTOM_POLICY = Policy(
    tags=frozenset({"p", "a", "em", "span"}),
    attributes=MappingProxyType({"a": frozenset({"href"}), "span": frozenset({"class", "title"})}),
    url_schemes=MappingProxyType({("a", "href"): frozenset({"https"})}),
    attribute_values=MappingProxyType({("span", "class"): re.compile("note|warning", re.IGNORECASE)}),
    drop_content_tags=frozenset({"script", "style"}),
    link_rel="nofollow",
)

# What a browser sees when it imports the module: every export as JSON.
DUMP = """
import * as a from "./allowlist.mjs";
const sets = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, [...v].sort()]));
console.log(JSON.stringify({
  exports: Object.keys(a).sort(),
  tags: [...a.TAGS].sort(),
  mathml: [...a.MATHML_TAGS].sort(),
  set: a.SET_ATTRIBUTES,
  drop: [...a.DROP_CONTENT_TAGS].sort(),
  attributes: sets(a.ATTRIBUTES),
  schemes: sets(a.URL_SCHEMES),
  values: Object.fromEntries(Object.entries(a.ATTRIBUTE_VALUES).map(([k, v]) => [k, [v.source, v.flags]])),
  rel: a.LINK_REL,
}));
"""


class StaticServer(ServerThread):
    """Only ``static_routes``, for an ``AppState`` with the given policy."""

    def __init__(self, policy: Policy | None = None) -> None:
        super().__init__(Config(), name="static test server")
        self.policy = policy

    def build(self) -> web.Application:
        store = MemoryStore()
        state = AppState(Config(), store) if self.policy is None else AppState(Config(), store, policy=self.policy)
        app = web.Application(static_routes(state))
        app.state = state  # type: ignore[attr-defined]
        return app


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:  # it holds the connection: unclosed, a ResourceWarning later
            return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def default_server() -> Iterator[StaticServer]:
    with StaticServer() as server:
        yield server


def run_module(source: str, tmp_path: Path) -> dict[str, Any]:
    """The module's exports, as node imports them."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    (tmp_path / "allowlist.mjs").write_text(source, encoding="utf-8")
    result = subprocess.run(
        [node, "--input-type=module", "-e", DUMP], cwd=tmp_path, capture_output=True, text=True, check=True, timeout=30
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def expected(policy: Policy) -> dict[str, Any]:
    """What the module must say for policy: the policy, plus ``rel`` on links
    (the server sets it, so the client keeps it)."""
    attributes = {tag: sorted(names) for tag, names in policy.attributes.items()}
    if policy.link_rel is not None:
        attributes["a"] = sorted({*attributes.get("a", []), "rel"})
    return {
        "exports": sorted(
            [
                "ATTRIBUTES",
                "ATTRIBUTE_VALUES",
                "DROP_CONTENT_TAGS",
                "LINK_REL",
                "MATHML_TAGS",
                "SET_ATTRIBUTES",
                "TAGS",
                "URL_SCHEMES",
            ]
        ),
        "tags": sorted(policy.tags),
        "mathml": sorted(policy.mathml_tags),
        "set": {tag: dict(values) for tag, values in policy.set_attributes.items()},
        "drop": sorted(policy.drop_content_tags),
        "attributes": attributes,
        "schemes": {f"{tag} {name}": sorted(s) for (tag, name), s in policy.url_schemes.items()},
        "values": {
            f"{tag} {name}": [f"^(?:{p.pattern})$", "i" if p.flags & re.IGNORECASE else ""]
            for (tag, name), p in policy.attribute_values.items()
        },
        "rel": policy.link_rel,
    }


def test_the_allowlist_is_served_as_a_javascript_module_revalidated_on_every_load(
    default_server: StaticServer,
) -> None:
    status, headers, body = get(default_server.url("/static/allowlist.js"))
    assert status == 200
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body.decode() == policy_module(DEFAULT_POLICY)
    again, _, empty = get(default_server.url("/static/allowlist.js"), {"If-None-Match": headers["Etag"]})
    assert (again, empty) == (304, b"")


def test_the_allowlist_is_no_file_in_static_that_could_drift_from_the_policy() -> None:
    assert not (STATIC / "allowlist.js").exists()


def test_the_other_static_files_are_still_served(default_server: StaticServer) -> None:
    for name in ("stream.js", "dom.js", "answer.js", "transport.js", "answer.css"):
        status, _, body = get(default_server.url(f"/static/{name}"))
        assert status == 200, name
        assert body == (STATIC / name).read_bytes(), name


def test_the_served_module_says_what_the_default_policy_says(default_server: StaticServer, tmp_path: Path) -> None:
    _, _, body = get(default_server.url("/static/allowlist.js"))
    assert run_module(body.decode(), tmp_path) == expected(DEFAULT_POLICY)


def test_a_policy_given_to_the_app_changes_what_is_served(tmp_path: Path) -> None:
    with StaticServer(CUSTOM_POLICY) as server:
        status, _, body = get(server.url("/static/allowlist.js"))
    assert status == 200
    served = run_module(body.decode(), tmp_path)
    assert served == expected(CUSTOM_POLICY)
    assert served != expected(DEFAULT_POLICY)
    assert served["values"]["span class"] == ["^(?:note|warning)$", "i"]


def test_a_policy_without_link_rel_serves_null_and_no_rel_attribute(tmp_path: Path) -> None:
    policy = Policy(link_rel=None)
    served = run_module(policy_module(policy), tmp_path)
    assert served["rel"] is None
    assert served["attributes"]["a"] == sorted(DEFAULT_POLICY.attributes["a"])


@pytest.mark.parametrize(
    "name",
    [
        pytest.param('x"]); alert(1); (["', id="quote"),
        pytest.param("x</script><script>alert(1)//", id="end-tag"),
        pytest.param("x\u2028y\\", id="line-separator-and-backslash"),
        pytest.param("__proto__", id="proto"),
    ],
)
def test_odd_names_in_a_policy_stay_data(name: str, tmp_path: Path) -> None:
    policy = Policy(
        tags=frozenset({"p", name}),
        attributes=MappingProxyType({name: frozenset({"title"})}),
        url_schemes=MappingProxyType({("a", "href"): frozenset({"https"})}),
        attribute_values=MappingProxyType({(name, "title"): re.compile('a"b/c')}),
    )
    source = policy_module(policy)
    assert source.isascii()
    served = run_module(source, tmp_path)
    assert served["tags"] == sorted({"p", name})
    assert served["attributes"][name] == ["title"]
    assert served["values"][f"{name} title"] == ['^(?:a"b\\/c)$', ""]


def test_a_pattern_with_no_javascript_reading_is_refused() -> None:
    policy = Policy(attribute_values=MappingProxyType({("span", "class"): re.compile("hl-x  # a comment", re.VERBOSE)}))
    with pytest.raises(ValueError, match="verbose"):
        policy_module(policy)


def test_a_policy_given_to_make_app_sanitizes_the_answers_too() -> None:
    """One source of truth: what the browser re-checks is what the server kept."""
    from renderer import assemble
    from renderer.server import make_app

    class PolicyServer(ServerThread):
        def build(self) -> web.Application:
            return make_app(Config(token_delay=0, source="echo"), policy=CUSTOM_POLICY)

    message = 'Some *stress* and **strength**, <span class="note">a note</span> and <span class="x">x</span>.'
    with PolicyServer() as server:
        request = urllib.request.Request(
            server.url("/api/chat"),
            data=json.dumps({"message": message}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            ndjson = server.url(json.load(response)["events"].replace("/events", "/ndjson"))
        with urllib.request.urlopen(ndjson, timeout=10) as response:
            events = [json.loads(line) for line in response.read().decode().splitlines()]
    html = assemble({"event": e["event"], "data": e["data"]} for e in events if e["event"] != "done")
    assert "<em>stress</em>" in html and "<strong>" not in html
    assert '<span class="note">a note</span>' in html and 'class="x"' not in html

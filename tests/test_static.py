"""The browser's copy of the allowlist (static/allowlist.js) is the server's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from renderer.sanitizer.clean import DEFAULT_POLICY

STATIC = Path(__file__).resolve().parent.parent / "static"

DUMP = """
import * as a from "./allowlist.js";
const sets = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, [...v].sort()]));
console.log(JSON.stringify({
  tags: [...a.TAGS].sort(),
  drop: [...a.DROP_CONTENT_TAGS].sort(),
  attributes: sets(a.ATTRIBUTES),
  schemes: sets(a.URL_SCHEMES),
  values: Object.fromEntries(Object.entries(a.ATTRIBUTE_VALUES).map(([k, v]) => [k, v.source])),
  rel: a.LINK_REL,
}));
"""


@pytest.fixture(scope="module")
def allowlist_js() -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "--input-type=module", "-e", DUMP], cwd=STATIC, capture_output=True, text=True, check=True, timeout=30
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_the_client_allows_the_same_elements(allowlist_js: dict[str, object]) -> None:
    assert allowlist_js["tags"] == sorted(DEFAULT_POLICY.tags)
    assert allowlist_js["drop"] == sorted(DEFAULT_POLICY.drop_content_tags)


def test_the_client_allows_the_same_attributes_plus_the_rel_the_server_sets(allowlist_js: dict[str, object]) -> None:
    expected = {tag: sorted(names) for tag, names in DEFAULT_POLICY.attributes.items()}
    expected["a"] = sorted([*expected["a"], "rel"])
    assert allowlist_js["attributes"] == expected
    assert allowlist_js["rel"] == DEFAULT_POLICY.link_rel


def test_the_client_allows_the_same_url_schemes_and_values(allowlist_js: dict[str, object]) -> None:
    assert allowlist_js["schemes"] == {
        f"{tag} {name}": sorted(s) for (tag, name), s in DEFAULT_POLICY.url_schemes.items()
    }
    values = {f"{tag} {name}": f"^(?:{p.pattern})$" for (tag, name), p in DEFAULT_POLICY.attribute_values.items()}
    assert allowlist_js["values"] == values

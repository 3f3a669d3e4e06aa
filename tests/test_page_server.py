"""The loopback page server and import map of ``renderer.harness.oracle.targets``,
without a browser: package entries as browsers resolve them, and what the
server will and will not serve."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from renderer.harness.oracle.targets import PageServer, import_map, package_entry
from renderer.harness.targets import JsTarget


def package(root: Path, name: str, manifest: dict[str, object]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("manifest", "entry"),
    [
        pytest.param({"exports": "./a.js"}, "./a.js", id="exports-string"),
        pytest.param(
            {"exports": {".": {"require": "./c.cjs", "import": "./m.mjs"}}}, "./m.mjs", id="import-not-require"
        ),
        pytest.param(
            {"exports": {".": {"browser": {"import": "./b.mjs"}, "import": "./n.mjs"}}}, "./b.mjs", id="browser-first"
        ),
        pytest.param(
            {"exports": {"import": {"types": "./t.d.ts", "default": "./d.js"}}}, "./d.js", id="conditions-only"
        ),
        pytest.param({"module": "./esm.js", "main": "./cjs.js"}, "./esm.js", id="module-field"),
        pytest.param({"main": "./cjs.js"}, "./cjs.js", id="main-field"),
        pytest.param({"name": "nothing"}, None, id="none"),
    ],
)
def test_package_entries_follow_the_browser_conditions(
    tmp_path: Path, manifest: dict[str, object], entry: str | None
) -> None:
    assert package_entry(package(tmp_path, "p", manifest)) == entry


def test_the_import_map_covers_plain_and_scoped_packages(tmp_path: Path) -> None:
    package(tmp_path, "plain", {"module": "./lib/x.js"})
    package(tmp_path, "@scope/pkg", {"exports": "./index.mjs"})
    (tmp_path / ".bin").mkdir()
    imports = import_map(tmp_path)["imports"]
    assert imports == {
        "@scope/pkg": "/node_modules/@scope/pkg/index.mjs",
        "@scope/pkg/": "/node_modules/@scope/pkg/",
        "plain": "/node_modules/plain/lib/x.js",
        "plain/": "/node_modules/plain/",
    }
    assert import_map(None) == {"imports": {}}


def test_the_server_serves_the_page_the_module_and_packages_only(tmp_path: Path) -> None:
    modules = tmp_path / "node_modules"
    package(modules, "lib", {"module": "./lib.js"})
    (modules / "lib" / "lib.js").write_text("export const x = 1;\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "render.mjs").write_text('import { x } from "lib";\nexport const render = (t) => t;\n')
    (tmp_path / "secret.txt").write_text("no")
    target = JsTarget(tmp_path / "app" / "render.mjs", node_modules=modules)
    with PageServer(target) as server:
        page = urllib.request.urlopen(server.url("/")).read().decode()
        assert '<script type="importmap">{"imports": {"lib": "/node_modules/lib/lib.js"' in page
        assert "Content-Security-Policy" not in page
        for path in ("/module/render.mjs", "/node_modules/lib/lib.js"):
            with urllib.request.urlopen(server.url(path)) as answer:
                assert answer.headers["Content-Type"] == "text/javascript; charset=utf-8"
        for path in ("/module/../secret.txt", "/module/%2e%2e/secret.txt", "/node_modules/../secret.txt", "/x"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(server.url(path))


def test_the_nearest_node_modules_is_found_like_node_finds_it(tmp_path: Path) -> None:
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "m.mjs").write_text("export const render = (t) => t;\n")
    assert JsTarget(tmp_path / "a" / "b" / "m.mjs").node_modules == tmp_path / "node_modules"

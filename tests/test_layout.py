"""The package's layout keeps its promises: the engine and the sanitizer
know no server, layers import downwards only, and no import cycle exists."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "renderer"

LAYERS = ("sanitizer", "markdown", "progressive", "server", "harness", "demos")
"""Each layer may import the ones before it, never the ones after, except
where ALLOWED_UP says so (the server mounts the demo and harness pages)."""
ALLOWED_UP = {("server", "demos"), ("server", "harness")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at module level or inside functions, except
    those under ``if TYPE_CHECKING:`` (they never run)."""
    for node in ast.iter_child_nodes(tree):
        if _type_checking_only(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def imported_modules(name: str) -> set[str]:
    """The modules of this package that ``name`` imports."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from .pkg import mod`` imports the module pkg.mod when there is one.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        found.update(target for target in targets if target in MODULES and target != name)
    return found


GRAPH = {name: imported_modules(name) for name in MODULES}


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_the_graph_sees_the_imports() -> None:
    # A check that cannot fail proves nothing: the graph has the edges we know of.
    assert "renderer.markdown.render" in GRAPH["renderer.markdown.stream"]
    assert "renderer.sanitizer.clean" in GRAPH["renderer.markdown.render"]
    assert "renderer.server.testing" in GRAPH["renderer.harness.oracle.browser"]  # imported inside a function


def test_no_import_cycle_among_the_package_modules() -> None:
    """Depth-first search for a back edge; the message shows the cycle."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n)))
def test_layers_import_downwards(name: str) -> None:
    own = layer(name)
    assert own is not None
    for target in GRAPH[name]:
        other = layer(target)
        if other is None or other == own or (own, other) in ALLOWED_UP:
            continue
        assert LAYERS.index(other) < LAYERS.index(own), f"{name} imports {target}: {other} is above {own}"


def test_the_engine_and_the_sanitizer_import_no_server_code() -> None:
    """In a fresh interpreter: importing the library part loads no tornado,
    no redis, no prometheus_client and nothing of renderer.server."""
    code = (
        "import sys, renderer, renderer.markdown, renderer.sanitizer\n"
        "from renderer import MarkdownStream, render_markdown\n"
        "s = MarkdownStream(); s.feed('# hi\\n\\n**x'); s.close(); render_markdown('a')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'tornado', 'redis', 'prometheus_client'}"
        " or m.startswith(('renderer.server', 'renderer.harness', 'renderer.demos', 'renderer.progressive')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == ""


def test_the_render_command_imports_no_tornado() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['renderer', 'render', '--help']\n"
        "try:\n    runpy.run_module('renderer', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('tornado' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stderr.strip().splitlines()[-1] == "False"


def test_the_harness_outside_its_page_imports_without_tornado_or_playwright() -> None:
    """Users check their own renderers with the harness: its modules (all but
    the ``/sanitize`` page) load with tornado and playwright unavailable, and
    the static check and the pytest helper run."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tornado', 'playwright'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import renderer.harness.xss, renderer.harness.run, renderer.harness.diff, renderer.harness.oracle.targets\n"
        "from renderer.harness.assertions import assert_nothing_runs\n"
        "from renderer import render_markdown\n"
        "assert_nothing_runs(render_markdown, classes=['css'], policy='allowlist')\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr

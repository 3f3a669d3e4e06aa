"""What many test modules share: the fixtures, and the ``--screenshots`` switch.

Fixtures (request them by name; nothing to import):

* ``chromium`` (module scope): one headless Debian Chromium, a Playwright
  ``Browser``; skips the test when Chromium or Playwright is missing.
* ``redis_server`` (one per test): a real ``redis-server`` on a free port
  (``redis_server.RedisServer``), for tests that restart or stop it.
* ``redis_url`` (module scope): the URL of a real ``redis-server`` shared
  by a module's tests.  Both skip without ``redis-server`` or ``redis``.
* ``screenshots``: where the browser tests write their screenshots.

The helper modules beside this file (``server_fixtures``, ``browser``,
``redis_server``, ``sse_client``, ...) hold the classes and functions tests
import.

Markers (registered in pyproject.toml, ``--strict-markers``): ``browser``,
``redis``, ``nginx``, ``slow``; every module that needs one says so in its
``pytestmark``, and a test that asks for ``chromium``, ``redis_server`` or
``redis_url`` gets ``browser`` or ``redis`` here as well.  The fast loop:
``bash scripts/test -m "not browser and not slow"`` (scripts/test runs pytest-xdist on two processes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, redis_server_or_skip

from renderer.harness.chromium import CHROMIUM, CHROMIUM_ARGS

DOCS_SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
"""The README's pictures (tracked in git)."""


FIXTURE_MARKERS = {"chromium": "browser", "redis_server": "redis", "redis_url": "redis"}
"""The marker a test gets for asking for one of these fixtures."""


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in names:
                item.add_marker(marker)


def pytest_addoption(parser: pytest.Parser) -> None:
    # The screenshots switch: the browser tests always take their screenshots
    # and check them, but write docs/screenshots/*.png (tracked, shown in the
    # README) only when asked, with ``pytest --screenshots`` or
    # ``RENDERER_SCREENSHOTS=1``; otherwise into a temporary directory, so a
    # test run leaves the checkout as it was.
    parser.addoption(
        "--screenshots",
        action="store_true",
        default=False,
        help="write the browser tests' screenshots to docs/screenshots (also: RENDERER_SCREENSHOTS=1)",
    )


@pytest.fixture(scope="session")
def screenshots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots when asked (``--screenshots`` or ``RENDERER_SCREENSHOTS=1``), else a temporary directory."""
    if request.config.getoption("--screenshots") or os.environ.get("RENDERER_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Debian Chromium for a test module (a Playwright ``Browser``).

    Module, not session, scope: while Playwright's sync API is started, its
    event loop counts as running in the main thread, and the ``asyncio.run``
    of other test modules would fail.  ``/usr/bin/chromium`` is used as it
    is: ``playwright install`` is never needed.
    """
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` of the test's own (it may restart or stop it)."""
    redis_server_or_skip()
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """The URL of a real ``redis-server`` shared by the module's tests."""
    redis_server_or_skip()
    with RedisServer() as server:
        yield server.url

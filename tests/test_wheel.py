"""The wheel works on its own: built, installed in a fresh virtual environment
outside the checkout, and run from a directory that is not the checkout.

What a checkout hides: a file that ships only because the tests run from
the source tree (static/, the XSS corpus, ``py.typed``), an import of
something that is not a dependency.  The module builds the wheel once from
a copy of the checkout (so no ``build/`` or ``*.egg-info`` lands in it),
installs it with its dependencies into ``TMP/venv`` (pip reaches the package
index for them, and for setuptools to build with; a machine that cannot
skips these tests), then:

* ``python -m renderer serve --port 0`` from a temporary directory: ``/``
  is the chat page, ``/static/stream.js`` and ``/static/answer.css`` (when
  static/ has it) are served from the installed package, ``/sanitize``
  answers; SIGTERM stops it with status 0;
* ``py.typed`` is in the installed package;
* ``python -m renderer render`` and ``xss-check --depth one-shot`` (the
  shipped corpus, package data) run and exit 0.

Every wait is bounded; nothing sleeps to synchronise.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PIP_TIMEOUT = 300.0
"""Seconds building the wheel, or installing it, may take."""
START_TIMEOUT = 30.0
"""Seconds the installed server may take to say where it serves."""
STOP_TIMEOUT = 15.0
"""Seconds it may take to exit after SIGTERM."""
NETWORK_TROUBLE = (
    "Could not find a version that satisfies",
    "No matching distribution found",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
)
"""pip's words when it cannot reach the package index: then skip, not fail."""
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".cache", ".hypothesis", ".pytest_cache", "artifacts"
)


@dataclass
class Installed:
    python: Path  # the fresh venv's interpreter
    package: Path  # the installed renderer package
    source: Path  # the copy of the checkout the wheel was built from
    cwd: Path  # a directory that is not the checkout, to run from
    env: dict[str, str]


def clean_env() -> dict[str, str]:
    """The environment without what would point Python back at the checkout
    or change the server's settings (RENDERER_* variables)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"} and not name.startswith("RENDERER_")
    }
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pip(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    """``python -m pip *args`` with this test run's pip; skips on network trouble."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=PIP_TIMEOUT
    )
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(words in output for words in NETWORK_TROUBLE):
            pytest.skip(f"pip could not reach the package index: {output[-1500:]}")
        raise AssertionError(f"pip {' '.join(args)} exited {done.returncode}:\n{output[-4000:]}")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    env = clean_env()
    source = tmp / "src"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    dist = tmp / "dist"
    pip(["wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), str(source)], tmp, env)
    wheels = list(dist.glob("renderer-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    # No pip inside the venv (ensurepip is slow): this run's pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pip(["--python", str(python), "install", "--quiet", str(wheels[0])], tmp, env)
    cwd = tmp / "cwd"
    cwd.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import renderer, os; print(os.path.dirname(renderer.__file__))"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    package = Path(where.stdout.strip())
    assert package.is_relative_to(venv), f"renderer imported from {package}, not from the fresh venv"
    return Installed(python=python, package=package, source=source, cwd=cwd, env=env)


def read_line(proc: subprocess.Popen[bytes], deadline: float) -> str:
    """One line of the process's stdout, by ``deadline`` (time.monotonic)."""
    assert proc.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise AssertionError(f"no line from the server in time (so far {line!r})")
        byte = os.read(proc.stdout.fileno(), 1)
        if not byte:
            raise AssertionError(f"the server exited with {proc.wait()} before saying where it serves")
        line += byte
    return line.decode()


def get(url: str) -> tuple[int, str, bytes]:
    """Status, Content-Type and body of a GET (an error status is returned, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get("Content-Type", ""), error.read()


def test_installed_server_serves_the_shipped_files(installed: Installed, tmp_path: Path) -> None:
    stderr = (tmp_path / "stderr").open("wb")
    proc = subprocess.Popen(
        [str(installed.python), "-m", "renderer", "serve", "--host", "127.0.0.1", "--port", "0"],
        cwd=installed.cwd,
        env=installed.env,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            line = read_line(proc, deadline)
            match = re.search(r"serving on (http://127\.0\.0\.1:[0-9]+)/", line)
            if match:
                break
        origin = match.group(1)

        status, content_type, body = get(f"{origin}/")
        assert status == 200 and content_type.startswith("text/html"), ("/", status, content_type)
        index = (installed.source / "static" / "index.html").read_text(encoding="utf-8")
        title = re.search(r"<title>.*?</title>", index)
        assert title is not None
        assert title.group(0) in body.decode(), "GET / is not the chat page of static/index.html"

        status, content_type, body = get(f"{origin}/static/stream.js")
        assert status == 200 and "javascript" in content_type, ("/static/stream.js", status, content_type)
        assert body == (installed.source / "static" / "stream.js").read_bytes()

        if (installed.source / "static" / "answer.css").exists():
            status, content_type, body = get(f"{origin}/static/answer.css")
            assert status == 200 and content_type.startswith("text/css"), ("/static/answer.css", status, content_type)
            assert body == (installed.source / "static" / "answer.css").read_bytes()

        status, content_type, body = get(f"{origin}/sanitize")
        assert status == 200 and content_type.startswith("text/html"), ("/sanitize", status, content_type)
        assert body.strip(), "GET /sanitize is empty"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
            raise AssertionError("the installed server did not exit within 15 s of SIGTERM") from None
        finally:
            assert proc.stdout is not None
            proc.stdout.close()
            stderr.close()
    assert code == 0, f"serve exited {code} after SIGTERM:\n{(tmp_path / 'stderr').read_text(errors='replace')}"


def test_installed_package_is_typed(installed: Installed) -> None:
    assert (installed.package / "py.typed").is_file()


def test_installed_render(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.python), "-m", "renderer", "render"],
        input="# Hi *there*\n\n<script>alert(1)</script>\n",
        cwd=installed.cwd,
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert '<h1 dir="auto">Hi <em>there</em></h1>' in done.stdout
    assert "<script" not in done.stdout


def test_installed_xss_check(installed: Installed) -> None:
    done = subprocess.run(
        [str(installed.python), "-m", "renderer", "xss-check", "--depth", "one-shot"],
        cwd=installed.cwd,
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"^PASS: 0 executed", done.stdout, re.MULTILINE), done.stdout[-3000:]

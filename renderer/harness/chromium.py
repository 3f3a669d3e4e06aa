"""How this project runs headless Chromium (tests, ``xss-check --browser``,
``bench/client.py``): Debian's build, with the flags that keep it off the
network and quiet in a sandboxed, headless machine."""

from __future__ import annotations

__all__ = ["CHROMIUM", "CHROMIUM_ARGS"]

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (``apt-get install chromium``); Playwright's own
browser download is never used."""

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Without the networking flags Chromium tries to reach Google's hosts at
start, which a closed network refuses."""

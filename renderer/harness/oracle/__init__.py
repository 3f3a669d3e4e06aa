"""Oracles that watch HTML in a real browser: ``browser`` (Chromium, the
hooks, the canary, the CSP, the DOM audit, the built-in pipeline's page) and
``targets`` (the page and loopback server that other renderers run in)."""

"""The sanitization harness: ``xss-check`` (corpus, static and browser
oracles, reports), its page (``/sanitize`` and ``/api/sanitize``), and how
headless Chromium is launched."""

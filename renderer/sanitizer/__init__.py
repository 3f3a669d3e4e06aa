"""The sanitizer: one allowlist policy, two backends, URLs judged as browsers read them.

- ``clean``: the policy (allowlist constants and ``Policy``), the bleach and
  nh3 backends behind one ``Sanitizer`` contract, ``sanitize``/``clean``, and
  ``check_allowlist`` (an independent re-check of any HTML);
- ``urls``: which URLs may stay, judged as the WHATWG URL parser reads them.

The policy is the one source of truth: the server serves it to the browser,
whose own re-check uses it. No server here: this package never imports tornado.
"""

from .clean import (
    DEFAULT_POLICY,
    DEFAULT_SANITIZER,
    BleachSanitizer,
    Cleaned,
    NH3Sanitizer,
    Policy,
    Sanitizer,
    check_allowlist,
    clean,
    sanitize,
)

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_SANITIZER",
    "BleachSanitizer",
    "Cleaned",
    "NH3Sanitizer",
    "Policy",
    "Sanitizer",
    "check_allowlist",
    "clean",
    "sanitize",
]

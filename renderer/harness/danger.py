"""What in HTML could run script or navigate: the static judgement of HTML
from renderers whose policy is not ours.

The built-in pipeline is held to its own allowlist (``check_allowlist``);
another renderer may rightly keep ``class``, ``style``, ``<details>`` or
``data:`` images. What no renderer may let through is anything on
``DANGER_RULES``' list; ``check_danger(html)`` names each thing it finds, in
the ``removed`` format (``<img onerror>``, ``<a href="javascript:...">``).

The standard library's parser reads the HTML here; a browser's parser may
read it otherwise (that is what mutation XSS is), so the browser oracle runs
the same rules over the live DOM (``oracle/targets.py``).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = [
    "DANGEROUS_ELEMENTS",
    "DANGER_RULES",
    "MEDIA_DATA_URLS",
    "NAVIGATING_SCHEMES",
    "URL_ATTRIBUTES",
    "check_danger",
    "url_scheme",
]

#: Elements that run script, load a document or plugin, or rebase URLs.
DANGEROUS_ELEMENTS = frozenset(
    {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal", "meta"}
)
#: Attributes that hold a URL the browser may load or navigate to.
URL_ATTRIBUTES = frozenset(
    {
        "href",
        "xlink:href",
        "src",
        "action",
        "formaction",
        "data",
        "poster",
        "background",
        "lowsrc",
        "dynsrc",
        "codebase",
    }
)
#: Schemes that run script (or, for ``data:``, a document) when navigated to.
NAVIGATING_SCHEMES = frozenset({"javascript", "vbscript", "data"})
#: Where a ``data:`` URL is only media (an image, a sound, a video), never a
#: document: ``(element, attribute)``.
MEDIA_DATA_URLS = frozenset(
    {
        ("img", "src"),
        ("img", "lowsrc"),
        ("img", "dynsrc"),
        ("input", "src"),
        ("audio", "src"),
        ("video", "src"),
        ("video", "poster"),
        ("source", "src"),
        ("track", "src"),
        ("image", "href"),
        ("image", "xlink:href"),
    }
)

DANGER_RULES = (
    "an element of DANGEROUS_ELEMENTS",
    "any on* attribute (an event handler: on followed by letters)",
    "srcdoc (an inline document)",
    "a URL attribute whose scheme is javascript: or vbscript:, or data: anywhere but media (MEDIA_DATA_URLS)",
    "SVG <animate>/<set> that targets href (it can write a javascript: URL later)",
)
"""The rules, as documentation and as the report's legend. CSS is not on
the list: no current browser runs script from it (exfiltration by CSS is a
privacy leak, which the browser oracle sees as a request leaving)."""

_STRIPPED = re.compile(r"[\t\n\r]")
_HANDLER = re.compile(r"on[a-z]+")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")


def url_scheme(value: str) -> str | None:
    """The scheme of a URL as the WHATWG URL parser reads it (leading and
    trailing C0 controls and spaces stripped, tabs and newlines removed
    anywhere), lower case; None for a relative URL."""
    value = _STRIPPED.sub("", value.strip("".join(map(chr, range(0x21)))))
    match = _SCHEME.match(value)
    return match[1].lower() if match else None


def _dangerous_url(tag: str, name: str, value: str) -> bool:
    scheme = url_scheme(value)
    if scheme not in NAVIGATING_SCHEMES:
        return False
    return not (scheme == "data" and (tag, name) in MEDIA_DATA_URLS)


def check_danger(html: str) -> list[str]:
    """What in ``html`` could run script or navigate (see ``DANGER_RULES``)."""
    checker = _DangerChecker()
    try:
        checker.feed(html)
        checker.close()
    except Exception as exc:  # a checker must not crash its caller
        checker.found.append(f"<!-- unparsable: {type(exc).__name__} -->")
    return list(dict.fromkeys(checker.found))


class _DangerChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DANGEROUS_ELEMENTS:
            self.found.append(f"<{tag}>")
        names = {name: value or "" for name, value in attrs}
        for name, value in names.items():
            if _HANDLER.fullmatch(name) or name == "srcdoc":
                self.found.append(f"<{tag} {name}>")
            elif name in URL_ATTRIBUTES and _dangerous_url(tag, name, value):
                self.found.append(f'<{tag} {name}="{url_scheme(value)}:...">')
        if tag in ("animate", "set") and names.get("attributename", "").lower() in ("href", "xlink:href"):
            self.found.append(f"<{tag} attributename=href>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

"""A URL attribute as the browser reads it: decoding, then the scheme."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderer.sanitizer.urls import is_allowed_url, unescape_attribute, url_scheme

LINK_SCHEMES = frozenset({"http", "https", "mailto"})


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        pytest.param("https://example.org/", "https", id="https"),
        pytest.param("HTTP://example.org/", "http", id="upper-case"),
        pytest.param("mailto:x@y.example", "mailto", id="mailto"),
        pytest.param("javascript:alert(1)", "javascript", id="javascript"),
        pytest.param("JaVaScRiPt:alert(1)", "javascript", id="mixed-case"),
        pytest.param("javascript:1", "javascript", id="digits-after-colon"),
        pytest.param("java\nscript:alert(1)", "javascript", id="newline-inside"),
        pytest.param("jav\tascript:alert(1)", "javascript", id="tab-inside"),
        pytest.param("java\rscript:alert(1)", "javascript", id="cr-inside"),
        pytest.param(" javascript:alert(1)", "javascript", id="leading-space"),
        pytest.param("\x01javascript:alert(1)", "javascript", id="leading-c0"),
        pytest.param("\x00 \x1f javascript:x", "javascript", id="leading-c0-mix"),
        pytest.param("javascript:x\x00 ", "javascript", id="trailing-c0"),
        pytest.param("vbscript:msgbox(1)", "vbscript", id="vbscript"),
        pytest.param("data:text/html,<script>", "data", id="data"),
        pytest.param("c:/windows", "c", id="drive-letter-is-a-scheme"),
        pytest.param("a+b-c.d:x", "a+b-c.d", id="all-scheme-characters"),
        pytest.param("//evil.example/", None, id="protocol-relative"),
        pytest.param("/a:b", None, id="absolute-path"),
        pytest.param("a/b:c", None, id="slash-before-colon"),
        pytest.param("?q=a:b", None, id="query"),
        pytest.param("#a:b", None, id="fragment"),
        pytest.param("", None, id="empty"),
        pytest.param("1http:x", None, id="digit-first"),
        pytest.param("+http:x", None, id="plus-first"),
        pytest.param("java script:x", None, id="space-inside"),
        pytest.param("java\x01script:x", None, id="c0-inside"),
        pytest.param("java\u00adscript:x", None, id="soft-hyphen-inside"),
        pytest.param("\uff4aavascript:x", None, id="fullwidth-letter"),
        pytest.param("javascript\uff1ax", None, id="fullwidth-colon"),
        pytest.param("jav&#x09;ascript:x", None, id="undecoded-reference"),
    ],
)
def test_url_scheme_is_what_the_url_parser_finds(value: str, scheme: str | None) -> None:
    assert url_scheme(value) == scheme


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        pytest.param("jav&#x09;ascript:", "jav\tascript:", id="hex-tab"),
        pytest.param("&#106;avascript:", "javascript:", id="decimal"),
        pytest.param("&#106avascript:", "javascript:", id="decimal-no-semicolon"),
        pytest.param("&#x6A;avascript:", "javascript:", id="hex-upper"),
        pytest.param("&#X6a;avascript:", "javascript:", id="hex-big-x"),
        pytest.param("&#0000106;avascript:", "javascript:", id="leading-zeros"),
        pytest.param("javascript&colon;", "javascript:", id="html5-named"),
        pytest.param("jav&Tab;ascript&NewLine;:", "jav\tascript\n:", id="tab-newline-named"),
        pytest.param("a&amp;b", "a&b", id="amp"),
        pytest.param("&copy", "\u00a9", id="legacy-at-end"),
        pytest.param("&copy x", "\u00a9 x", id="legacy-before-space"),
        pytest.param("?a=1&copy=2", "?a=1&copy=2", id="legacy-before-equals"),
        pytest.param("&notit;", "&notit;", id="legacy-before-alnum"),
        pytest.param("&notin;", "\u2209", id="longest-name"),
        pytest.param("&bogus;", "&bogus;", id="unknown-name"),
        pytest.param("&#;&#x;&", "&#;&#x;&", id="no-digits"),
        pytest.param("&#0;", "\ufffd", id="nul"),
        pytest.param("&#x80;", "\u20ac", id="c1-windows-1252"),
        pytest.param("&#xD800;", "\ufffd", id="surrogate"),
        pytest.param("&#x110000;", "\ufffd", id="beyond-unicode"),
        pytest.param("&#" + "9" * 5000 + ";", "\ufffd", id="5000-digits"),
        pytest.param("&#13;", "\r", id="cr-kept"),
        pytest.param("&#1;", "\x01", id="control-kept"),
        pytest.param("&CounterClockwiseContourIntegral;", "\u2233", id="longest-entity"),
    ],
)
def test_unescape_attribute_decodes_as_a_browser_does(raw: str, decoded: str) -> None:
    assert unescape_attribute(raw) == decoded


@pytest.mark.parametrize(
    ("raw", "allowed"),
    [
        pytest.param("https://example.org/?a=1&amp;b=2", True, id="https"),
        pytest.param("mailto:x@y", True, id="mailto"),
        pytest.param("//evil.example", True, id="protocol-relative"),
        pytest.param("relative/path", True, id="relative"),
        pytest.param("#top", True, id="fragment"),
        pytest.param("javascript:alert(1)", False, id="javascript"),
        pytest.param("JaVaScRiPt:alert(1)", False, id="mixed-case"),
        pytest.param("jav&#x09;ascript:alert(1)", False, id="entity-tab"),
        pytest.param("jav&#9ascript:alert(1)", False, id="entity-tab-no-semicolon"),
        pytest.param("&#106;avascript:alert(1)", False, id="entity-j"),
        pytest.param("&#x6a;avascript:alert(1)", False, id="hex-entity-j"),
        pytest.param("javascript&colon;alert(1)", False, id="colon-entity"),
        pytest.param("javascript&#58;alert(1)", False, id="colon-numeric"),
        pytest.param("java\nscript:alert(1)", False, id="newline"),
        pytest.param("java&NewLine;script:alert(1)", False, id="newline-entity"),
        pytest.param("\x01javascript:alert(1)", False, id="leading-control"),
        pytest.param("&#1;javascript:alert(1)", False, id="leading-control-entity"),
        pytest.param(" javascript:alert(1)", False, id="leading-space"),
        pytest.param("&#32;javascript:alert(1)", False, id="leading-space-entity"),
        pytest.param("javascript:1", False, id="bleach-misses-this"),
        pytest.param("vbscript:msgbox(1)", False, id="vbscript"),
        pytest.param("data:text/html;base64,PHNjcmlwdD4=", False, id="data"),
        pytest.param("file:///etc/passwd", False, id="file"),
    ],
)
def test_link_urls_are_judged_after_decoding(raw: str, allowed: bool) -> None:
    assert is_allowed_url(unescape_attribute(raw), LINK_SCHEMES) is allowed


def test_is_allowed_url_uses_the_given_schemes() -> None:
    assert not is_allowed_url("mailto:x@y", {"http", "https"})
    assert is_allowed_url("HTTPS://x", {"https"})
    assert is_allowed_url("no-scheme", set())


_scheme_text = st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-]{0,8}", fullmatch=True)


@given(_scheme_text, st.text(), st.lists(st.integers(0, 20), max_size=4))
def test_tabs_and_newlines_anywhere_do_not_hide_a_scheme(scheme: str, rest: str, positions: list[int]) -> None:
    value = scheme + ":" + rest
    for position, char in zip(positions, "\t\n\r\t", strict=False):  # up to four insertions
        value = value[:position] + char + value[position:]
    assert url_scheme(value) == scheme.lower()


@given(_scheme_text, st.text(), st.text(alphabet="".join(map(chr, range(0x21)))))
def test_leading_controls_and_spaces_do_not_hide_a_scheme(scheme: str, rest: str, prefix: str) -> None:
    assert url_scheme(prefix + scheme + ":" + rest) == scheme.lower()


@given(st.text())
def test_url_functions_accept_any_text(value: str) -> None:
    scheme = url_scheme(value)
    assert scheme is None or (scheme.isascii() and scheme == scheme.lower())
    assert isinstance(unescape_attribute(value), str)


_REFERENCE_PIECES = ["&amp;", "&lt;", "&notin;", "&#106;", "&#x6a", "&#65", "&", ";", "#", "x", "a", " "]


@given(st.lists(st.sampled_from(_REFERENCE_PIECES)).map("".join))
def test_unescape_attribute_agrees_with_the_stdlib_on_unambiguous_references(value: str) -> None:
    # html.unescape decodes text, not attributes: the two differ only on a
    # legacy name without ";" ("&amp") before an alphanumeric or "=", and on
    # references to control characters (the stdlib drops them), which these
    # pieces cannot form.
    assert unescape_attribute(value) == html.unescape(value)

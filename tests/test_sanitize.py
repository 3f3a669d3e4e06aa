"""The sanitizer: hostile input, what survives, what it reports, its properties."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderer.sanitizer.clean import (
    ALLOWED_TAGS,
    CODE_LANGUAGE,
    DEFAULT_POLICY,
    DEFAULT_SANITIZER,
    DROP_CONTENT_TAGS,
    LINK_REL,
    BleachSanitizer,
    Cleaned,
    NH3Sanitizer,
    Policy,
    Sanitizer,
    check_allowlist,
    clean,
    escape_text,
    sanitize,
)

REL = f' rel="{LINK_REL}"'


@pytest.fixture(scope="module")
def nh3() -> NH3Sanitizer:
    """The nh3 backend; nh3 is optional, so its tests skip without it."""
    pytest.importorskip("nh3")
    return NH3Sanitizer()


@pytest.fixture(scope="module", params=["bleach", "nh3"])
def sanitizer(request: pytest.FixtureRequest) -> Sanitizer:
    """Each backend, for the properties every backend must have."""
    if request.param == "nh3":
        pytest.importorskip("nh3")
        return NH3Sanitizer()
    return DEFAULT_SANITIZER


# Hostile input, the exact output and the exact removed list (bleach).
# Content that must be dropped says "gone"; content that must stay says "ok".
HOSTILE = [
    pytest.param("<script>gone(1)</script>ok", "ok", ["<script>"], id="script"),
    pytest.param(
        "<SCRIPT SRC=//evil.example/x.js>gone</SCRIPT>ok",
        "ok",
        ["<script>"],
        id="script-upper-case",
    ),
    pytest.param("ok<script>gone", "ok", ["<script>"], id="script-unclosed"),
    pytest.param(
        '<img src=x onerror="gone(1)">',
        '<img src="x">',
        ["<img onerror>"],
        id="img-onerror",
    ),
    pytest.param(
        "<svg onload=gone(1)><circle r=1>gone</circle></svg>ok",
        "ok",
        ["<svg>"],
        id="svg-onload",
    ),
    pytest.param(
        "<svg><p>ok</p><style><img src=x onerror=gone(1)></style></svg>",
        "<p>ok</p>",
        ["<svg>", "<style>"],
        id="svg-html-breakout",
    ),
    pytest.param(
        '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;/mglyph&gt;&lt;img&Tab;src=1&Tab;onerror=gone(1)&gt;">',
        "<math><mtext></mtext></math>",
        ["<mglyph>", "<table>"],
        id="math-mglyph-style-mxss",
    ),
    pytest.param(
        '<svg></p><style><a id="</style><img src=1 onerror=gone(1)>">',
        "",
        ["<svg>"],
        id="svg-end-p-style-mxss",
    ),
    pytest.param(
        '<noscript><p title="</noscript><img src=x onerror=gone(1)>">',
        '<img src="x">"&gt;',
        ["<noscript>", "<img onerror>"],
        id="noscript-attribute-mxss",
    ),
    pytest.param("<style>*{color:gone}</style>ok", "ok", ["<style>"], id="style-element"),
    pytest.param(
        '<p style="background:url(javascript:gone(1))">ok</p>',
        "<p>ok</p>",
        ["<p style>"],
        id="style-attribute",
    ),
    pytest.param("<textarea>gone<p>gone", "", ["<textarea>"], id="unclosed-textarea"),
    pytest.param(
        "<title><img src=x onerror=gone(1)></title>ok",
        "ok",
        ["<title>"],
        id="title-element",
    ),
    pytest.param(
        '<iframe src="https://evil.example">gone</iframe>ok',
        "ok",
        ["<iframe>"],
        id="iframe",
    ),
    pytest.param(
        '<iframe srcdoc="&lt;script&gt;gone(1)&lt;/script&gt;">gone</iframe>ok',
        "ok",
        ["<iframe>"],
        id="iframe-srcdoc",
    ),
    pytest.param(
        '<object data="gone.swf"><embed src="gone.swf">gone</object>ok',
        "ok",
        ["<object>"],
        id="object-embed",
    ),
    pytest.param('<applet code="Gone.class">gone</applet>ok', "ok", ["<applet>"], id="applet"),
    pytest.param(
        "<template><img src=x onerror=gone(1)></template>ok",
        "ok",
        ["<template>"],
        id="template",
    ),
    pytest.param(
        "<xmp><b>gone</b></xmp>ok<plaintext><b>gone",
        "ok",
        ["<xmp>", "<plaintext>"],
        id="xmp-plaintext",
    ),
    pytest.param(
        "<noembed>gone</noembed><noframes>gone</noframes>ok",
        "ok",
        ["<noembed>", "<noframes>"],
        id="noembed-noframes",
    ),
    pytest.param('<frameset><frame src="gone"></frameset>ok', "ok", [], id="frameset"),
    pytest.param("<select><option>gone</option></select>ok", "ok", ["<select>"], id="select"),
    pytest.param(
        '<form action="https://evil.example"><input name=q value=gone><button formaction=javascript:gone(1)>ok</button></form>',
        '<input type="checkbox" disabled>ok',
        ["<form>", "<input name>", "<input value>", "<button>"],
        id="form-input-button",
    ),
    pytest.param(
        '<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=javascript:gone(1)"><link rel=stylesheet href=gone>ok',
        "ok",
        ["<base>", "<meta>", "<link>"],
        id="base-meta-link",
    ),
    pytest.param(
        "<font color=red>ok</font> <x-foo a=1>kept</x-foo>",
        "ok kept",
        ["<font>", "<x-foo>"],
        id="font-and-unknown-tags-unwrapped",
    ),
    pytest.param(
        "<!-- gone --><p>ok</p><!--[if IE]><script>gone</script><![endif]-->",
        "<p>ok</p>",
        ["<!-- comment -->"],
        id="comments",
    ),
    pytest.param(
        "<![CDATA[gone<script>x</script>]]>ok",
        "x]]&gt;ok",
        ["<!-- comment -->"],
        id="cdata-is-a-bogus-comment",
    ),
    pytest.param("<!DOCTYPE html>ok", "ok", [], id="doctype"),
    pytest.param("<?xml gone?>ok", "ok", ["<!-- comment -->"], id="processing-instruction"),
    pytest.param(
        '<a href="javascript:gone(1)">ok</a>',
        "<a>ok</a>",
        ['<a href="javascript:gone(1)">'],
        id="a-javascript",
    ),
    pytest.param(
        '<a href="JaVaScRiPt:gone(1)">ok</a>',
        "<a>ok</a>",
        ['<a href="JaVaScRiPt:gone(1)">'],
        id="a-javascript-mixed-case",
    ),
    pytest.param(
        '<a href="jav&#x09;ascript:gone(1)">ok</a>',
        "<a>ok</a>",
        ['<a href="jav\\x09ascript:gone(1)">'],
        id="a-javascript-entity-tab",
    ),
    pytest.param(
        '<a href="&#106avascript:gone(1)">ok</a>',
        "<a>ok</a>",
        ['<a href="javascript:gone(1)">'],
        id="a-javascript-entity-no-semicolon",
    ),
    pytest.param(
        '<a href="javascript&colon;gone(1)">ok</a>',
        "<a>ok</a>",
        ['<a href="javascript:gone(1)">'],
        id="a-javascript-colon-entity",
    ),
    pytest.param(
        '<a href="java\nscript:gone(1)">ok</a>',
        "<a>ok</a>",
        ['<a href="java\\x0ascript:gone(1)">'],
        id="a-javascript-newline",
    ),
    pytest.param(
        '<a href="\x01javascript:gone(1)">ok</a>',
        "<a>ok</a>",
        ['<a href="\\x01javascript:gone(1)">'],
        id="a-javascript-leading-control",
    ),
    pytest.param(
        '<a href=" javascript:gone(1)">ok</a>',
        "<a>ok</a>",
        ['<a href=" javascript:gone(1)">'],
        id="a-javascript-leading-space",
    ),
    pytest.param(
        '<a href="javascript:1">ok</a>',
        "<a>ok</a>",
        ['<a href="javascript:1">'],
        id="a-javascript-digits-only",
    ),
    pytest.param(
        '<a href="vbscript:msgbox(1)">ok</a>',
        "<a>ok</a>",
        ['<a href="vbscript:msgbox(1)">'],
        id="a-vbscript",
    ),
    pytest.param(
        '<a href="data:text/html;base64,PHNjcmlwdD5nb25lPC9zY3JpcHQ+">ok</a>',
        "<a>ok</a>",
        ['<a href="data:text/html;base64,PHNjcmlwdD5nb25lP…">'],
        id="a-data-html",
    ),
    pytest.param(
        '<img src="data:image/png;base64,AAAA" alt="ok">',
        '<img alt="ok">',
        ['<img src="data:image/png;base64,AAAA">'],
        id="img-data",
    ),
    pytest.param(
        '<img src="mailto:a@b.example" alt="ok">',
        '<img alt="ok">',
        ['<img src="mailto:a@b.example">'],
        id="img-mailto",
    ),
    pytest.param(
        '<img src="javascript:gone(1)" alt="ok">',
        '<img alt="ok">',
        ['<img src="javascript:gone(1)">'],
        id="img-javascript",
    ),
    pytest.param(
        '<a href="https://x.example/" rel="opener" target="_blank">ok</a>',
        '<a href="https://x.example/" rel="nofollow noopener noreferrer">ok</a>',
        ["<a target>"],
        id="a-target-and-rel",
    ),
    pytest.param(
        '<a name="body" id="cookie" href="#x">ok</a>',
        '<a href="#x" rel="nofollow noopener noreferrer">ok</a>',
        ["<a name>", '<a id="cookie">'],
        id="a-name-id-clobbering",
    ),
    pytest.param(
        '<table><tr><td align="justify">a</td><th align="left" style="color:red">b</th></tr></table>',
        '<table><tbody><tr><td>a</td><th align="left">b</th></tr></tbody></table>',
        ['<td align="justify">', "<th style>"],
        id="table-align-values",
    ),
    pytest.param(
        '<table><tr><td align="left onmouseover=gone(1)">a</td></tr></table>',
        "<table><tbody><tr><td>a</td></tr></tbody></table>",
        ['<td align="left onmouseover=gone(1)">'],
        id="table-align-injection",
    ),
    pytest.param(
        '<code class="language-x onmouseover=gone(1)">ok</code>',
        "<code>ok</code>",
        ['<code class="language-x onmouseover=gone(1)">'],
        id="code-class-injection",
    ),
    pytest.param(
        '<code class="hidden">ok</code><code class="language-py extra">ok</code>',
        "<code>ok</code><code>ok</code>",
        ['<code class="hidden">', '<code class="language-py extra">'],
        id="code-class-other",
    ),
    pytest.param(
        '<code class="language-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx">ok</code>',
        "<code>ok</code>",
        ['<code class="language-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…">'],
        id="code-class-too-long",
    ),
    pytest.param(
        '<p class="language-py">ok</p>',
        "<p>ok</p>",
        ["<p class>"],
        id="class-on-other-elements",
    ),
    pytest.param(
        '<div onclick=gone(1) onmouseover="gone(2)">ok</div>',
        "<div>ok</div>",
        ["<div onclick>", "<div onmouseover>"],
        id="event-handlers",
    ),
    pytest.param(
        "<details open ontoggle=gone(1)><summary>s</summary>ok</details>",
        "<details open><summary>s</summary>ok</details>",
        ["<details ontoggle>"],
        id="details-ontoggle",
    ),
    pytest.param(
        "<p>a<button>b<p>c</button>d",
        "<p>ab</p><p>c</p>d<p></p>",
        ["<button>"],
        id="unwrapping-restructures",
    ),
    pytest.param("<dd><button><dt>ok", "<dd></dd><dt>ok</dt>", ["<button>"], id="unwrapping-dd-dt"),
    pytest.param(
        "<p>&#99999999999999999999999999999999999999999999999999; &#0; &#65;</p>",
        "<p>&#xFFFD; &#xFFFD; &#65;</p>",
        [],
        id="numeric-references-out-of-range",
    ),
    pytest.param("<b><i>x</b>y</i>", "<b><i>x</i></b><i>y</i>", [], id="misnested-formatting"),
    pytest.param("a\x00b\x0cc\x01", "ab?c?", [], id="control-characters"),
    pytest.param("a\ud800b", "a\ufffdb", [], id="lone-surrogate"),
]


@pytest.mark.parametrize(("html", "expected", "removed"), HOSTILE)
def test_hostile_input_is_sanitized_exactly(html: str, expected: str, removed: list[str]) -> None:
    assert clean(html) == Cleaned(expected, removed)


@pytest.mark.parametrize(("html", "expected", "removed"), HOSTILE)
def test_hostile_input_leaves_nothing_disallowed(
    sanitizer: Sanitizer, html: str, expected: str, removed: list[str]
) -> None:
    out = sanitizer(html)
    assert check_allowlist(out) == []
    assert "gone" not in out
    assert sanitizer(out) == out


# Markup that authors write or Markdown renders, kept byte for byte.
KEPT = [
    pytest.param("<p>a &quot;b&quot; &amp; &lt;c&gt; &#39;d&#39;</p>\n", id="markdown-it-escapes"),
    pytest.param("<h1>1</h1><h2>2</h2><h3>3</h3><h4>4</h4><h5>5</h5><h6>6</h6>", id="headings"),
    pytest.param("<blockquote>\n<p>q</p>\n</blockquote>", id="blockquote"),
    pytest.param('<ol start="3">\n<li>a</li>\n</ol>\n<ul>\n<li><p>b</p></li>\n</ul>', id="lists"),
    pytest.param('<pre><code class="language-python">x = 1 &lt; 2\n</code></pre>\n', id="fence"),
    pytest.param(
        '<pre><code class="language-c++">a</code><code class="language-c#">b</code></pre>',
        id="fence-c",
    ),
    pytest.param("<pre>\n\nkeeps its first newline</pre>", id="pre-leading-newline"),
    pytest.param(
        "<p><em>e</em> <strong>s</strong> <code>c</code> <s>x</s> <del>d</del> <ins>i</ins></p>",
        id="inline",
    ),
    pytest.param(
        f'<p><a href="https://example.org/?a=1&amp;b=2" title="t"{REL}>l</a></p>',
        id="link",
    ),
    pytest.param(
        f'<a href="mailto:x@y.example"{REL}>m</a><a href="#top"{REL}>t</a>',
        id="link-mailto-fragment",
    ),
    pytest.param(
        f'<a href="/docs/a:b"{REL}>r</a><a href="//cdn.example/x"{REL}>p</a>',
        id="link-relative",
    ),
    pytest.param(
        '<img src="https://example.org/a.png" alt="a" title="t" width="10" height="20">',
        id="img",
    ),
    pytest.param('<img src="a.png" alt="relative">', id="img-relative"),
    pytest.param("<p>line<br>\nbreak</p><hr>", id="br-hr"),
    pytest.param(
        '<table><caption>c</caption><thead><tr><th align="left">a</th><th align="center">b</th>'
        '<th align="right">c</th></tr></thead><tbody><tr><td colspan="2" rowspan="1">1</td>'
        "<td>2</td></tr></tbody><tfoot><tr><td>f</td></tr></tfoot></table>",
        id="table",
    ),
    pytest.param(
        "<kbd>Ctrl</kbd>+<kbd>C</kbd> H<sub>2</sub>O x<sup>2</sup> <mark>m</mark>",
        id="kbd-sub-sup-mark",
    ),
    pytest.param("<details open><summary>More</summary><p>hidden</p></details>", id="details"),
    pytest.param('<abbr title="HyperText Markup Language">HTML</abbr>', id="abbr"),
    pytest.param("<dl><dt>term</dt><dd>definition</dd></dl>", id="dl"),
    pytest.param("<b>b</b><i>i</i><u>u</u><small>s</small><span>sp</span><div>d</div>", id="plain"),
    pytest.param("<q>q</q><cite>c</cite><var>v</var><samp>s</samp>", id="phrasing"),
    pytest.param(
        '<figure><img src="f.png" alt="f"><figcaption>cap</figcaption></figure>',
        id="figure",
    ),
    pytest.param("caf\u00e9 \u2603 &#x1F600; &nbsp;", id="non-ascii-and-references"),
]


@pytest.mark.parametrize("html", KEPT)
def test_markdown_and_author_html_are_kept_exactly(html: str) -> None:
    assert clean(html) == Cleaned(html, [])


class _Events(HTMLParser):
    """The document as html.parser reads it: tags, attributes, decoded text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[str, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, *sorted(f"{k}={v or ''}" for k, v in attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if self.events and self.events[-1][0] == "text":
            data = self.events.pop()[1] + data
        self.events.append(("text", data))


def same_document(html: str) -> list[tuple[str, ...]]:
    parser = _Events()
    parser.feed(html)
    parser.close()
    return parser.events


@pytest.mark.parametrize("html", KEPT)
def test_nh3_keeps_the_same_markup(nh3: NH3Sanitizer, html: str) -> None:
    # nh3 serializes in its own way ('open=""', '"' for "&quot;"): compare
    # what a parser reads, not bytes.
    out = nh3(html)
    assert same_document(out) == same_document(html)
    assert nh3(out) == out


def test_xhtml_style_void_elements_are_rewritten_stably() -> None:
    assert sanitize('<p>a<br />\nb</p>\n<hr />\n<img src="x" alt="" />') == (
        '<p>a<br>\nb</p>\n<hr>\n<img src="x" alt="">'
    )


def test_the_first_newline_in_pre_survives_every_pass(nh3: NH3Sanitizer) -> None:
    once = sanitize("<pre>\n\n\nx</pre>")
    assert once == "<pre>\n\n\nx</pre>" == sanitize(once)
    assert nh3("<pre>\n\n\nx</pre>") == once


# --- the removed list ------------------------------------------------------


def test_removed_is_in_document_order_without_repeats() -> None:
    html = (
        '<script>a</script><a onclick=x href="javascript:alert(1)">y</a>'
        "<!-- c --><script>b</script><a onclick=z>w</a><!-- d -->"
    )
    assert clean(html).removed == [
        "<script>",
        "<a onclick>",
        '<a href="javascript:alert(1)">',
        "<!-- comment -->",
    ]


def test_removed_values_are_short_and_printable() -> None:
    removed = clean('<a href="javascript:' + "x" * 100 + '">a</a><a href="java\tscript:&quot;">b</a>')
    assert removed.removed == [
        '<a href="javascript:' + "x" * 28 + '\u2026">',  # 40 characters in all
        '<a href="java\\x09script:\\x22">',
    ]


def test_an_element_dropped_with_its_content_is_reported_once() -> None:
    assert clean("<svg><script>x</script><foreignObject><iframe></iframe></foreignObject></svg>").removed == ["<svg>"]


def test_a_url_that_bleach_itself_refuses_is_reported() -> None:
    # Browser rules see an http: URL; bleach's urllib parser cannot parse it.
    assert clean('<a href="http://[">x</a>') == Cleaned("<a>x</a>", ['<a href="http://[">'])


def test_nh3_reports_what_the_input_breaks(nh3: NH3Sanitizer) -> None:
    result = nh3.clean('<p onclick="x">a</p><script>b</script>')
    assert result == Cleaned("<p>a</p>", ["<p onclick>", "<script>"])
    fast = NH3Sanitizer(report_removed=False).clean('<p onclick="x">a</p>')
    assert fast == Cleaned("<p>a</p>", [])


# --- properties ------------------------------------------------------------

_TAG_NAMES = sorted(
    ALLOWED_TAGS
    | DROP_CONTENT_TAGS
    | {
        "button",
        "form",
        "input",
        "font",
        "marquee",
        "section",
        "nobr",
        "image",
        "x-y",
        "base",
        "meta",
        "option",
        "col",
        "colgroup",
        "body",
        "html",
        "listing",
        "center",
        "menu",
        "ruby",
        "rt",
        "label",
        "fieldset",
        "area",
        "wbr",
        "mglyph",
        "mtext",
        "foreignObject",
        "desc",
        "annotation-xml",
    }
)
_ATTRIBUTES = ["href", "src", "title", "class", "align", "onclick", "style", "rel", "open", "start", "id"]
_VALUES = [
    "", "x", "javascript:alert(1)", "jav&#x09;ascript:x", "&#106avascript:x", "left",
    "language-py", "language-x y", "http://a/?a=1&b=2", "&amp;", "&notit", 'a"b', "a'b",
    "<p>", "\n", "//evil.example", "mailto:m@x",
]  # fmt: skip
_TEXT = [
    "a", " ", "\n", "&", "&amp;", "&lt;", "<", ">", '"', "&#0;", "&#x10FFFF;", "\x00",
    "\x01", "\x0c", "\r", "\xa0", "&notin;", "<!--", "-->", "</", "\t", "x\ud800",
]  # fmt: skip


@st.composite
def _tags(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_TAG_NAMES))
    if draw(st.integers(0, 3)) == 0:
        return f"</{name}>"
    attributes = draw(st.lists(st.tuples(st.sampled_from(_ATTRIBUTES), st.sampled_from(_VALUES)), max_size=3))
    quoted = "".join(f' {a}="{v.replace(chr(34), "&quot;")}"' for a, v in attributes)
    return f"<{name}{quoted}>"


HTMLISH = st.lists(st.one_of(_tags(), st.sampled_from(_TEXT), st.text(max_size=4)), max_size=25).map("".join)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _WellFormed(HTMLParser):
    """Fails on an end tag that closes nothing or something else."""

    VOID = frozenset({"br", "hr", "img", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.stray: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.stray.append(tag)


def well_formed(html: str) -> bool:
    parser = _WellFormed()
    parser.feed(html)
    parser.close()
    return not parser.open and not parser.stray


@PROPERTY
@given(HTMLISH)
def test_output_is_allowed_well_formed_and_a_fixed_point(sanitizer: Sanitizer, html: str) -> None:
    out = sanitizer.clean(html).html
    assert check_allowlist(out) == []
    assert well_formed(out)
    again = sanitizer.clean(out)
    assert again.html == out
    assert again.removed == []


@pytest.mark.slow
@PROPERTY
@given(HTMLISH, HTMLISH)
def test_sanitized_fragments_concatenate_without_changing(sanitizer: Sanitizer, first: str, second: str) -> None:
    joined = sanitizer(first) + sanitizer(second)
    assert sanitizer(joined) == joined


@PROPERTY
@given(st.text())
def test_any_text_gives_allowed_output(sanitizer: Sanitizer, text: str) -> None:
    out = sanitizer(text)
    assert check_allowlist(out) == []
    assert sanitizer(out) == out
    out.encode("utf-8")  # lone surrogates are gone


@PROPERTY
@given(st.text())
def test_escaped_text_is_a_fixed_point(sanitizer: Sanitizer, text: str) -> None:
    code = '<pre><code class="language-py">' + escape_text(text) + "</code></pre>\n"
    assert sanitizer(code) == code
    paragraph = "<p>" + escape_text(text) + "</p>"
    assert sanitizer(paragraph) == paragraph


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        pytest.param("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d", id="markup"),
        pytest.param("say \"hi\" 'there'", "say \"hi\" 'there'", id="quotes-kept"),
        pytest.param("&amp;", "&amp;amp;", id="reference-shown-literally"),
        pytest.param("a\r\nb\rc", "a\nb\nc", id="newlines"),
        pytest.param("\x00\x01\x0b\x0c\x1f\t\n", "?????\t\n", id="invisible"),
        pytest.param("\xa0", "&nbsp;", id="nbsp"),
        pytest.param("\ud800", "\ufffd", id="lone-surrogate"),
    ],
)
def test_escape_text(text: str, escaped: str) -> None:
    assert escape_text(text) == escaped


# --- check_allowlist -------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "violations"),
    [
        pytest.param(f'<p><a href="https://x"{REL}>a</a></p>', [], id="sanitized-link"),
        pytest.param('<a href="https://x">a</a>', ["<a href> without rel"], id="link-without-rel"),
        pytest.param('<a href="x" rel="opener">a</a>', ['<a rel="opener">'], id="wrong-rel"),
        pytest.param("<a>a</a>", [], id="anchor-without-href"),
        pytest.param("<script>x</script>", ["<script>"], id="script"),
        pytest.param("<x-y>a</x-y>", ["<x-y>"], id="unknown"),
        pytest.param('<p style="x" onclick="y">a</p>', ["<p style>", "<p onclick>"], id="style-onclick"),
        pytest.param(
            f'<a href="jav&#x09;ascript:x"{REL}>a</a>',
            ['<a href="jav\\x09ascript:x">'],
            id="decoded-javascript",
        ),
        pytest.param('<img src="mailto:x">', ['<img src="mailto:x">'], id="img-scheme"),
        pytest.param('<code class="language-py">x</code>', [], id="code-language"),
        pytest.param('<code class="x">x</code>', ['<code class="x">'], id="code-class"),
        pytest.param('<td align="justify">x</td>', ['<td align="justify">'], id="align"),
        pytest.param("<!-- c -->", ["<!-- comment -->"], id="comment"),
        pytest.param("<!DOCTYPE html>", ["<!declaration>"], id="doctype"),
        pytest.param("<?pi x?>", ["<?processing-instruction>"], id="pi"),
        pytest.param("<p>&#" + "9" * 5000 + ";</p>", [], id="huge-reference"),
    ],
)
def test_check_allowlist(html: str, violations: list[str]) -> None:
    assert check_allowlist(html) == violations


def test_check_allowlist_uses_the_given_policy() -> None:
    no_links = Policy(tags=ALLOWED_TAGS - {"a"})
    assert check_allowlist('<a href="x">a</a>', no_links) == ["<a>"]


# --- policy and backends ---------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"attributes": {"p": frozenset({"style"})}}, id="style"),
        pytest.param({"attributes": {"img": frozenset({"onerror"})}}, id="event-handler"),
        pytest.param({"attributes": {"q": frozenset({"cite"})}}, id="url-without-schemes"),
        pytest.param({"attributes": {"img": frozenset({"srcset"})}}, id="srcset"),
        pytest.param({"tags": ALLOWED_TAGS | {"style"}}, id="kept-and-dropped"),
        pytest.param({"attributes": {"a": frozenset({"href", "rel"})}}, id="rel-set-twice"),
    ],
)
def test_a_policy_that_cannot_be_applied_safely_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"policy may not allow|both kept and dropped"):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_policy_defaults_are_the_module_constants() -> None:
    assert Policy() == DEFAULT_POLICY
    assert DEFAULT_POLICY.tags == ALLOWED_TAGS
    with pytest.raises(TypeError):
        Policy(ALLOWED_TAGS)  # type: ignore[call-arg]  # keyword-only


@pytest.mark.parametrize("backend", [BleachSanitizer, NH3Sanitizer])
def test_a_custom_policy_is_applied_by_each_backend(backend: type[Sanitizer]) -> None:
    if backend is NH3Sanitizer:
        pytest.importorskip("nh3")
    policy = Policy(tags=frozenset({"p", "a"}), attributes={"a": frozenset({"href"})}, link_rel=None)
    sanitizer = backend(policy)
    out = sanitizer('<p><a href="https://x" title="t">a</a><em>e</em></p>')
    assert out == '<p><a href="https://x">a</a>e</p>'
    assert check_allowlist(out, policy) == []


@pytest.mark.parametrize(
    ("language", "ok"),
    [
        ("py", True),
        ("c++", True),
        ("c#", True),
        ("objective-c", True),
        ("x_1", True),
        ("x" * 40, True),
        ("x" * 41, False),
        ("", False),
        ("py js", False),
        ('py"', False),
        ("py.x", False),
    ],
)
def test_code_language(language: str, ok: bool) -> None:
    assert bool(CODE_LANGUAGE.fullmatch(language)) is ok


def test_call_is_clean_html() -> None:
    assert DEFAULT_SANITIZER("<b onclick=x>b</b>") == sanitize("<b onclick=x>b</b>") == "<b>b</b>"


def test_the_base_class_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        Sanitizer().clean("<b onclick=x>x</b>")


class _Broken(BleachSanitizer):
    def clean_once(self, html: str, *, report: bool = True) -> Cleaned:
        raise RuntimeError("parser bug")


def test_a_failing_backend_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    result = _Broken().clean("<script>x</script>")
    assert result == Cleaned("&lt;script&gt;x&lt;/script&gt;", ["<!-- unparsable input -->"])
    assert "parser bug" in caplog.text


def test_a_sanitizer_can_be_shared_between_threads(sanitizer: Sanitizer) -> None:
    docs = [f'<p onclick="x">{i}<a href="/{i}">l</a><script>s</script></p>' * 20 for i in range(40)]
    expected = [sanitizer.clean(doc) for doc in docs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(sanitizer.clean, docs * 4)) == expected * 4


def test_nh3_is_imported_only_when_used() -> None:
    code = "import sys, renderer.sanitizer.clean; print('nh3' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

"""The sanitizer's fast path: HTML recognized as already clean is kept as it is.

``already_clean`` may say yes only where a backend would keep the meaning:
the same elements, attributes (as decoded) and text once parsed.  Checked
on the renderer's output for the fixtures, on every corpus payload (raw and
rendered as Markdown), on hostile near-misses and on generated tag soup.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bleach import html5lib_shim  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer import render_markdown
from renderer.harness.corpus import load_corpus
from renderer.markdown.render import default_parser
from renderer.sanitizer.clean import DEFAULT_POLICY, BleachSanitizer, check_allowlist
from renderer.sanitizer.verify import already_clean

FIXTURES = Path(__file__).parent / "fixtures"
BLEACH = BleachSanitizer()


def tree(html: str) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """What a browser makes of ``html``: its parse, as a list of nodes."""
    parser = html5lib_shim.BleachHTMLParser(tags=None, strip=False, consume_entities=True, namespaceHTMLElements=False)
    nodes = []
    for token in html5lib_shim.getTreeWalker("etree")(parser.parseFragment(html)):
        data = token.get("data", "")
        if isinstance(data, dict):
            attributes = tuple(sorted((name, value) for (_, name), value in data.items()))
            nodes.append((token["type"], token.get("name", ""), attributes))
        else:
            nodes.append((token["type"], token.get("name", "") or str(data), ()))
    return nodes


def assert_meaning_kept(html: str) -> None:
    """If the fast path keeps ``html``, the backend would have kept its meaning."""
    if already_clean(html, DEFAULT_POLICY):
        assert tree(html) == tree(BLEACH.clean_once(html).html), html
        assert check_allowlist(html) == [], html


def rendered_blocks(markdown: str) -> list[str]:
    md = default_parser()
    return [md.renderer.render([token], md.options, {}) for token in md.parse(markdown, {})] + [md.render(markdown)]


@pytest.mark.parametrize("name", ["chat.md", "gfm.md"])
def test_the_renderer_output_is_mostly_recognized_and_keeps_its_meaning(name: str) -> None:
    html = default_parser().render((FIXTURES / name).read_text())
    blocks = [block for block in html.split("\n\n") if block]
    for block in blocks:
        assert_meaning_kept(block)
    assert sum(already_clean(block, DEFAULT_POLICY) for block in blocks) >= len(blocks) // 2


def test_the_bench_answer_needs_no_backend() -> None:
    text = (Path(__file__).parent.parent / "bench" / "answer.md").read_text()[:2048]
    html = default_parser().render(text[: text.rfind("\n")])
    assert already_clean(html, DEFAULT_POLICY)
    assert_meaning_kept(html)


def test_every_corpus_payload_raw_and_rendered() -> None:
    corpus = load_corpus()
    assert len(corpus) > 1000
    for payload in corpus:
        assert_meaning_kept(payload.text)
        assert_meaning_kept(render_markdown(payload.text))
        for block in rendered_blocks(payload.text):
            assert_meaning_kept(block)


@pytest.mark.parametrize(
    "html",
    [
        '<a href="javascript:alert(1)">x</a>',
        '<a href="jav&#x09;ascript:alert(1)" rel="nofollow noopener noreferrer">x</a>',
        '<a href="java&#115;cript:x" rel="nofollow noopener noreferrer">x</a>',
        '<a href="https://a.b">no rel</a>',
        '<a rel="nofollow noopener noreferrer">rel without href</a>',
        '<a href="https://a.b" rel="nofollow">other rel</a>',
        '<a href="https://a.b" href="javascript:x" rel="nofollow noopener noreferrer">twice</a>',
        '<p onclick="x">x</p>',
        '<p style="color:red">x</p>',
        "<script>x</script>",
        "<p>x",
        "<p>x</b>",
        "</p>",
        "<br></br>",
        "<p/>",
        "<img src=x onerror=alert(1)>",
        "<img src='x'>",
        '<img src="data:text/html,x">',
        "<p>a <!-- c --> b</p>",
        "<!DOCTYPE html>",
        "<p>a < b</p>",
        "<P>upper</P>",
        '<code class="language-x evil">x</code>',
        '<span class="x">x</span>',
        '<input type="checkbox" disabled>',
        "<math><mi>x</mi></math>",
        "<p>\x00</p>",
        "<p>&#0;</p>",
        "<p>&nbsp;</p>",
        '<p title="a>b">x</p>',
        "<svg><p>x</p></svg>",
        "<p>x</p\n>",
        "a > b",  # the backends write "&gt;"
        "<p>></p>",
    ],
)
def test_hostile_or_unusual_markup_goes_to_the_backend(html: str) -> None:
    assert not already_clean(html, DEFAULT_POLICY)


@pytest.mark.parametrize(
    "html",
    [
        "",
        "plain &amp; simple &lt;b&gt;",
        '<p dir="auto">Say &quot;hi&quot; <em>x</em> <strong>y</strong> <code>z</code></p>\n',
        '<a href="https://a.b?q=1&amp;r=2" title="t" rel="nofollow noopener noreferrer">x</a>',
        '<ol start="3">\n<li dir="auto">a</li>\n</ol>\n',
        '<pre><code class="language-py">x = 1\n</code></pre>\n',
        '<table>\n<thead>\n<tr>\n<th dir="auto" align="left">a</th>\n</tr>\n</thead>\n</table>\n',
        '<p>a<br>\nb</p><hr><img src="https://x/y.png" alt="i">',
    ],
)
def test_clean_markup_is_recognized(html: str) -> None:
    assert already_clean(html, DEFAULT_POLICY)
    assert_meaning_kept(html)


_PIECES = st.sampled_from(
    [
        "<p>", "</p>", "<em>", "</em>", "<a ", "<a>", "</a>", "<br>", "<img ", "<code>", "</code>",
        "<li>", "</li>", "<ul>", "</ul>", "<table>", "<tr>", "<td>", "</td>", "</tr>", "</table>",
        'href="', 'src="', 'rel="nofollow noopener noreferrer"', 'title="', 'dir="auto"', "javascript:",
        "https://a.b/", "&amp;", "&lt;", "&#", "&", '"', "'", "<", ">", "/", "=", " ", "\n", "x", "\t",
        "<math>", "<mi>", "<script>", "<!--", "-->", "<pre>", "</pre>", "<svg>", "<style>",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=24).map("".join))
def test_generated_tag_soup_is_recognized_only_where_meaning_is_kept(html: str) -> None:
    assert_meaning_kept(html)


def test_the_fast_path_returns_the_input_and_reports_nothing() -> None:
    html = '<p dir="auto">a <a href="https://a.b" rel="nofollow noopener noreferrer">b</a></p>\n'
    cleaned = BLEACH.clean(html)
    assert cleaned.html == html
    assert cleaned.removed == []

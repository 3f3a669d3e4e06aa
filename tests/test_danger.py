"""The danger rules for HTML from other renderers (``renderer.harness.danger``)."""

from __future__ import annotations

import pytest

from renderer.harness.danger import check_danger, url_scheme


@pytest.mark.parametrize(
    ("html", "found"),
    [
        pytest.param("<p class=x>hi</p>", [], id="plain"),
        pytest.param("<p style='color:red'>x</p><style>p{}</style>", [], id="css-is-not-script"),
        pytest.param("<img src='data:image/png;base64,AA'>", [], id="data-image"),
        pytest.param("<audio src='data:,x'></audio><svg><image href='data:,y'/></svg>", [], id="data-media"),
        pytest.param("<embed src='data:text/html,x'>", ["<embed>", '<embed src="data:...">'], id="data-embed"),
        pytest.param("<a href='https://x.test/'>x</a><a href='/rel'>y</a><a href='#f'>z</a>", [], id="safe-urls"),
        pytest.param("<img src=x onerror=y>", ["<img onerror>"], id="handler"),
        pytest.param("<b ONCLICK=y>", ["<b onclick>"], id="handler-upper"),
        pytest.param("<img src=x on<>", [], id="not-a-handler"),
        pytest.param("<script>x</script>", ["<script>"], id="script"),
        pytest.param("<iframe srcdoc='x'></iframe>", ["<iframe>", "<iframe srcdoc>"], id="srcdoc"),
        pytest.param("<a href='javascript:x'>", ['<a href="javascript:...">'], id="javascript"),
        pytest.param("<a href=' \x01java\tscript:x'>", ['<a href="javascript:...">'], id="javascript-forgiven"),
        pytest.param("<a href='&#106;avascript:x'>", ['<a href="javascript:...">'], id="javascript-entity"),
        pytest.param("<a href='data:text/html,x'>", ['<a href="data:...">'], id="data-link"),
        pytest.param("<form action='vbscript:x'>", ['<form action="vbscript:...">'], id="vbscript-action"),
        pytest.param("<svg><a xlink:href='javascript:x'>", ['<a xlink:href="javascript:...">'], id="svg-href"),
        pytest.param("<svg><set attributeName=href to=x>", ["<set attributename=href>"], id="svg-set"),
        pytest.param("<meta http-equiv=refresh content='0;url=x'>", ["<meta>"], id="meta"),
        pytest.param("<base href='https://x.test/'>", ["<base>"], id="base"),
    ],
)
def test_danger_rules(html: str, found: list[str]) -> None:
    assert check_danger(html) == found


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("https://x", "https"),
        ("/a:b", None),
        ("a/b:c", None),
        ("\x00 JavaScript:x", "javascript"),
        ("ja\nva\tscript:", "javascript"),
    ],
)
def test_url_scheme_reads_urls_as_the_url_parser_does(url: str, scheme: str | None) -> None:
    assert url_scheme(url) == scheme

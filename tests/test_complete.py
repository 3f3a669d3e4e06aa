"""The unfinished paragraph shown as it will most likely look: closers from
markdown-it's own delimiter scan, links being typed as plain text, half tags
left out; every example of the issue, and every prefix of each."""

from __future__ import annotations

import re

import pytest

from renderer import MarkdownStream, render_markdown
from renderer.harness.flash import EXAMPLES, corpus, flashes, marker_added, stream_states, visible
from renderer.markdown.complete import Completer, last_paragraph
from renderer.markdown.ops import Document
from renderer.markdown.render import default_parser


def shown(prefix: str) -> str:
    """What a reader sees after ``prefix`` arrived in one chunk."""
    document = Document()
    for op in MarkdownStream(interval=0).feed(prefix):
        document.apply(op)
    # The chat configuration puts dir="auto" on every block; these cases are
    # about inline markup, so it is left out of the expectations.
    return re.sub(r"\n| dir=\"auto\"", "", document.html)


@pytest.mark.parametrize(
    ("prefix", "html"),
    [
        pytest.param(
            "This is ***very important*** to know",
            "<p>This is <em><strong>very important</strong></em> to know</p>",
            id="triple-closer-is-no-double-plus-single",
        ),
        pytest.param(
            "This is ***very important*",
            "<p>This is <em><strong>very important</strong></em></p>",
            id="triple-half-closed",
        ),
        pytest.param(
            "**2. Instruction Tuning (SFT",
            "<p><strong>2. Instruction Tuning (SFT</strong></p>",
            id="open-strong-not-split-at-a-sentence",
        ),
        pytest.param(
            "**Note: this is important** and more text",
            "<p><strong>Note: this is important</strong> and more text</p>",
            id="label-closed-then-more-text",
        ),
        pytest.param("**Note: this is", "<p><strong>Note: this is</strong></p>", id="label-open-after-colon"),
        pytest.param("\\` *italic", "<p>` <em>italic</em></p>", id="escaped-backtick-opens-nothing"),
        pytest.param(
            "test*var and *incomplete italic",
            "<p>test*var and <em>incomplete italic</em></p>",
            id="intraword-asterisk-left-literal",
        ),
        pytest.param("``a`", "<p><code>a</code></p>", id="double-backtick-span-closer-arriving"),
        pytest.param("``a`b", "<p><code>a`b</code></p>", id="double-backtick-span-holding-one"),
        pytest.param("Text with ~~strike~", "<p>Text with <s>strike</s></p>", id="strikethrough-closer-arriving"),
        pytest.param('Hello <a href="https://ex', "<p>Hello</p>", id="half-tag-left-out"),
        pytest.param("Hello <https://exa", "<p>Hello</p>", id="half-autolink-left-out"),
        pytest.param("Hello <!-- a comm", "<p>Hello</p>", id="half-comment-left-out"),
        pytest.param("a < b", "<p>a &lt; b</p>", id="less-than-is-text"),
        pytest.param("some __strong", "<p>some <strong>strong</strong></p>", id="double-underscore"),
        pytest.param("some _em", "<p>some <em>em</em></p>", id="underscore"),
        pytest.param("snake_case", "<p>snake_case</p>", id="intraword-underscore"),
        pytest.param(
            "**bold that never closes\nmore text",
            "<p><strong>bold that never closes\nmore text</strong></p>".replace("\n", ""),
            id="open-on-an-earlier-line",
        ),
        pytest.param(
            "*em\nmore `co", "<p><em>em\nmore <code>co</code></em></p>".replace("\n", ""), id="code-in-em-across-lines"
        ),
        pytest.param("A [link [nested] te", "<p>A link [nested] te</p>", id="nested-brackets-in-link-text"),
        pytest.param(
            "A [link [nested] text](https://exa", "<p>A link [nested] text</p>", id="nested-brackets-destination-typed"
        ),
        pytest.param("A ![alt [x] y](https://exa", "<p>A</p>", id="image-being-typed-left-out"),
        pytest.param("**`f", "<p><strong><code>f</code></strong></p>", id="code-inside-open-strong"),
        pytest.param("**bold **", "<p><strong>bold</strong></p>", id="trailing-marker-run-left-out"),
        pytest.param("**[", "", id="opener-with-only-a-bracket-after-it"),
    ],
)
def test_an_unfinished_paragraph_shows_as_it_will_look(prefix: str, html: str) -> None:
    assert shown(prefix) == html


@pytest.mark.parametrize("text", [pytest.param(text, id=text[:40]) for text in EXAMPLES])
def test_no_prefix_of_an_issue_example_flashes_or_adds_a_marker(text: str) -> None:
    final = visible(render_markdown(text))
    for end, html in enumerate(stream_states(text), 1):
        state = visible(html)
        assert not marker_added(state, text[:end]), (text[:end], state)
        assert not flashes(state, final), (text[:end], state)


@pytest.mark.parametrize(
    ("source", "text"),
    [
        pytest.param("a **b", "a **b", id="one-line"),
        pytest.param("para\n\n> a\n> b", "a\nb", id="quote-lines"),
        pytest.param("- x\n- a\n  b", "a\nb", id="list-item-and-continuation"),
        pytest.param("# T\nnext", "next", id="after-a-heading"),
        pytest.param("# T", "T", id="heading"),
    ],
)
def test_last_paragraph_strips_container_prefixes(source: str, text: str) -> None:
    paragraph = last_paragraph(source)
    assert paragraph is not None
    assert paragraph.text == text


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("a\n\n", id="blank-line"),
        pytest.param("```\ncode **x", id="open-fence"),
        pytest.param("a\n\n    code", id="indented-code"),
        pytest.param("| a | b |", id="table-row"),
    ],
)
def test_no_paragraph_to_complete(source: str) -> None:
    assert last_paragraph(source) is None


@pytest.mark.parametrize("text", [pytest.param(text, id=f"corpus-{index}") for index, text in enumerate(corpus(25))])
def test_a_completer_reusing_its_last_edit_gives_what_a_fresh_one_gives(text: str) -> None:
    completer = Completer(default_parser())
    for end in range(1, len(text) + 1):
        assert completer.complete(text[:end], {}) == Completer(default_parser()).complete(text[:end], {}), text[:end]

"""The tail preview's source: which partial line is held back, how open
inline markup is closed and a link being typed shown as text, and the shortcuts
(layout newlines dropped, plain words added without rendering) that must
give what a full render gives."""

from __future__ import annotations

import pytest

from renderer.markdown.preview import compact, complete_inline, hold_partial_line, plain_growth, preview_source
from renderer.markdown.render import render_markdown


@pytest.mark.parametrize(
    "pending",
    [
        pytest.param("#", id="atx-marker"),
        pytest.param("# ", id="atx-marker-and-space"),
        pytest.param("-", id="bullet-or-setext-or-break"),
        pytest.param("- ", id="bullet-and-space"),
        pytest.param("1", id="digit"),
        pytest.param("1.", id="ordered-marker"),
        pytest.param("1. ", id="ordered-marker-and-space"),
        pytest.param("---", id="thematic-break"),
        pytest.param("===", id="setext-equals"),
        pytest.param("|--", id="delimiter-row"),
        pytest.param("```", id="backtick-fence"),
        pytest.param("~~~", id="tilde-fence"),
        pytest.param("> ", id="quote-marker"),
        pytest.param("   ", id="spaces"),
        pytest.param("Intro\n-", id="setext-underline-after-paragraph"),
        pytest.param("[a", id="maybe-definition"),
        pytest.param("[a]: https://exa", id="definition-url"),
        pytest.param("- [a]: x", id="definition-in-list-item"),
        pytest.param("   > [a", id="definition-in-quote"),
        pytest.param("a\n\n[x]: y\nmore", id="line-after-definition-may-be-its-title"),
    ],
)
def test_a_partial_line_that_may_still_change_its_block_is_held(pending: str) -> None:
    assert hold_partial_line(pending, pending.rfind("\n") + 1)


@pytest.mark.parametrize(
    "pending",
    [
        pytest.param("text", id="text"),
        pytest.param("# T", id="heading-with-text"),
        pytest.param("- a", id="list-item-with-text"),
        pytest.param("1. a", id="ordered-item-with-text"),
        pytest.param("> a", id="quote-with-text"),
        pytest.param("Intro\n-x", id="dash-then-text"),
        pytest.param("| a", id="pipe-then-text"),
        pytest.param("See [a] here", id="bracket-mid-line"),
    ],
)
def test_a_partial_line_that_says_enough_is_shown(pending: str) -> None:
    assert not hold_partial_line(pending, pending.rfind("\n") + 1)


@pytest.mark.parametrize(
    ("line", "completed"),
    [
        pytest.param("**bo", "**bo**", id="strong"),
        pytest.param("**bold** and *em", "**bold** and *em*", id="em-after-closed-strong"),
        pytest.param("a **b *c", "a **b *c***", id="nested"),
        pytest.param("~~del", "~~del~~", id="strikethrough"),
        pytest.param("`code", "`code`", id="code-span"),
        pytest.param("``a ` b", "``a ` b``", id="code-span-holding-a-backtick"),
        pytest.param("`a *b", "`a *b`", id="emphasis-inside-code-is-text"),
        pytest.param("**bold **", "**bold**", id="trailing-space-before-closer-dropped"),
        pytest.param("**", "", id="marker-alone-dropped"),
        pytest.param("**b** x **", "**b** x ", id="new-marker-alone-dropped"),
        pytest.param("x * y", "x * y", id="spaced-asterisk-is-not-emphasis"),
        pytest.param("\\*not", "\\*not", id="escaped-marker"),
        pytest.param("snake_case word", "snake_case word", id="intraword-underscore"),
        pytest.param("See [docs](https://exa", "See docs", id="link-destination-cut-text-shown"),
        pytest.param("See [docs", "See docs", id="link-text-shown-plain"),
        pytest.param("See [docs]", "See docs", id="link-before-destination-shown-plain"),
        pytest.param("![alt](https://e", "", id="image-being-typed-left-out"),
        pytest.param("See [a [b] c](https://x", "See a [b] c", id="link-text-with-nested-brackets"),
        pytest.param("**[docs](https://ex", "**docs**", id="link-in-open-strong"),
        pytest.param("[a](https://e.com) and **b", "[a](https://e.com) and **b**", id="complete-link-kept"),
        pytest.param("plain words.", "plain words.", id="nothing-open"),
    ],
)
def test_complete_inline_closes_open_markup_and_shows_a_link_being_typed_as_text(line: str, completed: str) -> None:
    assert complete_inline(line) == completed


@pytest.mark.parametrize(
    ("pending", "source"),
    [
        pytest.param("Hello wor", "Hello wor", id="plain-partial-line"),
        pytest.param("**bo", "**bo**", id="partial-line-completed"),
        pytest.param("Intro\n-", "Intro\n", id="ambiguous-partial-line-held"),
        pytest.param("para\n\n# H", "para\n\n# H", id="heading-with-text-shown"),
        pytest.param("a | b\n", "", id="possible-table-header-held"),
        pytest.param("a | b\n--", "", id="possible-table-header-held-while-delimiter-arrives"),
        pytest.param("| a | b |\n|---|---|\n| c", "| a | b |\n|---|---|\n", id="partial-row-held"),
        pytest.param("| a | b |\n|---|---|\n| c | d |\n", "| a | b |\n|---|---|\n| c | d |\n", id="complete-row-shown"),
        pytest.param("[a]: https://e", "", id="definition-held"),
        pytest.param("[a](https://e", "a", id="link-at-line-start-is-no-definition"),
        pytest.param("**bold\nmore", "**bold\nmore**", id="closed-across-lines"),
        pytest.param("**bold\n", "**bold**\n", id="closed-before-the-newline"),
        pytest.param("**bold\n-", "**bold**\n", id="closed-while-next-line-held"),
        pytest.param("**bold\n\n", "**bold\n\n", id="paragraph-ended-unclosed-stays-literal"),
        pytest.param("> a **b\n> c", "> a **b\n> c**", id="across-quote-lines"),
        pytest.param("- a **b\n  c", "- a **b\n  c**", id="across-list-item-lines"),
        pytest.param("- a\n- b **c", "- a\n- b **c**", id="last-item-only"),
        pytest.param("```\ncode **x\n", "```\ncode **x\n", id="not-in-a-fence"),
        pytest.param("text\n\n    code **x", "text\n\n    code **x", id="not-in-indented-code"),
        pytest.param("<div>**a", "<div>**a", id="not-in-an-html-block"),
        pytest.param(
            "text\n\n[a]: https://example.com/x\n", "text\n\n[a]: https://example.com/x\n", id="complete-definition"
        ),
    ],
)
def test_preview_source_shapes_the_pending_text(pending: str, source: str) -> None:
    assert preview_source(pending) == source


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("- a\n- b\n", id="list"),
        pytest.param("| a | b |\n|---|---|\n| c | d |\n", id="table"),
        pytest.param("> q\n\n# H\n\n---\n", id="quote-heading-break"),
        pytest.param("```\nx\n\ny\n```\n", id="code-keeps-its-newlines"),
        pytest.param("a  \nb\nc\n", id="paragraph-keeps-its-newlines"),
    ],
)
def test_compact_drops_only_layout_newlines_after_block_tags(text: str) -> None:
    html = render_markdown(text)
    compacted = compact(html)
    assert compacted.replace("\n", "") == html.replace("\n", "")
    for line_break in ("</li>\n", "<ul>\n", "</tr>\n", "</p>\n", "</h1>\n", "</pre>\n", "<hr>\n"):
        assert line_break not in compacted
    if "<code>" in html:
        assert "x\n\ny\n</code>" in compacted
    if "<br" in html:
        assert "<br>\nb\nc" in compacted


def grow(old_raw: str, raw: str) -> tuple[str | None, str]:
    """``plain_growth`` for the preview of ``old_raw`` growing into ``raw``, and
    what a full render of the new preview source gives."""
    old_source, source = preview_source(old_raw), preview_source(raw)
    tail = compact(render_markdown(old_source))
    return plain_growth(old_raw, raw, old_source, source, tail), compact(render_markdown(source))


@pytest.mark.parametrize(
    ("old_raw", "raw"),
    [
        pytest.param("Hello wor", "Hello world", id="word-grows"),
        pytest.param("Hello", "Hello, world", id="words-and-punctuation"),
        pytest.param("**bo", "**bold", id="inside-open-strong"),
        pytest.param("# A long tit", "# A long title", id="inside-heading"),
        pytest.param("- a\n- the second it", "- a\n- the second item", id="inside-last-list-item"),
        pytest.param("> quoted wor", "> quoted words", id="inside-quote"),
    ],
)
def test_plain_growth_adds_plain_words_as_a_full_render_would(old_raw: str, raw: str) -> None:
    grown, full = grow(old_raw, raw)
    assert grown is not None
    assert grown == full


@pytest.mark.parametrize(
    ("old_raw", "raw"),
    [
        pytest.param("Hello", "Hello *w", id="markup-added"),
        pytest.param("Hello ", "Hello world", id="after-a-space"),
        pytest.param("Hello_", "Hello_world", id="after-markup"),
        pytest.param("Hello", "Hallo", id="not-an-extension"),
        pytest.param("Intro\n", "Intro\n-", id="new-line"),
    ],
)
def test_plain_growth_declines_what_may_change_the_markup(old_raw: str, raw: str) -> None:
    assert grow(old_raw, raw)[0] is None


@pytest.mark.parametrize(
    ("old_raw", "raw"),
    [
        pytest.param(
            "Tom &amp",
            "Tom &amp;",
            id="semicolon-completes-a-character-reference",
        ),
        pytest.param(
            "<di",
            "<div",
            id="letters-complete-an-html-block-tag",
        ),
        pytest.param("Hello wor", "Hello world", id="plain-words"),
    ],
)
def test_plain_growth_never_disagrees_with_a_full_render(old_raw: str, raw: str) -> None:
    grown, full = grow(old_raw, raw)
    assert grown is None or grown == full

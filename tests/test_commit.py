"""Which prefix of a growing text is final, on real markdown-it tokens.

Each "not yet" case comes with the continuation that proves it: appending it
changes how the blocks already there render, so committing them earlier
would have sent HTML that the final answer does not have.
"""

from __future__ import annotations

import pytest
from markdown_it.token import Token

from renderer.markdown.commit import Block, final_lines, open_fence, top_level_spans
from renderer.markdown.render import default_parser, render_markdown


def parse(src: str) -> tuple[list[Token], list[str]]:
    """The block tokens of ``src``'s complete lines, and those lines, as the engine sees them."""
    complete = src[: src.rfind("\n") + 1]
    md = default_parser()
    tokens = md.block.parse(complete, md, {"references": {}}, []) or []
    return tokens, complete.split("\n")[:-1]


def final_of(src: str) -> int:
    tokens, lines = parse(src)
    return final_lines(top_level_spans(tokens), lines)


def spans_of(src: str) -> list[tuple[str, int, int]]:
    return [(block.type, block.start, block.end) for block in top_level_spans(parse(src)[0])]


@pytest.mark.parametrize(
    ("src", "more"),
    [
        pytest.param("Intro\n", "-\n", id="setext-underline-may-follow"),
        pytest.param("Intro\n-", "x\n", id="setext-underline-arriving"),
        pytest.param("> a\n", "b\n", id="lazy-continuation-may-follow"),
        pytest.param("1. a\n\n", "2. b\n", id="next-item-makes-list-loose"),
        pytest.param("- a\n\n", "  b\n", id="indented-paragraph-continues-item"),
        pytest.param("a | b\n", "--|--\n", id="table-header-before-delimiter-row"),
        pytest.param("# H | x\n", "--|--\n", id="heading-line-may-be-table-header"),
        pytest.param("para\n", "===\n", id="paragraph-without-blank-line"),
        pytest.param("<div>\nx\n", "*y*\n", id="open-html-block"),
        pytest.param("```\na\n\n\nb\n", "c\n", id="fence-holding-blank-lines"),
        pytest.param("    a\n\n", "    b\n", id="indented-code-with-blank-line"),
        pytest.param("    a\n\n    b\n", "\n    c\n", id="indented-code-with-blank-lines"),
    ],
)
def test_blocks_that_a_later_line_can_still_change_are_not_final(src: str, more: str) -> None:
    assert final_of(src) == 0
    # ... and the continuation does change them:
    assert not render_markdown(src + more).startswith(render_markdown(src))


def test_an_open_script_block_is_not_final() -> None:
    assert final_of("<script>\nx\n") == 0


@pytest.mark.parametrize(
    ("src", "final"),
    [
        pytest.param("para\n\n", 2, id="paragraph-and-blank-line"),
        pytest.param("a\n\nb\n\n", 4, id="two-paragraphs-and-blank-line"),
        pytest.param("a\n\nb\n", 2, id="paragraph-before-next-paragraph"),
        pytest.param("# H\nnext\n", 1, id="heading-and-next-line"),
        pytest.param("## H\n\n", 2, id="heading-and-blank-line"),
        pytest.param("---\nx\n", 1, id="thematic-break-and-next-line"),
        pytest.param("```\nx\n```\nnext\n", 3, id="closed-fence-and-next-line"),
        pytest.param("~~~py\nx\n\ny\n~~~\n\n", 6, id="closed-fence-with-blank-lines-and-blank-line"),
        pytest.param("- a\n\nparagraph\nmore\n", 2, id="list-blank-unindented-paragraph-with-next-line"),
        pytest.param("> a\n\n", 2, id="quote-and-blank-line"),
        pytest.param("<p>\nx\n\n", 3, id="html-block-and-blank-line"),
        pytest.param("a | b\n--|--\nc | d\n\n", 4, id="table-and-blank-line"),
        pytest.param("    a\n\nb\nc\n", 2, id="indented-code-before-paragraph-with-next-line"),
    ],
)
def test_blocks_no_later_line_can_change_are_final(src: str, final: int) -> None:
    assert final_of(src) == final
    # Whatever follows, the final lines render as they do alone.
    committed = src[: sum(len(line) + 1 for line in src.split("\n")[:final])]
    for more in ("-\n", "  b\n", "--|--\n", "===\n", "\n    c\n", "> z\n", "2. b\n", "[x]: /u\n"):
        assert render_markdown(src + more).startswith(render_markdown(committed))


@pytest.mark.parametrize(
    "src",
    [
        pytest.param("# H\nnext", id="heading-next-line-partial"),
        pytest.param("- a\n\nparagraph\nmore", id="list-next-paragraph-line-partial"),
        pytest.param("para\n# H\n", id="next-block-without-its-next-line"),
    ],
)
def test_a_block_waits_for_the_line_after_the_one_that_closes_it(src: str) -> None:
    assert final_of(src) == 0


def test_a_closed_fence_is_final_as_soon_as_its_closing_line_is_complete() -> None:
    assert final_of("```\nx\n```\n") == 3
    assert final_of("```\nx\n```") == 0  # "```" could still become "``` x", which does not close it


def test_only_complete_lines_count() -> None:
    assert final_of("para\n\nnext") == 2
    assert final_of("para\n") == 0
    assert final_of("") == 0


def test_top_level_spans_gives_each_top_level_block_its_lines() -> None:
    src = "# H\n\npara\nmore\n\n- a\n- b\n\n> q\n\n```\nx\n```\n| a | b |\n|---|---|\n"
    assert spans_of(src) == [
        ("heading_open", 0, 1),
        ("paragraph_open", 2, 4),
        ("bullet_list_open", 5, 8),  # a list's lines include the blank line after it
        ("blockquote_open", 8, 9),
        ("fence", 10, 13),
        ("table_open", 13, 15),
    ]


def test_top_level_spans_skips_nested_blocks_and_closing_tokens() -> None:
    spans = top_level_spans(parse("- a\n  - b\n\n  > c\n")[0])
    assert [(block.type, block.start, block.end) for block in spans] == [("bullet_list_open", 0, 4)]
    assert spans[0].token.type == "bullet_list_open"


def test_top_level_spans_of_a_reference_definition_is_empty() -> None:
    assert spans_of("[a]: https://example.com\n") == []


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        pytest.param("```py\nx\n", ("fence", 0, 2), id="open-fence"),
        pytest.param("```py\nx\n\n\ny\n", ("fence", 0, 5), id="open-fence-with-blank-lines"),
        pytest.param("````\nx\n```\n", ("fence", 0, 3), id="shorter-closing-run-does-not-close"),
        pytest.param("```py\nx\n```\n", None, id="closed-fence"),
        pytest.param("para\n\n```\nx\n", None, id="fence-not-first"),
        pytest.param("para\n", None, id="no-fence"),
    ],
)
def test_open_fence_finds_a_first_block_fence_still_waiting_to_close(
    src: str, expected: tuple[str, int, int] | None
) -> None:
    tokens, lines = parse(src)
    block: Block | None = open_fence(top_level_spans(tokens), len(lines))
    assert (None if block is None else (block.type, block.start, block.end)) == expected

"""The chat configuration: nothing dropped at any depth, GFM as chat UIs
show it, containers, footnotes, right-to-left text (the fixtures of
``fixtures/chat.md`` also run in the convergence suite)."""

from __future__ import annotations

import html
import random
import re

import pytest
from chunking import random_chunks, stream
from hypothesis import given, settings
from hypothesis import strategies as st

from renderer import MarkdownStream, render_markdown
from renderer.markdown.ops import Document
from renderer.markdown.render import MAX_NESTING, default_parser
from renderer.sanitizer.clean import check_allowlist

TAG = re.compile(r"<[^>]*>")
WORD = re.compile(r"w[0-9]+")


def words_of(rendered: str) -> set[str]:
    return set(WORD.findall(html.unescape(TAG.sub(" ", rendered))))


def nested_document(levels: list[int], kinds: list[str]) -> str:
    """One line per item, each at its own depth: a list item, a quote, or a
    list item inside quotes; word ``w<i>`` on line ``i``."""
    lines = []
    for index, (depth, kind) in enumerate(zip(levels, kinds, strict=True)):
        word = f"w{index}"
        if kind == "list":
            lines.append("  " * depth + f"- {word}")
        elif kind == "quote":
            lines.append("> " * (depth + 1) + word)
        else:
            quotes = depth // 2
            lines.append("> " * quotes + "  " * (depth - quotes) + f"- {word}")
    return "\n".join(lines) + "\n\nw_end paragraph after it\n"


def random_levels(rng: random.Random, count: int, deepest: int) -> list[int]:
    """A walk of depths between 0 and ``deepest``: mostly one level up or
    down (real nesting), sometimes a jump (markers kept as text or code)."""
    levels, depth = [], 0
    for _ in range(count):
        step = rng.choice((-1, 0, 1, 1)) if rng.random() < 0.9 else rng.randint(-deepest, deepest)
        depth = max(0, min(deepest, depth + step))
        levels.append(depth)
    return levels


def cut_randomly(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 40))))
    return [text[start:end] for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True)]


@pytest.mark.slow  # thousands of items, streamed: about 20 s
@settings(max_examples=25, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=2000),
    deepest=st.integers(min_value=1, max_value=100),
    kind=st.sampled_from(["list", "quote", "mixed", "any"]),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_every_word_of_a_deeply_nested_document_is_rendered_one_shot_and_streamed(
    count: int, deepest: int, kind: str, seed: int
) -> None:
    rng = random.Random(seed)
    kinds = [rng.choice(["list", "quote", "mixed"]) if kind == "any" else kind for _ in range(count)]
    text = nested_document(random_levels(rng, count, deepest), kinds)
    expected = set(WORD.findall(text))
    one_shot = render_markdown(text)
    assert words_of(one_shot) == expected
    assert "paragraph after it" in one_shot
    assert check_allowlist(one_shot) == []
    assert stream(cut_randomly(text, rng)).document.html == one_shot


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["list", "quote", "mixed"])
def test_thousands_of_items_100_levels_deep_keep_every_word(kind: str) -> None:
    rng = random.Random(kind)
    levels = random_levels(rng, 3000, 100)
    text = nested_document(levels, [kind] * len(levels))
    one_shot = render_markdown(text)
    assert words_of(one_shot) == set(WORD.findall(text))
    assert stream(cut_randomly(text, rng)).document.html == one_shot


def test_markdown_it_alone_drops_the_rest_of_a_deep_document_and_we_do_not() -> None:
    from markdown_it import MarkdownIt

    text = "".join("  " * i + f"- w{i}\n" for i in range(15)) + "\n# w_heading after\n"
    assert "w14" not in MarkdownIt("commonmark").render(text)  # the bug of the issue
    assert "w_heading" not in MarkdownIt("commonmark").render(text)
    for preset in ("chat", "commonmark"):
        out = render_markdown(text, parser=default_parser(preset))
        assert "w14" in out and "w_heading after</h1>" in out


def test_nesting_up_to_the_limit_is_structure_and_past_it_text() -> None:
    out = render_markdown(">" * 100 + " deep w1\n")
    assert out.count("<blockquote") == MAX_NESTING
    assert "&gt; deep w1" in out  # the rest of the markers, kept as text


# -- GFM -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "hrefs"),
    [
        pytest.param("see https://example.com.", ["https://example.com"], id="trailing-period"),
        pytest.param("(https://example.com/a)", ["https://example.com/a"], id="in-parentheses"),
        pytest.param("www.example.org, then", ["http://www.example.org"], id="www"),
        pytest.param("example.com and ftp://x.org", [], id="bare-domain-and-ftp-are-text"),
        pytest.param("javascript:alert(1) and data:text/html,x", [], id="other-schemes-are-text"),
        pytest.param("`https://code.example`", [], id="code-span"),
    ],
)
def test_bare_urls_become_links_as_gfm_does(markdown: str, hrefs: list[str]) -> None:
    out = render_markdown(markdown)
    assert re.findall(r'href="([^"]*)"', out) == hrefs
    assert render_markdown(markdown, parser=default_parser("commonmark")).count("<a ") == 0


def test_task_lists_are_disabled_checkboxes() -> None:
    out = render_markdown("- [ ] todo\n- [x] done\n- plain\n")
    assert '<li dir="auto"><input disabled type="checkbox"> todo</li>' in out
    assert '<li dir="auto"><input checked disabled type="checkbox"> done</li>' in out
    assert "class" not in out


def test_footnotes_are_numbered_and_listed_at_the_end() -> None:
    out = render_markdown("A[^x] and B[^y].\n\n[^y]: Why.\n[^x]: Ex.\n")
    assert '<sup><a href="#fn1" id="fnref1" rel="nofollow noopener noreferrer">[1]</a></sup>' in out
    assert out.index("Ex.") < out.index("Why.")  # in the order of first reference
    assert out.endswith("</ol>\n</section>\n")
    assert check_allowlist(out) == []


def stream_ops(text: str, cuts: list[int]) -> tuple[list[tuple[str, str]], Document]:
    engine = MarkdownStream(interval=0)
    document = Document()
    ops: list[tuple[str, str]] = []
    for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
        for op in engine.feed(text[start:end]):
            ops.append((op.kind, op.html))
            document.apply(op)
    for op in engine.close():
        ops.append((op.kind, op.html))
        document.apply(op)
    return ops, document


def test_a_footnote_referenced_before_its_definition_converges_with_one_replace() -> None:
    text = "Claim[^1].\n\nMore.\n\nAnd more.\n\n[^1]: Source.\n"
    ops, document = stream_ops(text, list(range(1, len(text))))
    assert document.html == render_markdown(text)
    assert [kind for kind, _ in ops].count("replace") == 1


def test_footnotes_defined_before_use_are_one_block_at_close() -> None:
    text = "[^1]: Source.\n\nClaim[^1].\n\nMore.\n"
    ops, document = stream_ops(text, list(range(1, len(text))))
    assert document.html == render_markdown(text)
    assert "replace" not in [kind for kind, _ in ops]
    assert ops[-1][0] == "block" and ops[-1][1].startswith("<section>")


# -- containers ------------------------------------------------------------------------------

DETAILS = "Intro.\n\n<details><summary>More</summary>\n\nHidden **bold**.\n\n- a\n- b\n\n</details>\n\nAfter.\n"


def test_details_around_markdown_is_one_element_with_the_markdown_inside() -> None:
    out = render_markdown(DETAILS)
    assert (
        '<details><summary>More</summary>\n<p dir="auto">Hidden <strong>bold</strong>.</p>\n'
        '<ul>\n<li dir="auto">a</li>\n<li dir="auto">b</li>\n</ul>\n</details>'
    ) in out


def test_a_streamed_details_is_committed_whole_and_never_rewritten() -> None:
    ops, document = stream_ops(DETAILS, list(range(1, len(DETAILS))))
    assert document.html == render_markdown(DETAILS)
    kinds = [kind for kind, _ in ops]
    assert "replace" not in kinds
    committed = [htmltext for kind, htmltext in ops if kind == "block"]
    assert any(part.startswith("<details>") and part.rstrip().endswith("</details>") for part in committed)


def test_a_container_left_open_past_its_reach_is_its_own_block_again() -> None:
    text = "<div>\n\n" + "".join(f"para w{i}\n\n" for i in range(80))
    out = render_markdown(text)
    assert out.startswith("<div>\n</div><p")  # the <div> closed at once, as before
    assert stream(random_chunks(text, random.Random(1))).document.html == out


# -- right to left -----------------------------------------------------------------------------


def test_blocks_carry_dir_auto_so_right_to_left_text_is_laid_out_as_such() -> None:
    out = render_markdown("# عنوان\n\nمرحبا\n\n> שלום\n\n- פריט\n\n| a |\n|---|\n| ب |\n")
    for tag in ("h1", "p", "blockquote", "li", "th", "td"):
        assert f'<{tag} dir="auto"' in out, tag
    assert 'dir="auto"' not in render_markdown("# a\n\nb\n", parser=default_parser("commonmark"))


# -- math while streaming ----------------------------------------------------------------------

MATH_STREAM = (
    "Energy $E = mc^2$ and \\(a+b\\) here.\n\n$$\n\\frac{a}{b} + \\sqrt{c}\n$$\n\n\\[\n\\int_0^1 x\\,dx\n\\]\n\nEnd.\n"
)


def test_a_formula_being_typed_is_held_back_never_half_converted() -> None:
    final = render_markdown(MATH_STREAM)
    formulas = set(re.findall(r'<annotation encoding="application/x-tex">(.*?)</annotation>', final))
    assert len(formulas) == 4
    run = stream(list(MATH_STREAM))
    assert run.document.html == final
    for state in run.states:
        shown = set(re.findall(r'<annotation encoding="application/x-tex">(.*?)</annotation>', state))
        assert shown <= formulas, state  # only whole formulas
        text = html.unescape(TAG.sub("", state))
        assert "$" not in text and "\\(" not in text and "\\[" not in text, state  # no raw half formula
        assert "<code>" not in state, state  # nothing shown as a refused formula

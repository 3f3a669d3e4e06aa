"""The tail preview's shortcuts show exactly what the plain way shows.

``TailPreview`` renders only what changed: the last item of a list, and in
it the last nested item, or the last sentence of its line; the last
sentence of a paragraph, rendered and completed alone.  Each shortcut must
give the same tail HTML, at every state, as the plain computation it
replaces: the last item rendered whole, a one-line paragraph rendered
whole, the paragraph completed whole.  Two engines are fed the same chunks in lockstep, one with
the shortcuts and one with ``Plain`` (the shortcuts turned off), and their
tails compared after every chunk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from chunking import cut, cut_at
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from spec_examples import load_spec_examples

from renderer import MarkdownStream, render_markdown
from renderer.markdown.complete import Completer
from renderer.markdown.ops import Document
from renderer.markdown.render import default_parser
from renderer.markdown.split import self_contained, sentence_cuts
from renderer.markdown.tail import TailPreview

ROOT = Path(__file__).resolve().parent.parent
ANSWER = ROOT / "bench" / "answer.md"
GFM = ROOT / "tests" / "fixtures" / "gfm.md"
CHAT = ROOT / "tests" / "fixtures" / "chat.md"
SLOW = pytest.mark.slow


class PlainCompleter(Completer):
    """Completes the whole last paragraph, never only its last sentence."""

    def complete(self, source: str, references: Mapping[str, Any]) -> str:
        return self.complete_whole(source, references)


class Plain(TailPreview):
    """The preview without the shortcuts under test."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._completer = PlainCompleter(self._md)

    def _render_list(self, source: str, env: dict[str, Any], depth: int = 0) -> str:
        return self._render(source, env)

    def _render_line(self, line: str, env: dict[str, Any]) -> str:
        return self._render(line, env)


def tails(chunks: tuple[str, ...], plain: bool) -> list[str]:
    """The tail HTML after each chunk, flushing at every chunk."""
    stream = MarkdownStream(interval=0)
    if plain:
        stream._tail_preview = Plain(stream._md, stream._sanitize)
    states = []
    for chunk in chunks:
        stream.feed(chunk)
        states.append(stream._tail)
    return states


def assert_same_tails(text: str, chunks: tuple[str, ...]) -> None:
    fast, plain = tails(chunks, False), tails(chunks, True)
    for index, (got, expected) in enumerate(zip(fast, plain, strict=True)):
        assert got == expected, f"after {''.join(chunks[: index + 1])!r}"


@pytest.mark.parametrize(
    ("path", "size"),
    [
        (ANSWER, 3),
        (ANSWER, 7),
        (GFM, 1),
        (GFM, 3),
        pytest.param(ANSWER, 1, marks=SLOW),
        # chat.md character by character took 85 s (it passed); 13 keeps the suite's time
        pytest.param(CHAT, 13, marks=SLOW),
    ],
    ids=lambda value: value.name if isinstance(value, Path) else str(value),
)
def test_fixtures_show_the_same_tails(path: Path, size: int) -> None:
    text = path.read_text()
    assert_same_tails(text, cut(text, size))


_LIST_LIKE = re.compile(r"^ *(?:[-+*]|\d+[.)]) ", re.MULTILINE)
SPEC_LISTS = [example.markdown for example in load_spec_examples() if _LIST_LIKE.search(example.markdown)]


def test_spec_examples_with_lists_show_the_same_tails() -> None:
    for text in SPEC_LISTS:
        assert_same_tails(text, cut(text, 1))


WORDS = ("alpha", "beta", "gamma", "**bold**", "*it*", "`code`", "[link](https://x.y/a)", "x.", "end:", "a;")
MARKUP = ("**", "*", "_", "`", "``", "[", "](", ")", "~~", " ", ". ", "! ", "1. ", "- ", "<b>", "\\", "$", "|")


# Sentences whose markup a cut could tear: links (label, destination, title,
# reference), code spans (a closer in the next sentence, a bracket inside),
# emphasis across sentences, raw HTML, formulas, bare URLs.
TRICKY = (
    "[a `]` b. more](u)",
    '[x](/u "a) b. c")',
    "Cost $x. Then y$ z.",
    "see http://x.com/a`b c` d e`. f` g",
    "*x [a*] y. z*",
    "[a. b](u)",
    "`a. b` c.",
    "``a ` b. c`` d.",
    "[a](b c. d)",
    "[a][b. c]",
    '<a title="x. y">t</a>',
    "**a. b** c.",
    "_a. b_",
    "~~a. b~~",
    "![i. j](u)",
    "[a] b. [c](d) e.",
    "x &amp; y. z",
    "[^1] x. y",
    "a \\[b. c\\]",
    "![i. j](u) x. Cost $x$ z.",
    "[a](u) b. <i>c</i>",
)
INLINE = (
    *WORDS,
    "[a",
    "b]",
    "](u)",
    '](u "t. x")',
    "`a",
    "b`",
    "<",
    "<i>",
    "&",
    "$",
    "![",
    "[^",
    "http://h.i/a`b",
    "www.h.i",
    "[ref]",
    "[ref][]",
    "*a*.",
    "x!",
    "y?",
    "z;",
)


@st.composite
def inline_line(draw: st.DrawFn) -> str:
    """Words and stray markup, with sentence ends that may cut the line."""
    parts = draw(
        st.lists(
            st.one_of(st.sampled_from(WORDS), st.sampled_from(MARKUP), st.sampled_from(TRICKY)), min_size=1, max_size=14
        )
    )
    return " ".join(parts).strip() or "word"


@st.composite
def nested_list(draw: st.DrawFn, depth: int = 0) -> list[str]:
    """The lines of a tight list, its items maybe with a list nested under
    their first line, and now and then a line that breaks the pattern."""
    ordered = draw(st.booleans())
    bullet = draw(st.sampled_from("-*+"))
    first = draw(st.sampled_from((1, 1, 2)))
    lines: list[str] = []
    for n in range(draw(st.integers(1, 4))):
        marker = f"{first + n}{draw(st.sampled_from('.).'))}" if ordered else bullet
        spaces = " " * draw(st.sampled_from((1, 1, 1, 2, 5)))
        lines.append(f"{marker}{spaces}{draw(inline_line())}")
        indent = " " * (len(marker) + len(spaces)) if len(spaces) < 5 else " " * (len(marker) + 1)
        if depth < 2 and draw(st.integers(0, 2)) > 0:
            lines += [indent + line for line in draw(nested_list(depth + 1))]
        if draw(st.integers(0, 6)) == 0:
            odd = draw(st.sampled_from(("---", "# h", "```", "lazy text", "  more", "[r]: /u", "> q", "")))
            lines.append(draw(st.sampled_from(("", indent, " "))) + odd)
    return lines


@st.composite
def chunked_lists(draw: st.DrawFn) -> tuple[str, tuple[str, ...]]:
    text = "\n".join(draw(nested_list()))
    if draw(st.booleans()):
        text = draw(inline_line()) + "\n\n" + text
    text += draw(st.sampled_from(("", "", "\n", "\n\nAfter.\n", "\n\n\nAfter.")))
    positions = draw(st.lists(st.integers(0, len(text)), max_size=60))
    return text, cut_at(text, positions)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_lists())
def test_nested_lists_show_the_same_tails(case: tuple[str, tuple[str, ...]]) -> None:
    text, chunks = case
    note(repr(text))
    assert_same_tails(text, chunks)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(inline_line(), min_size=1, max_size=4), st.lists(st.integers(0, 400), max_size=60))
def test_paragraphs_show_the_same_tails(sentences: list[str], positions: list[int]) -> None:
    text = " ".join(sentences)
    note(repr(text))
    assert_same_tails(text, cut_at(text, [position % (len(text) + 1) for position in positions]))


DEFINITIONS = "[ref]: /r\n[a*]: /s\n[b. c]: /t\n\n"


@st.composite
def tricky_paragraph(draw: st.DrawFn) -> str:
    """Sentences of words, markup and the tricky cases, maybe on several
    lines, maybe in a quote or a list item."""
    parts = draw(
        st.lists(st.one_of(st.sampled_from(INLINE), st.sampled_from(MARKUP), st.sampled_from(TRICKY)), max_size=16)
    )
    separators = draw(
        st.lists(st.sampled_from((" ", " ", " ", ". ", "  ", "\n")), min_size=len(parts), max_size=len(parts))
    )
    text = "".join(part + separator for part, separator in zip(parts, separators, strict=True)).strip() or "word"
    prefix = draw(st.sampled_from(("", "", "", "> ", "- ", "1. ", "Intro.\n\n", DEFINITIONS)))
    return prefix + text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tricky_paragraph(), st.lists(st.integers(0, 400), max_size=40))
def test_tricky_paragraphs_show_the_same_tails(text: str, positions: list[int]) -> None:
    note(repr(text))
    assert_same_tails(text, cut_at(text, [position % (len(text) + 1) for position in positions]))


@pytest.mark.parametrize("sentence", TRICKY)
def test_tricky_sentences_show_the_same_tails(sentence: str) -> None:
    for text in (sentence, f"Lead. {sentence} tail. end", f"- Lead. {sentence} tail. end", DEFINITIONS + sentence):
        assert_same_tails(text, cut(text, 1))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tricky_paragraph())
def test_completing_the_last_sentence_is_completing_the_paragraph(text: str) -> None:
    """At every prefix, the completion of the last sentence alone (its cuts
    found incrementally) is the completion of the whole paragraph."""
    md = default_parser()
    fast, plain = Completer(md), Completer(md)
    references = {"REF": {"href": "/r", "title": ""}, "A*": {"href": "/s", "title": ""}}
    for end in range(len(text) + 1):
        source = text[:end]
        for refs in ({}, references):
            assert fast.complete(source, refs) == plain.complete_whole(source, refs), repr(source)


def test_an_item_with_an_unclosed_fence_keeps_its_last_newline() -> None:
    text = "1. alpha\n   1. alpha\n   ```\n   2. alpha\n   3. alpha\n   ---\n2. alpha"
    assert_same_tails(text, (text,))


def test_a_code_span_in_a_link_label_is_no_cut() -> None:
    closed = Completer(default_parser()).closed
    line = "[a `]` b. more](u) x"
    assert sentence_cuts(line, closed) == [0]
    assert not self_contained("[a `]` b. ", closed)
    assert self_contained("Use [a](https://x.y/a) and `b[0]`. ", closed)
    assert not self_contained("see http://h.i/a`b`. ", closed)
    assert self_contained("see [h](http://h.i/a) now. ", closed)


def committed_at_close(chunks: tuple[str, ...], interval: float) -> tuple[str, bool]:
    """The answer's final HTML, streamed; and whether the list it ended with
    was committed from the preview's pieces (``TailPreview.whole_list``)."""
    now = [0.0]
    stream = MarkdownStream(interval=interval, clock=lambda: now[0])
    document = Document()
    used = []
    whole_list = stream._tail_preview.whole_list

    def spy(source: str, references: Mapping[str, Any]) -> str | None:
        html = whole_list(source, references)
        used.append(html is not None)
        return html

    stream._tail_preview.whole_list = spy  # type: ignore[method-assign]
    for chunk in chunks:
        now[0] += 0.05
        for op in stream.feed(chunk):
            document.apply(op)
    for op in stream.close():
        document.apply(op)
    return document.html, any(used)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_lists(), st.sampled_from((0.0, 0.1, 1.0)))
@example(("1. a\n   ```\n   ---", ("1. a\n   ```\n   ---",)), 0.0)  # a fence open at the end
@example(("- a\n- b\n  ```\n  x\n\nAfter.\n", ("- a\n- b\n  `", "``\n  x\n\nAf", "ter.\n")), 0.0)
def test_a_list_committed_from_its_pieces_is_what_a_full_render_gives(
    case: tuple[str, tuple[str, ...]], interval: float
) -> None:
    text, chunks = case
    note(repr(text))
    html, _ = committed_at_close(chunks, interval)
    assert html == render_markdown(text)


def test_the_benchmark_answers_list_is_committed_from_the_preview_pieces() -> None:
    text = ANSWER.read_text()[:2048]
    text = text[: text.rfind("\n") + 1]
    html, used = committed_at_close(cut(text, 7), 0.1)
    assert html == render_markdown(text)
    assert used


@pytest.mark.parametrize(
    "text",
    [
        "- see [foo]\n- and [bar][]\n\nA paragraph.\n\n[foo]: /u\n[bar]: /v\n",
        "Intro.\n\n1. a [x](/a) b\n2. c [y]\n   - d\n\n[y]: /y\n",
        "- one\n- two [z]\n- three\n\n[z]: /z\n\nEnd.\n",
        "- a\n- " + "> " * 70 + "deep quotes\n- c\n\nAfter.\n",  # past the nesting limit
        "".join(f"{'  ' * depth}- level {depth}\n" for depth in range(40)) + "\nAfter.\n",
    ],
)
@pytest.mark.parametrize("size", [1, 3, 7])
@pytest.mark.parametrize("interval", [0.0, 0.1, 1.0])
def test_a_list_committed_from_pieces_still_learns_of_later_definitions(text: str, size: int, interval: float) -> None:
    html, _ = committed_at_close(cut(text, size), interval)
    assert html == render_markdown(text)

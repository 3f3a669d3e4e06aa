"""The tail preview's shortcuts show exactly what the plain way shows.

``TailPreview`` renders only what changed: the last item of a list, and in
it the last nested item; the last sentence of a paragraph, completed alone.
Each shortcut must give the same tail HTML, at every state, as the plain
computation it replaces: the last item rendered whole, the paragraph
completed whole.  Two engines are fed the same chunks in lockstep, one with
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
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from spec_examples import load_spec_examples

from renderer import MarkdownStream
from renderer.markdown.complete import Completer
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
        pytest.param(CHAT, 1, marks=SLOW),
        pytest.param(CHAT, 7, marks=SLOW),
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


@st.composite
def inline_line(draw: st.DrawFn) -> str:
    """Words and stray markup, with sentence ends that may cut the line."""
    parts = draw(st.lists(st.one_of(st.sampled_from(WORDS), st.sampled_from(MARKUP)), min_size=1, max_size=14))
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

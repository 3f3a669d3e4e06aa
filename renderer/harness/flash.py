"""Flashes of raw Markdown: a corpus of model-like answers and the measure.

A reader watching an answer stream sees a sequence of states: after each
character, the committed HTML plus the tail preview.  A *flash* is a state
that shows a Markdown marker the finished answer does not show there: the
``**`` of bold still open, the backtick of an open code span, the ``[`` and
``](`` of a link being typed, a half-typed tag shown as ``<a href=...``.

Precisely, with ``visible(html)`` the text a DOM shows (tags removed,
character references decoded, whitespace collapsed), ``S`` the visible text
of a state and ``F`` that of the final rendering of the whole answer:

* ``D = S[k:]`` is what the state shows past its longest common prefix
  ``k`` with ``F``, and ``W = F[k : k + len(D)]`` the final text over the
  same stretch;
* the state *flashes* when for some marker character ``c`` in
  :data:`MARKERS`, ``D`` holds more ``c`` than ``W`` does;
* a flash is *intraword* when it is a ``*`` right after a letter or digit
  (``a*b``) that the final pairs with a later ``*``;
* the state *adds a marker* when for some ``c`` in :data:`MARKERS`, ``S``
  holds more ``c`` than the source text fed so far: a marker that is not in
  the text at all (``**a***`` shown for ``**a*``).

The corpus is every example of the issue that asked for this measure plus
documents generated from model-like templates by a seeded generator, so the
benchmark (``bench/preview.py``) and the tests read the same documents.
"""

from __future__ import annotations

import functools
import html as html_module
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..markdown.ops import Document
from ..markdown.render import render_markdown
from ..markdown.stream import MarkdownStream
from ..sanitizer.clean import DEFAULT_SANITIZER

__all__ = [
    "EXAMPLES",
    "MARKERS",
    "Count",
    "corpus",
    "count_flashes",
    "flashes",
    "intraword",
    "marker_added",
    "naive_states",
    "stream_states",
    "visible",
]

MARKERS = "*_~`[]<"
"""Characters whose appearance in a preview, where the final answer has
none, is a flash of raw Markdown (``<`` stands for a half-typed tag)."""

EXAMPLES: tuple[str, ...] = (
    "This is ***very important*** to know",
    "**2. Instruction Tuning (SFT)**: the model learns to follow instructions.",
    "**Note: this is important** and more text follows here.",
    "\\` *italic* after an escaped backtick",
    "test*var and *incomplete italic* here",
    "Use ``a`b`` to show a backtick.",
    "Text with ~~strike~~ through it.",
    'Hello <a href="https://example.com">link</a> world',
    "Some __strong__ and _emphasis_ words.",
    "**bold that never closes\nmore text on the next line**",
    "A [link with [nested] brackets](https://example.com/nested) here.",
    "![an image [with] brackets](https://example.com/image.png)",
    "**`f`** in bold code",
    "*emphasis across\nlines of a paragraph*",
    "Call `foo()` then ``bar`baz`` and **done**.",
)
"""The examples of the issue, finished (every prefix of each is a state)."""

_WORDS = [
    "model",
    "stream",
    "token",
    "render",
    "parser",
    "buffer",
    "answer",
    "client",
    "server",
    "request",
    "response",
    "browser",
    "cache",
    "queue",
    "latency",
    "update",
    "preview",
    "commit",
    "sanitize",
    "table",
    "list",
    "code",
    "block",
    "line",
    "reader",
    "writer",
    "element",
    "attribute",
    "value",
    "result",
    "function",
    "method",
    "layer",
    "output",
    "input",
    "config",
    "option",
    "value",
    "user",
    "system",
]
_LABELS = (
    "Note",
    "Important",
    "Tip",
    "Warning",
    "Summary",
    "Example",
    "Step 1",
    "Why it matters",
    "Key idea",
    "Caveat",
    "2. Instruction Tuning (SFT)",
    "1. Pre-training",
    "3. RLHF",
)
_CODE = (
    "foo()",
    "x = 1",
    "pip install renderer",
    "a*b",
    "snake_case",
    "`tick`",
    "**kwargs",
    "[0]",
    "<div>",
    "__init__",
)
_URLS = (
    "https://example.com/docs",
    "https://en.wikipedia.org/wiki/Markdown_(syntax)",
    "https://example.com/a?b=1&c=2",
    "/relative/path",
    "https://example.com/page#section",
)
_TAGS = ("kbd", "sup", "sub", "b", "i", "em", "code", "mark")
_LANGUAGES = ("python", "js", "bash", "", "json")


class _Writer:
    """Model-like Markdown from a seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def words(self, low: int = 2, high: int = 7) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(low, high)))

    def url(self) -> str:
        return self.rng.choice(_URLS)

    def span(self) -> str:
        """One inline construct, as models write them."""
        rng = self.rng
        kind = rng.randrange(22)
        words = self.words(1, 4)
        if kind == 0:
            return f"**{words}**"
        if kind == 1:
            return f"*{words}*"
        if kind == 2:
            return f"__{words}__"
        if kind == 3:
            return f"_{words}_"
        if kind == 4:
            return f"***{words}***"
        if kind == 5:
            code = rng.choice(_CODE)
            return f"`` {code} ``" if "`" in code else f"`{code}`"
        if kind == 6:
            return f"~~{words}~~"
        if kind == 7:
            return f"[{words}]({self.url()})"
        if kind == 8:
            return f"[{words} [{rng.choice(_WORDS)}]]({self.url()})"
        if kind == 9:
            return f"![{words}]({self.url()})"
        if kind == 10:
            tag = rng.choice(_TAGS)
            return f"<{tag}>{words}</{tag}>"
        if kind == 11:
            return f'<a href="{self.url()}">{words}</a>'
        if kind == 12:
            return f"<{self.url()}>" if self.url().startswith("http") else f"<https://example.com/{rng.choice(_WORDS)}>"
        if kind == 13:
            return f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}"
        if kind == 14:
            return f"{rng.randint(2, 9)} * {rng.randint(2, 9)}"
        if kind == 15:
            # An identifier holding a ``*`` (``test*var``): models write these
            # in code spans, bare about one time in ten.  Two bare ones in a
            # paragraph pair up as emphasis in the end, which no preview can
            # foresee (the bench counts those flashes on a line of their own).
            pair = f"{rng.choice(_WORDS)}*{rng.choice(_WORDS)}"
            return pair if rng.randrange(10) == 0 else f"`{pair}`"
        if kind == 16:
            return f"\\*{rng.choice(_WORDS)}\\*"
        if kind == 17:
            code = rng.choice(_CODE)
            return f"**`{rng.choice(_WORDS)}`**" if "`" in code else f"**{words} `{code}`**"
        if kind == 18:
            return f"*{words} **{self.words(1, 2)}***"
        if kind == 19:
            return f"**[{words}]({self.url()})**"
        if kind == 20:
            return f"{rng.choice(_WORDS)} & {rng.choice(_WORDS)}"
        return f"a < b and {rng.choice(_WORDS)} > c"

    def sentence(self) -> str:
        rng = self.rng
        parts = [self.words(1, 5)]
        for _ in range(rng.randint(0, 3)):
            parts.append(self.span())
            parts.append(self.words(1, 4))
        text = " ".join(parts)
        text = text[0].upper() + text[1:]
        return text + rng.choice((".", ".", ".", ":", "!", "?"))

    def paragraph(self) -> str:
        rng = self.rng
        sentences = [self.sentence() for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.4:
            sentences.insert(0, f"**{rng.choice(_LABELS)}:**")
        elif rng.random() < 0.15:
            sentences.insert(0, f"**{rng.choice(_LABELS)}: {self.words(2, 4)}**")
        separator = "\n" if rng.random() < 0.2 else " "
        text = separator.join(sentences)
        if rng.random() < 0.1:
            # Emphasis opened on one line, closed on the next.
            text += f" **{self.words(2, 4)}\n{self.words(2, 4)}** {self.words(1, 3)}."
        return text

    def block(self) -> str:
        rng = self.rng
        kind = rng.randrange(10)
        if kind == 0:
            return f"{'#' * rng.randint(1, 3)} {self.words(2, 5).capitalize()}"
        if kind in (1, 2):
            items = [f"- {self.paragraph()}" for _ in range(rng.randint(2, 4))]
            if rng.random() < 0.3:
                items.insert(1, f"  - {self.sentence()}")
            return "\n".join(items)
        if kind == 3:
            return "\n".join(f"{n}. {self.paragraph()}" for n in range(1, rng.randint(3, 5)))
        if kind == 4:
            return "\n".join(f"> {self.sentence()}" for _ in range(rng.randint(1, 3)))
        if kind == 5:
            header = f"| {self.words(1, 2)} | {self.words(1, 2)} |"
            rows = [f"| {self.span()} | {self.words(1, 3)} |" for _ in range(rng.randint(1, 3))]
            return "\n".join([header, "|---|---|", *rows])
        if kind == 6:
            language = rng.choice(_LANGUAGES)
            body = "\n".join(f"{rng.choice(_WORDS)} = {rng.choice(_CODE)}" for _ in range(rng.randint(1, 4)))
            return f"```{language}\n{body}\n```"
        return self.paragraph()

    def document(self) -> str:
        blocks = [self.block() for _ in range(self.rng.randint(1, 4))]
        return "\n\n".join(blocks) + ("\n" if self.rng.random() < 0.5 else "")


def corpus(count: int = 500, seed: int = 12) -> list[str]:
    """The issue's examples, then generated documents: ``count`` in all."""
    writer = _Writer(random.Random(seed))
    documents = list(EXAMPLES[:count])
    while len(documents) < count:
        documents.append(writer.document())
    return documents


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^>]*>")
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_SPACES = re.compile(r"\s+")


def _tag_text(match: re.Match[str]) -> str:
    return " " if match.group(2).lower() in _BLOCK_TAGS else ""


def visible(html: str) -> str:
    """The text a DOM shows for ``html`` (block boundaries as spaces,
    whitespace collapsed)."""
    return _SPACES.sub(" ", html_module.unescape(_TAG.sub(_tag_text, html))).strip()


def _common_prefix(a: str, b: str) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:  # binary search on equal prefixes: fast for long texts
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def flashes(shown: str, final: str) -> bool:
    """Whether a state showing ``shown`` (visible text) flashes a marker that
    ``final`` (the finished answer's visible text) does not show there."""
    start = _common_prefix(shown, final)
    ahead = shown[start:]
    if not ahead:
        return False
    window = final[start : start + len(ahead)]
    return any(ahead.count(marker) > window.count(marker) for marker in MARKERS)


def intraword(shown: str, final: str) -> bool:
    """Whether a flash is at an intraword ``*`` (``a*b``) that the final
    pairs with a later ``*``: CommonMark pairs ``x*y ... a*b`` as emphasis,
    which no preview can know before the second one arrives."""
    start = _common_prefix(shown, final)
    return shown[start : start + 1] == "*" and start > 0 and shown[start - 1].isalnum()


def marker_added(shown: str, source: str) -> bool:
    """Whether ``shown`` holds more of some marker than the text fed so far."""
    return any(shown.count(marker) > source.count(marker) for marker in MARKERS)


def stream_states(text: str) -> Iterable[str]:
    """The HTML a reader sees after each character: the engine's states."""
    stream = MarkdownStream(interval=0)
    document = Document()
    for char in text:
        for op in stream.feed(char):
            document.apply(op)
        yield document.html
    for op in stream.close():
        document.apply(op)
    if document.html != render_markdown(text):
        raise AssertionError(f"stream does not converge for {text!r}")


def naive_states(text: str) -> Iterable[str]:
    """The naive preview: each prefix rendered as it is (the sanitizer's
    answers remembered: the blocks before the last one repeat)."""
    sanitize = functools.lru_cache(maxsize=256)(DEFAULT_SANITIZER)
    for end in range(1, len(text) + 1):
        yield render_markdown(text[:end], sanitizer=sanitize)


@dataclass(slots=True)
class Count:
    """Flashes and added markers over the states of some documents."""

    states: int = 0
    flashes: int = 0
    intraword: int = 0
    """Flashes at an intraword ``*`` the final pairs later (see :func:`intraword`)."""
    added: int = 0
    examples: list[tuple[str, str]] | None = None
    """Up to a few ``(source prefix, visible text)`` of flashing states."""

    @property
    def per_thousand(self) -> float:
        return 1000 * self.flashes / self.states if self.states else 0.0


def count_flashes(documents: Sequence[str], states: Callable[[str], Iterable[str]], *, keep: int = 0) -> Count:
    """Count the flashing states (and those adding a marker) of ``documents``."""
    count = Count(examples=[])
    for text in documents:
        final = visible(render_markdown(text))
        for end, html in enumerate(states(text), 1):
            shown = visible(html)
            count.states += 1
            flashed = flashes(shown, final)
            if flashed:
                count.flashes += 1
                count.intraword += intraword(shown, final)
            if marker_added(shown, text[:end]):
                count.added += 1
                flashed = True
            if flashed and count.examples is not None and len(count.examples) < keep:
                start = _common_prefix(shown, final)
                count.examples.append(
                    (
                        text[:end],
                        f"{shown[start:]!r} where the final shows {final[start : start + len(shown) - start]!r}",
                    )
                )
    return count

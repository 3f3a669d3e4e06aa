"""One-shot rendering: Markdown to sanitized HTML, one top-level block at a time.

Each top-level block is rendered and sanitized on its own, so every piece of
output is a well-formed fragment: a hostile or broken block (an unclosed
``<table>`` or ``<textarea>``) cannot swallow or change the blocks after it,
and the streaming engine can commit blocks one by one and still produce
exactly what :func:`render_markdown` produces.

Departures from CommonMark, all for safety and all shared by one-shot and
streamed rendering:

* HTML blocks of kinds 1-5 (``<script>``, ``<pre>``, ``<style>``,
  ``<textarea>``, comments, ``<?``, ``<!X``, CDATA) also end at a blank line,
  so an unclosed one cannot turn the rest of the answer into raw HTML.
* Links and images take only http, https and relative URLs (links also
  mailto), judged the way a browser's URL parser reads them.
* Table alignment is an ``align`` attribute (no ``style``), and a code block's
  language class is kept only when it is a plain identifier.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.html_blocks import block_names
from markdown_it.common.html_re import HTML_OPEN_CLOSE_TAG_STR
from markdown_it.common.utils import unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.rules_block.state_block import StateBlock
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from ..sanitizer.clean import CODE_LANGUAGE, DEFAULT_SANITIZER, LINK_REL, Cleaned, Sanitizer, escape_text
from ..sanitizer.urls import is_allowed_url
from .highlight import highlight_code

__all__ = [
    "clean_markdown",
    "code_html",
    "default_parser",
    "fence_language",
    "has_raw_html",
    "make_parser",
    "render_blocks",
    "render_markdown",
    "starts_html_block",
    "top_level_blocks",
]

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
IMAGE_SCHEMES = frozenset({"http", "https"})
RAW_HTML_TOKENS = frozenset({"html_block", "html_inline"})

# (start, end, can interrupt a paragraph), as markdown-it's html_block rule.
_HTML_SEQUENCES: tuple[tuple[re.Pattern[str], re.Pattern[str] | None, bool], ...] = (
    (
        re.compile(r"^<(?a:(script|pre|style|textarea))(?=(\s|>|$))", re.I),
        re.compile(r"<\/(?a:(script|pre|style|textarea))>", re.I),
        True,
    ),
    (re.compile(r"^<!--"), re.compile(r"-->"), True),
    (re.compile(r"^<\?"), re.compile(r"\?>"), True),
    (re.compile(r"^<![A-Za-z]"), re.compile(r">"), True),
    (re.compile(r"^<!\[CDATA\["), re.compile(r"\]\]>"), True),
    (re.compile("^</?(?a:(" + "|".join(block_names) + "))(?=(\\s|/?>|$))", re.I), None, True),
    (re.compile(HTML_OPEN_CLOSE_TAG_STR + "\\s*$"), None, False),
)


def starts_html_block(line: str) -> bool:
    """Whether a line (its indentation and container markers stripped)
    opens an HTML block, of any kind."""
    return line.startswith("<") and any(opening.search(line) for opening, _, _ in _HTML_SEQUENCES)


def html_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """markdown-it's HTML block rule, except that every kind ends at a blank line."""
    if state.is_code_block(start_line):
        return False
    pos = state.bMarks[start_line] + state.tShift[start_line]
    maximum = state.eMarks[start_line]
    if not state.src.startswith("<", pos):
        return False
    line_text = state.src[pos:maximum]
    sequence = next((entry for entry in _HTML_SEQUENCES if entry[0].search(line_text)), None)
    if sequence is None:
        return False
    _, closing, interrupts = sequence
    if silent:
        return interrupts

    next_line = start_line + 1
    if closing is None or not closing.search(line_text):
        while next_line < end_line:
            if state.isEmpty(next_line) or state.sCount[next_line] < state.blkIndent:
                break
            line_text = state.src[state.bMarks[next_line] + state.tShift[next_line] : state.eMarks[next_line]]
            next_line += 1
            if closing is not None and closing.search(line_text):
                break

    state.line = next_line
    token = state.push("html_block", "", 0)
    token.map = [start_line, next_line]
    token.content = state.getLines(start_line, next_line, state.blkIndent, True)
    return True


class SafeRenderer(RendererHTML):
    """markdown-it's HTML renderer, emitting only what the allowlist keeps."""

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        return code_html(token.content, fence_language(token.info))

    def code_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return code_html(tokens[idx].content)

    def link_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        tokens[idx].attrSet("rel", LINK_REL)
        return self.renderToken(tokens, idx, options, env)

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        if not is_allowed_url(str(token.attrGet("src") or ""), IMAGE_SCHEMES):
            token.attrs.pop("src", None)
        return super().image(tokens, idx, options, env)

    def th_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._cell_open(tokens, idx, options, env)

    def td_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._cell_open(tokens, idx, options, env)

    def _cell_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        style = token.attrs.pop("style", None)
        if isinstance(style, str):
            token.attrSet("align", style.removeprefix("text-align:"))
        return self.renderToken(tokens, idx, options, env)


def fence_language(info: str) -> str:
    """The language a fence's info string names: its first word."""
    words = unescapeAll(info).split(maxsplit=1)
    return words[0] if words else ""


def code_html(content: str, language: str = "") -> str:
    """A code block exactly as the sanitizer leaves it, so that the engine can
    stream an open code block line by line and still match the final HTML."""
    attrs = f' class="language-{language}"' if CODE_LANGUAGE.fullmatch(language) else ""
    return f"<pre><code{attrs}>{escape_text(content)}</code></pre>\n"


def make_parser() -> MarkdownIt:
    """CommonMark with GFM tables and strikethrough, raw HTML on (the
    sanitizer decides what survives), and the safety departures above."""
    md = MarkdownIt("commonmark", renderer_cls=SafeRenderer).enable(["table", "strikethrough"])
    md.block.ruler.at("html_block", html_block, {"alt": ["paragraph", "reference", "blockquote"]})
    md.validateLink = lambda url: is_allowed_url(url, LINK_SCHEMES)  # type: ignore[method-assign]
    return md


def top_level_blocks(tokens: Sequence[Token]) -> list[Sequence[Token]]:
    """Split a token stream into its top-level blocks (open..close runs)."""
    blocks: list[Sequence[Token]] = []
    depth = start = 0
    for index, token in enumerate(tokens):
        if depth == 0:
            start = index
        depth += token.nesting
        if depth == 0:
            blocks.append(tokens[start : index + 1])
    return blocks


def has_raw_html(block: Sequence[Token]) -> bool:
    """Whether a block holds HTML written by the author (which needs the sanitizer)."""
    for token in block:
        if token.type in RAW_HTML_TOKENS:
            return True
        if token.children and any(child.type in RAW_HTML_TOKENS for child in token.children):
            return True
    return False


def render_blocks(
    md: MarkdownIt, tokens: Sequence[Token], env: EnvType, sanitize: Callable[[str], str] = DEFAULT_SANITIZER
) -> list[str]:
    """Render and sanitize each top-level block on its own; a fenced code
    block in a language Pygments knows is highlighted instead."""
    return [
        highlighted(block) or sanitize(md.renderer.render(block, md.options, env)) for block in top_level_blocks(tokens)
    ]


def highlighted(block: Sequence[Token]) -> str | None:
    """A top-level fence, highlighted (built from its text: nothing to sanitize)."""
    if len(block) != 1 or block[0].type != "fence":
        return None
    language = fence_language(block[0].info)
    code = highlight_code(block[0].content, language) if CODE_LANGUAGE.fullmatch(language) else None
    return None if code is None else f'<pre><code class="language-{language}">{code}</code></pre>\n'


@functools.cache
def default_parser() -> MarkdownIt:
    """The shared parser (parsing keeps its state per call, so sharing is safe)."""
    return make_parser()


def render_markdown(
    text: str, *, parser: MarkdownIt | None = None, sanitizer: Callable[[str], str] | None = None
) -> str:
    """Markdown to sanitized HTML in one go: what every stream converges to."""
    md = parser or default_parser()
    env: dict[str, Any] = {"references": {}}
    return "".join(render_blocks(md, md.parse(text, env), env, sanitizer or DEFAULT_SANITIZER))


def clean_markdown(text: str, sanitizer: Sanitizer = DEFAULT_SANITIZER) -> Cleaned:
    """``render_markdown(text)`` with what the sanitizer removed from the
    author's HTML (links and images that markdown-it itself refused, such as
    ``[x](javascript:...)``, stay as text and are not listed)."""
    removed: list[str] = []

    def gate(html: str) -> str:
        result = sanitizer.clean(html)
        removed.extend(result.removed)
        return result.html

    html = render_markdown(text, sanitizer=gate)
    return Cleaned(html, list(dict.fromkeys(removed)))

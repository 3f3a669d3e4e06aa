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
* Nothing is dropped however deep the nesting: past ``MAX_NESTING`` levels
  markdown-it would discard the rest of the input; here the deeper lines
  are kept as paragraphs of text (flattened), markers and all.

Two configurations (``PRESETS``, the ``preset`` of ``make_parser``):

* ``"chat"``, the default: the above plus what chat UIs show: autolinks for
  bare ``http(s)://`` and ``www.`` URLs (linkify-it-py), task lists (disabled
  checkboxes), footnotes (collected at the end), math to MathML
  (``.math``), ``dir="auto"`` on paragraphs, list items, headings, quotes
  and table cells, and container tags (``<details>``, ``<div>``) written
  around Markdown kept as one element (``.containers``).
* ``"commonmark"``: CommonMark with GFM tables and strikethrough only, for
  the spec suite (and for whoever wants exactly that).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.html_blocks import block_names
from markdown_it.common.html_re import HTML_OPEN_CLOSE_TAG_STR
from markdown_it.common.utils import unescapeAll
from markdown_it.parser_block import ParserBlock
from markdown_it.renderer import RendererHTML
from markdown_it.rules_block.state_block import StateBlock
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.footnote.index import footnote_tail
from mdit_py_plugins.tasklists import tasklists_plugin

from ..sanitizer.clean import CODE_LANGUAGE, DEFAULT_SANITIZER, LINK_REL, Cleaned, Sanitizer, escape_text
from ..sanitizer.urls import is_allowed_url
from .containers import container_groups
from .highlight import highlight_code
from .math import MATH_TOKENS, math_plugin

__all__ = [
    "MAX_NESTING",
    "PRESETS",
    "ChatRenderer",
    "References",
    "SafeRenderer",
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
# Tokens whose HTML the sanitizer must see even in a preview (MathML, footnote ids).
_SANITIZED_TOKENS = RAW_HTML_TOKENS | MATH_TOKENS | {"footnote_ref"}

PRESETS = ("chat", "commonmark")
"""The parser configurations: the chat's (the default) and CommonMark's."""

MAX_NESTING = 64
"""Token levels the chat configuration nests (a list level takes two or
three: about 25 nested lists, 60 nested quotes): more than a page can show
legibly.  Deeper content is kept as text."""

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


class KeepingParserBlock(ParserBlock):
    """markdown-it's block parser, except that past ``maxNesting`` it keeps the
    rest of a container as paragraphs instead of silently discarding it (and,
    with it, everything after it in the document)."""

    def tokenize(self, state: StateBlock, startLine: int, endLine: int) -> None:
        if state.level < state.md.options.maxNesting:
            super().tokenize(state, startLine, endLine)
            return
        paragraph = next(rule for rule in self.ruler.getRules("") if rule.__name__ == "paragraph")
        line = startLine
        while line < endLine:
            state.line = line = state.skipEmptyLines(line)
            if line >= endLine or state.sCount[line] < state.blkIndent:
                break
            paragraph(state, line, endLine, False)
            state.tight = False
            line = state.line


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


class ChatRenderer(SafeRenderer):
    """The chat's renderer: ``dir="auto"`` on blocks (so a right-to-left
    paragraph is laid out right to left), task-list classes left out (only
    the disabled checkbox shows a task), footnotes without classes."""

    def _dir_auto(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        tokens[idx].attrSet("dir", "auto")
        tokens[idx].attrs.pop("class", None)
        return self.renderToken(tokens, idx, options, env)

    paragraph_open = heading_open = blockquote_open = list_item_open = _dir_auto

    def bullet_list_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        tokens[idx].attrs.pop("class", None)
        return self.renderToken(tokens, idx, options, env)

    def _cell_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        tokens[idx].attrSet("dir", "auto")
        return super()._cell_open(tokens, idx, options, env)

    def footnote_ref(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        meta = tokens[idx].meta
        number = meta["id"] + 1
        sub = f":{meta['subId']}" if meta.get("subId", 0) > 0 else ""
        return f'<sup><a href="#fn{number}" id="fnref{number}{sub}">[{number}]</a></sup>'

    def footnote_block_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return "<section>\n<ol>\n"

    def footnote_block_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return "</ol>\n</section>\n"

    def footnote_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return f'<li id="fn{tokens[idx].meta["id"] + 1}" dir="auto">'

    def footnote_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return "</li>\n"

    def footnote_anchor(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        meta = tokens[idx].meta
        sub = f":{meta['subId']}" if meta["subId"] > 0 else ""
        return f' <a href="#fnref{meta["id"] + 1}{sub}">\u21a9\ufe0e</a>'


_FOOTNOTE_RULES = (
    "footnote_ref",
    "footnote_block_open",
    "footnote_block_close",
    "footnote_open",
    "footnote_close",
    "footnote_anchor",
)


def _footnote_tail(state: Any) -> None:
    """The footnote plugin's tail rule (definitions out of the flow, the
    list of footnotes appended), except that with ``env["footnote_section"]``
    false (a stream's pieces) the list is not appended: a stream sends it
    once, at the end."""
    footnotes = state.env.get("footnotes")
    if state.env.get("footnote_section", True) or not isinstance(footnotes, dict):
        footnote_tail(state)
        return
    kept, footnotes["list"] = footnotes.get("list", {}), {}
    try:
        footnote_tail(state)
    finally:
        footnotes["list"] = kept


def fence_language(info: str) -> str:
    """The language a fence's info string names: its first word."""
    words = unescapeAll(info).split(maxsplit=1)
    return words[0] if words else ""


def code_html(content: str, language: str = "") -> str:
    """A code block exactly as the sanitizer leaves it, so that the engine can
    stream an open code block line by line and still match the final HTML."""
    attrs = f' class="language-{language}"' if CODE_LANGUAGE.fullmatch(language) else ""
    return f"<pre><code{attrs}>{escape_text(content)}</code></pre>\n"


def make_parser(preset: str = "chat") -> MarkdownIt:
    """A parser of one of the ``PRESETS``: raw HTML on (the sanitizer decides
    what survives), with the safety departures above."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    chat = preset == "chat"
    options: dict[str, Any] = {"maxNesting": MAX_NESTING, "linkify": True} if chat else {}
    md = MarkdownIt("commonmark", options, renderer_cls=ChatRenderer if chat else SafeRenderer)
    md.enable(["table", "strikethrough"])
    block = KeepingParserBlock()
    block.ruler = md.block.ruler
    md.block = block
    md.block.ruler.at("html_block", html_block, {"alt": ["paragraph", "reference", "blockquote"]})
    md.validateLink = lambda url: is_allowed_url(url, LINK_SCHEMES)  # type: ignore[method-assign]
    if chat:
        md.enable("linkify")
        # GFM links bare http(s):// URLs and www. names, not other bare domains.
        linkify = md.linkify
        assert linkify is not None  # linkify-it-py is a dependency
        linkify.set({"fuzzy_link": False, "fuzzy_email": False})
        linkify.add("www.", _WWW)
        linkify.add("ftp:", None)
        linkify.add("//", None)
        tasklists_plugin(md, enabled=False)
        footnote_plugin(md, inline=False)
        md.core.ruler.at("footnote_tail", _footnote_tail)
        for name in _FOOTNOTE_RULES:  # the plugin registered its own renderings
            md.add_render_rule(name, getattr(ChatRenderer, name))
        math_plugin(md)
    return md


def _www_validate(self: Any, text: str, pos: int) -> int:
    """linkify-it's check for a link after ``www.``: the host and path part
    of an http link (what follows ``//``), ending as GFM ends links."""
    tail = text[pos:]
    if self.re.get("http") is None:
        self.re["http"] = re.compile(
            "^\\/\\/" + self.re["src_auth"] + self.re["src_host_port_strict"] + self.re["src_path"],
            flags=re.IGNORECASE,
        )
    match = self.re["http"].search("//www." + tail)
    return len(match.group()) - len("//www.") if match else 0


_WWW: dict[str, Any] = {
    "validate": _www_validate,
    "normalize": lambda self, match: setattr(match, "url", "http://" + match.url),
}


def top_level_blocks(tokens: Sequence[Token]) -> list[Sequence[Token]]:
    """Split a token stream into its top-level blocks (open..close runs);
    a container tag written around Markdown (``<details>`` ... ``</details>``)
    makes one block of everything up to its end tag (``.containers``)."""
    blocks: list[Sequence[Token]] = []
    depth = start = 0
    for index, token in enumerate(tokens):
        if depth == 0:
            start = index
        depth += token.nesting
        if depth == 0:
            blocks.append(tokens[start : index + 1])
    groups = container_groups([block[0] for block in blocks], at_end=True)
    for first, last in reversed(groups):
        merged = [token for block in blocks[first:last] for token in block]
        blocks[first:last] = [merged]
    return blocks


class References(dict[str, Any]):
    """Reference definitions that note the labels looked up in vain in
    ``missed`` (markdown-it's link rules look labels up with ``get``), so
    that a render can be redone when one of them is defined later."""

    def __init__(self, definitions: Mapping[str, Any] = MappingProxyType({}), missed: set[str] | None = None) -> None:
        super().__init__(definitions)
        self.missed: set[str] = set() if missed is None else missed

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.missed.add(key)
        return super().get(key, default)


def has_raw_html(block: Sequence[Token]) -> bool:
    """Whether a block holds HTML written by the author (which needs the sanitizer)."""
    for token in block:
        if token.type in _SANITIZED_TOKENS:
            return True
        if token.children and any(child.type in _SANITIZED_TOKENS for child in token.children):
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
def default_parser(preset: str = "chat") -> MarkdownIt:
    """The shared parser of a preset (parsing keeps its state per call, so
    sharing is safe)."""
    return make_parser(preset)


def render_markdown(
    text: str, *, parser: MarkdownIt | None = None, sanitizer: Callable[[str], str] | None = None
) -> str:
    """Markdown to sanitized HTML in one go: what every stream converges to.
    ``parser``: ``default_parser("commonmark")`` or one of your own; by
    default the chat's (GFM, math, footnotes, ``dir="auto"``)."""
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

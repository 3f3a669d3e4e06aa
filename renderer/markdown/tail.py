"""TailPreview: renders the pending text as the tail, as cheaply as it can.

Rendering the whole pending text at every update would cost its size at
every token.  The preview caches what does not change: a pending list or
table is rendered item by item (``_split``), the last item's nested list
item by item too, a one-line paragraph or list item sentence by sentence,
the blocks before a blank line once; plain word growth skips
rendering altogether (``_preview.plain_growth``).  Markdown-it's own output
passes the allowlist by construction (its links pass the same URL check),
so only blocks holding author HTML go through the sanitizer.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

from markdown_it import MarkdownIt

from .complete import Completer
from .preview import compact, plain_growth, preview_source
from .render import References, has_raw_html, top_level_blocks
from .split import (
    Split,
    item_content,
    list_items,
    may_be_sanitized,
    nested_list,
    new_block_start,
    sentence_cuts,
    splice,
    splice_item,
    splice_nested,
    splice_sentences,
)

__all__ = ["TailPreview"]

_MAX_DEPTH = 8
"""Nested lists cut apart at most this deep (deeper ones render whole)."""

Render = Callable[[str, dict[str, Any]], str]

# A list nested deep (or holding quotes, which nest without indenting) may
# reach markdown-it's nesting limit, which a piece rendered alone does not
# (its depth starts again at 0): such a list is committed from a full render.
_DEEP = re.compile(r"^(?: {24,}|[ \t]*(?:(?:[-+*]|\d{1,9}[.)])[ \t]+)*>)", re.MULTILINE)

_PRERENDER_ITEMS = 2
_PRERENDER_CHARS = 2048
_PRERENDER_SOURCE = 8192
"""At most this many complete list items (and characters) are rendered ahead
of a preview as lines arrive (``render_complete_items``), in a list of at
most ``_PRERENDER_SOURCE`` characters (reading a longer one at every line
would cost its size at every line)."""


class TailPreview:
    """The preview of one stream's pending text, with its caches."""

    def __init__(self, md: MarkdownIt, sanitize: Callable[[str], str]) -> None:
        self._md = md
        self._sanitize = sanitize
        self._paragraph = md.render("x").partition("x")[0]
        """A paragraph's start tag as this parser renders it (``<p dir="auto">``)."""
        self.split: Split | None = None
        """How to cut a pending list or table into items (set by the engine
        whenever it parses the complete lines)."""
        self._pieces: dict[str, str] = {}
        """Preview HTML of complete items and sentences, each rendered once."""
        self.missed: set[str] = set()
        """Reference labels looked up in vain by the renders since the pieces
        were last forgotten (a superset of what any cached piece missed)."""
        self._source: str | None = None
        """What the current tail was rendered from."""
        self._raw = ""
        """The pending text ``_source`` was made from."""
        self._completer = Completer(md)

    def forget_pieces(self) -> None:
        """The pending text lost its head (a commit): cached pieces are stale."""
        self.split = None
        self._pieces.clear()
        self.missed.clear()

    def forget_tail(self) -> None:
        """The tail was cleared: render the next preview in full."""
        self._source = None

    def html(self, pending: str, references: Mapping[str, Any], tail: str) -> str:
        """The preview of ``pending``, given the current ``tail`` HTML."""
        raw, previous = pending, self._raw
        source = preview_source(raw, self._completer, references)
        self._raw = raw
        if source == self._source:
            return tail
        grown = plain_growth(previous, raw, self._source, source, tail)
        self._source = source
        if grown is not None:
            return grown
        return compact(self._render_source(source, self._env(references)))

    def render_complete_items(self, source: str, references: Mapping[str, Any]) -> None:
        """Render (into the cache) the items of a pending tight list that are
        complete and not rendered yet, when there are few: called as lines
        arrive, so that the list costs its items one by one while it streams
        and about its last item when it is committed (``whole_list``), even
        if previews are rare.  Many at once are left to the next preview or
        commit, which may run off the event loop."""
        todo = self._unrendered_items(source) if len(source) <= _PRERENDER_SOURCE else None
        if todo is not None and len(todo) <= _PRERENDER_ITEMS and sum(map(len, todo)) <= _PRERENDER_CHARS:
            env = self._env(references)
            for item in todo:
                self._cached(item, env, self._render_list)

    def whole_list(self, source: str, references: Mapping[str, Any]) -> str | None:
        """``source`` rendered whole, when it is one tight list (``list_items``)
        whose items but the last the preview has rendered already: assembled
        from them, so that it costs about its last item (an answer that ends
        with a long list commits it at the end, when many answers end
        together).  The same HTML as a full render, as the preview's splices
        are; ``None`` otherwise."""
        if self._unrendered_items(source) != []:
            return None  # not such a list, or items the preview never rendered: one full render is cheaper
        return self._render_list(source, self._env(references))

    def _unrendered_items(self, source: str) -> list[str] | None:
        """The complete items of the tight list ``source`` is that are not in
        the cache yet (as ``_render_list`` keys them); ``None`` if ``source``
        is not such a list, or nests too deep to be committed from pieces."""
        cut = list_items(source) if not _DEEP.search(source) else None
        if cut is None:
            return None
        return [item + "\n" for item in cut[0][:-1] if item + "\n" not in self._pieces]

    def _env(self, references: Mapping[str, Any]) -> dict[str, Any]:
        """The environment of a render: the references as they are now, the
        labels looked up in vain noted in ``missed``."""
        return {"references": References(references, self.missed), "footnote_section": False}

    def _render_source(self, source: str, env: dict[str, Any]) -> str:
        boundary = new_block_start(source)
        if boundary:
            return self._cached(source[:boundary], env) + self._render_line(source[boundary:], env)
        if self.split is not None:
            spliced = self._render_items(self.split, source, env)
            if spliced is not None:
                return spliced
        if "\n" not in source.lstrip("\n"):
            return self._render_line(source.lstrip("\n"), env)
        return self._render_list(source, env)

    def _render_items(self, split: Split, source: str, env: dict[str, Any]) -> str | None:
        """A list or table: complete items from the cache, the last one
        rendered now, spliced together."""
        cuts = [cut for cut in split.cuts if cut < len(source)]
        items = [split.prefix + source[start:end] for start, end in itertools.pairwise([*cuts, len(source)])]
        if not items:
            return None
        if split.prefix:  # a table's rows
            parts = [self._cached(item, env) for item in items[:-1]]
            parts.append(self._render(items[-1], env))
            return splice(parts, split)
        # A list item that just became complete is mostly in the cache already.
        parts = [self._cached(item, env, self._render_list) for item in items[:-1]]
        parts.append(self._render_list(items[-1], env))
        return splice(parts, split)

    def _render_list(self, source: str, env: dict[str, Any], depth: int = 0) -> str:
        """A tight list read from its text (``list_items``): the items before
        the last from the cache, the last one cut again; anything else (or
        past ``_MAX_DEPTH``) rendered whole."""
        cut = list_items(source) if depth < _MAX_DEPTH else None
        if cut is None:
            return self._render(source, env)
        items, split = cut
        # An item before the last ends with the newline before the next (an
        # unclosed fence in it keeps its last line's newline).
        parts = [self._cached(item + "\n", env, self._render_list) for item in items[:-1]]
        parts.append(self._render_item(items[-1], env, depth))
        html = splice(parts, split)
        return self._render(source, env) if html is None else html

    def _render_item(self, item: str, env: dict[str, Any], depth: int) -> str:
        """A list item with a tight list nested under its first line: the
        first line from the cache, the nested list cut again; a one-line
        item: its sentences cut as a paragraph's (``_render_line``)."""
        nested = nested_list(item)
        if nested is None:
            return self._render_line_item(item, env)
        head, body = nested
        html = splice_nested(self._cached(head, env, self._render_line_item), self._render_list(body, env, depth + 1))
        return self._render(item, env) if html is None else html

    def _render_line_item(self, item: str, env: dict[str, Any]) -> str:
        html = self._spliced_line_item(item, env)
        return self._render(item, env) if html is None else html

    def _spliced_line_item(self, item: str, env: dict[str, Any]) -> str | None:
        """A list item of one line cut into sentences: its marker and first
        sentence rendered as a one-item list (from the cache), the other
        sentences as a paragraph's, spliced into its ``<li>`` (``None`` if
        it is not cut, or is not a paragraph)."""
        line = item[:-1] if item.endswith("\n") else item
        start = item_content(line)
        if start is None:
            return None
        cuts = [start + cut for cut in self._sentence_cuts(line[start:], env)]
        if len(cuts) < 2 or may_be_sanitized(line[cuts[-1] :]):
            return None
        sources = [line[begin:end] for begin, end in itertools.pairwise([*cuts[1:], len(line)])]
        parts = [self._cached(source, env, self._render_sentence) for source in sources[:-1]]
        parts.append(self._render_sentence(sources[-1], env))
        head = line[: cuts[1]]
        return splice_item(self._cached(head, env), head[len(head.rstrip(" ")) :], parts, sources, self._paragraph)

    def _render_line(self, line: str, env: dict[str, Any]) -> str:
        """A one-line block; a paragraph's complete sentences come from the
        cache, only the last one is rendered now."""
        cuts = self._sentence_cuts(line, env)
        if len(cuts) > 1 and not may_be_sanitized(line[cuts[-1] :]):
            sources = [line[start:end] for start, end in itertools.pairwise([*cuts, len(line)])]
            parts = [self._cached(sources[0], env)]
            parts += [self._cached(source, env, self._render_sentence) for source in sources[1:-1]]
            parts.append(self._render_sentence(sources[-1], env))
            spliced = splice_sentences(parts, sources, self._paragraph)
            if spliced is not None:
                return spliced
        return self._render(line, env)

    def _sentence_cuts(self, line: str, env: dict[str, Any]) -> list[int]:
        references = env["references"]
        return sentence_cuts(line, lambda piece: self._completer.closed(piece, references))

    def _cached(self, source: str, env: dict[str, Any], render: Render | None = None) -> str:
        html = self._pieces.get(source)
        if html is None:
            html = self._pieces[source] = (render or self._render)(source, env)
        return html

    def _render_sentence(self, sentence: str, env: dict[str, Any]) -> str:
        """A sentence that continues a paragraph (it cannot start a block),
        rendered as one: inline parsing only, the cheap part of markdown-it."""
        tokens = self._md.parseInline(sentence.strip(" "), env)
        html = f"{self._paragraph}{self._md.renderer.render(tokens, self._md.options, env)}</p>\n"
        return self._sanitize(html) if has_raw_html(tokens) else html

    def _render(self, source: str, env: dict[str, Any]) -> str:
        parts = []
        for block in top_level_blocks(self._md.parse(source, env)):
            html = self._md.renderer.render(block, self._md.options, env)
            parts.append(self._sanitize(html) if has_raw_html(block) else html)
        return "".join(parts)

"""Math: TeX between ``$``/``$$``/``\\(``/``\\[`` delimiters, rendered to MathML.

The MathML is made on the server (by ``math-core``, a LaTeX to MathML Core
converter) so the page needs no math script: Chromium, Firefox and Safari
draw MathML Core natively.  The converter's output is not trusted: it is
rebuilt here keeping only the policy's MathML elements and attributes (text
escaped), and the block holding it then goes through the sanitizer like any
other.  The TeX source stays beside the MathML as a TeX ``<annotation>``
(for copying and for screen readers).  A formula the converter refuses is
shown as its TeX in a code span.

Delimiters, as chat models write them:

* ``$...$`` inline and ``$$...$$`` (mdit-py-plugins' dollarmath), with the
  currency rules: an opening ``$`` followed by a space, or a closing ``$``
  followed by a digit, is not math (``$5 and $10`` stays text);
* ``\\(...\\)`` inline, ``\\[...\\]`` inline or as a block of lines.  These
  are small rules of our own: texmath's ``\\[`` block reaches across blank
  lines (to a ``\\]`` any number of blocks later), which a stream cannot
  commit block by block.  No math block spans a blank line.

Every math rule runs before the backslash-escape rule, so the TeX reaches
the converter untouched.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.rules_block.state_block import StateBlock
from markdown_it.rules_inline.state_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin

from ..sanitizer.clean import DEFAULT_POLICY, MATHML_TEX_ENCODING, Policy, escape_text

__all__ = ["MATH_TOKENS", "hold_open_math", "math_html", "math_plugin"]

MATH_TOKENS = frozenset({"math_inline", "math_inline_double", "math_block", "math_display"})
"""Token types holding TeX (their HTML needs the sanitizer's MathML rules)."""

_MAX_TEX = 4000
"""Longer formulas are shown as TeX (the converter's time grows with them)."""


@functools.cache
def _converter() -> object:
    import math_core

    return math_core.LatexToMathML(fancy_error=False, pretty_print="never")


_UNWRAP = frozenset({"menclose"})
"""MathML 3 elements outside MathML Core that the converter writes (``\\boxed``):
their content is kept, the element left out."""


class _Rebuild(HTMLParser):
    """Rebuilds converter output keeping only what ``policy`` allows in MathML."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(convert_charrefs=True)
        self.policy = policy
        self.out: list[str] = []
        self.stack: list[str] = []
        self.skip = 0  # depth inside an element dropped with its content
        self.ok = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, empty=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, empty=True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], *, empty: bool) -> None:
        if tag in _UNWRAP and self.stack and not self.skip:
            if not empty:
                self.stack.append("")  # its end tag writes nothing
            return
        if self.skip or tag not in self.policy.mathml_tags or (tag == "math") != (not self.stack):
            if tag not in self.policy.mathml_tags or tag == "math":
                self.ok = False  # something we would have to drop: show the TeX instead
            self.skip += 0 if empty else 1
            return
        kept = "".join(
            f' {name}="{escape_text(value or "")}"'
            for name, value in attrs
            if not self.policy.attribute_problem(tag, name, value or "")
        )
        self.out.append(f"<{tag}{kept}>")
        if empty:
            self.out.append(f"</{tag}>")
        else:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            self.skip -= 1
        elif tag in _UNWRAP and self.stack and self.stack[-1] == "":
            self.stack.pop()
        elif self.stack and self.stack[-1] == tag:
            self.out.append(f"</{self.stack.pop()}>")
        else:
            self.ok = False

    def handle_data(self, data: str) -> None:
        if not self.skip and self.stack:
            self.out.append(escape_text(data))


def _mathml(tex: str, display: bool, policy: Policy) -> str | None:
    """The converter's MathML for ``tex`` rebuilt inside ``policy``, or None."""
    if len(tex) > _MAX_TEX or not tex.strip():
        return None
    try:
        raw = _converter().convert_with_local_state(tex, displaystyle=display)  # type: ignore[attr-defined]
    except Exception:  # LatexError, and anything else the converter throws
        return None
    rebuild = _Rebuild(policy)
    rebuild.feed(str(raw))
    rebuild.close()
    html = "".join(rebuild.out)
    prefix = "<math>" if not display else '<math display="block">'
    if not rebuild.ok or rebuild.stack or not html.startswith("<math") or not html.endswith("</math>"):
        return None
    body = html[html.index(">") + 1 : -len("</math>")]
    annotation = f'<annotation encoding="{MATHML_TEX_ENCODING}">{escape_text(tex)}</annotation>'
    return f"{prefix}<semantics><mrow>{body}</mrow>{annotation}</semantics></math>"


@functools.lru_cache(maxsize=4096)
def math_html(tex: str, display: bool, policy: Policy = DEFAULT_POLICY) -> str:
    """A formula as MathML (TeX annotation beside it), or as its TeX in a
    code span when the converter cannot handle it."""
    tex = tex.strip()
    mathml = _mathml(tex, display, policy)
    if mathml is None:
        return f"<code>{escape_text(tex)}</code>"
    return mathml


# -- parsing ---------------------------------------------------------------

_INLINE_BRACKETS = (("\\(", "\\)", "math_inline"), ("\\[", "\\]", "math_inline_double"))


def _bracket_inline(state: StateInline, silent: bool) -> bool:
    """``\\(...\\)`` (inline) or ``\\[...\\]`` (display) inside a paragraph."""
    src, pos = state.src, state.pos
    for opening, closing, kind in _INLINE_BRACKETS:
        if not src.startswith(opening, pos) or _escaped(src, pos):
            continue
        end = src.find(closing, pos + 2)
        while end >= 0 and _escaped(src, end):
            end = src.find(closing, end + 1)
        if end < 0 or not src[pos + 2 : end].strip():
            return False
        if not silent:
            token = state.push(kind, "math", 0)
            token.content = src[pos + 2 : end]
            token.markup = opening
        state.pos = end + 2
        return True
    return False


def _escaped(src: str, pos: int) -> bool:
    """Whether the character at ``pos`` is escaped by an odd run of backslashes."""
    count = 0
    while pos - count - 1 >= 0 and src[pos - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _bracket_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """``\\[`` ... ``\\]`` on lines of their own (the formula may share them),
    with no blank line inside."""
    if state.is_code_block(start_line):
        return False
    start = state.bMarks[start_line] + state.tShift[start_line]
    if not state.src.startswith("\\[", start):
        return False
    line = start_line
    first = state.src[start + 2 : state.eMarks[start_line]]
    parts = [first]
    text = first.rstrip()
    while not text.endswith("\\]") or (line == start_line and not text):
        line += 1
        if line >= end_line or state.isEmpty(line) or state.sCount[line] < state.blkIndent:
            return False
        text = state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]].rstrip()
        parts.append(text)
    if silent:
        return True
    content = "\n".join(parts).rstrip()[:-2]
    if not content.strip():
        return False
    state.line = line + 1
    token = state.push("math_display", "math", 0)
    token.block = True
    token.content = content
    token.markup = "\\["
    token.map = [start_line, state.line]
    return True


def math_plugin(md: MarkdownIt) -> None:
    """Math delimiters and their rendering, on a parser."""
    dollarmath_plugin(
        md, allow_labels=False, allow_space=False, allow_digits=False, allow_blank_lines=False, double_inline=True
    )
    md.inline.ruler.before("escape", "math_bracket", _bracket_inline)
    md.block.ruler.before("fence", "math_display", _bracket_block)

    def inline(self: object, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return math_html(tokens[idx].content, tokens[idx].type != "math_inline")

    def block(self: object, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return f'<p dir="auto">{math_html(tokens[idx].content, True)}</p>\n'

    for kind in ("math_inline", "math_inline_double"):
        md.add_render_rule(kind, inline)
    for kind in ("math_block", "math_display"):
        md.add_render_rule(kind, block)


# -- the preview -------------------------------------------------------------

# An opening delimiter that may still be closed: "$" followed by neither a
# space nor a "$" (nor, as currency, a digit), "$$", "\(" or "\[".
_OPENERS = re.compile(r"\\[(\[]|\$\$|\$(?=[^\s$\d])|\$(?=\Z)")
_CLOSERS = {"\\(": "\\)", "\\[": "\\]", "$$": "$$", "$": "$"}
_REACH = 2000
"""An opener further back than this is left alone: probably not math."""


def hold_open_math(source: str) -> str:
    """``source`` (the text a preview renders) cut before a formula still
    being typed, so that half a formula is never converted or shown as
    Markdown: cut at its opening delimiter, from the last blank line on."""
    start = max(source.rfind("\n\n") + 1, len(source) - _REACH, 0)
    if "$" not in source[start:] and "\\" not in source[start:]:
        return source
    pos = start
    while (opener := _OPENERS.search(source, pos)) is not None:
        if _escaped(source, opener.start()):
            pos = opener.start() + 1
            continue
        delimiter = opener.group()
        close = _find_close(source, opener.end(), _CLOSERS[delimiter])
        if close < 0:
            if delimiter == "$$" or delimiter == "\\[":
                line_start = source.rfind("\n", 0, opener.start()) + 1
                if not source[line_start : opener.start()].strip(" \t>-*+0123456789.)"):
                    return source[:line_start]  # a display block: hold its lines
            return source[: opener.start()].rstrip(" ") if delimiter != "$" else source[: opener.start()]
        pos = close + len(_CLOSERS[delimiter])
    return source


def _find_close(source: str, pos: int, closing: str) -> int:
    while (end := source.find(closing, pos)) >= 0 and _escaped(source, end):
        pos = end + 1
    return end

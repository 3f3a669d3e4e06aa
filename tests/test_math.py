"""Math: TeX to MathML on the server, inside the allowlist (Must-show 3)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from renderer import render_markdown
from renderer.markdown import math as math_module
from renderer.markdown.math import hold_open_math, math_html
from renderer.sanitizer.clean import DEFAULT_POLICY, check_allowlist, sanitize

SNIPPETS = [
    line
    for line in (Path(__file__).parent / "fixtures" / "latex.txt").read_text(encoding="utf-8").splitlines()
    if line and not line.startswith("#")
]
# What the converter (math-core) refuses: mhchem is not LaTeX proper.
UNSUPPORTED = {r"\ce{H2O}"}
ANNOTATION = re.compile(r'<annotation encoding="application/x-tex">(.*?)</annotation>', re.DOTALL)


def test_there_are_at_least_50_snippets_of_the_kinds_models_write() -> None:
    assert len(SNIPPETS) >= 50
    for kind in (r"\frac", r"\sum", r"\int", "pmatrix", "cases", "aligned", r"\text", r"\alpha", r"\hat"):
        assert any(kind in snippet for snippet in SNIPPETS), kind


@pytest.mark.parametrize("tex", SNIPPETS)
@pytest.mark.parametrize("display", [False, True], ids=["inline", "display"])
def test_each_snippet_renders_to_allowlisted_mathml_with_its_tex_beside_it(tex: str, display: bool) -> None:
    out = math_html(tex, display)
    if tex in UNSUPPORTED:
        assert out == f"<code>{html.escape(tex, quote=False)}</code>"
        return
    assert out.startswith('<math display="block">' if display else "<math>"), out
    assert check_allowlist(out) == []
    assert sanitize(out) == out  # the sanitizer keeps it as it is
    annotation = ANNOTATION.search(out)
    assert annotation is not None and html.unescape(annotation.group(1)) == tex


@pytest.mark.parametrize(
    ("markdown", "tex", "display"),
    [
        pytest.param("$a+b$", "a+b", False, id="dollar"),
        pytest.param("$$a+b$$", "a+b", True, id="double-dollar-inline"),
        pytest.param("$$\na+b\n$$\n", "a+b", True, id="double-dollar-block"),
        pytest.param(r"\(a+b\)", "a+b", False, id="paren"),
        pytest.param(r"\[a+b\]", "a+b", True, id="bracket-inline"),
        pytest.param("\\[\na+b\n\\]\n", "a+b", True, id="bracket-block"),
        pytest.param(r"$a\,b$", r"a\,b", False, id="thin-space-reaches-the-converter"),
        pytest.param(r"\(\{x\}\)", r"\{x\}", False, id="escaped-braces-reach-the-converter"),
        pytest.param(r"$a \\ b$", r"a \\ b", False, id="double-backslash"),
    ],
)
def test_every_delimiter_gives_mathml_with_the_tex_untouched(markdown: str, tex: str, display: bool) -> None:
    out = render_markdown(markdown)
    annotation = ANNOTATION.search(out)
    assert annotation is not None, out
    assert html.unescape(annotation.group(1)) == tex
    assert ('<math display="block">' in out) is display
    assert check_allowlist(out) == []


@pytest.mark.parametrize(
    "markdown",
    [
        pytest.param("It costs $5 and $10.", id="two-prices"),
        pytest.param("From $5 to $ 10.", id="space-after-opening"),
        pytest.param("Pay $x $ later.", id="space-before-closing"),
        pytest.param("Between 3$ and 4$.", id="digit-before-opening"),
        pytest.param(r"A \$ sign and \$x\$.", id="escaped"),
        pytest.param("`$x$` in code", id="code-span"),
        pytest.param("$$\na\n\nb\n$$\n", id="blank-line-in-display"),
    ],
)
def test_currency_and_escapes_stay_text(markdown: str) -> None:
    assert "<math" not in render_markdown(markdown)


def test_the_commonmark_preset_has_no_math() -> None:
    from renderer.markdown.render import default_parser

    assert "<math" not in render_markdown("$x$ and \\(y\\)", parser=default_parser("commonmark"))


@pytest.mark.parametrize(
    "tex",
    [r"\frac{a", r"\unknowncommand{x}", r"\ce{H2O}", "x" * 5000, r"\text{&}"],
    ids=["unbalanced", "unknown-command", "mhchem", "too-long", "ampersand-in-text"],
)
def test_a_formula_the_converter_refuses_is_shown_as_its_tex_in_a_code_span(tex: str) -> None:
    out = render_markdown(f"${tex}$")
    assert "<math" not in out
    assert f"<code>{html.escape(tex, quote=False)}</code>" in out


def test_converter_output_is_rebuilt_inside_the_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    class Hostile:
        def convert_with_local_state(self, tex: str, *, displaystyle: bool) -> str:
            return (
                '<math><mrow href="javascript:x()" style="color:red" onclick="x()">'
                '<mi mathvariant="bold" class="c">a</mi><mtext>&lt;b&gt;</mtext></mrow></math>'
            )

    monkeypatch.setattr(math_module, "_converter", lambda: Hostile())
    out = math_module._mathml("a", False, DEFAULT_POLICY)
    assert out is not None
    assert "href" not in out and "style" not in out and "onclick" not in out and "class" not in out
    assert '<mi mathvariant="bold">a</mi><mtext>&lt;b&gt;</mtext>' in out
    assert check_allowlist(out) == []


@pytest.mark.parametrize(
    "converted",
    [
        "<math><mi>a</mi><b>html</b></math>",
        "<math><mi>a</mi><annotation-xml><svg/></annotation-xml></math>",
        "<math><mi>a</mi></math><img src=x>",
        "<mi>no math</mi>",
        "<math><mi>unclosed</math>",
    ],
)
def test_converter_output_with_anything_it_would_have_to_drop_falls_back_to_tex(
    converted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Odd:
        def convert_with_local_state(self, tex: str, *, displaystyle: bool) -> str:
            return converted

    monkeypatch.setattr(math_module, "_converter", lambda: Odd())
    assert math_module._mathml("a", False, DEFAULT_POLICY) is None


@pytest.mark.parametrize(
    ("source", "held"),
    [
        pytest.param("Energy $E = mc", "Energy ", id="open-dollar"),
        pytest.param("Energy $E = mc^2$ and", "Energy $E = mc^2$ and", id="closed-dollar"),
        pytest.param("Sum \\(a + ", "Sum", id="open-paren"),
        pytest.param("text\n\n$$\n\\frac{1}", "text\n\n", id="open-display-block"),
        pytest.param("text\n\n\\[\n\\int", "text\n\n", id="open-bracket-block"),
        pytest.param("Costs $5 and $10", "Costs $5 and $10", id="currency-not-held"),
        pytest.param("A price of $", "A price of ", id="dollar-at-the-end"),
        pytest.param("An escaped \\$x", "An escaped \\$x", id="escaped"),
    ],
)
def test_the_preview_holds_an_unclosed_formula_back(source: str, held: str) -> None:
    assert hold_open_math(source) == held

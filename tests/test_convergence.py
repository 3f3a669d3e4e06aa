"""The convergence invariant, on every spec example, GFM and chat fixture.

The spec examples run on the CommonMark configuration
(``default_parser("commonmark")``); the GFM fixtures and the chat fixtures
(``fixtures/chat.md``: math, autolinks, task lists, footnotes, containers,
right-to-left text, deep nesting) on the chat's default configuration.

For every text and every chunking: the ops of ``feed`` and ``close`` build
exactly ``render_markdown(text)``, the tail is empty after ``close``, and no
state a reader sees on the way holds anything outside the allowlist
(Must-show 2). Each text streams once per chunking; the tests below share
those runs, so the expensive part happens once per case.

A failure message gives the text and a chunking shrunk to the few cuts that
still fail, ready to paste into a reproduction.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from chunking import Chunking, StreamRun, chunkings, shrink, stream
from markdown_it import MarkdownIt
from spec_examples import load_spec_examples

from renderer import assemble, render_markdown
from renderer.markdown.render import default_parser
from renderer.sanitizer.clean import check_allowlist

# Every spec example and GFM fixture, five ways, in thousands of tests: the
# fast loop leaves it to test_engine's fixtures (whole, by character, random cuts).
pytestmark = pytest.mark.slow

GFM_PATH = Path(__file__).parent / "fixtures" / "gfm.md"
CHAT_PATH = Path(__file__).parent / "fixtures" / "chat.md"


def load_gfm_fixtures(path: Path = GFM_PATH) -> dict[str, str]:
    """Read ``gfm.md``: ``%%% name`` opens a case, ``%%%`` or ``%%% noeol`` ends it."""
    cases: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        marker = line.rstrip("\n")
        if name is None:
            if marker.startswith("%%% "):
                name, lines = marker[4:].strip(), []
            continue
        if marker in ("%%%", "%%% noeol"):
            text = "".join(lines).replace("→", "\t")
            cases[name] = text[:-1] if marker == "%%% noeol" else text
            name = None
        else:
            lines.append(line)
    assert name is None, f"fixture {name!r} is not closed"
    return cases


CASES: dict[str, str] = {
    **{f"spec-{ex.number}": ex.markdown for ex in load_spec_examples()},
    **{f"gfm-{name}": text for name, text in load_gfm_fixtures().items()},
    **{f"chat-{name}": text for name, text in load_gfm_fixtures(CHAT_PATH).items()},
}


def parser_of(case_id: str) -> MarkdownIt:
    """The spec runs on CommonMark; every other case on the chat's configuration."""
    return default_parser("commonmark" if case_id.startswith("spec-") else "chat")


@dataclass(slots=True)
class Outcome:
    """One chunking of one case: the run, or the exception it raised."""

    chunking: Chunking
    run: StreamRun | None
    error: BaseException | None


@functools.cache
def expected_html(case_id: str) -> str:
    """The one-shot rendering of a case."""
    return render_markdown(CASES[case_id], parser=parser_of(case_id))


@functools.cache
def outcomes(case_id: str) -> list[Outcome]:
    """Stream a case with every chunking; the rng is seeded by the case id."""
    text = CASES[case_id]
    result: list[Outcome] = []
    for chunking in chunkings(text, random.Random(case_id)):
        try:
            result.append(Outcome(chunking, stream(chunking.chunks, parser_of(case_id)), None))
        except Exception as exc:  # reported per chunking below
            result.append(Outcome(chunking, None, exc))
    return result


def streamed_html(chunks: Sequence[str], parser: MarkdownIt | None = None) -> str | None:
    """The final HTML of a stream, or None if the engine raised."""
    try:
        return stream(chunks, parser).document.html
    except Exception:
        return None


def report(case_id: str, chunking: Chunking, problem: str, shrunk: tuple[str, ...]) -> str:
    """A failure message with everything needed to reproduce it."""
    return (
        f"{case_id}: {problem}\n"
        f"text     = {CASES[case_id]!r}\n"
        f"chunking = {chunking.label}, {len(chunking.chunks)} chunks\n"
        f"shrunk   = {list(shrunk)!r}"
    )


def failing_labels(case_id: str, bad: list[Outcome]) -> str:
    """Which chunkings failed, for the end of a message."""
    return f"failing chunkings: {', '.join(o.chunking.label for o in bad)}"


@pytest.mark.parametrize("case_id", list(CASES))
def test_no_chunking_makes_the_engine_raise(case_id: str) -> None:
    bad = [o for o in outcomes(case_id) if o.error is not None]
    if bad:
        first = bad[0]
        shrunk = shrink(first.chunking.chunks, lambda c: streamed_html(c, parser_of(case_id)) is None)
        problem = f"raised {first.error!r}"
        pytest.fail(report(case_id, first.chunking, problem, shrunk) + "\n" + failing_labels(case_id, bad))


@pytest.mark.parametrize("case_id", list(CASES))
def test_every_chunking_converges_to_the_one_shot_html(case_id: str) -> None:
    expected = expected_html(case_id)
    ran = [o for o in outcomes(case_id) if o.run is not None]
    bad = [o for o in ran if o.run is not None and o.run.document.html != expected]
    if bad:
        first = bad[0]
        assert first.run is not None
        parser = parser_of(case_id)
        shrunk = shrink(first.chunking.chunks, lambda c: streamed_html(c, parser) not in (expected, None))
        got = streamed_html(shrunk, parser)
        problem = f"streamed html differs\nexpected = {expected!r}\ngot      = {got!r}"
        pytest.fail(report(case_id, first.chunking, problem, shrunk) + "\n" + failing_labels(case_id, bad))


@pytest.mark.parametrize("case_id", list(CASES))
def test_the_tail_is_empty_after_close(case_id: str) -> None:
    bad = [o for o in outcomes(case_id) if o.run is not None and o.run.document.tail != ""]
    if bad:
        first = bad[0]
        assert first.run is not None

        def tail_left(chunks: Sequence[str]) -> bool:
            try:
                return stream(chunks, parser_of(case_id)).document.tail != ""
            except Exception:
                return False

        shrunk = shrink(first.chunking.chunks, tail_left)
        problem = f"tail after close = {first.run.document.tail!r}"
        pytest.fail(report(case_id, first.chunking, problem, shrunk) + "\n" + failing_labels(case_id, bad))


@pytest.mark.parametrize("case_id", list(CASES))
def test_every_intermediate_state_passes_the_allowlist(case_id: str) -> None:
    checked: set[str] = set()  # many chunkings pass through the same states
    for outcome in outcomes(case_id):
        if outcome.run is None:
            continue
        for index, state in enumerate([*outcome.run.states, outcome.run.document.html]):
            if state in checked:
                continue
            checked.add(state)
            violations = check_allowlist(state)
            if violations:
                chunks = outcome.chunking.chunks
                fed = "".join(chunks[: index + 1])
                problem = (
                    f"state after feed {index} (input so far {fed!r}) violates the allowlist\n"
                    f"violations = {violations!r}\nstate      = {state!r}"
                )
                pytest.fail(report(case_id, outcome.chunking, problem, chunks[: index + 1]))


@pytest.mark.parametrize("case_id", list(CASES))
def test_assemble_builds_the_same_html_as_the_document(case_id: str) -> None:
    for outcome in outcomes(case_id):
        if outcome.run is None:
            continue
        built = assemble(outcome.run.ops)
        assert built == outcome.run.document.html, (
            f"{case_id}, chunking {outcome.chunking.label}: {list(outcome.chunking.chunks)!r}"
        )


def test_the_gfm_fixtures_load_with_their_line_endings() -> None:
    cases = load_gfm_fixtures()
    assert len(cases) >= 25
    assert cases["table-basic"].endswith("| 3 | 4 |\n")
    assert cases["strike-stream-stops-inside"].endswith("still going")
    assert "\t" in cases["table-with-tabs-and-trailing-spaces"]

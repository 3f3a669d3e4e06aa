"""The flash measure and the prefix-state suite: what counts as a flash,
the corpus, and our preview over every prefix of part of it (the whole is
``bench/preview.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from renderer.harness.flash import (
    EXAMPLES,
    corpus,
    count_flashes,
    flashes,
    marker_added,
    naive_states,
    stream_states,
    visible,
)

ROOT = Path(__file__).resolve().parent.parent


def test_visible_text_is_what_a_dom_shows() -> None:
    assert visible("<p>a <strong>b</strong>&amp;c</p>\n<ul><li>d</li></ul>") == "a b&c d"


@pytest.mark.parametrize(
    ("state", "final", "flash"),
    [
        pytest.param("a **b", "a b c", True, id="raw-strong"),
        pytest.param("a b", "a b c", False, id="prefix-of-final"),
        pytest.param("a `x", "a `x` y", False, id="marker-the-final-shows"),
        pytest.param("see [do", "see docs", True, id="bracket"),
        pytest.param('x <a href="', "x y", True, id="half-tag"),
        pytest.param("a b*", "a bc", True, id="stray-closer"),
    ],
)
def test_a_flash_is_a_marker_the_final_does_not_show_there(state: str, final: str, flash: bool) -> None:
    assert flashes(state, final) is flash


def test_a_marker_not_in_the_text_is_counted() -> None:
    assert marker_added("a***", "a**")
    assert not marker_added("a**", "a**")


def test_the_corpus_is_seeded_and_starts_with_the_issue_examples() -> None:
    documents = corpus(520)
    assert len(documents) == 520
    assert documents[: len(EXAMPLES)] == list(EXAMPLES)
    assert documents == corpus(520)
    assert len(set(documents)) > 500


@pytest.mark.slow
def test_our_preview_flashes_far_less_than_the_naive_one_and_adds_no_marker() -> None:
    documents = corpus(40)
    ours = count_flashes(documents, stream_states)
    naive = count_flashes(documents[:10], naive_states)
    assert ours.added == 0
    assert ours.per_thousand < naive.per_thousand / 10

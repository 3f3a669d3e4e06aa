"""``redact``: the secret, in whatever shape, never survives; other text does."""

from __future__ import annotations

import pytest

from renderer.server.redact import REDACTED, redact

KEY = "sk-Proj-0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(f"key {KEY} bad", f"key {REDACTED} bad", id="as-sent"),
        pytest.param(f"key {KEY.lower()} bad", f"key {REDACTED} bad", id="lower-case"),
        pytest.param(f"key_{KEY}_invalid", f"key_{REDACTED}_invalid", id="glued"),
        pytest.param(f"{KEY[:6]}\u200d{KEY[6:]}!", f"{REDACTED}!", id="zero-width-joiner"),
        pytest.param(f"{KEY[:6]}\x07{KEY[6:]}", REDACTED, id="bell"),
        pytest.param(f"{KEY}{KEY}", REDACTED * 2, id="twice-in-a-row"),
        pytest.param("".join(chr(ord(c) + 0xFEE0) for c in KEY), REDACTED, id="fullwidth"),
        pytest.param("nothing secret here", "nothing secret here", id="no-key"),
        pytest.param(KEY[:-1], KEY[:-1], id="a-prefix-alone-is-not-the-key"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text, KEY) == expected


def test_a_short_dummy_key_only_matches_whole_words() -> None:
    assert redact("x marks the box", "x") == f"{REDACTED} marks the box"


def test_no_secret_changes_nothing() -> None:
    assert redact("anything", None) == "anything"
    assert redact("anything", "") == "anything"

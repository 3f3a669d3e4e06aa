"""Differential mode (``renderer.harness.diff``): two targets side by side."""

from __future__ import annotations

import pytest

from renderer.harness.corpus import Payload
from renderer.harness.diff import compare, diff_json, format_diff
from renderer.harness.run import check_target
from renderer.harness.targets import FunctionTarget, PipelineTarget

PAYLOADS = [
    Payload("t/img", "<img src=x onerror=__xss=1>"),
    Payload("t/link", "[a](javascript:__xss=1)"),
    Payload("t/crash", "crash"),
    Payload("t/fine", "*fine*"),
]


def lets_html_through(text: str) -> str:
    if text == "crash":
        raise ValueError("boom")
    return f"<p>{text}</p>"


def test_the_diff_lists_what_only_one_target_lets_through_or_breaks_on() -> None:
    weak = check_target(PAYLOADS, FunctionTarget(lets_html_through, "weak"))
    pipeline = check_target(PAYLOADS, PipelineTarget("bleach"))
    diff = compare(weak, pipeline)
    assert diff.only_a_lets_through == [("t/img", "disallowed", "clean")]
    assert diff.only_b_lets_through == []
    assert diff.only_a_breaks == [("t/crash", "error", "clean")]
    assert diff.failed
    lines = format_diff(diff)
    assert lines[1] == "  A = weak" and lines[2] == "  B = pipeline (bleach)"
    assert "only A lets through: 1" in lines and "only B breaks on: 0" in lines
    assert "  t/img: A disallowed, B clean: <img src=x onerror=__xss=1>" in lines
    assert lines[-1] == "FAIL: A fails, B passes; they disagree on 2 payloads"
    value = diff_json(diff)
    assert value["only_a_lets_through"] == ["t/img"] and value["passed"] is False
    reversed_lines = format_diff(compare(pipeline, weak))
    assert "only B lets through: 1" in reversed_lines


def test_reports_over_other_payloads_cannot_be_compared() -> None:
    one = check_target(PAYLOADS[:1], PipelineTarget("bleach"))
    two = check_target(PAYLOADS[1:2], PipelineTarget("bleach"))
    with pytest.raises(ValueError, match="not over the same payloads"):
        compare(one, two)

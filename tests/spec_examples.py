"""The examples of the CommonMark spec, read from the fixture copy of spec.txt.

A helper module for tests, not a test: it follows the reference
``spec_tests.py`` of commonmark/CommonMark. An example is the text between a
line of 32 backticks followed by `` example`` and a line of 32 backticks; a
line holding only ``.`` separates the Markdown from the expected HTML. The
spec writes tabs as ``→`` so that they survive editors; we turn them back.

We keep only the Markdown: the engine is checked against its own one-shot
rendering (which is sanitized and GFM-flavoured), not against the spec's HTML.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

SPEC_PATH = Path(__file__).parent / "fixtures" / "commonmark-spec-0.31.2.txt"
EXPECTED_COUNT = 652  # the number of examples in spec 0.31.2

_FENCE = "`" * 32
_HEADING = re.compile(r"#+ ")


class SpecExample(NamedTuple):
    """One example of the spec."""

    number: int
    """The example's number, as the spec's HTML version shows it (from 1)."""
    section: str
    """The heading of the section that holds the example."""
    markdown: str
    """The example's Markdown input, tabs restored."""


def parse_spec(text: str) -> list[SpecExample]:
    """Return the examples of a spec.txt in order."""
    examples: list[SpecExample] = []
    section = ""
    state = 0  # 0: prose, 1: markdown of an example, 2: its html
    markdown_lines: list[str] = []
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if state == 0 and stripped == _FENCE + " example":
            state = 1
            markdown_lines = []
        elif state == 1 and stripped == ".":
            state = 2
        elif state == 2 and stripped == _FENCE:
            state = 0
            markdown = "".join(markdown_lines).replace("→", "\t")
            examples.append(SpecExample(len(examples) + 1, section, markdown))
        elif state == 1:
            markdown_lines.append(line)
        elif state == 0 and _HEADING.match(line):
            section = _HEADING.sub("", line, count=1).strip()
    return examples


def load_spec_examples(path: Path = SPEC_PATH) -> list[SpecExample]:
    """Return all examples of the fixture spec, checking that none was missed."""
    examples = parse_spec(path.read_text(encoding="utf-8"))
    assert len(examples) == EXPECTED_COUNT, f"parsed {len(examples)} spec examples"
    return examples

"""The shipped corpus and its metadata (``renderer.harness.corpus``): at
least 1,000 payloads, every one tagged with its classes and credited."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from renderer.harness.corpus import CLASSES, CorpusError, Payload, load_corpus, parse_corpus, select

#: The classes the issue asks for, each with a floor.
REQUIRED = {
    "url-scheme": 100, "event-handler": 100, "mutation-xss": 50, "namespace-confusion": 50,
    "css": 20, "markdown": 50, "split-chunks": 100,
}  # fmt: skip


@pytest.fixture(scope="module")
def corpus() -> list[Payload]:
    return load_corpus()


def test_the_corpus_has_at_least_1000_distinct_payloads(corpus: list[Payload]) -> None:
    assert len(corpus) >= 1000
    assert len({payload.text for payload in corpus}) == len({payload.name for payload in corpus}) == len(corpus)


def test_every_payload_is_tagged_with_known_classes_and_credited(corpus: list[Payload]) -> None:
    assert all(payload.classes and set(payload.classes) <= set(CLASSES) for payload in corpus)
    assert all(payload.source.strip() for payload in corpus)
    counts = Counter(name for payload in corpus for name in payload.classes)
    assert {name: counts[name] for name in REQUIRED if counts[name] < REQUIRED[name]} == {}


def test_mined_dompurify_fixtures_credit_their_origin_and_licence(corpus: list[Payload]) -> None:
    fixtures = [payload for payload in corpus if payload.group == "dompurify-fixture"]
    assert len(fixtures) >= 200
    pattern = re.compile(r"^DOMPurify test/fixtures/expect\.mjs #\d+: .*\(Apache-2\.0 OR MPL-2\.0\)$")
    assert all(pattern.match(payload.source) for payload in fixtures)


def test_split_payloads_carry_a_cut_that_joins_to_the_payload(corpus: list[Payload]) -> None:
    split = [payload for payload in corpus if payload.chunks]
    assert len(split) >= 100
    assert all("split-chunks" in payload.classes and "".join(payload.chunks or ()) == payload.text for payload in split)


def test_select_keeps_payloads_of_any_given_class(corpus: list[Payload]) -> None:
    css = select(corpus, ["css"])
    assert css and all("css" in payload.classes for payload in css)
    assert len(select(corpus, ["css", "script"])) >= len(css)
    assert select(corpus, []) == corpus


def test_metadata_fields_are_read() -> None:
    text = '{"name": "g/a", "payload": "ab", "classes": ["css"], "source": "me", "chunks": ["a", "b"]}'
    assert parse_corpus(text, format="jsonl") == [Payload("g/a", "ab", ("css",), "me", ("a", "b"))]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param('{"payload": "x", "classes": "css"}', '"classes" must be a list of strings', id="classes"),
        pytest.param('{"payload": "x", "source": 1}', '"source" a string', id="source"),
        pytest.param('{"payload": "ab", "chunks": ["a"]}', '"chunks" must be strings that join', id="chunks"),
    ],
)
def test_bad_metadata_is_named(line: str, message: str) -> None:
    with pytest.raises(CorpusError, match=re.escape(message)):
        parse_corpus(line, format="jsonl", source="c.jsonl")

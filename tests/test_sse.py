"""renderer.server.sse: exact bytes of every frame, refusals, and a property that
whatever the data and however the bytes are cut, a conforming parser reads
back exactly one event holding that data.

Also the tests' own SSE parser (tests/sse_client.py) against the standard's
rules, since the server tests trust it.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sse_client import SSEEvent, SSEParser, parse

from renderer.server import sse

SURROGATE = re.compile("[\ud800-\udfff]")


def expected_data(data: str) -> str:
    """What a conforming parser reads back: line ends as LF, lone surrogates
    (which UTF-8 cannot carry) as U+FFFD."""
    return SURROGATE.sub("\ufffd", re.sub(r"\r\n|\r|\n", "\n", data))


# --- renderer.server.sse: exact bytes ------------------------------------------------


@pytest.mark.parametrize(
    ("data", "event", "event_id", "expected"),
    [
        pytest.param("hi", None, None, b"data: hi\n\n", id="data-only"),
        pytest.param("", None, None, b"data: \n\n", id="empty-data"),
        pytest.param("<p>x</p>", "block", "1", b"event: block\nid: 1\ndata: <p>x</p>\n\n", id="event-and-id"),
        pytest.param("", "tail", None, b"event: tail\ndata: \n\n", id="empty-tail"),
        pytest.param("a\nb", "block", None, b"event: block\ndata: a\ndata: b\n\n", id="lf"),
        pytest.param("a\r\nb", None, None, b"data: a\ndata: b\n\n", id="crlf"),
        pytest.param("a\rb", None, None, b"data: a\ndata: b\n\n", id="cr"),
        pytest.param("a\n\nb", None, None, b"data: a\ndata: \ndata: b\n\n", id="blank-line-inside"),
        pytest.param("a\n", None, None, b"data: a\ndata: \n\n", id="trailing-lf"),
        pytest.param("\r\n", None, None, b"data: \ndata: \n\n", id="only-crlf"),
        pytest.param("\n\r", None, None, b"data: \ndata: \ndata: \n\n", id="lf-then-cr-is-two"),
        pytest.param(
            "data: x\n\nevent: done",
            None,
            None,
            b"data: data: x\ndata: \ndata: event: done\n\n",
            id="forged-fields-stay-data",
        ),
        pytest.param(": not a comment", None, None, b"data: : not a comment\n\n", id="colon-first"),
        pytest.param(" lead", None, None, b"data:  lead\n\n", id="leading-space-kept"),
        pytest.param("nul\0here", None, None, b"data: nul\0here\n\n", id="nul-in-data"),
        pytest.param(
            "a\u2028b\u2029c\x85d",
            None,
            None,
            "data: a\u2028b\u2029c\x85d\n\n".encode(),
            id="unicode-separators-not-line-ends",
        ),
        pytest.param("caf\u00e9 \U0001f600", None, None, "data: caf\u00e9 \U0001f600\n\n".encode(), id="utf8"),
        pytest.param("x\ud800y", None, None, "data: x\ufffdy\n\n".encode(), id="lone-high-surrogate"),
        pytest.param("\udfff", None, None, "data: \ufffd\n\n".encode(), id="lone-low-surrogate"),
        pytest.param("\ud83d\ude00", None, None, "data: \ufffd\ufffd\n\n".encode(), id="surrogate-pair-as-code-points"),
        pytest.param(
            "d",
            "\u00e9v\ud800",
            "\udc00",
            "event: \u00e9v\ufffd\nid: \ufffd\ndata: d\n\n".encode(),
            id="surrogates-in-event-and-id",
        ),
    ],
)
def test_encode_gives_exact_bytes(data: str, event: str | None, event_id: str | None, expected: bytes) -> None:
    assert sse.encode(data, event=event, id=event_id) == expected
    assert sse.ServerSentEvent(data, event, event_id).encode() == expected


@pytest.mark.parametrize(
    ("milliseconds", "expected"),
    [
        pytest.param(0, b"retry: 0\n\n", id="zero"),
        pytest.param(2000, b"retry: 2000\n\n", id="default-value"),
        pytest.param(123456789, b"retry: 123456789\n\n", id="large"),
    ],
)
def test_retry_gives_exact_bytes(milliseconds: int, expected: bytes) -> None:
    assert sse.retry(milliseconds) == expected


def test_retry_defaults_to_two_seconds() -> None:
    assert sse.retry() == b"retry: 2000\n\n"


@pytest.mark.parametrize(
    "milliseconds",
    [
        pytest.param(-1, id="negative"),
        pytest.param(1.5, id="float"),
        pytest.param("10", id="str"),
        pytest.param(True, id="bool"),
    ],
)
def test_retry_refuses_what_is_not_a_non_negative_int(milliseconds: object) -> None:
    with pytest.raises(ValueError):
        sse.retry(milliseconds)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", b": \n\n", id="empty"),
        pytest.param("ping", b": ping\n\n", id="word"),
        pytest.param("a\nb", b": a\n: b\n\n", id="lf"),
        pytest.param("a\r\nb\rc", b": a\n: b\n: c\n\n", id="crlf-and-cr"),
        pytest.param("x\ud800", ": x\ufffd\n\n".encode(), id="surrogate"),
    ],
)
def test_comment_gives_exact_bytes(text: str, expected: bytes) -> None:
    assert sse.comment(text) == expected


def test_comment_without_argument_is_an_empty_heartbeat() -> None:
    assert sse.comment() == b": \n\n"


@pytest.mark.parametrize("field", ["event", "id"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("a\nb", id="lf"),
        pytest.param("a\rb", id="cr"),
        pytest.param("a\r\nb", id="crlf"),
        pytest.param("a\0b", id="nul"),
        pytest.param("\n", id="only-lf"),
    ],
)
def test_encode_refuses_line_breaks_and_nul_in_event_and_id(field: str, value: str) -> None:
    with pytest.raises(ValueError):
        sse.encode("data", **{field: value})
    with pytest.raises(ValueError):
        sse.ServerSentEvent("data", **{field: value}).encode()


def test_frames_parse_as_one_event_with_their_fields() -> None:
    frames = (
        sse.retry(1500)
        + sse.comment("hb")
        + sse.encode("a\r\nb", event="block", id="7")
        + sse.encode("t", event="tail")
    )
    parser = SSEParser()
    events = parser.feed(frames) + parser.close()
    assert events == [SSEEvent("block", "a\nb", "7", True), SSEEvent("tail", "t", "7", False)]
    assert parser.retry == 1500
    assert parser.comments == [" hb"]


# --- the property -------------------------------------------------------------

# Characters that stress the framing: every line end, NUL, Unicode separators,
# lone surrogates, astral characters (4 UTF-8 bytes, cut anywhere) and a BOM.
TRICKY = st.sampled_from(
    [
        "\r",
        "\n",
        "\r\n",
        "\0",
        "\u2028",
        "\u2029",
        "\x85",
        "\ud800",
        "\udfff",
        "\U0001f600",
        "\ufeff",
        ":",
        " ",
        "data:",
        "event: done",
        "id: 9",
        "retry: 1",
    ]
)
DATA = st.lists(st.one_of(TRICKY, st.text(max_size=5)), max_size=12).map("".join)
NAMES = st.text(st.characters(blacklist_characters="\r\n\0"), max_size=8)


@st.composite
def chunked(draw: st.DrawFn, payload: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=8)))
    bounds = [0, *cuts, len(payload)]
    return [payload[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=DATA, event=st.none() | NAMES, event_id=st.none() | NAMES, cuts=st.data())
def test_any_data_in_any_chunks_reads_back_as_exactly_one_event(
    data: str, event: str | None, event_id: str | None, cuts: st.DataObject
) -> None:
    payload = sse.retry(10) + sse.encode(data, event=event, id=event_id)
    chunks = cuts.draw(chunked(payload))
    events = parse(chunks)
    assert len(events) == 1
    (got,) = events
    assert got.data == expected_data(data)
    expected_event = SURROGATE.sub("\ufffd", event) if event else "message"
    assert got.event == expected_event
    assert got.id == (SURROGATE.sub("\ufffd", event_id) if event_id is not None else None)


# --- the tests' parser against the standard ------------------------------------


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        pytest.param([b"data: a\r\n\r\n"], [("message", "a", "")], id="crlf"),
        pytest.param([b"data: a\r\r"], [("message", "a", "")], id="cr"),
        pytest.param([b"data: a\r", b"\n\r\n"], [("message", "a", "")], id="crlf-cut-between-chunks"),
        pytest.param([b"data: a\r", b"", b"\n", b"\r", b"\n"], [("message", "a", "")], id="crlf-cut-with-empty-chunk"),
        pytest.param([b"data: a\r", b"\r"], [("message", "a", "")], id="cr-then-cr-is-two-line-ends"),
        pytest.param([b"data: a\n", b"\r\n"], [("message", "a", "")], id="lf-then-crlf"),
        pytest.param([b"data:a\n\n"], [("message", "a", "")], id="no-space"),
        pytest.param([b"data:  a\n\n"], [("message", " a", "")], id="one-space-removed"),
        pytest.param([b"data\n\n"], [("message", "", "")], id="field-without-colon"),
        pytest.param([b"data: a\ndata: b\n\n"], [("message", "a\nb", "")], id="data-joined-by-lf"),
        pytest.param([b"event: x\n\ndata: a\n\n"], [("message", "a", "")], id="event-without-data-not-dispatched"),
        pytest.param([b": c\ndata: a\n\n"], [("message", "a", "")], id="comment"),
        pytest.param([b"\xef\xbb\xbfdata: a\n\n"], [("message", "a", "")], id="bom-dropped"),
        pytest.param([b"\xef", b"\xbb", b"\xbfdata: a\n\n"], [("message", "a", "")], id="bom-cut-in-pieces"),
        pytest.param([b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n"], [], id="second-bom-is-part-of-a-field-name"),
        pytest.param([b"data: \xf0\x9f", b"\x98\x80\n\n"], [("message", "\U0001f600", "")], id="utf8-cut"),
        pytest.param([b"data: \xff\n\n"], [("message", "\ufffd", "")], id="invalid-utf8-replaced"),
        pytest.param(
            [b"id: 1\ndata: a\n\ndata: b\n\n"], [("message", "a", "1"), ("message", "b", "1")], id="last-event-id-kept"
        ),
        pytest.param(
            [b"id: 1\ndata: a\n\nid: x\0y\ndata: b\n\n"],
            [("message", "a", "1"), ("message", "b", "1")],
            id="id-with-nul-ignored",
        ),
        pytest.param(
            [b"id: 1\ndata: a\n\nid\ndata: b\n\n"], [("message", "a", "1"), ("message", "b", "")], id="empty-id-resets"
        ),
        pytest.param([b"id: 5\n\ndata: b\n\n"], [("message", "b", "5")], id="id-without-data-still-sets"),
        pytest.param([b"data: a\n"], [], id="unterminated-event-discarded"),
        pytest.param([b"foo: bar\ndata: a\n\n"], [("message", "a", "")], id="unknown-field-ignored"),
    ],
)
def test_parser_follows_the_standard(chunks: list[bytes], expected: list[tuple[str, str, str]]) -> None:
    assert [(e.event, e.data, e.last_event_id) for e in parse(chunks)] == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(b"retry: 1000\n", 1000, id="digits"),
        pytest.param(b"retry: 10a\n", None, id="not-digits"),
        pytest.param(b"retry: -1\n", None, id="negative"),
        pytest.param(b"retry:\n", None, id="empty"),
        pytest.param("retry: \u0661\n".encode(), None, id="non-ascii-digit"),
    ],
)
def test_parser_honours_retry_only_when_digits(line: bytes, expected: int | None) -> None:
    parser = SSEParser()
    parser.feed(line + b"\n")
    assert parser.retry == expected

"""``rs_middleware.sse``: the text/event-stream parser against HTML §9.2.6, edge case by edge case."""

from __future__ import annotations

import pytest

from rs_middleware.sse import EventStreamParser, ProtocolError, ServerSentEvent


def parse(*chunks: bytes) -> tuple[list[ServerSentEvent], EventStreamParser]:
    parser = EventStreamParser()
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events, parser


def bytewise(stream: bytes) -> list[ServerSentEvent]:
    return parse(*(stream[i:i + 1] for i in range(len(stream))))[0]


AM_STREAM = (b'id: 41\nevent: token_revoked\ndata: {"jti": "Qgw9", "exp": 1795328772}\n\n'
             b'id: 42\nevent: client_revoked\ndata: {"client_id": "Kau", "issued_before": 1, "exp": 2}\n\n'
             b'event: ready\ndata: {"cursor": 42}\n\n: keepalive\n\n')


def test_the_protocol_example_parses_and_ready_carries_the_previous_id() -> None:
    events, parser = parse(AM_STREAM)
    assert [(e.type, e.last_event_id) for e in events] == [
        ("token_revoked", "41"), ("client_revoked", "42"), ("ready", "42")]
    assert events[0].data == '{"jti": "Qgw9", "exp": 1795328772}'
    assert parser.last_event_id == "42"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_and_any_chunking_give_the_same_events(newline: bytes) -> None:
    stream = AM_STREAM.replace(b"\n", newline)
    assert parse(stream)[0] == parse(AM_STREAM)[0] == bytewise(stream)


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    events, _ = parse(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")
    assert events == [ServerSentEvent("message", "a\nb", "")]


def test_multi_line_data_joined_with_lf_and_one_trailing_lf_removed() -> None:
    events, _ = parse(b"data: line 1\ndata:line 2\ndata:  indented\ndata\ndata:\n\n")
    assert events[0].data == "line 1\nline 2\n indented\n\n"


def test_comments_are_ignored_and_a_comment_only_block_dispatches_nothing() -> None:
    events, _ = parse(b": keepalive\n\n:\n\ndata: x\n: in the middle\ndata: y\n\n")
    assert events == [ServerSentEvent("message", "x\ny", "")]


def test_event_without_id_keeps_the_last_id_and_empty_id_resets_it() -> None:
    events, parser = parse(b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 9\ndata: d\n\nid:\ndata: e\n\n")
    assert [(e.data, e.last_event_id) for e in events] == [
        ("a", "7"), ("b", "7"), ("c", ""), ("d", "9"), ("e", "")]
    assert parser.last_event_id == ""


def test_id_with_nul_is_ignored_and_id_without_data_still_moves_the_last_id() -> None:
    events, parser = parse(b"id: 5\ndata: a\n\nid: 6\x007\ndata: b\n\nid: 8\n\n")
    assert [e.last_event_id for e in events] == ["5", "5"]
    assert parser.last_event_id == "8"  # no event dispatched, but the id is remembered


def test_field_rules_colon_space_and_unknown_fields() -> None:
    events, parser = parse(b"event:ready\ndata:{}\nfoo: bar\nretry: 1500\n\n"
                           b"event: x\ndata: y\nretry: soon\n\n")
    assert events == [ServerSentEvent("ready", "{}", ""), ServerSentEvent("x", "y", "")]
    assert parser.retry == 1500  # the non-digit retry was ignored
    events, _ = parse(b"data:  two spaces\nevent\ndata\n\n")
    assert events == [ServerSentEvent("message", " two spaces\n", "")]  # "event" alone: message


def test_type_is_reset_after_each_dispatch_and_empty_data_dispatches_nothing() -> None:
    events, _ = parse(b"event: a\n\ndata: 1\n\n")
    assert events == [ServerSentEvent("message", "1", "")]


def test_bom_utf8_split_and_invalid_bytes() -> None:
    snowman = "data: \u2603\n\n".encode()
    events, _ = parse(b"\xef\xbb", b"\xbf" + snowman[:7], snowman[7:], b"data: \xff\n\n")
    assert [e.data for e in events] == ["\u2603", "\ufffd"]
    assert parse(b"\xef\xbb\xbfdata: x\n\n")[0][0].data == "x"
    assert parse(b"data: \xef\xbb\xbfx\n\n")[0][0].data == "\ufeffx"  # only a leading BOM is skipped


def test_incomplete_event_at_end_of_stream_is_not_dispatched() -> None:
    events, parser = parse(b"id: 3\ndata: never finished\n")
    assert events == [] and parser.last_event_id == ""


def test_an_endless_line_is_a_protocol_error() -> None:
    parser = EventStreamParser(max_line=100)
    parser.feed(b"data: " + b"x" * 90)
    with pytest.raises(ProtocolError):
        parser.feed(b"x" * 20)
    with pytest.raises(ProtocolError):
        EventStreamParser(max_line=100).feed(b"data: " + b"y" * 200 + b"\n")

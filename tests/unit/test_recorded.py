"""Which stretches of a call its recording holds (``domain.recorded``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.domain.calls import RecordingStatus
from switchboard.domain.recorded import Span, gaps, recorded_spans

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
STARTED, PAUSED = RecordingStatus.STARTED, RecordingStatus.PAUSED


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_recorded_3_paused_2_resumed_2() -> None:
    spans = recorded_spans(at(0), at(7), [(at(0), STARTED), (at(3), PAUSED), (at(5), STARTED)])
    assert spans == [Span(at(0), at(3)), Span(at(5), at(7))]
    assert sum(s.seconds for s in spans) == 5.0
    [gap] = gaps(spans, at(7))
    assert (gap.offset_s, gap.start, gap.end) == (3.0, at(3), at(5))


def test_started_before_the_connection_records_from_the_connection() -> None:
    spans = recorded_spans(at(10), at(12), [(at(1), STARTED)])
    assert spans == [Span(at(10), at(12))]


def test_paused_before_the_connection_records_nothing_until_started() -> None:
    assert recorded_spans(at(10), at(12), [(at(1), PAUSED)]) == []
    spans = recorded_spans(at(10), at(14), [(at(1), PAUSED), (at(12), STARTED)])
    assert spans == [Span(at(12), at(14))]
    assert gaps(spans, at(14)) == []  # time before recording first started is no pause


def test_repeated_values_and_changes_after_the_end_change_nothing() -> None:
    changes = [(at(0), STARTED), (at(1), STARTED), (at(9), PAUSED)]
    assert recorded_spans(at(0), at(4), changes) == [Span(at(0), at(4))]


def test_a_pause_until_the_end_has_no_resumption() -> None:
    spans = recorded_spans(at(0), at(5), [(at(0), STARTED), (at(2), PAUSED)])
    [gap] = gaps(spans, at(5))
    assert (gap.offset_s, gap.end) == (2.0, None)


def test_a_call_never_connected_has_no_audio() -> None:
    assert recorded_spans(None, at(5), [(at(0), STARTED)]) == []

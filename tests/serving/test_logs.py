"""The repeat filter: the first line of a kind written, repeats within the interval held back
and counted on the next line written, distinct lines unaffected, nothing held for ever."""

from __future__ import annotations

import logging

import pytest

from switchboard.serving.logs import MAX_KEYS, RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lines(clock: Clock) -> Lines:
    handler = Lines()
    handler.addFilter(RepeatFilter(10.0, clock))
    return handler


@pytest.fixture
def logger(lines: Lines) -> logging.Logger:
    logger = logging.getLogger("tests.serving.repeats")
    logger.handlers[:] = [lines]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_a_flood_of_one_line_is_written_once_per_interval_with_a_count(
    clock: Clock, lines: Lines, logger: logging.Logger
) -> None:
    for second in range(25):
        for port in range(1000):
            logger.warning("refusing a connection from %s:%d", "10.0.0.1", port)
        clock.now = second + 1.0
    assert lines.lines == [
        "refusing a connection from 10.0.0.1:0",
        "refusing a connection from 10.0.0.1:0 [9999 more like this in the last 10 s]",
        "refusing a connection from 10.0.0.1:0 [9999 more like this in the last 10 s]",
    ]


def test_distinct_lines_and_levels_are_not_held_back(lines: Lines, logger: logging.Logger) -> None:
    logger.warning("one %s", 1)
    logger.warning("two %s", 1)
    logger.error("one %s", 1)
    logger.info("one %s", 2)
    assert lines.lines == ["one 1", "two 1", "one 1", "one 2"]


def test_formatted_lines_differing_in_numbers_are_one_kind(
    lines: Lines, logger: logging.Logger
) -> None:
    logger.error("socket.accept() out of system resource\nsocket: <socket fd=12>")
    logger.error("socket.accept() out of system resource\nsocket: <socket fd=13>")
    assert len(lines.lines) == 1


def test_held_back_counts_are_written_at_flush(
    clock: Clock, lines: Lines, logger: logging.Logger
) -> None:
    shared = lines.filters[0]
    assert isinstance(shared, RepeatFilter)
    for _ in range(5):
        logger.warning("timed out %s", "x")
    shared.flush(logger)
    assert lines.lines == [
        "timed out x",
        "4 more lines like this from tests.serving.repeats, the last: timed out x",
    ]


def test_one_record_through_two_handlers_gets_one_verdict(clock: Clock) -> None:
    shared = RepeatFilter(10.0, clock)
    first, second = Lines(), Lines()
    for handler in (first, second):
        handler.addFilter(shared)
    logger = logging.getLogger("tests.serving.two")
    logger.handlers[:] = [first, second]
    logger.propagate = False
    logger.warning("same")
    logger.warning("same")
    assert first.lines == second.lines == ["same"]


def test_the_kinds_remembered_are_bounded(clock: Clock) -> None:
    shared = RepeatFilter(10.0, clock)
    for index in range(MAX_KEYS + 10):
        record = logging.LogRecord("x", logging.INFO, "f", 1, f"line {index} %s", ("a",), None)
        assert shared.filter(record)
    assert len(shared._seen) == MAX_KEYS


def test_an_interval_of_zero_writes_every_line(clock: Clock) -> None:
    shared = RepeatFilter(0.0, clock)
    record = logging.LogRecord("x", logging.INFO, "f", 1, "same", None, None)
    assert all(shared.filter(logging.makeLogRecord(record.__dict__)) for _ in range(3))

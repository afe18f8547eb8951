"""A logging filter that lets a repeated line through once per interval, with a count.

Under attack the same line comes thousands of times a second (a refused connection, accept()
failing with EMFILE, a malformed SIP message): written each time, the log fills the disk and
costs the CPU the server needs. A line is "the same" when its logger, level and message
template match (the arguments, such as a peer's address, differ). The first is written as it
is; the repeats within the interval are counted, and the first one after the interval is
written with the count of those held back. ``flush`` writes the counts still held (at stop).
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable

# Distinct lines remembered at once; the oldest is forgotten first (its count is lost, which
# only ever under-reports).
MAX_KEYS = 1024
_NUMBERS = re.compile(r"\d+")

_VERDICT = "switchboard_repeat_verdict"

Key = tuple[str, int, str]


class RepeatFilter(logging.Filter):
    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        # key -> (when the last line was written, repeats held back since, the latest one)
        self._seen: OrderedDict[Key, tuple[float, int, logging.LogRecord]] = OrderedDict()

    @staticmethod
    def key(record: logging.LogRecord) -> Key:
        template = record.msg if isinstance(record.msg, str) else repr(record.msg)
        if not record.args:
            # Already formatted by its caller (asyncio's exception handler does this): the
            # first line, with numbers (descriptors, ports, addresses) taken out.
            template = _NUMBERS.sub("#", template.split("\n", 1)[0])
        return (record.name, record.levelno, template)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.interval_s <= 0:
            return True
        # One record can pass here twice (a filter shared by two handlers): same verdict.
        verdict = getattr(record, _VERDICT, None)
        if verdict is None:
            verdict = self._admit(record)
            setattr(record, _VERDICT, verdict)
        return bool(verdict)

    def _admit(self, record: logging.LogRecord) -> bool:
        key = self.key(record)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = (now, 0, record)
            if len(self._seen) > MAX_KEYS:
                self._seen.popitem(last=False)
            return True
        written, held, _ = seen
        if now - written < self.interval_s:
            self._seen[key] = (written, held + 1, record)
            return False
        self._seen[key] = (now, 0, record)
        self._seen.move_to_end(key)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {now - written:.0f} s]"
        return True

    def flush(self, logger: logging.Logger) -> None:
        """Write one line for each line with repeats still held back."""
        pending = [(held, latest) for _, held, latest in self._seen.values() if held]
        self._seen.clear()
        interval, self.interval_s = self.interval_s, 0.0  # these lines are not held back
        try:
            for held, latest in pending:
                logger.log(
                    latest.levelno,
                    "%d more lines like this from %s, the last: %s",
                    held,
                    latest.name,
                    latest.getMessage(),
                )
        finally:
            self.interval_s = interval


def install(interval_s: float, handlers: list[logging.Handler]) -> RepeatFilter:
    """One filter shared by ``handlers`` (the root logger's, where every line ends up)."""
    shared = RepeatFilter(interval_s)
    for handler in handlers:
        handler.addFilter(shared)
    return shared


def uninstall(shared: RepeatFilter, handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        handler.removeFilter(shared)

"""Fault points for crash tests (``SWITCHBOARD_FAULT_POINT``): the process dies, as under
``kill -9``, at the moment a test needs to prove that nothing is lost. Never set in service."""

from __future__ import annotations

import os
import signal
import sys


class KillAtFault:
    """SIGKILL to this process on reaching ``point``: no cleanup, no flush, no commit."""

    def __init__(self, point: str) -> None:
        self._point = point

    def reach(self, point: str) -> None:
        if point == self._point:
            sys.stderr.write(f"fault point {point} reached: killing this process\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

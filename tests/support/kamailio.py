"""kamailio as a record-routing proxy in tests: between Switchboard and the trunk, as an SBC or
a carrier's edge proxy would be, with no database.

One ``kamailio`` process per test, on 127.0.0.1 (UDP and TCP on one port), in the foreground
(``-DD -E``), with a configuration written from ``CONFIG``: it record-routes initial INVITEs,
routes in-dialog requests by their Route headers (loose routing), relays CANCEL and ACK inside
their transactions, and sends initial requests where their Request-URI points (the trunk). Its
final-response timer is short so that an unreachable trunk over UDP fails within the test.

Imports nothing outside the standard library and starts nothing on import.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import BinaryIO

from tests.support.sipp import _open_log, free_port, port_bound, stop_process

KAMAILIO = shutil.which("kamailio") or (
    "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
)
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

# The start of a request route both of our kamailio configurations share (a template like
# them: braces doubled): Max-Forwards, in-dialog requests by their Route headers, ACK and
# CANCEL within their transactions.
ROUTE_START = """    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    xlog("L_INFO", "request $rm $ru from $si:$sp over $pr\\n");
    if (has_totag()) {{
        if (loose_route()) {{
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    t_check_trans();
"""

CONFIG = (
    """#!KAMAILIO
debug=2
log_stderror=yes
memdbg=5
memlog=5
children=1
tcp_children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
dns=no
rev_dns=no

mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "siputils.so"
loadmodule "textops.so"

modparam("tm", "fr_timer", {fr_timer_ms})
modparam("tm", "fr_inv_timer", 60000)
modparam("rr", "enable_full_lr", 1)

request_route {{
"""
    + ROUTE_START
    + """    loose_route();
    if (is_method("INVITE")) {{
        record_route();
    }}
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"""
)


def kamailio_available() -> bool:
    return KAMAILIO is not None


class KamailioProcess:
    """One kamailio in the foreground, its configuration and log in ``dir``: started until its
    ports are bound, stopped, its log read."""

    def __init__(self, directory: Path, shm_mb: int = 32) -> None:
        self.dir = directory
        # Shared memory for transactions: the load benchmark holds more than a test does.
        self.shm_mb = shm_mb
        self._process: asyncio.subprocess.Process | None = None
        self._log: BinaryIO | None = None

    async def run(self, config: str, bound: list[tuple[int, str]], within: float) -> None:
        """Write ``config`` and start; returns once every (port, "udp" or "tcp") is bound."""
        assert KAMAILIO is not None, "kamailio not installed"
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "kamailio.cfg"
        path.write_text(config)
        self._log = _open_log(self.dir / "kamailio.log")
        self._process = await asyncio.create_subprocess_exec(
            KAMAILIO,
            *("-f", str(path), "-DD", "-E", "-m", str(self.shm_mb), "-M", "8"),
            *("-Y", str(self.dir), "-P", str(self.dir / "kamailio.pid")),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        async with asyncio.timeout(within):
            while not all(port_bound(port, kind) for port, kind in bound):
                if self._process.returncode is not None:
                    raise RuntimeError(f"kamailio exited {self._process.returncode}:\n{self.log()}")
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        try:
            await stop_process(self._process, 5.0)
        finally:
            if self._log is not None:
                self._log.close()

    def log(self) -> str:
        path = self.dir / "kamailio.log"
        return path.read_text(errors="replace") if path.exists() else ""


class KamailioProxy(KamailioProcess):
    def __init__(self, workdir: Path, *, fr_timer_ms: int = 1500, shm_mb: int = 32) -> None:
        super().__init__(workdir / "kamailio", shm_mb)
        self.port = free_port()
        self.fr_timer_ms = fr_timer_ms

    def uri(self, transport: str = "udp") -> str:
        """The proxy's URI, for ``trunk_proxy``: a loose router."""
        suffix = ";transport=tcp" if transport == "tcp" else ""
        return f"sip:127.0.0.1:{self.port};lr{suffix}"

    async def start(self, within: float = 10.0) -> None:
        config = CONFIG.format(port=self.port, modules=MODULES, fr_timer_ms=self.fr_timer_ms)
        await self.run(config, [(self.port, "udp"), (self.port, "tcp")], within)

    def relayed(self, method: str) -> int:
        """How many requests of that method went through the proxy."""
        return self.log().count(f"request {method} ")

"""The process's file-descriptor budget, split between HTTP and SIP over TCP.

Every accepted connection costs a descriptor, and so do the database, the log and the SIP
sockets. At the soft ``RLIMIT_NOFILE`` accept() fails with EMFILE: the event loop then reports
an error on every wake-up (tens of thousands of log lines a second) and clients that are not
at fault time out. So the connection caps are derived from the limit, with a reserve kept for
everything that is not a peer's connection, and the soft limit is raised first where the hard
limit allows (raising the soft limit up to the hard one needs no privilege).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

# Raised to at most this: each open connection also costs memory, and 65,536 is far beyond
# what one process serves well.
WANTED_FILES = 65536
# Kept out of the connection caps: database connections and files, the log, SIP UDP and
# outbound TCP, the doorbell, the loop's own descriptors.
MIN_RESERVE = 64


@dataclass(frozen=True)
class Budget:
    files: int  # the soft limit in force
    reserve: int
    http: int  # most HTTP connections held at once
    sip_tcp: int  # most TCP connections SIP peers may hold open at once (0: SIP TCP is off)


def raise_file_limit(wanted: int = WANTED_FILES) -> int:
    """Raise the soft limit on open files towards ``wanted``, never past the hard limit;
    returns the soft limit then in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # kept as it was; the budget below follows whatever is in force
    return WANTED_FILES if soft == resource.RLIM_INFINITY else soft


def budget(
    files: int,
    *,
    sip_tcp: bool,
    http_max: int | None = None,
    sip_max: int | None = None,
) -> Budget:
    """Split ``files`` descriptors: 1/8 (at least ``MIN_RESERVE``) kept back, the rest 3/4 to
    HTTP and 1/4 to SIP over TCP (all of it to HTTP when SIP does not listen on TCP). An
    explicit cap replaces its share; caps that together leave less than ``MIN_RESERVE``
    descriptors are refused with ``ValueError`` naming the setting."""
    reserve = max(files // 8, MIN_RESERVE)
    rest = files - reserve
    if rest < 2:
        raise ValueError(f"the limit on open files ({files}) leaves no room for connections")
    http_share = rest * 3 // 4 if sip_tcp else rest
    sip_share = rest - http_share if sip_tcp else 0
    http = http_max if http_max is not None else max(1, http_share)
    sip = (sip_max if sip_max is not None else max(1, sip_share)) if sip_tcp else 0
    if http + sip + MIN_RESERVE > files:
        name = "HTTP_MAX_CONNECTIONS" if http_max is not None else "SIP_MAX_INBOUND_TCP"
        raise ValueError(
            f"SWITCHBOARD_{name}: {http} HTTP and {sip} SIP connections need more than the "
            f"{files} open files this process may have ({MIN_RESERVE} are kept for storage "
            "and logs); lower it or raise the limit (ulimit -n, LimitNOFILE=)"
        )
    return Budget(files=files, reserve=files - http - sip, http=http, sip_tcp=sip)

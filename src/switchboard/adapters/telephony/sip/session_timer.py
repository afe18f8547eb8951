"""RFC 4028 session timers: what a 2xx or a peer's refresh says, and when to act on it.

We ask for a timer in every INVITE (``Supported: timer``, ``Session-Expires``: the configured
interval) and let the peer choose who refreshes. When its 2xx carries ``Session-Expires``:

- ``refresher=uac`` (or none: RFC 4028 section 9 has the UAS name one; absent, we take it):
  we refresh at half the interval, by UPDATE when the peer allows it (no SDP, no ACK), else
  by a re-INVITE carrying what the party already has (same ``o=`` version: a refresh, not an
  offer). A refresh that fails (timeout, transport error, a final status other than 2xx,
  422 and 491) ends the call, as a lost party does; 422 raises the interval to the peer's
  ``Min-SE`` and 405/501 to an UPDATE falls back to a re-INVITE, each retried at once;
- ``refresher=uas``: the peer refreshes; if nothing comes by ``interval - min(32, interval/3)``
  (section 10) the call ends the same way.

A peer whose 2xx has no ``Session-Expires`` does not run the timer: the controller's in-dialog
OPTIONS probe keeps watching it. A refresh from the peer (re-INVITE or UPDATE) restarts the
interval and, when it names ``refresher=uac``, makes the peer the refresher.

Pure decisions; the leg does the sending.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.adapters.telephony.sip.message import Message, split_values

MAX_EXPIRY_MARGIN_S = 32.0


@dataclass(frozen=True)
class SessionTimer:
    interval_s: float
    we_refresh: bool
    method: str = "UPDATE"  # how we refresh: UPDATE when the peer allows it, else INVITE

    @property
    def wake_after_s(self) -> float:
        """When the leg must act: refresh (half the interval) or give up on the peer."""
        if self.we_refresh:
            return self.interval_s / 2
        return self.interval_s - min(MAX_EXPIRY_MARGIN_S, self.interval_s / 3)


def _delta_and_refresher(value: str) -> tuple[float, str | None] | None:
    head, *params = (part.strip() for part in value.split(";"))
    if not (head.isascii() and head.isdigit()) or len(head) > 9 or int(head) <= 0:
        return None
    refresher = None
    for param in params:
        name, _, found = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = found.strip().lower()
    return float(int(head)), refresher


def from_answer(response: Message, current: SessionTimer | None = None) -> SessionTimer | None:
    """The timer a 2xx to our INVITE (or re-INVITE, UPDATE) sets up; None: no timer. A 2xx
    without Allow keeps the refresh method we had."""
    value = response.get("Session-Expires")  # the parser expands the compact form "x"
    if not value:
        return None
    parsed = _delta_and_refresher(value)
    if parsed is None:
        return None
    interval, refresher = parsed
    allow = response.get("Allow")
    if allow is None and current is not None:
        method = current.method
    else:
        allowed = {method.strip().upper() for method in split_values(allow or "")}
        method = "UPDATE" if "UPDATE" in allowed else "INVITE"
    return SessionTimer(interval, refresher != "uas", method)


def from_peer_refresh(request: Message, current: SessionTimer | None) -> SessionTimer | None:
    """After the peer's re-INVITE or UPDATE: the interval it asks for, refreshed by it when it
    says ``refresher=uac`` (our answer echoes that, see ``Leg._ok``)."""
    value = request.get("Session-Expires")
    if not value:
        return current
    parsed = _delta_and_refresher(value)
    if parsed is None:
        return current
    interval, refresher = parsed
    method = current.method if current is not None else "INVITE"
    return SessionTimer(interval, refresher == "uas", method)


def min_se(response: Message) -> float | None:
    """The smallest interval a 422 (Session Interval Too Small) accepts."""
    value = (response.get("Min-SE") or "").split(";")[0].strip()
    if value.isascii() and value.isdigit() and len(value) <= 9:
        return float(int(value))
    return None

"""The SIP telephony engine: our own SIP stack on asyncio and an RFC 3725 call controller.

message, uri      parse and write SIP messages and the addresses in them
transport         UDP and TCP sockets (stream framing, connection reuse)
transaction       RFC 3261 client and server transactions, with their timers
requests          INVITE, CANCEL and non-2xx ACK built from other requests
dialog            dialog state and in-dialog request addressing (route sets)
auth              digest answers to 401/407 challenges
sdp               the few SDP bodies a controller writes itself
endpoint          the user agent core: dispatch, 481, OPTIONS, absorbing retransmissions
addressing        where a phone or a number is sent, and with which identity
leg               one INVITE-initiated leg toward a party, with its dialog
transitions       the call's states, events and transition table
controller        the third-party call state machine (flows I and IV)
engine            the TelephonyEngine port
sipp              SIPp peers for tests and benchmarks
"""

from switchboard.adapters.telephony.sip.config import SipConfig
from switchboard.adapters.telephony.sip.engine import SipEngine

__all__ = ["SipConfig", "SipEngine"]

"""A generated fuzz of the whole V0 surface against a real ``switchboard serve`` process, on
SQLite and on PostgreSQL: every answer is documented (a 2xx where the request is valid, else
a 4xx with one of the contract's texts), never a 5xx, and the server logs no ERROR.

Hypothesis draws the requests (paths, methods, headers and bodies, with full Unicode: lone
surrogates, NUL, non-characters, overlong numbers); most bodies are a valid body of the
endpoint with one to three fields made hostile, so that they reach the endpoint's rules and
storage. They are then sent over a few keep-alive connections at once. Bounded by count
(``REQUESTS``) and by time (``TIME_LIMIT_S`` per database, drawing included); the figures are
printed with the seed (``SWITCHBOARD_TEST_FUZZ_SEED`` replays a run's draws). Hypothesis
favours simple choices, so about half of the requests drawn are distinct."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import h11
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.e2e.test_server import KEY, Server
from tests.support.harness import PostgresDatabase, postgres_url

REQUESTS = 10_000
TIME_LIMIT_S = 60.0  # per database, drawing included
DRAW_SHARE = 0.75  # of the time, at most, for drawing (once: every database gets the same)
MIN_SENT = 2_000  # a machine so loaded that fewer go out in the time proves too little
CONNECTIONS = 8

# --------------------------------------------------------------------------- the contract

# Every text of the V0 contract (section 2 to 7), byte for byte: written out here, not taken
# from the code under test.
FIXED_MESSAGES = {
    "The requested resource was not found.",
    "The access token is invalid or has expired",
    "The access token does not grant access to this account",
    "Payload Too Large",
    "The request body is not valid JSON.",
    "Ccxml must be enabled for this account",
    "Either telephone number or agent id required",
    "Either telephone number or agent id required, not both",
    "Telephone number not supported in this context",
    "Agent Id must be specified",
    "Either agent id or groups required, not both",
    "Agent Id must contain digits only",
    "Agent Id exceeds 11 digits",
    "Telephone number exceeds 30 characters",
    "Reference exceeded 2000 characters",
    "Reference contained invalid characters",
    "Application exceeded 32 characters",
    "Application contains non-alphanumeric characters",
    "Consent must be one of Unknown, OneParty, TwoParty",
    "Unable to place call - number is invalid",
    "Unable to place call - presented CLID is not a configured callback number",
    "Unable to place call - Agent Id is unknown",
    "Unable to place call - invalid Agent Id",
    "Unable to place call - group is unknown",
    "Unable to place call - Agent number busy",
    # Rate limits and idempotent retries (docs/operations.md, "Rate limits and retries").
    "Rate limit exceeded",
    "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
    "A request with this Idempotency-Key is still being processed; retry later.",
    "This Idempotency-Key was already used with a different request body.",
    "Unable to place call - dialed Agent is not currently available",
    "Unable to place call to Agent. Please try again",
    "Recording status must be Paused or Started",
    "The call is not in progress",
    "Disposition code field was expected. ",
    "Disposition code excceeds 255 characters.",
    "Disposition code must be at least 3 characters.",
    "Agent Id is not a participant of this call",
}
FIELD_PATHS = (
    "from|to|regarding|application|from\\.agentId|from\\.groups|from\\.telephoneNumber"
    "|from\\.presentedCLID|from\\.consent|to\\.telephoneNumber|to\\.agentId|to\\.consent"
    "|regarding\\.reference|recordingStatus|dispositionCode|agentId"
)
PATTERNS = (
    re.compile(r"The requested resource does not support http method '[^']*'\."),
    re.compile(r"The requested resource does not support content type '.*'\.", re.DOTALL),
    re.compile(r"Unsupported API version '.*'\. Supported versions: 1-6\.", re.DOTALL),
    re.compile(f"The field '(?:{FIELD_PATHS})' has an invalid type\\."),
)
# slow_down (429): the token endpoint's guessing limit (docs/operations.md), which a fuzz
# that keeps sending wrong credentials from one address soon meets.
OAUTH_ERRORS = {"invalid_request", "unsupported_grant_type", "invalid_client", "slow_down"}
SUCCESS = {200, 201, 202, 204}
DOCUMENTED = SUCCESS | {400, 401, 403, 404, 405, 406, 413, 415, 429}


def documented_message(text: object) -> bool:
    if not isinstance(text, str):
        return False
    return text in FIXED_MESSAGES or any(p.fullmatch(text) for p in PATTERNS)


# --------------------------------------------------------------------------- the requests

AGENTS = ("1234", "4567", "5464")
GROUPS = ("030", "200", "400")
ODD_CHARACTERS = (
    "\x00",
    "\ud800",
    "\udbff",
    "\udc00",
    "\udfff",
    "\ufffe",
    "\uffff",
    "\U0010ffff",
    "\U0001fffe",
    "\u200b",
    "\ufeff",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: str.isdigit() says yes
    "\uff11",  # FULLWIDTH DIGIT ONE
    "\u00b2",  # SUPERSCRIPT TWO: isdigit() too, int() refuses it
    "\n",
    " ",
    "'",
    '"',
    "\\",
    "/",
)
# Every code point, surrogates included, and the ones that break things most, often.
characters = st.characters(exclude_categories=()) | st.sampled_from(ODD_CHARACTERS)
texts = st.text(characters, max_size=16)
digits = st.text("0123456789", min_size=1, max_size=30)
# Hundreds to thousands of digits (past int()'s 4,300), built cheaply: drawing each digit
# would cost most of the time the whole request takes to draw.
overlong = st.builds(lambda head, n: head + "9" * n, digits, st.integers(300, 6_000))
NUMBER_MARK = "\x01number:"  # a string the encoder turns into a bare JSON number


# Strategies are built once, here: one built inside a draw is validated again at every draw,
# which costs more than the draw.
PERCENT = st.integers(0, 99)


def rarely(draw: st.DrawFn, percent: int) -> bool:
    """True about ``percent`` times in a hundred. Not ``integers(0, 99) == 0``: Hypothesis
    draws small values and bounds far more often than the others."""
    return 40 <= draw(PERCENT) < 40 + percent


SIGNS = st.sampled_from(["", "-"])
FRACTIONS = st.sampled_from([".5", "e400", "E-400", ".0e+99999999999"])
DIGITS_OR_OVERLONG = digits | overlong


@st.composite
def numbers(draw: st.DrawFn) -> str:
    text = draw(SIGNS) + draw(DIGITS_OR_OVERLONG)
    if rarely(draw, 30):
        text += draw(FRACTIONS)
    return NUMBER_MARK + text


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
    | numbers()
    | st.sampled_from([*AGENTS, *GROUPS, "02072068888", "01256636451", "Paused", "Started"])
    | st.sampled_from(["TwoParty", "oneparty", "Wrong Number", " ", "", "https://crm.example/1"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=2),
    max_leaves=5,
)
FIELD_NAMES = (
    "agentId",
    "AGENTID",
    "agentid",
    "groups",
    "presentedCLID",
    "telephoneNumber",
    "consent",
    "reference",
    "recordingStatus",
    "RecordingStatus",
    "dispositionCode",
    "DISPOSITIONcode",
    "application",
)
field_names = st.sampled_from(FIELD_NAMES) | texts
sides = st.dictionaries(field_names, values, min_size=1, max_size=3)
TOP_NAMES = (
    "from",
    "to",
    "regarding",
    "application",
    "recordingStatus",
    "dispositionCode",
    "agentId",
    "FROM",
)
objects = st.dictionaries(
    st.sampled_from(TOP_NAMES) | texts, sides | values, min_size=1, max_size=4
)
# Per endpoint: valid bodies, and the (place, field) pairs its rules read, where a mutation
# lands most of the time (place None is the top level).
PLACE_FIELDS = ("agentId", "groups", "presentedCLID", "telephoneNumber", "consent")
Fields = tuple[tuple[str | None, str], ...]
ENDPOINT_BODIES: dict[str, tuple[tuple[dict[str, Any], ...], Fields]] = {
    "place": (
        (
            {"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}},
            {"from": {"groups": ["030"]}, "to": {"telephoneNumber": "02072068888"}},
            {"from": {"agentId": "4567"}, "to": {"agentId": "5464"}},
        ),
        (
            *((side, name) for side in ("from", "to") for name in PLACE_FIELDS),
            ("from", "AGENTID"),
            ("regarding", "reference"),
            (None, "application"),
            (None, "from"),
            (None, "to"),
            (None, "regarding"),
        ),
    ),
    "recording": (
        ({"recordingStatus": "paused"}, {"recordingStatus": "Started"}),
        ((None, "recordingStatus"), (None, "RecordingStatus"), (None, "RECORDINGSTATUS")),
    ),
    "disposition": (
        ({"dispositionCode": "Wrong Number", "agentId": "1234"}, {"dispositionCode": "Sale"}),
        ((None, "dispositionCode"), (None, "DISPOSITIONcode"), (None, "agentId")),
    ),
}


def encode_json(value: Any, ascii_only: bool) -> bytes:
    """JSON text for ``value``, with marked strings as bare numbers. ASCII-only text carries a
    lone surrogate as a ``\\ud800`` escape; otherwise it goes out as the bytes UTF-8 would
    give it if it could (``surrogatepass``): invalid UTF-8."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    mark = json.dumps(NUMBER_MARK, ensure_ascii=ascii_only)[1:-1]
    text = re.sub('"' + re.escape(mark) + r'([-0-9.eE+]*)"', r"\1", text)
    return text.encode("utf-8", "surrogatepass")


BODY_KINDS = st.sampled_from(["mutated"] * 5 + ["object", "object", "value", "raw", "cut"])
RAW_BODIES = st.binary(max_size=80)
BOOLEANS = st.booleans()
TOO_LARGE = b'{"application": "' + b"a" * (100 * 1024) + b'"}'
# Where a mutation lands: a top-level field, or one inside from/to/regarding.
PLACES = st.sampled_from([None, "from", "to", "regarding"])
MUTATION_COUNT = st.integers(1, 3)
# Hostile values that are seldom empty: Hypothesis favours the simplest choice of each draw,
# so without this most mutations would write "", null or [].
hostile_texts = st.text(characters, min_size=1, max_size=24)
# A text around at least one of the characters that break things.
odd_texts = st.tuples(texts, st.sampled_from(ODD_CHARACTERS), texts).map("".join)
hostile_values = odd_texts | hostile_texts | odd_texts | numbers() | values


def mutated(endpoint: str) -> st.SearchStrategy[dict[str, Any]]:
    """A valid body of the endpoint with one to three fields made hostile: most such requests
    get past the generic checks to the endpoint's own rules and to storage."""
    bodies, fields = ENDPOINT_BODIES.get(endpoint, ENDPOINT_BODIES["place"])
    valid, relevant = st.sampled_from(bodies), st.sampled_from(fields)

    @st.composite
    def drawn(draw: st.DrawFn) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(json.dumps(draw(valid)))
        for _ in range(draw(MUTATION_COUNT)):
            place, name = draw(PLACES), draw(field_names)
            if not rarely(draw, 20):
                place, name = draw(relevant)
            target = body
            if place is not None:
                target = body.setdefault(place, {})
                if not isinstance(target, dict):
                    target = body[place] = {}
            target[name] = draw(hostile_values)
        return body

    return drawn()


def json_bodies(endpoint: str) -> st.SearchStrategy[bytes]:
    hostile = mutated(endpoint)

    @st.composite
    def drawn(draw: st.DrawFn) -> bytes:
        kind = draw(BODY_KINDS)
        if kind == "raw":
            return draw(RAW_BODIES)
        if kind == "mutated":
            body: Any = draw(hostile)
        elif kind == "value":
            body = draw(values)
        else:
            body = draw(objects)
        encoded = encode_json(body, ascii_only=draw(BOOLEANS))
        if kind == "cut":
            encoded = encoded[: draw(st.integers(0, max(0, len(encoded) - 1)))]
        if rarely(draw, 1):
            encoded = TOO_LARGE
        if rarely(draw, 5):
            encoded = b"\xef\xbb\xbf" + encoded
        return encoded

    return drawn()


def segment(text: str) -> str:
    """One path segment as a client would escape it; surrogates as their would-be bytes."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@dataclass
class Known:
    """What the server holds, for paths that reach real resources."""

    bearer: str
    api_token: str
    call_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Spec:
    endpoint: str
    method: str
    path: list[str]  # segments; "{call}" is a real call id, filled in when sent
    headers: list[tuple[str, bytes]]
    body: bytes
    auth: str  # "bearer", "none", "garbage", "basic", "forged"


header_texts = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
).map(str.strip)
versions = st.sampled_from(["6", "1", '"3"', "0", "7", "06", "6.0", "", "-1"]) | digits | overlong
PARAMETER_NAMES = st.sampled_from(["version", "VERSION", "charset", "x"])


def media(base: str) -> st.SearchStrategy[str]:
    """Mostly the right media type, so that most requests reach the endpoint's own checks."""
    others = st.sampled_from(["text/json", "application/JSON", "text/plain", "", base.upper()])
    others = others | header_texts

    @st.composite
    def drawn(draw: st.DrawFn) -> str:
        kind = draw(others) if rarely(draw, 30) else base
        if rarely(draw, 30):
            kind += f"; {draw(PARAMETER_NAMES)}={draw(versions)}"
        return kind

    return drawn()


JSON_MEDIA = media("application/json")
FORM_MEDIA = media("application/x-www-form-urlencoded")
ENDPOINTS = {
    "token": ("POST", ["v0", "oauth2", "token"]),
    "place": ("POST", ["v0", "{account}", "calls", ""]),
    "get": ("GET", ["v0", "{account}", "calls", "{call}"]),
    "recording": ("POST", ["v0", "{account}", "calls", "{call}"]),
    "disposition": ("POST", ["v0", "{account}", "calls", "{call}", "dispositionCode"]),
    "agent": ("GET", ["v0", "{account}", "agents", "{agent}"]),
}
TOKEN_FIELDS = {
    "grant_type": st.sampled_from(["client_credentials", "password", ""]) | texts,
    "client_id": st.sampled_from([KEY, KEY.upper(), KEY + "\x00"]) | texts,
    "client_secret": st.sampled_from(["{api_token}", "x"]) | texts,
}
CASED = {
    literal: st.sampled_from([literal, literal.upper(), literal.capitalize()])
    for literal in ("v0", "oauth2", "token", "calls", "dispositionCode", "agents")
}
ENDPOINT_NAMES = st.sampled_from(sorted(ENDPOINTS))
OTHER_METHODS = st.sampled_from(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "GET", "POST"])
OTHER_ACCOUNTS = st.sampled_from(["A1B2C3D4E5", "other", ""]) | texts
AGENT_SEGMENTS = st.sampled_from([*AGENTS, "1" * 12]) | digits | texts
OTHER_CALLS = st.uuids().map(str) | texts
TOKEN_AUTH = st.sampled_from(["none", "none", "basic", "garbage"])
OTHER_AUTH = st.sampled_from(["none", "garbage", "forged"])
BASIC_USERS = st.sampled_from([KEY, KEY + "\x00"]) | texts
BASIC_SECRETS = st.sampled_from(["{api_token}", ""]) | texts


@st.composite
def token_bodies(draw: st.DrawFn) -> bytes:
    if rarely(draw, 10):
        return draw(RAW_BODIES)
    pairs = [
        f"{segment(name)}={segment(draw(strategy))}"
        for name, strategy in TOKEN_FIELDS.items()
        if not rarely(draw, 20)
    ]
    return "&".join(pairs).encode()


TOKEN_BODIES = token_bodies()
JSON_BODIES = {endpoint: json_bodies(endpoint) for endpoint in ENDPOINTS}


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    endpoint = draw(ENDPOINT_NAMES)
    method, template = ENDPOINTS[endpoint]
    if rarely(draw, 10):
        method = draw(OTHER_METHODS)
    path = []
    for part in template:
        if part == "{account}":
            part = segment(draw(OTHER_ACCOUNTS)) if rarely(draw, 15) else KEY
        elif part == "{agent}":
            part = segment(draw(AGENT_SEGMENTS))
        elif part == "{call}":
            part = segment(draw(OTHER_CALLS)) if rarely(draw, 30) else part
        elif part:
            part = draw(CASED[part])
        path.append(part)
    if rarely(draw, 5):
        path.append(segment(draw(texts)))  # no such route
    if endpoint == "token":
        content_type = draw(FORM_MEDIA)
        body = draw(TOKEN_BODIES)
        auth = draw(TOKEN_AUTH)
    else:
        content_type = draw(JSON_MEDIA)
        body = draw(JSON_BODIES[endpoint]) if method in ("POST", "PUT", "PATCH") else b""
        auth = draw(OTHER_AUTH) if rarely(draw, 15) else "bearer"
    headers: list[tuple[str, bytes]] = []
    if not rarely(draw, 10):
        headers.append(("content-type", content_type.encode("latin-1")))
    if draw(BOOLEANS):
        headers.append(("accept", draw(JSON_MEDIA).encode("latin-1")))
    if auth == "garbage":
        headers.append(("authorization", draw(header_texts).encode("latin-1")))
    elif auth == "basic":
        raw = f"{draw(BASIC_USERS)}:{draw(BASIC_SECRETS)}".encode("utf-8", "surrogatepass")
        headers.append(("authorization", b"Basic " + base64.b64encode(raw)))
    if rarely(draw, 5):
        headers.append(("host", draw(header_texts).encode("latin-1") or b"x"))
    return Spec(endpoint, method, path, headers, body, auth)


SEED_VARIABLE = "SWITCHBOARD_TEST_FUZZ_SEED"


def base_seed() -> int:
    """A new seed every run (printed with the figures); set the variable to replay one."""
    chosen = os.environ.get(SEED_VARIABLE)
    return int(chosen) if chosen else random.SystemRandom().randrange(2**32)


DRAWN: dict[int, list[Spec]] = {}  # by first seed: the same requests go to every database


def draw_specs(count: int, first_seed: int, give_up: float, batch: int = 500) -> list[Spec]:
    """Up to ``count`` requests, or as many as are drawn by ``give_up``; drawn in runs of
    ``batch``, each with its own seed: one long run slows down as Hypothesis tracks what it
    drew, and runs without a seed of their own repeat each other within a process."""
    drawn = DRAWN.setdefault(first_seed, [])
    while len(drawn) < count and time.monotonic() < give_up:
        # Generation only: every example is a request to send; failures are reported with
        # the request itself (shrinking would need the server inside Hypothesis's loop).
        @seed(first_seed + len(drawn))
        @settings(
            max_examples=batch,
            phases=[Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(spec=specs())
        def collect(spec: Spec) -> None:
            drawn.append(spec)

        collect()
    return drawn[:count]


# --------------------------------------------------------------------------- sending


@dataclass
class Answer:
    status: int
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection spoken with h11: the request goes out exactly as
    drawn (path bytes included), at a fraction of a full client's cost per request, so the
    time goes to the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.http = h11.Connection(h11.CLIENT)

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None

    async def request(
        self, method: str, target: bytes, headers: list[tuple[str, bytes]], body: bytes
    ) -> Answer:
        if self.streams is None or self.http.our_state is not h11.IDLE:
            await self.close()
            self.streams = await asyncio.open_connection(self.host, self.port)
            self.http = h11.Connection(h11.CLIENT)
        reader, writer = self.streams
        if not any(name == "host" for name, _ in headers):
            headers = [("host", f"{self.host}:{self.port}".encode()), *headers]
        raw = [(name.encode(), value) for name, value in headers]
        raw.append((b"content-length", str(len(body)).encode()))
        out = self.http.send(h11.Request(method=method, target=target, headers=raw))
        out += self.http.send(h11.Data(data=body)) + self.http.send(h11.EndOfMessage())
        writer.write(out)
        status, chunks = 0, []
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                self.http.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection without an answer")
        if self.http.our_state is h11.DONE and self.http.their_state is h11.DONE:
            self.http.start_next_cycle()
        return Answer(status, b"".join(chunks))


@dataclass
class Outcome:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def _problem(spec: Spec, answer: Answer) -> str | None:
    if answer.status not in DOCUMENTED:
        return f"status {answer.status}"
    if spec.method in ("HEAD", "OPTIONS") or answer.status in SUCCESS:
        return None
    try:
        body = json.loads(answer.body)
    except ValueError:
        return "a body that is not JSON"
    on_token_route = "/".join(spec.path).lower().rstrip("/") == "v0/oauth2/token"
    if on_token_route and answer.status != 405:
        ok = isinstance(body, dict) and set(body) == {"error"} and body["error"] in OAUTH_ERRORS
    else:
        ok = isinstance(body, dict) and set(body) == {"message"}
        ok = ok and documented_message(body["message"])
    return None if ok else "an undocumented body"


async def _send(connection: Connection, spec: Spec, known: Known) -> tuple[bytes, Answer]:
    call = known.call_ids[len(spec.body) % len(known.call_ids)]
    target = ("/" + "/".join(part.replace("{call}", call) for part in spec.path)).encode()
    token = known.api_token.encode()
    headers = [(k, v.replace(b"{api_token}", token)) for k, v in spec.headers]
    if spec.auth == "bearer":
        headers.append(("authorization", f"Bearer {known.bearer}".encode()))
    elif spec.auth == "forged":
        headers.append(("authorization", b"Bearer " + known.bearer.encode()[:-2] + b"xx"))
    body = spec.body.replace(b"{api_token}", token)
    return target, await connection.request(spec.method, target, headers, body)


async def fuzz(base: str, known: Known, drawn: list[Spec], give_up: float) -> Outcome:
    outcome = Outcome()
    queue = iter(drawn)
    host, port = base.removeprefix("http://").rsplit(":", 1)

    async def worker() -> None:
        connection = Connection(host, int(port))
        try:
            for spec in queue:
                if time.monotonic() >= give_up:
                    return
                target, answer = await asyncio.wait_for(_send(connection, spec, known), 30)
                outcome.sent += 1
                outcome.statuses[answer.status] += 1
                if answer.status == 201 and spec.endpoint == "place":
                    known.call_ids.append(json.loads(answer.body)["id"])
                problem = _problem(spec, answer)
                if problem is not None and len(outcome.problems) < 20:
                    outcome.problems.append(
                        f"{problem}: {spec.method} {target!r} {spec.headers!r} "
                        f"{spec.body[:200]!r} -> {answer.status} {answer.body[:200]!r}"
                    )
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return outcome


def first_call(base: str, bearer: str) -> str:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {bearer}"}) as client:
        response = client.post(
            f"/v0/{KEY}/calls/",
            json={"from": {"agentId": "5464"}, "to": {"telephoneNumber": "02072068888"}},
        )
        assert response.status_code == 201, response.text
        call_id: str = response.json()["id"]
        return call_id


FIRST_SEED = base_seed()  # one per test session: both databases get the same requests


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fuzz.db'}"
        return
    created = PostgresDatabase(postgres_url())
    url = asyncio.run(created.create())
    try:
        yield url
    finally:
        asyncio.run(created.drop())


@pytest.mark.slow
def test_ten_thousand_generated_requests_get_only_documented_answers(database: str) -> None:
    started = time.monotonic()
    first_seed = FIRST_SEED
    drawn = draw_specs(REQUESTS, first_seed, started + DRAW_SHARE * TIME_LIMIT_S)
    drawn_in = time.monotonic() - started
    server = Server(
        database,
        "--demo",
        env={
            "SWITCHBOARD_SIMULATOR_TALK_SECONDS": "1",
            "SWITCHBOARD_SIMULATOR_ANSWER_MS": "50",
            # The limiter runs on every request, but far above the fuzz's pace: the default
            # (100/s) would answer most of the 10,000 with 429 and leave the surface unvisited.
            "SWITCHBOARD_RATE_LIMIT_PER_SECOND": "100000",
            "SWITCHBOARD_RATE_LIMIT_BURST": "200000",
        },
    )
    try:
        bearer = server.lines["Bearer token"]
        known = Known(bearer, server.lines["API token"], [first_call(server.base, bearer)])
        began = time.monotonic()
        outcome = asyncio.run(fuzz(server.base, known, drawn, started + TIME_LIMIT_S))
        took = time.monotonic() - began
    finally:
        server.stop()
    log = server.stderr
    fives = sum(n for status, n in outcome.statuses.items() if status >= 500)
    distinct = len({repr(spec) for spec in drawn[: outcome.sent]})
    print(
        f"\nfuzz on {database.split(':')[0]} ({SEED_VARIABLE}={first_seed}): "
        f"{outcome.sent} requests ({distinct} distinct) in {took:.1f} s, drawn in "
        f"{drawn_in:.1f} s; 5xx: {fives}; statuses: {dict(sorted(outcome.statuses.items()))}"
    )
    assert outcome.problems == [], f"{SEED_VARIABLE}={first_seed}"
    assert fives == 0
    assert outcome.sent >= MIN_SENT
    assert "ERROR" not in log and "Traceback" not in log, log[-3000:]
    assert outcome.statuses[201] > 0 and outcome.statuses[400] > 0  # both kinds were reached


# --------------------------------------------------------------------------- connections


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'edge.db'}"


def raw_exchange(base: str, request: bytes, *, then_close: bool) -> bytes:
    """Send bytes as they are; read the answer unless the client is to leave at once."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        if then_close:
            return b""
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_client_that_leaves_mid_body_places_no_call_and_logs_no_error(sqlite_db: str) -> None:
    server = Server(sqlite_db, "--demo")  # the DEBUG line itself: tests/api
    try:
        bearer = server.lines["Bearer token"]
        body = b'{"from": {"agentId": "1234"}, "to": {"telephoneNumber": "02072068888"}}'
        head = (
            f"POST /v0/{KEY}/calls/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bearer}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body) + 50}\r\n\r\n"
        ).encode()
        raw_exchange(server.base, head + body, then_close=True)
        time.sleep(0.5)
        with httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {bearer}"}) as c:
            detail = c.get(f"/v0/{KEY}/agents/1234").json()
    finally:
        server.stop()
    assert detail["currentCallGuid"] is None  # the part that arrived was valid JSON
    assert "ERROR" not in server.stderr and "Traceback" not in server.stderr


def test_a_huge_content_length_is_refused_before_the_body_is_sent(sqlite_db: str) -> None:
    server = Server(sqlite_db, "--demo")
    try:
        bearer = server.lines["Bearer token"]
        # Up to 64 bits: a longer Content-Length is malformed HTTP, refused by the server
        # itself (400, "Invalid HTTP request received.") before the app sees it.
        for length in (str(100 * 1024 + 1), str(10**18)):
            head = (
                f"POST /v0/{KEY}/calls/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bearer}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
            ).encode()
            answer = raw_exchange(server.base, head, then_close=False)
            assert answer.startswith(b"HTTP/1.1 413 "), answer
    finally:
        server.stop()
    assert "ERROR" not in server.stderr and "Traceback" not in server.stderr

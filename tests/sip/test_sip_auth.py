"""Digest answers to a trunk's challenges."""

from __future__ import annotations

import pytest

from switchboard.adapters.telephony.sip.auth import (
    Challenge,
    Credentials,
    DigestClient,
    digest_response,
    parse_auth_params,
)
from switchboard.adapters.telephony.sip.message import SipParseError


def test_rfc_2617_example_response() -> None:
    """RFC 2617 section 3.5: Mufasa / "Circle Of Life" fetching /dir/index.html."""
    assert (
        digest_response(
            username="Mufasa",
            password="Circle Of Life",
            realm="testrealm@host.com",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            method="GET",
            uri="/dir/index.html",
            qop="auth",
            nc="00000001",
            cnonce="0a4f113b",
        )
        == "6629fae49393a05397450978507c4ef1"
    )


def test_challenge_parsing_honours_quotes_and_lists() -> None:
    challenge = Challenge.parse(
        'Digest realm="trunk, inc", nonce="abc\\"d", qop="auth,auth-int", '
        'algorithm=MD5, opaque="xyz", stale=TRUE'
    )
    assert challenge == Challenge(
        realm="trunk, inc",
        nonce='abc"d',
        qop=("auth", "auth-int"),
        opaque="xyz",
        algorithm="MD5",
        stale=True,
    )


@pytest.mark.parametrize("value", ["Basic realm=x", 'Digest realm="x"', 'Digest nonce="x'])
def test_unusable_challenges(value: str) -> None:
    with pytest.raises(SipParseError):
        Challenge.parse(value)


def test_authorization_with_qop_verifies_and_counts_nonce_uses() -> None:
    client = DigestClient(Credentials("acme", "s3cret"))
    challenge = Challenge(realm="trunk.test", nonce="n1", qop=("auth",), opaque="op")

    first = parse_auth_params(
        client.authorization(challenge, "INVITE", "sip:+44@trunk").removeprefix("Digest ")
    )
    second = parse_auth_params(
        client.authorization(challenge, "BYE", "sip:far@trunk").removeprefix("Digest ")
    )

    assert first["nc"] == "00000001" and second["nc"] == "00000002"
    assert first["opaque"] == "op" and first["qop"] == "auth"
    assert first["response"] == digest_response(
        username="acme",
        password="s3cret",
        realm="trunk.test",
        nonce="n1",
        method="INVITE",
        uri="sip:+44@trunk",
        qop="auth",
        nc="00000001",
        cnonce=first["cnonce"],
    )


def test_authorization_without_qop_uses_the_rfc_2069_form() -> None:
    client = DigestClient(Credentials("acme", "s3cret"))
    fields = parse_auth_params(
        client.authorization(Challenge(realm="r", nonce="n"), "INVITE", "sip:x@y").removeprefix(
            "Digest "
        )
    )
    assert "qop" not in fields and "cnonce" not in fields
    assert fields["response"] == digest_response(
        username="acme", password="s3cret", realm="r", nonce="n", method="INVITE", uri="sip:x@y"
    )


def test_only_the_configured_realm_and_known_algorithms_are_answered() -> None:
    client = DigestClient(Credentials("acme", "s3cret", realm="trunk.test"))
    assert client.can_answer(Challenge(realm="trunk.test", nonce="n"))
    assert client.can_answer(Challenge(realm="trunk.test", nonce="n", algorithm="sha-256"))
    assert not client.can_answer(Challenge(realm="elsewhere", nonce="n"))
    assert not client.can_answer(Challenge(realm="trunk.test", nonce="n", algorithm="MD5-sess"))


def test_rfc_7616_sha_256_example_response() -> None:
    """RFC 7616 section 3.9.1, the SHA-256 form RFC 8760 brings to SIP."""
    assert (
        digest_response(
            username="Mufasa",
            password="Circle of Life",
            realm="http-auth@example.org",
            nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            method="GET",
            uri="/dir/index.html",
            qop="auth",
            nc="00000001",
            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            algorithm="SHA-256",
        )
        == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )


@pytest.mark.parametrize("order", [("MD5", "SHA-256"), ("SHA-256", "MD5")])
def test_the_strongest_offered_algorithm_is_answered(order: tuple[str, str]) -> None:
    client = DigestClient(Credentials("acme", "s3cret"))
    values = [f'Digest realm="t", nonce="n{each}", algorithm={each}' for each in order]
    values.insert(1, 'Digest realm="t", nonce="x", algorithm=SHA-512-256')  # not known: skipped
    values.append("Basic realm=t")  # not digest: skipped
    chosen = client.strongest(values)
    assert chosen is not None and chosen.algorithm == "SHA-256"
    assert "algorithm=SHA-256" in client.authorization(chosen, "INVITE", "sip:x@t")


def test_md5_alone_is_still_answered() -> None:
    client = DigestClient(Credentials("acme", "s3cret"))
    chosen = client.strongest(['Digest realm="t", nonce="n"'])
    assert chosen is not None and chosen.algorithm == "MD5"

"""The open-file budget: what is kept back, how the rest is split, and caps that do not fit."""

from __future__ import annotations

import resource

import pytest

from switchboard.serving.limits import MIN_RESERVE, budget, raise_file_limit


def test_an_eighth_is_kept_back_and_the_rest_split_three_to_one() -> None:
    split = budget(1024, sip_tcp=True)
    assert (split.reserve, split.http, split.sip_tcp) == (128, 672, 224)
    assert split.reserve + split.http + split.sip_tcp == 1024


def test_at_least_the_minimum_reserve_is_kept_on_a_small_limit() -> None:
    split = budget(256, sip_tcp=True)
    assert split.reserve == MIN_RESERVE
    assert split.http + split.sip_tcp == 256 - MIN_RESERVE


def test_without_sip_over_tcp_http_has_the_whole_rest() -> None:
    split = budget(65536, sip_tcp=False)
    assert (split.http, split.sip_tcp, split.reserve) == (65536 - 8192, 0, 8192)


def test_an_explicit_cap_replaces_its_share() -> None:
    split = budget(1024, sip_tcp=True, http_max=100, sip_max=50)
    assert (split.http, split.sip_tcp, split.reserve) == (100, 50, 874)


def test_caps_that_leave_no_room_for_storage_and_logs_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="SWITCHBOARD_HTTP_MAX_CONNECTIONS"):
        budget(1024, sip_tcp=True, http_max=1000)
    with pytest.raises(ValueError, match="SWITCHBOARD_SIP_MAX_INBOUND_TCP"):
        budget(1024, sip_tcp=True, sip_max=1000)


def test_too_low_a_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        budget(64, sip_tcp=True)


def test_the_soft_limit_is_raised_as_far_as_the_hard_limit_allows() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 600:
        pytest.skip("the hard limit is too low to test with")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
        wanted = 600
        assert raise_file_limit(wanted) == wanted
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (wanted, hard)
        # Never lowered, never past the hard limit.
        assert raise_file_limit(550) == wanted
        ceiling = hard if hard != resource.RLIM_INFINITY else 1 << 20
        assert raise_file_limit(ceiling + 1) == ceiling
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

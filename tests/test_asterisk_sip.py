"""chan_sip `sip show peers` on every captured fixture: totals, then individual peers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbxwatch.asterisk import PEERS_CAP, parse_pjsip_contacts, parse_pjsip_endpoints, parse_sip_peers

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "asterisk"


def fixture(name: str) -> str:
    path = FIXTURES / name
    assert path.is_file(), f"fixture {path} is missing"
    return path.read_text(encoding="utf-8")


def peer(stats: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in stats["peers"] if p["name"] == name)


TOTALS = ("total", "ok", "lagged", "unreachable", "unknown", "unmonitored")
SUMMARY = ("monitored_online", "monitored_offline", "unmonitored_online", "unmonitored_offline")


@pytest.mark.parametrize(
    ("name", "totals", "summary"),
    [
        ("sip_show_peers_ast11_mixed.txt", (8, 4, 0, 1, 3, 0), (4, 4, 0, 0)),
        ("sip_show_peers_ast16_unknown_unspecified.txt", (4, 0, 0, 0, 4, 0), (0, 4, 0, 0)),
        ("sip_show_peers_ast13_acl_unknown_trimmed.txt", (2, 0, 0, 0, 2, 0), (0, 2, 0, 0)),
        ("sip_show_peers_ast20_all_states.txt", (8, 2, 1, 1, 1, 3), (3, 2, 2, 1)),
        ("sip_show_peers_ast20_like_empty.txt", (0, 0, 0, 0, 0, 0), (0, 0, 0, 0)),
        ("sip_show_peers_ast1.8_partial_truncated_names.txt", (10, 9, 0, 0, 1, 0), (None,) * 4),
    ],
)
def test_every_sip_fixture_gives_the_expected_totals(name: str, totals: tuple[int, ...], summary: tuple) -> None:
    stats = parse_sip_peers(fixture(name))
    assert tuple(stats[key] for key in TOTALS) == totals
    assert tuple(stats[key] for key in SUMMARY) == summary
    assert stats["source"] == "sip"
    assert stats["unparsed"] == []
    assert stats["parse_mismatch"] is False
    assert stats["stack_absent"] is False
    assert len(stats["peers"]) == stats["total"]


def test_name_and_username_are_split_and_unspecified_host_is_null() -> None:
    stats = parse_sip_peers(fixture("sip_show_peers_ast11_mixed.txt"))
    assert peer(stats, "201") == {
        "name": "201",
        "username": "201",
        "host": "192.168.1.4",
        "port": 5060,
        "status": "ok",
        "latency_ms": 151,
    }
    assert peer(stats, "203") == {
        "name": "203",
        "username": "203",
        "host": None,
        "port": None,
        "status": "unknown",
        "latency_ms": None,
    }
    assert peer(stats, "Exchange")["username"] is None
    assert peer(stats, "Lync_Trunk") == {
        "name": "Lync_Trunk",
        "username": None,
        "host": "192.168.1.6",
        "port": 5068,
        "status": "unreachable",
        "latency_ms": None,
    }


def test_names_truncated_at_25_characters_are_kept_as_printed() -> None:
    stats = parse_sip_peers(fixture("sip_show_peers_ast1.8_partial_truncated_names.txt"))
    assert peer(stats, "christianarcher_2")["username"] == "christi"
    assert peer(stats, "0004132a766bport2") == {
        "name": "0004132a766bport2",
        "username": "0004132",
        "host": None,
        "port": None,
        "status": "unknown",
        "latency_ms": None,
    }
    long_name = peer(parse_sip_peers(fixture("sip_show_peers_ast20_all_states.txt")), "provider-with-a-very-long")
    assert long_name["username"] is None
    assert long_name["status"] == "ok"


def test_ipv6_host_lagged_latency_and_a_description_one_space_after_the_status() -> None:
    stats = parse_sip_peers(fixture("sip_show_peers_ast20_all_states.txt"))
    assert peer(stats, "v6-peer") == {
        "name": "v6-peer",
        "username": None,
        "host": "::1",
        "port": 25060,
        "status": "unmonitored",
        "latency_ms": None,
    }
    assert peer(stats, "slow-carrier") == {
        "name": "slow-carrier",
        "username": None,
        "host": "127.0.0.1",
        "port": 25093,
        "status": "lagged",
        "latency_ms": 70,
    }
    assert peer(stats, "202")["status"] == "unmonitored"  # `Unmonitored Reception desk`
    assert peer(stats, "pjsip-side")["latency_ms"] == 1  # `OK (1 ms)   loopback to PJSIP stack`


def test_auto_no_forcerport_does_not_shift_the_columns() -> None:
    stats = parse_sip_peers(fixture("sip_show_peers_ast16_unknown_unspecified.txt"))
    assert [(p["name"], p["host"], p["port"], p["status"]) for p in stats["peers"]] == [
        (name, None, None, "unknown") for name in ("101", "102", "103", "104")
    ]


def test_an_overflowing_status_followed_by_a_description_is_read_at_its_offset() -> None:
    header = fixture("sip_show_peers_ast20_all_states.txt").splitlines()[0]
    row = (
        "far-away                  10.0.0.9                                    Auto (No)  No             "
        "5060     LAGGED (2500 ms) Remote office                    "
    )
    summary = "1 sip peers [Monitored: 1 online, 0 offline Unmonitored: 0 online, 0 offline]"
    stats = parse_sip_peers(f"{header}\n{row}\n{summary}")
    assert stats["peers"] == [
        {"name": "far-away", "username": None, "host": "10.0.0.9", "port": 5060, "status": "lagged", "latency_ms": 2500}
    ]
    assert stats["parse_mismatch"] is False


def test_no_such_command_means_the_stack_is_absent_not_zero_peers() -> None:
    for name in ("error_no_such_command_sip_ast20.txt", "error_no_such_command_sip_ast17.txt"):
        stats = parse_sip_peers(fixture(name))
        assert stats["stack_absent"] is True
        assert stats["total"] == 0
        assert stats["unparsed"] == []


def test_rows_that_disagree_with_the_summary_line_are_flagged() -> None:
    lines = fixture("sip_show_peers_ast11_mixed.txt").splitlines()
    truncated = "\n".join(lines[:3] + lines[-1:])  # two rows kept, summary says 8
    stats = parse_sip_peers(truncated)
    assert stats["total"] == 2
    assert stats["parse_mismatch"] is True


def test_crlf_log_lines_and_garbage_rows() -> None:
    text = fixture("sip_show_peers_ast11_mixed.txt").replace("\n", "\r\n")
    text = "[Jul 26 01:13:55]     -- Remote UNIX connection\r\n" + text + "\r\nsomething odd\r\n"
    stats = parse_sip_peers(text)
    assert stats["total"] == 8
    assert stats["unparsed"] == ["something odd"]


def test_without_a_header_rows_are_still_found_by_their_status_token() -> None:
    rows = fixture("sip_show_peers_ast11_mixed.txt").splitlines()[1:3]
    stats = parse_sip_peers("\n".join(rows))
    assert [(p["name"], p["host"], p["port"], p["status"]) for p in stats["peers"]] == [
        ("192.168.1.1", "192.168.1.1", 5060, "ok"),
        ("201", "192.168.1.4", 5060, "ok"),
    ]


def test_the_stored_peer_list_is_capped_but_totals_stay_exact() -> None:
    header = fixture("sip_show_peers_ast20_all_states.txt").splitlines()[0]
    row = "p{:<24} 127.0.0.1                                   Auto (No)  No             5060     OK (3 ms)"
    stats = parse_sip_peers("\n".join([header, *(row.format(i) for i in range(PEERS_CAP + 20))]))
    assert stats["total"] == PEERS_CAP + 20
    assert stats["ok"] == PEERS_CAP + 20
    assert len(stats["peers"]) == PEERS_CAP


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_gives_counts_that_add_up_to_the_rows(text: str) -> None:
    for parse in (parse_sip_peers, parse_pjsip_endpoints, parse_pjsip_contacts):
        stats = parse(text)
        assert stats["total"] == len(stats["peers"]) or stats["total"] > PEERS_CAP
        assert_counts_add_up(stats, text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([*fixture("sip_show_peers_ast20_all_states.txt").splitlines(), "", " ", "x"])),
    st.text(max_size=30),
)
def test_shuffled_real_lines_give_counts_that_add_up_to_the_rows(lines: list[str], noise: str) -> None:
    text = "\n".join(lines) + noise
    for parse in (parse_sip_peers, parse_pjsip_endpoints, parse_pjsip_contacts):
        stats = parse(text)
        assert_counts_add_up(stats, text)


STATUSES = {"ok", "lagged", "unreachable", "unknown", "unmonitored"}


def assert_counts_add_up(stats: dict[str, Any], text: str) -> None:
    """Never more peers than lines, each status counted once, every status from the vocabulary."""
    assert stats["total"] <= len(text.splitlines())
    assert sum(stats[status] for status in STATUSES) == stats["total"]
    assert {p["status"] for p in stats["peers"]} <= STATUSES
    assert all(stats[status] >= 0 for status in STATUSES)

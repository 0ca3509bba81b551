"""PJSIP `pjsip show endpoints` / `pjsip show contacts` on every captured fixture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pbxwatch.asterisk import parse_pjsip_contacts, parse_pjsip_endpoints

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "asterisk"
TOTALS = ("total", "ok", "lagged", "unreachable", "unknown", "unmonitored")


def fixture(name: str) -> str:
    path = FIXTURES / name
    assert path.is_file(), f"fixture {path} is missing"
    return path.read_text(encoding="utf-8")


def peer(stats: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in stats["peers"] if p["name"] == name)


@pytest.mark.parametrize(
    ("name", "parse", "totals"),
    [
        ("pjsip_show_endpoints_ast20_in_use.txt", parse_pjsip_endpoints, (5, 1, 0, 3, 0, 1)),
        ("pjsip_show_endpoints_trunks_mixed.txt", parse_pjsip_endpoints, (11, 7, 0, 3, 0, 1)),
        ("pjsip_show_endpoints_ast20_no_objects.txt", parse_pjsip_endpoints, (0, 0, 0, 0, 0, 0)),
        ("pjsip_list_endpoints_ast17.txt", parse_pjsip_endpoints, (2, 0, 0, 0, 2, 0)),
        ("pjsip_show_contacts_ast20_lab.txt", parse_pjsip_contacts, (3, 1, 0, 1, 0, 1)),
        ("pjsip_show_contacts_ast20_avail.txt", parse_pjsip_contacts, (1, 1, 0, 0, 0, 0)),
        ("pjsip_show_contacts_nonqual_truncated_dupes.txt", parse_pjsip_contacts, (3, 0, 0, 0, 0, 3)),
    ],
)
def test_every_pjsip_fixture_gives_the_expected_totals(name: str, parse: Any, totals: tuple[int, ...]) -> None:
    stats = parse(fixture(name))
    assert tuple(stats[key] for key in TOTALS) == totals
    assert stats["source"] == "pjsip"
    assert stats["unparsed"] == []
    assert stats["parse_mismatch"] is False
    assert stats["stack_absent"] is False
    assert stats["monitored_online"] is None  # PJSIP prints no summary counters


def test_endpoint_status_follows_its_contacts_and_device_state() -> None:
    stats = parse_pjsip_endpoints(fixture("pjsip_show_endpoints_ast20_in_use.txt"))
    assert peer(stats, "chan-sip-side") == {
        "name": "chan-sip-side",
        "username": None,
        "host": "127.0.0.1",
        "port": 25080,
        "status": "ok",
        "latency_ms": 0.834,
    }
    assert peer(stats, "6001") == {  # `6001/6001` is name/CID; the username comes from InAuth
        "name": "6001",
        "username": "6001",
        "host": None,
        "port": None,
        "status": "unreachable",
        "latency_ms": None,
    }
    assert peer(stats, "dead-carrier")["status"] == "unreachable"
    assert peer(stats, "static-nonqual")["status"] == "unmonitored"


def test_trunks_keep_fractional_rtts_and_hosts_without_port() -> None:
    stats = parse_pjsip_endpoints(fixture("pjsip_show_endpoints_trunks_mixed.txt"))
    assert peer(stats, "belloceanic") == {
        "name": "belloceanic",
        "username": None,
        "host": "139.59.2.249",
        "port": None,
        "status": "ok",
        "latency_ms": 204.606,
    }
    assert peer(stats, "globalbeams-endpoint")["username"] == "4025"  # OutAuth
    assert peer(stats, "globalbeams-endpoint")["status"] == "unmonitored"
    assert peer(stats, "from-webRTC-119")["status"] == "unreachable"  # Unavailable, no AOR


def test_duplicate_contacts_are_counted_once_and_truncated_uris_still_give_a_host() -> None:
    stats = parse_pjsip_contacts(fixture("pjsip_show_contacts_nonqual_truncated_dupes.txt"))
    assert [(p["name"], p["host"], p["port"]) for p in stats["peers"]] == [
        ("6001", "192.168.234.127", 53117),
        ("6003", "192.168.234.158", 49989),
        ("6004", "192.168.104.11", 5060),
    ]


def test_decimal_comma_rtt_and_ipv6_contact() -> None:
    text = (
        "  Contact:  v6/sip:[2001:db8::5]:5062                     1234567890 Avail         0,474\n\nObjects found: 1\n"
    )
    stats = parse_pjsip_contacts(text)
    assert stats["peers"] == [
        {"name": "v6", "username": None, "host": "2001:db8::5", "port": 5062, "status": "ok", "latency_ms": 0.474}
    ]
    assert stats["parse_mismatch"] is False


def test_no_such_command_means_the_stack_is_absent() -> None:
    stats = parse_pjsip_endpoints(
        "No such command 'pjsip show endpoints' (type 'core show help pjsip show "
        "endpoints' for other possible commands)\n"
    )
    assert stats["stack_absent"] is True
    assert parse_pjsip_contacts(fixture("error_no_such_command_pjsip_ast16.txt"))["stack_absent"] is True


def test_objects_found_disagreeing_with_the_blocks_is_flagged() -> None:
    text = fixture("pjsip_show_endpoints_ast20_in_use.txt").replace("Objects found: 5", "Objects found: 7")
    assert parse_pjsip_endpoints(text)["parse_mismatch"] is True


def _endpoint_with(*contacts: str, state: str = "Not in use", name: str = "mixed-aor") -> dict[str, Any]:
    header = fixture("pjsip_show_endpoints_ast20_in_use.txt").split("\n\n")[0]
    block = [f" Endpoint:  {name:<51}  {state:<12}  0 of inf", f"        Aor:  {name:<51}  2"]
    block += [
        f"      Contact:  {name}/sip:{uri:<29} 0123456789 {status:<7} {rtt}"
        for uri, status, rtt in (c.split() for c in contacts)
    ]
    stats = parse_pjsip_endpoints("\n".join([header, "", *block, "", "Objects found: 1", ""]))
    assert stats["unparsed"] == []
    return peer(stats, name)


def test_one_unavail_contact_does_not_make_a_monitored_endpoint_unreachable() -> None:
    """Unreachable needs every contact Unavail: one phone off among several is not the endpoint down."""
    assert _endpoint_with("127.0.0.2:25999 Unavail nan", "127.0.0.3:5060 NonQual nan")["status"] == "unmonitored"
    assert _endpoint_with("127.0.0.2:25999 Unavail nan", "127.0.0.3:5060 Unknown nan")["status"] == "unknown"
    assert _endpoint_with("127.0.0.2:25999 Unavail nan", "127.0.0.3:5060 Unavail nan")["status"] == "unreachable"
    assert _endpoint_with("127.0.0.2:25999 Unavail nan", "127.0.0.3:5060 Avail 12.5") == {
        "name": "mixed-aor",
        "username": None,
        "host": "127.0.0.3",
        "port": 5060,
        "status": "ok",
        "latency_ms": 12.5,
    }


def test_an_endpoint_named_like_a_device_state_keeps_its_real_state() -> None:
    assert _endpoint_with("127.0.0.2:25999 NonQual nan", state="Unavailable", name="Busy") == {
        "name": "Busy",
        "username": None,
        "host": "127.0.0.2",
        "port": 25999,
        "status": "unreachable",
        "latency_ms": None,
    }


def test_a_row_that_does_not_fit_the_printf_offsets_is_read_by_its_blanks() -> None:
    """A wider name column than the printf width: name and state found between double blanks."""
    text = "\n".join(
        [
            f" Endpoint:  {'6001/6001':<60}  {'Unavailable':<12}  0 of inf",
            f" Endpoint:  {'7001':<60}  {'Not in use':<12}  0 of 2",
            "",
            "Objects found: 2",
        ]
    )
    stats = parse_pjsip_endpoints(text)
    assert [(p["name"], p["status"]) for p in stats["peers"]] == [("6001", "unreachable"), ("7001", "unknown")]
    assert (stats["unparsed"], stats["parse_mismatch"]) == ([], False)


def test_endpoint_rows_and_stray_lines_that_cannot_be_read_are_kept_as_unparsed() -> None:
    broken = " Endpoint:  nothing-fits-here"
    stray = "        Aor:  orphan                                                 1"
    no_channels = f" Endpoint:  {'x':<51}  {'Not in use':<12}  garbage"
    odd_state = f" Endpoint:  {'y':<51}  {'Weird':<12}  0 of inf"
    stats = parse_pjsip_endpoints("\n".join([stray, broken, no_channels, odd_state, "", "Objects found: 1"]))
    assert (stats["total"], stats["unparsed"], stats["parse_mismatch"]) == (
        0,
        [stray, broken, no_channels, odd_state],
        True,
    )


def test_the_fastest_available_contact_gives_host_and_latency() -> None:
    assert _endpoint_with("127.0.0.4:5070 Avail 20.0", "127.0.0.3:5060 Avail 12.5") == {
        "name": "mixed-aor",
        "username": None,
        "host": "127.0.0.3",
        "port": 5060,
        "status": "ok",
        "latency_ms": 12.5,
    }
    assert _endpoint_with("127.0.0.4:1 Avail nan") == {
        "name": "mixed-aor",
        "username": None,
        "host": "127.0.0.4",
        "port": 1,
        "status": "ok",
        "latency_ms": None,
    }
    assert _endpoint_with("127.0.0.4:0 Unavail nan")["port"] is None


def test_contacts_garbage_lines_are_unparsed_and_do_not_stop_the_table() -> None:
    row = "  Contact:  {aor}/sip:192.168.202.22:5060             3fc5bbd1b6 {status}         0.544"
    text = "\n".join(
        [row.format(aor="a", status="Avail"), "garbage", row.format(aor="b", status="Unavail"), "", "Objects found: 3"]
    )
    stats = parse_pjsip_contacts(text)
    assert [(p["name"], p["status"]) for p in stats["peers"]] == [("a", "ok"), ("b", "unreachable")]
    assert (stats["unparsed"], stats["parse_mismatch"]) == (["garbage"], True)
    agreed = parse_pjsip_contacts("\n".join([row.format(aor="a", status="NonQual"), "", "Objects found: 1"]))
    assert (agreed["parse_mismatch"], agreed["peers"][0]["status"]) == (False, "unmonitored")

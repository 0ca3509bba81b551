"""Outlets per UIID, after the UIID protocol of the official docs (``UIIDProtocol``).

A multi-channel relay is switched with ``params.switches``, one entry per outlet. The protocol gives each
multi-channel UIID an array of outlets 0-3, even when fewer are wired (a UIID 2 dual relay takes four
entries; users of the official SDK get 4002 until all four are sent). What a device happened to report
says nothing reliable about that count, so the layout comes from the UIID, and only an unknown UIID falls
back to what was reported (never fewer than the protocol's four).
"""

from __future__ import annotations

from dataclasses import dataclass

#: the ``switches`` array of the multi-channel UIIDs holds outlets 0-3
PROTOCOL_OUTLETS = 4

#: UIID -> channels actually wired, for the multi-channel UIIDs (plugs, wall switches, DualR3, Mini/Basic
#: "multi-channel versions" that use ``switches`` with one channel)
WIRED_CHANNELS: dict[int, int] = {
    2: 2,
    3: 3,
    4: 4,  # plugs / power strips
    7: 2,
    8: 3,
    9: 4,  # wall switches
    29: 2,
    30: 3,
    31: 4,
    77: 1,
    78: 1,
    81: 1,
    82: 2,
    83: 3,
    84: 4,
    107: 1,
    112: 1,
    113: 2,
    114: 3,
    126: 2,
    138: 1,
    139: 2,
    140: 3,
    141: 4,
    160: 1,
    161: 2,
    162: 3,
    209: 1,
    210: 2,
    211: 3,
    212: 4,
}

#: UIIDs that switch with a single ``params.switch``
SINGLE_CHANNEL: frozenset[int] = frozenset({1, 5, 6, 14, 15, 24, 27, 32, 44, 59, 102, 103, 104, 136, 181})


@dataclass(frozen=True)
class OutletLayout:
    """How a device is switched: ``wired`` channels shown to people (None: as reported, for a UIID this
    table does not know), ``protocol`` entries sent in a ``switches`` command."""

    multi_channel: bool
    wired: int | None
    protocol: int


def outlet_layout(uiid: int | None, reported: list[int] | None) -> OutletLayout:
    """The layout of a device of ``uiid`` that reported the outlets ``reported`` (None: no ``switches``).

    A known UIID decides; an unknown one is multi-channel iff it reported ``switches`` (the robust rule of
    the client libraries), with the protocol's four outlets at least."""
    if uiid in WIRED_CHANNELS:
        return OutletLayout(True, WIRED_CHANNELS[uiid], PROTOCOL_OUTLETS)
    if uiid in SINGLE_CHANNEL or reported is None:
        return OutletLayout(False, 1, 1)
    return OutletLayout(True, None, max(PROTOCOL_OUTLETS, max(reported, default=-1) + 1))

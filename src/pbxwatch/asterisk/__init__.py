"""Pure readers of Asterisk and `df` output (no I/O, never raise), and of the probe command's output.

Public API (docs/design.md §3): `parse_sip_peers`, `parse_pjsip_endpoints`, `parse_pjsip_contacts` (all return the
`line_stats` dict documented in docs/line_stats.md), `parse_uptime_seconds`, `parse_df`,
`classify_cli_error`, and the probe command: `build_probe_command`, `interpret_probe_output`.
Imports nothing of pbxwatch except the pure verdict vocabulary (`pbxwatch.domain.verdicts`).
"""

from pbxwatch.asterisk.core import CliError, classify_cli_error, parse_df, parse_uptime_seconds
from pbxwatch.asterisk.pjsip import parse_pjsip_contacts, parse_pjsip_endpoints
from pbxwatch.asterisk.script import (
    MARKER,
    PROBE_TEMPLATE,
    ProbeCommandError,
    build_probe_command,
    cli_timeout,
    interpret_probe_output,
    split_sections,
)
from pbxwatch.asterisk.sip import parse_sip_peers
from pbxwatch.asterisk.stats import PEERS_CAP

__all__ = [
    "MARKER",
    "PEERS_CAP",
    "PROBE_TEMPLATE",
    "CliError",
    "ProbeCommandError",
    "build_probe_command",
    "classify_cli_error",
    "cli_timeout",
    "interpret_probe_output",
    "parse_df",
    "parse_pjsip_contacts",
    "parse_pjsip_endpoints",
    "parse_sip_peers",
    "parse_uptime_seconds",
    "split_sections",
]

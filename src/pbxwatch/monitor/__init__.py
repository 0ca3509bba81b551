"""The monitor daemon (SPEC §4): probe, decide (pbxwatch.domain.watchdog), record, ask the relay service."""

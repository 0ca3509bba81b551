"""The monitor daemon (docs/design.md §4): probe, decide (pbxwatch.domain.watchdog), record, ask the relay service."""

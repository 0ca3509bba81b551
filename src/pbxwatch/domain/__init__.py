"""Pure domain: verdicts, unit state and watchdog decisions. Imports nothing else from pbxwatch."""

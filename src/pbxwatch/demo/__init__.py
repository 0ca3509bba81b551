"""`pbxwatch demo`: the whole system on simulators, playing a short story an operator can watch."""

"""One router per resource of the relay API (SPEC §6)."""

"""One router per resource of the relay API (docs/design.md §6)."""

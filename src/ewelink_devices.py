"""Seed-compatible facade (operator one-liners): filled in by the eWeLink issue."""

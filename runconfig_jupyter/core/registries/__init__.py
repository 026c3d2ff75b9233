"""Versioned local registries (environments; models build on the same store) kept in the run home."""

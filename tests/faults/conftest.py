"""Fixtures of the fault tests (a real small file system for full-disk runs)."""

from tests.faults.small_disk import small_home  # noqa: F401 - a fixture, used by name

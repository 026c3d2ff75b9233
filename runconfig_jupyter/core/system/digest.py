"""SHA-256 of the small things this package names by their content: a standby's fingerprint, a snapshot
manifest's id, the names of cache files and environment images.

Every submitting script hashes a few hundred bytes this way, and ``hashlib`` made each of them pay ~7 ms of
imports first (it loads OpenSSL and builds a constructor for every algorithm). The interpreter's own
SHA-256 (``_sha256``, ``_sha2`` from Python 3.12; CPython's random.py takes its ``_sha512`` the same way)
gives the same digest with nothing to load. OpenSSL's is many times faster on big input (122 vs 1060 MB/s
here, SHA-NI), so input past ``SMALL`` bytes (a manifest of tens of thousands of files) goes to hashlib.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SMALL = 64 << 10  # bytes; the builtin takes ~0.5 ms for this much here


def _builtin_sha256() -> Callable[[bytes], Any] | None:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # Python 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef]  # Python 3.12 and later
        except ImportError:  # an interpreter built without its own hashes: hashlib it is
            return None
    return sha256  # type: ignore[no-any-return]


_SHA256 = _builtin_sha256()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in hex, the same whichever implementation computes it."""
    if _SHA256 is not None and len(data) <= SMALL:
        return str(_SHA256(data).hexdigest())
    import hashlib

    return hashlib.sha256(data).hexdigest()

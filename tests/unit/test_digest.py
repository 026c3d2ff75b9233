"""core/system/digest.py: the same SHA-256 as hashlib, without loading hashlib for small input."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runconfig_jupyter.core.system import digest


@pytest.mark.parametrize("size", [0, 1, 63, 64, 1000, digest.SMALL, digest.SMALL + 1, 3 * digest.SMALL])
def test_the_digest_is_hashlibs_at_every_size(size):
    data = os.urandom(size)
    assert digest.sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_small_input_loads_no_hashlib_and_big_input_does():
    """In a fresh interpreter: a fingerprint-sized input is hashed without OpenSSL; a manifest past SMALL bytes
    goes to hashlib, which is many times faster on it."""
    code = (
        "import sys\n"
        "from runconfig_jupyter.core.system.digest import SMALL, sha256_hex\n"
        "sha256_hex(b'x' * 300)\n"
        "print('hashlib' in sys.modules)\n"
        "sha256_hex(b'x' * (SMALL + 1))\n"
        "print('hashlib' in sys.modules)\n"
    )
    package_root = str(Path(digest.__file__).parents[3])
    env = {**os.environ, "PYTHONPATH": package_root}
    # -S: what site's .pth files import is not this module's doing
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True"]

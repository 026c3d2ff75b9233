"""Which environment variable names hold secrets: the rule that decides what is redacted (secret_env.py).

Apart from secret_env.py (records, the private secrets file) because a fresh driver asks it before anything
else: the local target's head start filters the environment of the script's interpreter through it
(inherit_env.py) before that interpreter can start, so this module imports only what the rule itself needs.
"""

from __future__ import annotations

import fnmatch
import os
import re

EXTRA_NAMES_ENV = "RUNCONFIG_SECRET_NAMES"
# Found anywhere in the name once '_' and '-' are removed (HF_TOKEN, DB_PASSWORD, AZURE_..._CONNECTION_STRING).
_SECRET_WORDS = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "CONNECTIONSTRING",
    "APIKEY",
    "ACCESSKEY",
    "PRIVATEKEY",
    "SIGNINGKEY",
    "AUTHORIZATION",
    "COOKIE",
)
# Only as a whole '_'-separated part: MY_KEY and SAS but not MONKEY or AUTHOR.
_SECRET_PARTS = frozenset({"KEY", "AUTH", "SAS", "PAT", "PWD", "PASS", "DSN"})
_NOT_SECRET = frozenset({"PWD", "OLDPWD"})  # the shell's working directories


def is_secret_name(name: str, extra: str | None = None) -> bool:
    """Whether the value of variable ``name`` is kept out of records (see module docstring)."""
    upper = str(name).upper()
    patterns = [p.strip() for p in (os.environ.get(EXTRA_NAMES_ENV, "") if extra is None else extra).split(",")]
    if any(p and fnmatch.fnmatchcase(upper, p.upper()) for p in patterns):
        return True
    if upper in _NOT_SECRET:
        return False
    collapsed = re.sub(r"[^A-Z0-9]", "", upper)
    return any(word in collapsed for word in _SECRET_WORDS) or bool(_SECRET_PARTS & set(re.split(r"[^A-Z0-9]+", upper)))

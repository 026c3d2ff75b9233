"""Credentials written into package URLs (``https://user:token@feed/simple``): refused before anything is kept.

Private pip feeds and conda channels are often reached by putting a personal access token in the URL (v1 had
``ws.set_connection`` for that, which keeps the token in Azure). Here the environment definition is written
into run.json, the run index, the environment registry, the prepare log and, on the docker target, a
Dockerfile's RUN line that ``docker history`` shows to anyone with access to the engine. So a URL carrying a
password, or a token in place of the user name over http(s), is refused where the definition is checked (at
submit and at ``env.register``). An ssh user (``git+ssh://git@host/...``) is a name, not a secret, and stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from runconfig_jupyter.core.errors import ConfigError

# Bounded repetitions: each "://" is scanned at most 256 characters ahead, so long input cannot stall this.
_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.\-]{0,30})://([^/\s@?#]{1,256})@", re.IGNORECASE)

INSTEAD = (
    "give the URL without them. For a private feed or channel, install its packages into a base image you "
    "build yourself (docker build --secret) and set environment.docker.base_image, or into this machine's "
    "Python and set python.user_managed_dependencies = True; pip on this machine also reads its own "
    "configuration and keyring"
)


def _holds_credentials(scheme: str, userinfo: str) -> bool:
    """A ``user:password`` pair anywhere, or a lone user name over http(s), which feeds take as a token."""
    return ":" in userinfo or "http" in scheme.lower()


def redact_url_credentials(text: str) -> str:
    """``text`` with every URL's credentials replaced by ``***`` (a user name before a password stays)."""

    def hide(match: re.Match[str]) -> str:
        scheme, userinfo = match.group(1), match.group(2)
        if not _holds_credentials(scheme, userinfo):
            return match.group(0)
        user = userinfo.split(":", 1)[0] + ":" if ":" in userinfo else ""
        return f"{scheme}://{user}***@"

    return _URL_USERINFO.sub(hide, text)


def refuse_url_credentials(texts: Iterable[object], field: str) -> None:
    """Raise ConfigError for the first item holding URL credentials; the message shows it redacted."""
    for index, item in enumerate(texts):
        text = str(item)
        if any(_holds_credentials(m.group(1), m.group(2)) for m in _URL_USERINFO.finditer(text)):
            raise ConfigError(
                f"{redact_url_credentials(text)!r} holds credentials, which are never kept here (they would be "
                f"written into the run's record, its logs and the image's history): {INSTEAD}",
                field=f"{field}[{index}]",
            )

"""One row of a target type's settings help (``%targets --settings``, the server's target list).

Its own module because every run imports core/target/settings.py (the interface's settings check) and few
list help: the class is created by the first ``settings_help`` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SettingHelp:
    name: str
    type: str
    default: Any
    help: str

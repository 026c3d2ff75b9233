"""v1's ``partition_format`` of a tabular dataset: columns read from each file's path on its datastore.

``'/{Department}/{PartitionDate:yyyy/MM/dd}/data.csv'`` matches the end of a file's path and gives a text column
``Department`` and a datetime column ``PartitionDate`` (``yyyy``, ``MM``, ``dd``, ``HH``, ``mm``, ``ss`` are its
parts; what a datetime does not name is the first month, day or hour). The same parsing serves the notebook and the
script, so a run reads the columns the notebook showed. Standard library only: this module ships in the in-script
shim (core/runs/shim.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

DATE_PARTS = {"yyyy": "year", "MM": "month", "dd": "day", "HH": "hour", "mm": "minute", "ss": "second"}


class PartitionFormat:
    """A parsed ``partition_format``: ``values(path)`` gives the columns of the file at ``path``."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text.strip("/"):
            raise ValueError(f"partition_format must be a path pattern like '/{{column}}/data.csv', got {text!r}")
        self.text = text
        self.groups: list[tuple[str, str | None]] = []  # (column, date part or None for a text column)
        pattern = "".join(self._pieces(text.lstrip("/")))
        if not self.groups:
            raise ValueError(f"partition_format {text!r} names no column: put each one in braces, '{{column}}'")
        self.columns = list(dict.fromkeys(column for column, _part in self.groups))
        self._regex = re.compile(f"(?:^|/){pattern}$")

    def _pieces(self, text: str) -> list[str]:
        pieces, index = [], 0
        text_columns_in_folder = 0
        while index < len(text):
            char = text[index]
            if char == "}":
                raise ValueError(f"partition_format {self.text!r} has a '}}' with no '{{' before it")
            if char != "{":
                pieces.append(re.escape(char))
                index += 1
                if char == "/":
                    text_columns_in_folder = 0
                continue
            end = text.find("}", index)
            if end < 0 or "{" in text[index + 1 : end]:
                raise ValueError(f"partition_format {self.text!r} has a '{{' that is not closed")
            name, is_date, layout = text[index + 1 : end].partition(":")
            if not name.strip():
                raise ValueError(f"partition_format {self.text!r} has a '{{}}' with no column name")
            if not is_date:
                # Two text columns in one folder name ('{a}-{b}') could split it many ways, and a regular expression
                # trying them all takes time that grows as a power of the name's length: one per folder name.
                text_columns_in_folder += 1
                if text_columns_in_folder > 1:
                    raise ValueError(
                        f"partition_format {self.text!r} has two text columns in one folder name; give each its own "
                        "folder level ('/{a}/{b}/'), or make one a date ('{d:yyyyMMdd}')"
                    )
            pieces.extend(self._date(name.strip(), layout) if is_date else self._text(name.strip()))
            index = end + 1
        return pieces

    def _text(self, column: str) -> list[str]:
        self.groups.append((column, None))
        return ["([^/]+)"]

    def _date(self, column: str, layout: str) -> list[str]:
        pieces, index = [], 0
        while index < len(layout):
            part = next((p for p in DATE_PARTS if layout.startswith(p, index)), None)
            if part is not None:
                self.groups.append((column, part))
                pieces.append(rf"(\d{{{len(part)}}})")
                index += len(part)
            elif layout[index].isalnum():
                raise ValueError(
                    f"partition_format {self.text!r}: '{layout}' is not a date layout; use yyyy, MM, dd, HH, mm, ss"
                )
            else:
                pieces.append(re.escape(layout[index]))
                index += 1
        if not any(c == column and p for c, p in self.groups):
            raise ValueError(f"partition_format {self.text!r}: '{column}:{layout}' names no date part")
        return pieces

    def values(self, path: str) -> dict[str, Any]:
        """Column -> value for the file at ``path`` (its path on the datastore); ValueError if it does not fit."""
        match = self._regex.search(path)
        if match is None:
            raise ValueError(f"the path of file '{path}' does not fit partition_format '{self.text}'")
        texts: dict[str, str] = {}
        dates: dict[str, dict[str, int]] = {}
        for (column, part), value in zip(self.groups, match.groups(), strict=True):
            if part is None:
                texts[column] = value
            else:
                dates.setdefault(column, {})[DATE_PARTS[part]] = int(value)
        found: dict[str, Any] = dict(texts)
        for column, parts in dates.items():
            try:
                found[column] = datetime(
                    parts.get("year", 1),
                    parts.get("month", 1),
                    parts.get("day", 1),
                    parts.get("hour", 0),
                    parts.get("minute", 0),
                    parts.get("second", 0),
                )
            except ValueError as error:
                raise ValueError(f"file '{path}': '{column}' is not a date ({error}), by partition_format") from None
        return {column: found[column] for column in self.columns}

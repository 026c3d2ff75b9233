"""Garbage collection of what runs leave behind: the model (items, sources, policy, report).

The run home grows with every new source folder (snapshots), every new environment (virtualenvs, conda
prefixes) and every new Docker environment image. These are caches: a run folder keeps its own hard link to
its snapshot, and an environment is built again when it is missing. What may go is decided here, in one
place, the same for every kind of item:

* anything a run still references is kept (its snapshot, the environment it used, the image it ran in);
  a run that is not finished additionally pins the environment images it may be about to build or use;
* anything being written right now is kept (the source says ``busy``: a build holds its lock), and so is
  anything younger than ``grace_seconds`` (a submit that stored a snapshot but has not recorded its run yet);
* of the rest, ``older_than`` removes what was last used before that age, then ``max_size`` removes the
  least recently used until everything together fits the budget; with neither, all of the rest goes.

A *source* lists items of one kind and removes one item; core's own source is the snapshot store
(core/runs/garbage_snapshots.py), the targets contribute theirs through the optional ``garbage_sources``
hook of their class (core/target/interface.py), so core never names a concrete target. ``plan`` decides
and removes nothing; ``apply`` removes what a plan marked. Front ends show the plan (dry run) by default.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.snapshot.limits import format_bytes

GRACE_SECONDS = 600.0  # younger than this: possibly a submit or build that has not recorded its run yet

KEEP = "keep"
REMOVE = "remove"
REMOVED = "removed"
FAILED = "failed"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass
class GarbageItem:
    """One removable thing. ``keys`` name it the way runs reference it (``snapshot:<id>``, ``env:<hash>``)."""

    kind: str  # snapshot, docker-image, venv, conda-prefix, ...
    name: str  # what a person recognises (snapshot id, image tag, folder name)
    where: str  # the path or the engine it lives in
    bytes: int  # what removing it frees
    last_used: float  # epoch seconds: when it was made or last used, whichever is later
    keys: frozenset[str] = frozenset()
    busy: str | None = None  # why it may not be touched now (a build holds its lock, a container uses it)
    handle: Any = field(default=None, repr=False, compare=False)  # the source's own reference to it


class GarbageSource(Protocol):
    """Lists items of one kind and removes one. ``name`` identifies it (two targets may share a source)."""

    name: str

    def items(self) -> Iterable[GarbageItem]: ...

    def remove(self, item: GarbageItem) -> None:
        """Remove the item, or raise ``OSError`` / a ``RunConfigError`` saying why not (it is then kept).

        A source whose items share parts (snapshots share objects) may also have ``finish()``, called once
        after the removals, to clear what they left with no owner.
        """


@dataclass(frozen=True)
class Reference:
    """A run's claim on items: the keys it references, and whether the run is still going."""

    run_id: str
    keys: frozenset[str]
    active: bool


@dataclass(frozen=True)
class GcPolicy:
    """What may be removed of what no run references. Neither limit: all of it (past the grace period)."""

    older_than: float | None = None  # seconds since last use
    max_size: int | None = None  # bytes for everything the sources list, referenced or not
    grace_seconds: float = GRACE_SECONDS

    @classmethod
    def parse(
        cls, older_than: str | float | None = None, max_size: str | int | None = None, grace_seconds: Any = None
    ) -> GcPolicy:
        """From text a person types (``7d``, ``12h``, ``10G``, ``500MB``) or numbers; ConfigError names the field."""
        grace = GRACE_SECONDS if grace_seconds is None else _number(grace_seconds, "grace_seconds")
        return cls(
            older_than=None if older_than in (None, "") else parse_age(older_than),
            max_size=None if max_size in (None, "") else parse_size(max_size),
            grace_seconds=grace,
        )


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{value!r} is not a number of seconds (0 or more)", field=name)
    return float(value)


def parse_age(value: str | float, name: str = "older_than") -> float:
    """Seconds from ``90``, ``30m``, ``12h``, ``7d`` or ``2w``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value, name)
    match = _AGE.match(str(value))
    if not match:
        raise ConfigError(f"{value!r} is not an age; write e.g. 3600, 30m, 12h, 7d or 2w", field=name)
    return float(match.group(1)) * _AGE_UNITS[(match.group(2) or "").lower()]


def parse_size(value: str | int, name: str = "max_size") -> int:
    """Bytes from ``1000000``, ``500M``, ``10G`` or ``1.5TB`` (powers of 1024)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(_number(value, name))
    match = _SIZE.match(str(value))
    if not match:
        raise ConfigError(f"{value!r} is not a size; write e.g. 500M, 10G or a number of bytes", field=name)
    return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "")[:1].lower()])


@dataclass
class GcEntry:
    """One line of a report: an item and what happens (or happened) to it, and why."""

    source: str
    kind: str
    name: str
    where: str
    bytes: int
    last_used: float
    action: str  # keep | remove (dry run) | removed | failed
    why: str
    item: GarbageItem | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("item")
        return data


@dataclass
class GcReport:
    """What a collection kept and removed (or would remove), source by source."""

    policy: GcPolicy
    dry_run: bool
    entries: list[GcEntry] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # source -> why it could not be listed

    def chosen(self) -> list[GcEntry]:
        return [e for e in self.entries if e.action in (REMOVE, REMOVED)]

    @property
    def freed_bytes(self) -> int:
        return sum(e.bytes for e in self.chosen())

    @property
    def total_bytes(self) -> int:
        return sum(e.bytes for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "policy": asdict(self.policy),
            "total_bytes": self.total_bytes,
            "freed_bytes": self.freed_bytes,
            "entries": [e.to_dict() for e in self.entries],
            "skipped": dict(self.skipped),
        }

    def summary(self) -> str:
        """Text for a notebook or a terminal: what goes (or would go), then a total."""
        lines = []
        verb = "would remove" if self.dry_run else "removed"
        for entry in sorted(self.entries, key=lambda e: (e.action == KEEP, e.source, e.last_used)):  # removals first
            if entry.action == KEEP and entry.why.startswith("referenced"):
                continue  # the usual case; counted below
            mark = {KEEP: "keep", REMOVE: "would remove", REMOVED: "removed", FAILED: "FAILED"}[entry.action]
            lines.append(f"{mark:<12} {entry.kind:<13} {format_bytes(entry.bytes):>9}  {entry.name}  ({entry.why})")
        referenced = [e for e in self.entries if e.action == KEEP and e.why.startswith("referenced")]
        for source, why in self.skipped.items():
            lines.append(f"skipped      {source}: {why}")
        chosen = self.chosen()
        lines.append(
            f"{verb} {len(chosen)} item(s), {format_bytes(self.freed_bytes)}; kept {len(referenced)} referenced "
            f"by runs; {format_bytes(self.total_bytes)} the listed items would free in all"
        )
        if self.dry_run and chosen:
            lines.append("nothing was removed: run again with --yes (dry_run=False) to remove these")
        return "\n".join(lines)


def plan(
    items: Iterable[tuple[str, GarbageItem]],
    references: Iterable[Reference],
    policy: GcPolicy,
    now: float | None = None,
) -> list[GcEntry]:
    """Decide for every ``(source name, item)``: keep (with why) or remove. Removes nothing."""
    now = time.time() if now is None else now
    claims: dict[str, list[Reference]] = {}
    for reference in references:
        for key in reference.keys:
            claims.setdefault(key, []).append(reference)
    entries: list[GcEntry] = []
    candidates: list[GcEntry] = []
    for source, item in items:
        why = _kept_because(item, claims, policy, now)
        entry = GcEntry(source, item.kind, item.name, item.where, item.bytes, item.last_used, KEEP, why or "", item)
        entries.append(entry)
        if why is None:
            candidates.append(entry)
    candidates.sort(key=lambda e: e.last_used)  # least recently used first
    if policy.older_than is None and policy.max_size is None:
        for entry in candidates:
            _choose(entry, "no run references it")
        return entries
    total = sum(e.bytes for e in entries)
    for entry in candidates:
        age = now - entry.last_used
        if policy.older_than is not None and age >= policy.older_than:
            _choose(entry, f"no run references it; last used {_age_text(age)} ago")
            total -= entry.bytes
    for entry in candidates:
        if entry.action == KEEP:
            if policy.max_size is not None and total > policy.max_size:
                _choose(entry, f"no run references it; over the {format_bytes(policy.max_size)} budget (LRU)")
                total -= entry.bytes
            else:
                entry.why = "no run references it, but within the age and size limits"
    return entries


def _kept_because(item: GarbageItem, claims: dict[str, list[Reference]], policy: GcPolicy, now: float) -> str | None:
    if item.busy:
        return f"in use: {item.busy}"
    runs = [ref for key in item.keys for ref in claims.get(key, ())]
    active = sorted({ref.run_id for ref in runs if ref.active})
    if active:
        return f"referenced by unfinished run {', '.join(active[:3])}"
    if runs:
        names = sorted({ref.run_id for ref in runs})
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        return f"referenced by run {', '.join(names[:3])}{more}"
    if now - item.last_used < policy.grace_seconds:
        return f"made or used {_age_text(now - item.last_used)} ago (grace period {_age_text(policy.grace_seconds)})"
    return None


def _choose(entry: GcEntry, why: str) -> None:
    entry.action = REMOVE
    entry.why = why


def _age_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def apply(entries: list[GcEntry], sources: dict[str, GarbageSource]) -> None:
    """Remove every entry a plan marked ``remove``; a failure is recorded on its entry, never raised."""
    for entry in entries:
        if entry.action != REMOVE or entry.item is None:
            continue
        try:
            sources[entry.source].remove(entry.item)
        except Exception as error:  # one item that cannot go (an engine conflict, a permission) costs only itself
            entry.action = FAILED
            entry.why = f"could not remove it: {' '.join(str(error).split())[:300]}"
        else:
            entry.action = REMOVED

"""Size and file-count limits of a snapshot, and the error text when they are exceeded.

Defaults follow Azure ML (300 MB, 2000 files): a snapshot is copied into every run folder and
container, so a dataset or a model checkpoint left in the source folder is almost always a mistake.
The error says which files and folders are big and exactly what line to put where to exclude them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runconfig_jupyter.core.errors import ConfigError, SnapshotTooLarge

if TYPE_CHECKING:
    from runconfig_jupyter.core.snapshot.manifest import Manifest

MB = 1024 * 1024
DEFAULT_MAX_MB = 300
DEFAULT_MAX_FILES = 2000
ENV_MAX_MB = "RUNCONFIG_SNAPSHOT_MAX_MB"
ENV_MAX_FILES = "RUNCONFIG_SNAPSHOT_MAX_FILES"


@dataclass(frozen=True)
class SnapshotLimits:
    max_bytes: int = DEFAULT_MAX_MB * MB
    max_files: int = DEFAULT_MAX_FILES

    def __post_init__(self) -> None:
        if not isinstance(self.max_bytes, int) or self.max_bytes <= 0:
            raise ConfigError(f"must be a positive number of bytes, got {self.max_bytes!r}", field="max_bytes")
        if not isinstance(self.max_files, int) or self.max_files <= 0:
            raise ConfigError(f"must be a positive number of files, got {self.max_files!r}", field="max_files")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SnapshotLimits:
        """Limits from ``RUNCONFIG_SNAPSHOT_MAX_MB`` / ``RUNCONFIG_SNAPSHOT_MAX_FILES``, defaults otherwise."""
        env = os.environ if environ is None else environ
        max_bytes = DEFAULT_MAX_MB * MB
        max_files = DEFAULT_MAX_FILES
        raw_mb = env.get(ENV_MAX_MB, "").strip()
        if raw_mb:
            try:
                max_bytes = int(float(raw_mb) * MB)
            except ValueError:
                raise ConfigError(
                    f"expected a number of megabytes such as 500, got {raw_mb!r}", field=ENV_MAX_MB
                ) from None
            if max_bytes <= 0:
                raise ConfigError(f"must be positive, got {raw_mb!r}", field=ENV_MAX_MB)
        raw_files = env.get(ENV_MAX_FILES, "").strip()
        if raw_files:
            try:
                max_files = int(raw_files)
            except ValueError:
                raise ConfigError(
                    f"expected a whole number such as 5000, got {raw_files!r}", field=ENV_MAX_FILES
                ) from None
            if max_files <= 0:
                raise ConfigError(f"must be positive, got {raw_files!r}", field=ENV_MAX_FILES)
        return cls(max_bytes=max_bytes, max_files=max_files)

    def problems(self, manifest: Manifest) -> list[str]:
        out = []
        if manifest.total_bytes > self.max_bytes:
            out.append(f"{format_bytes(manifest.total_bytes)} exceeds the limit of {format_bytes(self.max_bytes)}")
        if manifest.file_count > self.max_files:
            out.append(f"{manifest.file_count:,} files exceed the limit of {self.max_files:,} files")
        return out

    def check(self, manifest: Manifest) -> None:
        """Raise :class:`SnapshotTooLarge` naming the biggest files and folders and how to leave them out."""
        problems = self.problems(manifest)
        if problems:
            raise SnapshotTooLarge(too_large_message(manifest, problems))


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def too_large_message(manifest: Manifest, problems: list[str]) -> str:
    source = manifest.source
    by_count = manifest.total_bytes <= (manifest.limits.max_bytes if manifest.limits else manifest.total_bytes)
    lines = [f"snapshot of {source} is too large: {'; '.join(problems)}."]
    files = [e for e in manifest.largest(5) if e.size > 0]
    if files:
        lines.append("Largest files:")
        lines += [f"  {format_bytes(e.size):>10}  {e.path}" for e in files]
    folders = manifest.largest_folders(5, by_count=by_count)
    if folders:
        lines.append("Largest folders:")
        lines += [f"  {format_bytes(size):>10}  {path}/  ({count:,} files)" for path, size, count in folders]
    lines += _suggestions(manifest, files, folders, by_count)
    lines.append(
        f"Or raise the limit: set {ENV_MAX_MB} / {ENV_MAX_FILES}, or pass "
        "SnapshotLimits(max_bytes=..., max_files=...) to submit(snapshot_limits=...). "
        "Large data belongs in a data folder the script reads by path, not in the snapshot."
    )
    return "\n".join(lines)


def _suggestions(manifest: Manifest, files: list, folders: list[tuple[str, int, int]], by_count: bool) -> list[str]:
    """Ignore-file lines worth adding: folders/files holding at least a tenth of the bytes (or files)."""
    total = manifest.file_count if by_count else manifest.total_bytes
    chosen: list[str] = []
    for path, size, count in folders:
        share = count if by_count else size
        if share * 10 >= total and not any(path.startswith(c) for c in chosen):
            chosen.append(f"{path}/")
    if not by_count:
        for entry in files:
            if entry.size * 10 >= total and not any(entry.path.startswith(c) for c in chosen):
                chosen.append(entry.path)
    chosen = chosen[:3]
    if not chosen:
        return []
    source = manifest.source
    if (source / ".amlignore").is_file():
        where = f"add lines to {source / '.amlignore'}"
    elif (source / ".gitignore").is_file():
        where = (
            f"add lines to {source / '.gitignore'} (or create .amlignore there; note that .amlignore then "
            "replaces .gitignore for that folder, so copy its rules)"
        )
    else:
        where = f"create {source / '.amlignore'} (gitignore syntax) with lines"
    return [f"To exclude them, {where} such as:", *(f"  {c}" for c in chosen)]

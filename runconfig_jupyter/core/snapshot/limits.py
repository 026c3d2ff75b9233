"""Size and file-count limits of a snapshot, and the error text when they are exceeded.

Defaults follow Azure ML (300 MB, 2000 files): a snapshot is copied into every run folder and
container, so a dataset or a model checkpoint left in the source folder is almost always a mistake.
The error says which files and folders are big and exactly what line to put where to exclude them.
"""

from __future__ import annotations

import os
from pathlib import Path

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.system.records import record

MB = 1024 * 1024
DEFAULT_MAX_MB = 300
DEFAULT_MAX_FILES = 2000
ENV_MAX_MB = "RUNCONFIG_SNAPSHOT_MAX_MB"
ENV_MAX_FILES = "RUNCONFIG_SNAPSHOT_MAX_FILES"


@record(frozen=True)
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

    def problems(self, total_bytes: int, file_count: int) -> list[str]:
        """What a snapshot of that size breaks, in words (empty: within the limits)."""
        out = []
        if total_bytes > self.max_bytes:
            out.append(f"{format_bytes(total_bytes)} exceeds the limit of {format_bytes(self.max_bytes)}")
        if file_count > self.max_files:
            out.append(f"{file_count:,} files exceed the limit of {self.max_files:,} files")
        return out


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def too_large_message(
    source: Path,
    problems: list[str],
    files: list[tuple[str, int]],
    folders: list[tuple[str, int, int]],
    total: int,
    by_count: bool,
) -> str:
    """The "too large" text: the biggest ``files`` (path, bytes) and ``folders`` (path, bytes, files), and
    the ignore-file lines that would leave out those holding a tenth of the ``total`` (bytes, or files
    when ``by_count``). Takes figures, not a manifest, so the manifest can use it without a loop back."""
    lines = [f"snapshot of {source} is too large: {'; '.join(problems)}."]
    if files:
        lines.append("Largest files:")
        lines += [f"  {format_bytes(size):>10}  {path}" for path, size in files]
    if folders:
        lines.append("Largest folders:")
        lines += [f"  {format_bytes(size):>10}  {path}/  ({count:,} files)" for path, size, count in folders]
    lines += _suggestions(source, files, folders, total, by_count)
    lines.append(
        f"Or raise the limit: set {ENV_MAX_MB} / {ENV_MAX_FILES}, or pass "
        "SnapshotLimits(max_bytes=..., max_files=...) to submit(snapshot_limits=...). "
        "Large data belongs in a data folder the script reads by path, not in the snapshot."
    )
    return "\n".join(lines)


def _suggestions(
    source: Path, files: list[tuple[str, int]], folders: list[tuple[str, int, int]], total: int, by_count: bool
) -> list[str]:
    """Ignore-file lines worth adding: folders/files holding at least a tenth of the bytes (or files)."""
    chosen: list[str] = []
    for path, size, count in folders:
        share = count if by_count else size
        if share * 10 >= total and not any(path.startswith(c) for c in chosen):
            chosen.append(f"{path}/")
    if not by_count:
        for path, size in files:
            if size * 10 >= total and not any(path.startswith(c) for c in chosen):
                chosen.append(path)
    chosen = chosen[:3]
    if not chosen:
        return []
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

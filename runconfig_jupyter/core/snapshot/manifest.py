"""The list of what a snapshot will contain, built from ``stat`` alone (no file is read).

Cheap enough to show before submit ("41 files, 2.3 MB, largest ...") and to check limits before any
byte is copied. Also records what was left out and why (ignore rules, symlinks leaving the source
directory, special files), so "why is my file missing in the run?" has an answer.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Iterable
from operator import attrgetter
from pathlib import Path
from stat import S_IFDIR, S_IFLNK, S_IFREG
from typing import Any

from runconfig_jupyter.core.errors import SnapshotError, SnapshotTooLarge
from runconfig_jupyter.core.snapshot.ignore import IgnoreRules, is_environment
from runconfig_jupyter.core.snapshot.limits import SnapshotLimits, format_bytes, too_large_message
from runconfig_jupyter.core.snapshot.member_names import MAX_TREE_DEPTH, inside_link_target, link_problem, name_problem
from runconfig_jupyter.core.system.records import field, record

BY_NAME = attrgetter("name")
BY_SIZE = attrgetter("size")
# Folders are listed through a descriptor where the platform allows it (see _listing).
LIST_BY_FD = os.scandir in os.supports_fd and hasattr(os, "O_DIRECTORY") and hasattr(os, "O_NOFOLLOW")
FILE_TYPE_BITS = 0o170000  # what stat.S_IFMT keeps of a mode, without a call per file


@record(slots=True)
class ManifestEntry:
    """One file or symlink. ``mode`` is normalised (0o755 / 0o644) like git, so umask does not change ids."""

    path: str  # relative, '/'-separated
    size: int
    mode: int
    kind: str = "file"  # "file" | "symlink"
    link_target: str | None = None
    digest: str | None = None  # hex digest of the content, filled in by store_snapshot
    digest_alg: str = "sha256"  # the algorithm of ``digest`` (the per-file store may use blake3)
    mtime_ns: int = 0
    inode: int = 0
    ctime_ns: int = 0  # with size, mtime and inode: what the hash cache compares (``touch -d`` cannot set it back)

    def __init__(  # written out: one is made per file of a walk, and the records' shared __init__ is ~15x slower
        self,
        path: str,
        size: int,
        mode: int,
        kind: str = "file",
        link_target: str | None = None,
        digest: str | None = None,
        digest_alg: str = "sha256",
        mtime_ns: int = 0,
        inode: int = 0,
        ctime_ns: int = 0,
    ):
        self.path, self.size, self.mode, self.kind, self.link_target = path, size, mode, kind, link_target
        self.digest, self.digest_alg, self.mtime_ns, self.inode, self.ctime_ns = (
            digest,
            digest_alg,
            mtime_ns,
            inode,
            ctime_ns,
        )

    def take_stat(self, st: os.stat_result) -> None:
        """Record what ``st`` says of the file now (the walk's ``lstat`` or the open file's ``fstat``)."""
        self.size, self.mtime_ns, self.inode, self.ctime_ns = st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns

    def same_stat(self, st: os.stat_result) -> bool:
        """True when ``st`` shows the file as recorded: same size, mtime, inode and ctime."""
        return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns) == (
            self.size,
            self.mtime_ns,
            self.inode,
            self.ctime_ns,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size, "mode": oct(self.mode), "type": self.kind}
        if self.link_target is not None:
            out["target"] = self.link_target
        if self.digest:
            out[self.digest_alg] = self.digest
        return out


@record
class Manifest:
    source: Path
    files: list[ManifestEntry] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): wanted but not packable
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (path, rule source): left out on purpose
    ignore_files: list[str] = field(default_factory=list)
    limits: SnapshotLimits | None = None
    # (device, inode) of the home's credential files; read only when a file has several links
    _credential_inodes: frozenset[tuple[int, int]] | None = field(default=None, repr=False, compare=False)

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def total_bytes(self) -> int:
        return sum(map(BY_SIZE, self.files))

    def largest(self, n: int = 5) -> list[ManifestEntry]:
        return sorted(self.files, key=lambda e: (-e.size, e.path))[:n]

    def largest_folders(self, n: int = 5, by_count: bool = False) -> list[tuple[str, int, int]]:
        """(folder, bytes, file count) for every folder below the root, biggest (or most files) first."""
        sizes: dict[str, list[int]] = {}
        for entry in self.files:
            parts = entry.path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                acc = sizes.setdefault("/".join(parts[:i]), [0, 0])
                acc[0] += entry.size
                acc[1] += 1
        order = 1 if by_count else 0
        ranked = sorted(sizes.items(), key=lambda kv: (-kv[1][order], -kv[1][1 - order], kv[0]))
        return [(path, size, count) for path, (size, count) in ranked[:n]]

    def problems(self, limits: SnapshotLimits | None = None) -> list[str]:
        limits = limits or self.limits
        return limits.problems(self.total_bytes, self.file_count) if limits else []

    def check(self, limits: SnapshotLimits | None = None) -> None:
        """Raise SnapshotTooLarge when over ``limits`` (default: the limits given to build_manifest),
        naming the biggest files and folders and how to leave them out."""
        problems = self.problems(limits)
        if not problems:
            return
        # Over the bytes limit: rank by bytes; only over the count: rank by files.
        by_count = self.total_bytes <= (self.limits.max_bytes if self.limits else self.total_bytes)
        files = [(e.path, e.size) for e in self.largest(5) if e.size > 0]
        folders = self.largest_folders(5, by_count=by_count)
        total = self.file_count if by_count else self.total_bytes
        raise SnapshotTooLarge(too_large_message(self.source, problems, files, folders, total, by_count))

    def summary(self) -> str:
        rules = ", ".join(self.ignore_files) if self.ignore_files else "no ignore file"
        lines = [f"{self.file_count:,} files, {format_bytes(self.total_bytes)} from {self.source} (rules: {rules})"]
        top = self.largest(3)
        if top:
            lines.append("largest: " + ", ".join(f"{e.path} ({format_bytes(e.size)})" for e in top))
        if self.excluded:
            shown = ", ".join(p for p, _ in self.excluded[:6])
            more = f" and {len(self.excluded) - 6} more" if len(self.excluded) > 6 else ""
            lines.append(f"excluded: {shown}{more}")
        for path, reason in self.skipped[:5]:
            lines.append(f"skipped {path}: {reason}")
        if len(self.skipped) > 5:
            lines.append(f"... and {len(self.skipped) - 5} more skipped")
        for problem in self.problems():
            lines.append(f"over the limit: {problem}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "file_count": self.file_count,
            "total_bytes": self.total_bytes,
            "ignore_files": list(self.ignore_files),
            "files": [e.to_dict() for e in self.files],
            "dirs": list(self.dirs),
            "excluded": [{"path": p, "rule": r} for p, r in self.excluded],
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def check_source(source_dir: Path | str) -> Path:
    """Resolve the source directory or raise SnapshotError saying what to pass instead."""
    path = Path(source_dir).expanduser()
    try:
        path.stat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SnapshotError(f"cannot look at source_directory {str(path)!r}: {exc.strerror}; fix permissions") from None
    if not path.exists():
        raise SnapshotError(f"source_directory {str(path)!r} does not exist; pass the folder holding your script")
    if not path.is_dir():
        raise SnapshotError(
            f"source_directory {str(path)!r} is not a directory; pass the folder holding your script, "
            "and name the script with script="
        )
    return path.resolve()


def normal_mode(st_mode: int) -> int:
    return 0o755 if st_mode & 0o111 else 0o644


def build_manifest(
    source_dir: Path | str, limits: SnapshotLimits | None = None, extra_excludes: Iterable[Path] = ()
) -> Manifest:
    """Walk ``source_dir`` applying the ignore rules. Never raises for limits: see ``Manifest.check``.

    ``extra_excludes`` are absolute folders never to package (the snapshot store when it lives inside
    the source folder, so snapshots do not nest).
    """
    root = check_source(source_dir)
    manifest = Manifest(source=root, limits=limits)
    skip_dirs = _folder_ids(extra_excludes)
    try:
        entries, fd = _listing(str(root))
    except OSError as exc:
        raise _unlisted(root, root, "", exc) from None
    try:
        rules = IgnoreRules.for_root(root, present=_lister(entries))
        manifest.ignore_files.extend(rules.ignore_files)
        _walk(root, str(root), "", entries, rules, manifest, skip_dirs)
    finally:
        if fd is not None:
            os.close(fd)
    return manifest


def _listing(folder: str) -> tuple[list[os.DirEntry[str]], int | None]:
    """A folder's entries in name order (the archive's order: see archive.ordered_members), and the open
    descriptor their ``stat`` goes through (the caller closes it; None where the platform lists only by path).

    Listing through a descriptor opened with ``O_NOFOLLOW`` means each entry's ``lstat`` names one component for
    the kernel to resolve, not the whole path (about a tenth of the walk's cost on a re-submit), and a folder
    swapped for a link after it was seen as a folder is refused rather than followed.
    """
    if not LIST_BY_FD:
        with os.scandir(folder) as it:
            return sorted(it, key=BY_NAME), None
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with os.scandir(fd) as it:
            return sorted(it, key=BY_NAME), fd
    except BaseException:
        os.close(fd)
        raise


def _lister(entries: list[os.DirEntry[str]]) -> Callable[[str], bool]:
    """Whether a listed folder holds an entry of a given name (a binary search of its sorted listing): the
    ignore-file and environment checks ask only about names that are there, not the file system per folder."""

    def present(name: str) -> bool:
        at = bisect_left(entries, name, key=BY_NAME)
        return at < len(entries) and entries[at].name == name

    return present


def _unlisted(root: Path, folder: Path | str, rel: str, exc: OSError) -> SnapshotError:
    return SnapshotError(
        f"cannot list {folder}: {exc.strerror}; fix its permissions or exclude it with the line "
        f"'{rel}/' in {root / '.amlignore'}"
    )


def _walk(
    root: Path,
    folder: str,
    rel: str,
    entries: list[os.DirEntry[str]],
    rules: IgnoreRules,
    manifest: Manifest,
    skip_dirs: set[tuple[int, int]],
    depth: int = 0,
) -> bool:
    """Add the content of ``folder`` (listed as ``entries``) to ``manifest``; return whether it had any entry.

    Recursion is bounded by MAX_TREE_DEPTH (far below Python's limit), so a hostile tree is refused by name.
    """
    # Whether a member name is acceptable depends on the folder's path and on the entry's own name; a plain
    # name (no backslash, no '..', no drive letter at the top) adds nothing to judge, so the folder's verdict
    # is computed once and shared by all of them. The loop is written for the per-file cost of a re-submit
    # (it runs once per file on every submit): the lstat's fields read once, folders handed to a helper, and
    # no other call a plain regular file matching no rule does not need.
    plain_ok = name_problem(f"{rel}/x" if rel else "x") is None
    prefix = f"{rel}/" if rel else ""
    add_file = manifest.files.append
    decide = rules.in_folder(rel)
    for entry in entries:
        name = entry.name
        child_rel = prefix + name
        if not (plain_ok and "\\" not in name and ".." not in name and "\0" not in name and (rel or name[1:2] != ":")):
            problem = name_problem(child_rel)
            if problem:  # the extractor would refuse the archive: refuse now, before anything is recorded
                raise SnapshotError(
                    f"cannot package {folder}/{name}: its name {problem}; rename it or exclude it with the "
                    f"line '{child_rel}' in {root / '.amlignore'}"
                )
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            manifest.skipped.append((child_rel, f"cannot stat: {exc.strerror}"))
            continue
        kind = st.st_mode & FILE_TYPE_BITS
        if kind == S_IFDIR:
            _walk_folder(root, f"{folder}/{name}", child_rel, st, rules, manifest, skip_dirs, depth + 1)
            continue
        decision = decide(name)
        if decision.excluded:
            manifest.excluded.append((child_rel, decision.source or ""))
        elif kind == S_IFREG:
            if st.st_nlink > 1 and _is_credential_copy(st, manifest):
                manifest.excluded.append((child_rel, "a hard link to a credential store file (never packaged)"))
                continue
            add_file(
                ManifestEntry(
                    child_rel,
                    st.st_size,
                    0o755 if st.st_mode & 0o111 else 0o644,  # normal_mode, inline
                    "file",
                    None,
                    None,
                    "sha256",
                    st.st_mtime_ns,
                    st.st_ino,
                    st.st_ctime_ns,
                )
            )
        elif kind == S_IFLNK:
            _add_symlink(root, f"{folder}/{name}", child_rel, manifest)
        else:
            manifest.skipped.append((child_rel, "not a regular file, folder or symlink (fifo, socket or device)"))
    return bool(entries)


def _walk_folder(
    root: Path,
    path: str,
    rel: str,
    st: os.stat_result,
    rules: IgnoreRules,
    manifest: Manifest,
    skip_dirs: set[tuple[int, int]],
    depth: int,
) -> None:
    """A folder met by ``_walk`` (``depth`` folders below the root): left out (the snapshot store, a rule, an
    environment) or walked. It is listed before the environment check, which then asks the file system only
    about marker names the listing holds; a folder that cannot be listed is still checked the slow way, so an
    environment that is searchable but not listable is left out as before instead of failing the walk."""
    if (st.st_dev, st.st_ino) in skip_dirs:
        manifest.excluded.append((rel + "/", "snapshot store"))
        return
    decision = rules.decide(rel, True)
    if decision.excluded:
        manifest.excluded.append((rel + "/", decision.source or ""))
        return
    try:
        entries, fd = _listing(path)
        unlisted = None
    except OSError as exc:
        entries, fd, unlisted = [], None, exc
    try:
        present = _lister(entries) if unlisted is None else None
        if marker := is_environment(path, present):
            decision = rules.decide_venv(rel, marker)
            if decision.excluded:
                manifest.excluded.append((rel + "/", decision.source or ""))
                return
        if depth > MAX_TREE_DEPTH:
            raise SnapshotError(
                f"{path} is more than {MAX_TREE_DEPTH} folders below {root}; a snapshot is limited to that depth. "
                f"Exclude the folder with the line '{rel.split('/')[0]}/' in {root / '.amlignore'}"
            )
        if unlisted is not None:
            raise _unlisted(root, path, rel, unlisted) from None
        sub_rules = rules.enter(Path(path), rel, present)
        manifest.ignore_files.extend(f for f in sub_rules.ignore_files if f not in rules.ignore_files)
        manifest.dirs.append(rel)
        before = (len(manifest.files), len(manifest.dirs))
        had_entries = _walk(root, path, rel, entries, sub_rules, manifest, skip_dirs, depth)
        if had_entries and (len(manifest.files), len(manifest.dirs)) == before:
            manifest.dirs.pop()  # emptied only by exclusions: leaving it out keeps ids stable
    finally:
        if fd is not None:
            os.close(fd)  # held while the folder's entries were stat'ed (and below it: at most MAX_TREE_DEPTH)


def _folder_ids(folders: Iterable[Path]) -> set[tuple[int, int]]:
    """(device, inode) of each existing folder: the walk recognises them by the ``stat`` it makes anyway,
    whatever path (link, bind mount) leads there, instead of resolving every folder's real path."""
    ids = set()
    for folder in folders:
        try:
            st = os.stat(folder)
        except OSError:
            continue  # not there (yet): nothing of it to leave out
        ids.add((st.st_dev, st.st_ino))
    return ids


def _is_credential_copy(st: os.stat_result, manifest: Manifest) -> bool:
    """A file with several links that is one of the home's credential files (looked up once per manifest)."""
    if manifest._credential_inodes is None:
        from runconfig_jupyter.core.safety.confine import credential_inodes

        manifest._credential_inodes = credential_inodes()
    return (st.st_dev, st.st_ino) in manifest._credential_inodes


def _add_symlink(root: Path, link_path: str, rel: str, manifest: Manifest) -> None:
    """Keep links that stay inside the source folder, as links with a relative target; skip the rest."""
    try:
        target = os.readlink(link_path)
    except OSError as exc:
        manifest.skipped.append((rel, f"unreadable symlink: {exc.strerror}"))
        return
    root_str = str(root)
    parent = os.path.dirname(link_path)
    resolved = os.path.realpath(link_path)
    lexical = os.path.normpath(os.path.join(parent, target))
    inside = all(p == root_str or p.startswith(root_str + os.sep) for p in (resolved, lexical))
    if not inside:
        manifest.skipped.append((rel, f"symlink points outside the source directory (-> {target}); not followed"))
        return
    # Recorded as the shortest relative path (``../proj/x`` inside proj/ becomes ``x``), checked by the rule
    # the extractor applies, so what is packed can always be unpacked.
    relative = inside_link_target(rel, Path(os.path.relpath(lexical, root_str)).as_posix())
    problem = link_problem(rel, relative)
    if problem:
        manifest.skipped.append((rel, f"symlink {problem}; not packaged"))
        return
    manifest.files.append(ManifestEntry(rel, 0, 0o777, kind="symlink", link_target=relative))

"""Which files of a source directory belong in a snapshot.

Azure ML semantics: in each folder, ``.amlignore`` is used when present, otherwise ``.gitignore``
(never both: a folder with an ``.amlignore`` ignores its ``.gitignore``). Rules of a nested file apply
below its folder and override the rules of its parents, as in git. Patterns follow gitignore syntax
(``pathspec.GitIgnoreSpec``), including ``!pattern`` re-includes.

On top of that come built-in excludes that nobody wants uploaded with a training script: version
control data, notebook checkpoints, byte-code caches, virtual environments, and ``.env`` secret files
(these often hold tokens and keys; a snapshot is copied into run folders and containers). The
built-ins are evaluated *before* the user's files, so a user re-includes one with a negation, e.g.
``!.env`` or ``!venv/`` in ``.amlignore``/``.gitignore``.

``pathspec`` (~10 ms and 30 modules to import, a fifth of a fresh submitting script's own imports) is
imported only when a path could match a rule: each rule set is first asked through one combined
expression (its "pre-filter"), and the pre-filters are remembered on disk (core/snapshot/prefilters.py),
so a walk where no path matches any rule never imports it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from runconfig_jupyter.core.errors import SnapshotError
from runconfig_jupyter.core.snapshot.prefilters import remembered_prefilter
from runconfig_jupyter.core.system.records import field, record

if TYPE_CHECKING:
    import pathspec

IGNORE_FILE_NAMES = (".amlignore", ".gitignore")

BUILTIN_EXCLUDES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    ".ipynb_checkpoints/",
    "__pycache__/",
    "*.py[co]",
    ".venv/",
    "venv/",
    ".env",
    ".env.*",
    "!.env.example",
    "!.env.sample",
    "!.env.template",
    ".DS_Store",
)
"""Gitignore-syntax patterns applied to every snapshot before the user's own rules."""

NEVER_PACKAGED: tuple[str, ...] = (
    ".ssh/",
    ".gnupg/",
    ".aws/",
    ".azure/",
    ".kube/",
    "**/.docker/config.json",
    "**/.config/gcloud/",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pypirc",
    ".kaggle/",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
)
"""Credential stores (the names core/confine.py protects under a home), at any depth of a source folder.

Unlike the built-ins these cannot be re-included by a ``.amlignore``/``.gitignore`` negation: a shared
project's ignore file is written by someone else. The user re-includes one only explicitly, by naming it in
the environment variable ``RUNCONFIG_PACKAGE_CREDENTIALS`` (comma-separated patterns as above, e.g. ``.kube/``).
"""
# Last names of those patterns: only an entry with one of them is matched against the patterns (fast walks).
NEVER_PACKAGED_NAMES = frozenset(p.rstrip("/").rsplit("/", 1)[-1] for p in NEVER_PACKAGED)
CREDENTIALS_OVERRIDE_ENV = "RUNCONFIG_PACKAGE_CREDENTIALS"
NEVER_PACKAGED_SOURCE = "credential store (never packaged; see docs/SECURITY.md)"

VENV_MARKERS = ("pyvenv.cfg", "conda-meta", "bin/activate", "Scripts/activate")
"""A folder holding one of these is a virtual or conda environment, whatever its name (``env/``
included). ``env/`` is deliberately not excluded by name alone: it is also a common name for code
(e.g. reinforcement-learning environments), and dropping code silently breaks the run."""


def is_environment(folder: str, present: Callable[[str], bool] | None = None) -> str | None:
    """The marker that makes ``folder`` a Python environment, or None. ``present(name)``: whether the folder's
    listing holds that name, when the caller has listed it; only markers whose first name is there are then
    asked of the file system (a walk lists every folder anyway: most folders cost no stat here)."""
    for marker in VENV_MARKERS:
        if present is not None and not present(marker.split("/", 1)[0]):
            continue
        if os.path.exists(os.path.join(folder, marker)):
            return marker
    return None


@record(frozen=True)
class Decision:
    """Outcome for one path: ``excluded`` plus which rule file decided (``"built-in"`` or a relative path)."""

    excluded: bool
    source: str | None = None


NOT_EXCLUDED = Decision(False)

NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
ANY_DEPTH = "^(?:.+/)?"  # how pathspec begins the expression of a pattern that matches at any depth


@record
class _Level:
    base: str  # folder of the rule file, relative to the root, "" for the root, else "sub/dir/"
    lines: tuple[str, ...]  # the rule file's lines (gitignore syntax)
    source: str
    quick: re.Pattern[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.quick = prefilter(self.lines)

    @cached_property
    def spec(self) -> pathspec.GitIgnoreSpec:
        """Built on the first path the pre-filter lets through (most walks of a clean project: never)."""
        return compile_spec(self.lines)

    def could_match(self, path: str) -> bool:
        """False only when no pattern of this level matches ``path``: then ``check_file`` would say nothing."""
        return self.quick is None or self.quick.match(path) is not None


def compile_spec(lines: Iterable[str]) -> pathspec.GitIgnoreSpec:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(lines))


@lru_cache(maxsize=64)
def prefilter(lines: tuple[str, ...]) -> re.Pattern[str] | None:
    """The compiled pre-filter of a rule set: remembered on disk, else derived from its spec (and remembered)."""
    source = remembered_prefilter(lines, lambda: any_pattern_source(compile_spec(lines)), __file__)
    try:
        return None if source is None else re.compile(source)
    except re.error:  # a damaged remembered entry: the spec decides every path
        return None


def any_pattern_regex(spec: pathspec.GitIgnoreSpec) -> re.Pattern[str] | None:
    """``any_pattern_source`` compiled."""
    source = any_pattern_source(spec)
    return None if source is None else re.compile(source)


def any_pattern_source(spec: pathspec.GitIgnoreSpec) -> str | None:
    """One expression that matches where any of the spec's patterns matches (None: no shortcut).

    Most files of a project match no rule at all; asking one combined expression first spares them the walk
    over every pattern (the walk's main cost on a re-submit). Which rule wins, negations included, is still
    decided by ``check_file`` for the few paths this matches. Named groups are made plain so the
    alternatives can share a name.

    Patterns without a slash (most of them: ``*.pyc``, ``.env``, ``build/``) all begin with the same "at any
    depth" prefix; it is written once in front of their alternation, so a path's folders are scanned once
    instead of once per pattern (about 5x faster for the built-ins; which paths match is the same).
    """
    parts = [
        NAMED_GROUP.sub("(?:", pattern.regex.pattern)
        for pattern in spec.patterns
        if pattern.include is not None and pattern.regex is not None
    ]
    if not parts:
        return r"(?!)"  # matches nothing
    anywhere = [part[len(ANY_DEPTH) :] for part in parts if part.startswith(ANY_DEPTH)]
    alternatives = [part for part in parts if not part.startswith(ANY_DEPTH)]
    if anywhere:
        alternatives.append(ANY_DEPTH + "(?:" + "|".join(f"(?:{part})" for part in anywhere) + ")")
    source = "|".join(f"(?:{part})" for part in alternatives)
    try:
        re.compile(source)
    except re.error:  # a pattern form we do not know how to combine: ask the spec every time
        return None
    return source


@record
class IgnoreRules:
    """Stack of rule sets for the folder being walked; ``enter`` returns the stack for a subfolder."""

    levels: list[_Level] = field(default_factory=list)
    ignore_files: list[str] = field(default_factory=list)

    @classmethod
    def for_root(
        cls, root: Path, extra_excludes: Iterable[str] = (), *, present: Callable[[str], bool] | None = None
    ) -> IgnoreRules:
        builtin = _Level("", (*BUILTIN_EXCLUDES, *extra_excludes), "built-in")
        rules = cls(levels=[builtin])
        return rules.enter(root, "", present)

    def enter(self, folder: Path, rel: str, present: Callable[[str], bool] | None = None) -> IgnoreRules:
        """Rules for ``folder`` (relative path ``rel``, "" for the root): ours plus its own ignore file, if any.
        ``present``: as for :func:`is_environment` (an ignore file the listing does not hold is not looked for)."""
        for name in IGNORE_FILE_NAMES:
            if present is not None and not present(name):
                continue
            candidate = folder / name
            try:  # a folder we may not enter is reported by the walk that lists it, with its path
                if not candidate.is_file():
                    continue
            except OSError:
                continue
            try:
                lines = candidate.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError as exc:  # packaging without the user's exclusions could upload what they meant to keep
                raise SnapshotError(
                    f"cannot read the ignore file {candidate}: {exc.strerror}; fix its permissions"
                ) from None
            source = f"{rel}/{name}" if rel else name
            base = f"{rel}/" if rel else ""
            level = _Level(base, tuple(lines), source)
            return IgnoreRules([*self.levels, level], [*self.ignore_files, source])
        return self

    def decide(self, rel: str, is_dir: bool) -> Decision:
        """Last matching rule wins; deeper rule files are consulted after shallower ones (git's order).

        A credential store (:data:`NEVER_PACKAGED`) is excluded first and whatever the rule files say.
        """
        folder, _, name = rel.rpartition("/")
        return self.in_folder(folder, is_dir)(name)

    def in_folder(self, folder: str, is_dir: bool = False) -> Callable[[str], Decision]:
        """``decide`` for the entries of ``folder`` ("" for the root) that are folders (``is_dir``) or not, given
        an entry's name. Which rule files apply there, and the folder's part of each file's local path, are
        worked out once per folder: the walk asks this once per file of a re-submit, so the per-name work is
        one test of the credential names and one pre-check expression per rule file."""
        prefix = f"{folder}/" if folder else ""
        suffix = "/" if is_dir else ""
        applicable = [
            (prefix[len(level.base) :], level.quick.match if level.quick is not None else None, level)
            for level in self.levels
            if not level.base or prefix.startswith(level.base)
        ]

        def decide_name(name: str) -> Decision:
            if name in NEVER_PACKAGED_NAMES and is_never_packaged(prefix + name, is_dir):
                return Decision(True, NEVER_PACKAGED_SOURCE)
            result = NOT_EXCLUDED
            for local_prefix, could_match, level in applicable:
                local = local_prefix + name + suffix
                if could_match is not None and could_match(local) is None:
                    continue
                check = level.spec.check_file(local)
                if check.include is not None:
                    result = Decision(bool(check.include), level.source)
            return result

        return decide_name

    def decide_venv(self, rel: str, marker: str) -> Decision:
        """A folder detected as an environment is excluded unless a user rule explicitly re-includes it."""
        user = IgnoreRules([lv for lv in self.levels if lv.source != "built-in"]).decide(rel, True)
        if user.source is not None and not user.excluded:
            return user
        return Decision(True, f"built-in ({marker})")


def is_never_packaged(rel: str, is_dir: bool) -> bool:
    """``rel`` (a '/'-separated path below a folder we package or mount) is a credential store."""
    if rel.rsplit("/", 1)[-1] not in NEVER_PACKAGED_NAMES:
        return False
    return _never_packaged(os.environ.get(CREDENTIALS_OVERRIDE_ENV, "")).match_file(rel + "/" if is_dir else rel)


@lru_cache(maxsize=4)
def _never_packaged(override: str) -> pathspec.GitIgnoreSpec:
    """The never-packaged patterns minus those the user named explicitly in RUNCONFIG_PACKAGE_CREDENTIALS."""
    allowed = {part.strip() for part in override.split(",") if part.strip()}
    return compile_spec(p for p in NEVER_PACKAGED if p not in allowed)

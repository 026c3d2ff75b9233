"""Knowing that a folder's objects are still in the store without a ``stat`` per object.

A re-snapshot of an unchanged folder used to ask the store once per file whether its object is still
there (a hash-cache hit names an object; someone may have removed it since: the garbage collector, or a
person). Objects live in 256 shard folders (``objects/<alg>/<xx>/``), and removing or renaming anything in
a folder changes that folder's ``ctime``. So the hash cache also remembers, per shard, the folder's
(inode, ctime) at a moment when every object it names from that shard was known to be present; while a
shard still shows the same pair, nothing in it was removed since, and its objects need no ``stat``. A
shard whose pair changed (a new object stored, one removed) has its objects checked one by one again.

``ctime`` and not ``mtime``: nobody can set a ctime back by hand (``touch -d`` moves it forward).

Timestamps are coarse (a kernel tick, up to 2 s on FAT), so a removal in the same tick as the recorded
ctime could leave it unchanged. A pair is therefore only recorded when the ctime is older, by more than the
file system's timestamp granularity, than the moment the checks of this snapshot began (git's "racy
clean" rule): nothing was removed from it after that moment, and every object was found after it.
Younger shards are simply checked per object next time.
"""

from __future__ import annotations

import os

FINE_MARGIN_NS = 50_000_000  # ns timestamps (ext4, xfs, btrfs, tmpfs): a kernel tick is at most 10 ms
COARSE_MARGIN_NS = 2_000_000_000  # whole-millisecond (or coarser) timestamps: FAT's 2 s, to be safe


def settle_margin(ctime_ns: int) -> int:
    """How much older than "now" a ctime must be to be trusted: file systems with whole-millisecond (or
    coarser) timestamps get the wide margin; a ctime with sub-millisecond digits proves a fine clock."""
    return FINE_MARGIN_NS if ctime_ns % 1_000_000 else COARSE_MARGIN_NS


class ShardStamps:
    """Which shard folders of one algorithm folder are unchanged since the hash cache last recorded them."""

    def __init__(self, alg_root: str, recorded: dict[str, list[int]]):
        self.alg_root = alg_root
        self.recorded = recorded  # shard -> [inode, ctime_ns] as the hash cache stored them
        self._unchanged: dict[str, bool] = {}

    def whole(self) -> dict[str, bool]:
        """Shard -> True when the shard still shows its recorded (inode, ctime): every object the hash cache
        named from it is present. One ``stat`` per recorded shard, asked once per snapshot; the hash cache then
        looks the verdict up per file (a shard it does not list is checked per object)."""
        for shard, pair in self.recorded.items():
            if shard not in self._unchanged:
                self._unchanged[shard] = self._stamp(shard) == (pair[0], pair[1])
        return self._unchanged

    def _stamp(self, shard: str) -> tuple[int, int] | None:
        try:
            st = os.stat(f"{self.alg_root}/{shard}")
        except OSError:
            return None
        return st.st_ino, st.st_ctime_ns

    def record(self, shards: set[str], checked_from_ns: int) -> dict[str, list[int]]:
        """The (inode, ctime) of every shard in ``shards`` (those holding the snapshot's objects; a shard is
        the first two hex digits of a digest), whose objects were each found or stored
        after ``checked_from_ns`` (the clock before the first check). A shard whose ctime is older than that
        moment (by more than the timestamp granularity) lost nothing since, so all of them are still there;
        shards changed later (a new object, a removal) are left out and checked per object next time."""
        stamps: dict[str, list[int]] = {}
        for shard in shards:
            if self._unchanged.get(shard):  # still true: an object stored since changes the ctime, seen next time
                stamps[shard] = self.recorded[shard]
                continue
            stamp = self._stamp(shard)
            if stamp is not None and stamp[1] + settle_margin(stamp[1]) < checked_from_ns:
                stamps[shard] = [stamp[0], stamp[1]]
        return stamps


def mark_changed(shard_dir: str) -> None:
    """Move a shard folder's ctime on (a timestamp change is a metadata change), so no hash cache trusts its
    record of that shard any more. A reader that finds an object missing calls this: should a removal ever
    have slipped past the stamps (a file system that does not update a folder's ctime, a clock far off on a
    network file system), the next snapshot checks that shard's objects one by one and stores the lost one
    again, instead of naming it once more."""
    try:
        os.utime(shard_dir)
    except OSError:
        pass  # a read-only store: nothing can be stored there anyway

"""extract_snapshot refuses crafted archives that would write outside the destination."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from runconfig_jupyter.core.errors import SnapshotError, UnsafeArchive
from runconfig_jupyter.core.snapshot.create import extract_snapshot


def craft(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """members: (name, type, payload) with type file|symlink|hardlink|dir|chardev|fifo."""
    types = {
        "file": tarfile.REGTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "dir": tarfile.DIRTYPE,
        "chardev": tarfile.CHRTYPE,
        "fifo": tarfile.FIFOTYPE,
    }
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.type = types[kind]
            if kind == "file":
                data = payload.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.linkname = payload
                tar.addfile(info)
    return path


MALICIOUS = {
    "absolute": [("/tmp/evil.txt", "file", "x")],
    "dotdot": [("../evil.txt", "file", "x")],
    "dotdot_inside": [("a/../../evil.txt", "file", "x")],
    "symlink_absolute": [("link", "symlink", "/etc/passwd")],
    "symlink_out": [("sub/link", "symlink", "../../outside")],
    "through_symlink": [("d", "symlink", "."), ("d/e", "symlink", "..")],
    "write_through_link": [("d", "symlink", "sub"), ("sub", "dir", ""), ("d/x.txt", "file", "x")],
    "hardlink_out": [("h", "hardlink", "../outside/target")],
    "hardlink_absolute": [("h", "hardlink", "/etc/passwd")],
    "device": [("null", "chardev", "")],
    "fifo": [("pipe", "fifo", "")],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archive_refused_and_nothing_written(tmp_path: Path, case: str) -> None:
    tar_path = craft(tmp_path / f"{case}.tar", [("ok.txt", "file", "fine"), *MALICIOUS[case]])
    dest = tmp_path / "box" / "dest"
    with pytest.raises(UnsafeArchive):
        extract_snapshot(tar_path, dest)
    assert not dest.exists()  # every member is checked before the first write
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{case}.tar"]


def test_links_that_stay_inside_are_extracted(tmp_path: Path) -> None:
    tar_path = craft(
        tmp_path / "ok.tar",
        [
            ("pkg", "dir", ""),
            ("pkg/model.py", "file", "W=1"),
            ("pkg/sub", "dir", ""),
            ("pkg/sub/m", "symlink", "../model.py"),
        ],
    )
    extract_snapshot(tar_path, tmp_path / "dest")
    assert (tmp_path / "dest" / "pkg" / "sub" / "m").read_text() == "W=1"


def test_not_an_archive(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(SnapshotError, match="not a readable tar"):
        extract_snapshot(bogus, tmp_path / "dest")
    with pytest.raises(SnapshotError, match="does not exist"):
        extract_snapshot(tmp_path / "missing.tar", tmp_path / "dest")

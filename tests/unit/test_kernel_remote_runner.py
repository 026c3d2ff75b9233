"""The remote runner's archive rules (they run on the remote machine, so they must hold there alone)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from runconfig_jupyter.targets.kernel import remote_runner as runner


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            archive.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


def test_regular_files_and_folders_are_extracted(tmp_path: Path):
    count = runner.safe_extract_bytes(_tar(_file("a.py", b"print(1)"), _file("pkg/b.txt", b"b")), str(tmp_path))
    assert count == 2 and (tmp_path / "a.py").read_bytes() == b"print(1)" and (tmp_path / "pkg/b.txt").exists()


@pytest.mark.parametrize(
    "member",
    [
        _file("/etc/evil"),
        _file("../evil"),
        _file("pkg/../../evil"),
        _link("link", "/etc/passwd"),
        _link("link", "../../outside"),
        _link("hard", "/etc/passwd", tarfile.LNKTYPE),
    ],
    ids=["absolute", "dotdot", "nested-dotdot", "symlink-absolute", "symlink-out", "hardlink"],
)
def test_unsafe_members_are_refused_before_anything_is_written(tmp_path: Path, member):
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="unsafe archive member"):
        runner.safe_extract_bytes(_tar(_file("first.txt"), member), str(dest))
    assert not (dest / "first.txt").exists()
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_a_folder_that_is_a_link_out_is_refused(tmp_path: Path):
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "pkg").symlink_to(outside)
    with pytest.raises(ValueError, match="unsafe archive member"):
        runner.safe_extract_bytes(_tar(_file("pkg/evil.py")), str(dest))
    assert not (outside / "evil.py").exists()

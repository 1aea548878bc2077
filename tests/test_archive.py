"""Safe extraction of tar archives: unsafe members refused, nothing half-extracted."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dpsim.data import archive as archive_module
from dpsim.data.archive import ArchiveError, safe_extract

pytestmark = pytest.mark.timeout(60)


def _members_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    """Write a tar archive holding regular files ``{name: data}``."""
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


def _bapps_tar(path: Path, split: str) -> Path:
    """A tiny BAPPS-shaped archive (``<split>/traditional/{ref,p0,p1,judge}/000000.*``)."""
    members = {
        f"{split}/traditional/{kind}/{i:06d}.png": os.urandom(100 + i)
        for kind in ("ref", "p0", "p1")
        for i in range(2)
    }
    members.update({f"{split}/traditional/judge/{i:06d}.npy": b"\x93NUMPY" for i in range(2)})
    return _members_tar(path, members)


def _evil_tar(path: Path, info: tarfile.TarInfo, first_benign: bool = True) -> Path:
    """An archive with a benign file first (which must not be extracted) and ``info`` after."""
    with tarfile.open(path, "w:gz") as tar:
        if first_benign:
            good = tarfile.TarInfo("val/ok.txt")
            good.size = 2
            tar.addfile(good, io.BytesIO(b"ok"))
        if info.isreg():
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        else:
            tar.addfile(info)
    return path


def _all_paths(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_extracts_bapps_shaped_archive_into_a_new_folder(tmp_path):
    archive = _bapps_tar(tmp_path / "twoafc_val.tar.gz", "val")
    dest = tmp_path / "dataset" / "2afc"
    files = safe_extract(archive, dest, allowed_prefixes=("val/",))
    assert "val/traditional/ref/000000.png" in files and "val/traditional/judge/000001.npy" in files
    assert len(files) == 8
    with tarfile.open(archive) as tar:
        expected = tar.extractfile("val/traditional/p1/000001.png").read()
    assert (dest / "val/traditional/p1/000001.png").read_bytes() == expected
    assert [p.name for p in dest.parent.iterdir()] == ["2afc"]  # no temporary folder left


def test_merges_two_archives_into_one_folder(tmp_path):
    dest = tmp_path / "dataset" / "2afc"
    train = safe_extract(_bapps_tar(tmp_path / "twoafc_train.tar.gz", "train"), dest)
    val = safe_extract(_bapps_tar(tmp_path / "twoafc_val.tar.gz", "val"), dest)
    assert sorted(p.name for p in dest.iterdir()) == ["train", "val"]
    assert all((dest / name).is_file() for name in train + val)
    assert sorted(p.name for p in (tmp_path / "dataset").iterdir()) == ["2afc"]


def test_existing_entry_is_never_overwritten(tmp_path):
    archive = _bapps_tar(tmp_path / "twoafc_val.tar.gz", "val")
    dest = tmp_path / "2afc"
    safe_extract(archive, dest)
    marker = dest / "val" / "traditional" / "ref" / "000000.png"
    marker.write_bytes(b"edited")
    with pytest.raises(FileExistsError, match="already exists"):
        safe_extract(archive, dest)
    assert marker.read_bytes() == b"edited"
    assert [p.name for p in dest.iterdir()] == ["val"]


def test_allowed_prefixes_reject_an_unexpected_archive(tmp_path):
    archive = _bapps_tar(tmp_path / "jnd.tar.gz", "train")
    with pytest.raises(ArchiveError, match=r"train.*outside the expected folders"):
        safe_extract(archive, tmp_path / "dataset", allowed_prefixes=("jnd/",))
    assert not (tmp_path / "dataset").exists()


def test_dot_slash_names_are_normalised(tmp_path):
    archive = _members_tar(tmp_path / "a.tar", {"./jnd/distances/000000.npy": b"x"}, mode="w")
    files = safe_extract(archive, tmp_path / "out", allowed_prefixes=("jnd",))
    assert files == ["jnd/distances/000000.npy"]


@pytest.mark.parametrize("kind", ["corrupt", "truncated"])
def test_broken_archive_raises_and_leaves_nothing(tmp_path, kind):
    archive = tmp_path / "broken.tar.gz"
    if kind == "corrupt":
        archive.write_bytes(os.urandom(50_000))
    else:
        real = _members_tar(
            tmp_path / "real.tar.gz", {f"val/{i}.png": os.urandom(30_000) for i in range(4)}
        )
        data = real.read_bytes()
        real.unlink()
        archive.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "dataset"
    with pytest.raises(ArchiveError, match=r"corrupt or truncated.*download it again"):
        safe_extract(archive, dest)
    assert _all_paths(tmp_path) == {archive}


def test_truncated_archive_leaves_existing_destination_unchanged(tmp_path):
    dest = tmp_path / "2afc"
    safe_extract(_bapps_tar(tmp_path / "train.tar.gz", "train"), dest)
    real = _members_tar(
        tmp_path / "val.tar.gz", {f"val/{i}.png": os.urandom(30_000) for i in range(4)}
    )
    real.write_bytes(real.read_bytes()[:-100])
    before = _all_paths(tmp_path)
    with pytest.raises(ArchiveError, match=r"val\.tar\.gz is corrupt or truncated"):
        safe_extract(real, dest)
    assert _all_paths(tmp_path) == before


def test_write_failure_midway_leaves_existing_destination_unchanged(tmp_path, monkeypatch):
    dest = tmp_path / "2afc"
    safe_extract(_bapps_tar(tmp_path / "train.tar.gz", "train"), dest)
    archive = _bapps_tar(tmp_path / "val.tar.gz", "val")
    before = _all_paths(tmp_path)
    real_write = archive_module._write_member
    calls = []

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_write(*args, **kwargs)

    monkeypatch.setattr(archive_module, "_write_member", failing_write)
    with pytest.raises(OSError, match="No space left"):
        safe_extract(archive, dest)
    assert _all_paths(tmp_path) == before  # the temporary folder inside dest is gone too


def test_corrupt_gzip_trailer_is_noticed(tmp_path):
    archive = _bapps_tar(tmp_path / "val.tar.gz", "val")
    data = bytearray(archive.read_bytes())
    # Inside the CRC-32 that tarfile alone never reads; noticed only after every member was
    # written to the temporary folder, which must then be removed.
    data[-6] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        safe_extract(archive, tmp_path / "dest")
    assert _all_paths(tmp_path) == {archive}


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def _hardlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info


def _device(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


EVIL = {
    "dotdot": (tarfile.TarInfo("../evil.txt"), "../evil.txt", "'..'"),
    "absolute": (tarfile.TarInfo("/etc/evil"), "/etc/evil", "absolute"),
    "nested-dotdot": (tarfile.TarInfo("a/../../evil"), "a/../../evil", "'..'"),
    "drive": (tarfile.TarInfo("C:/evil"), "C:/evil", "absolute"),
    "symlink-absolute": (_symlink("val/passwd", "/etc/passwd"), "val/passwd", "absolute"),
    "symlink-up": (_symlink("x", "../../outside"), "x", "outside the destination"),
    "symlink-deep-up": (_symlink("val/a/x", "../../../outside"), "val/a/x", "outside"),
    "hardlink-outside": (_hardlink("val/h", "../../outside"), "val/h", "'..'"),
    "hardlink-absolute": (_hardlink("val/h", "/etc/passwd"), "val/h", "absolute"),
    "hardlink-unknown": (_hardlink("val/h", "val/nothing"), "val/h", "not an earlier file"),
    "chardev": (_device("val/tty", tarfile.CHRTYPE), "val/tty", "character device"),
    "fifo": (_device("val/pipe", tarfile.FIFOTYPE), "val/pipe", "FIFO"),
}


@pytest.mark.parametrize("case", sorted(EVIL))
def test_unsafe_member_is_refused_and_nothing_extracted(tmp_path, case):
    info, member, reason = EVIL[case]
    archive = _evil_tar(tmp_path / "evil.tar.gz", info)
    dest = tmp_path / "deep" / "er" / "dest"
    with pytest.raises(ArchiveError) as caught:
        safe_extract(archive, dest)
    assert caught.value.member == member
    assert repr(member) in str(caught.value) and reason in str(caught.value)
    assert str(archive) in str(caught.value)
    assert _all_paths(tmp_path) == {archive}


def test_symlink_chain_through_archive_links_is_resolved_physically(tmp_path):
    # "a/b -> .." points at dest itself (fine); "c -> a/b/.." is "a" textually but really the
    # parent of dest, so it must be refused.
    with tarfile.open(tmp_path / "chain.tar.gz", "w:gz") as tar:
        tar.addfile(_dir("a"))
        tar.addfile(_symlink("a/b", ".."))
        tar.addfile(_symlink("c", "a/b/.."))
    with pytest.raises(ArchiveError, match=r"'c' is a symlink to 'a/b/\.\.', outside"):
        safe_extract(tmp_path / "chain.tar.gz", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_member_beneath_a_symlink_is_refused(tmp_path):
    with tarfile.open(tmp_path / "through.tar.gz", "w:gz") as tar:
        tar.addfile(_symlink("val", "."))
        info = tarfile.TarInfo("val/x.png")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ArchiveError, match=r"'val/x\.png' lies beneath 'val', which is a symlink"):
        safe_extract(tmp_path / "through.tar.gz", tmp_path / "dest")


def test_symlink_loop_is_refused(tmp_path):
    with tarfile.open(tmp_path / "loop.tar.gz", "w:gz") as tar:
        tar.addfile(_symlink("a", "b"))
        tar.addfile(_symlink("b", "a"))
    with pytest.raises(ArchiveError, match="symlink loop"):
        safe_extract(tmp_path / "loop.tar.gz", tmp_path / "dest")


def test_duplicate_member_is_refused(tmp_path):
    with tarfile.open(tmp_path / "dup.tar.gz", "w:gz") as tar:
        for _ in range(2):
            info = tarfile.TarInfo("val/x.png")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ArchiveError, match="more than once"):
        safe_extract(tmp_path / "dup.tar.gz", tmp_path / "dest")


def _dir(name: str, mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    return info


def test_internal_links_are_allowed(tmp_path):
    with tarfile.open(tmp_path / "links.tar.gz", "w:gz") as tar:
        tar.addfile(_dir("val"))
        info = tarfile.TarInfo("val/ref/000000.png")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"png"))
        tar.addfile(_symlink("val/latest.png", "ref/000000.png"))
        tar.addfile(_symlink("val/p0", "../val/ref"))
        tar.addfile(_hardlink("val/copy.png", "val/ref/000000.png"))
    dest = tmp_path / "dest"
    files = safe_extract(tmp_path / "links.tar.gz", dest)
    assert files == ["val/ref/000000.png", "val/copy.png"]
    assert (dest / "val/latest.png").is_symlink()
    assert (dest / "val/latest.png").read_bytes() == b"png"
    assert (dest / "val/p0/000000.png").read_bytes() == b"png"
    assert (dest / "val/copy.png").read_bytes() == b"png"


def test_permissions_are_sanitised(tmp_path):
    with tarfile.open(tmp_path / "modes.tar.gz", "w:gz") as tar:
        tar.addfile(_dir("val", mode=0o500))
        info = tarfile.TarInfo("val/run.sh")
        info.size, info.mode = 2, 0o4700  # setuid, unreadable by others
        tar.addfile(info, io.BytesIO(b"#!"))
    dest = tmp_path / "dest"
    safe_extract(tmp_path / "modes.tar.gz", dest)
    mode = (dest / "val/run.sh").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)
    assert stat.S_IMODE(mode) == 0o744
    assert stat.S_IMODE((dest / "val").stat().st_mode) == 0o755
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755


def test_missing_archive_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="download it first"):
        safe_extract(tmp_path / "nope.tar.gz", tmp_path / "dest")

"""Downloads against a real local HTTP server: resume, retries, mirrors, fast offline failure."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from local_http import LocalHTTPServer, silent_port, unused_port

from dpsim.data import download
from dpsim.data.download import DownloadError, DownloadResult, download_file, sha256_file

pytestmark = pytest.mark.timeout(60)

PAYLOAD = os.urandom(3 * (1 << 20) + 12345)  # a little over 3 chunks
FAST = {"timeout": 5.0, "progress": False}


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the retry pauses instead of sleeping."""
    recorded: list[float] = []
    monkeypatch.setattr(download, "sleep", recorded.append)
    return recorded


@pytest.fixture
def server():
    with LocalHTTPServer({"/bapps/file.bin": PAYLOAD}) as srv:
        yield srv


# ------------------------------------------------------------------------------------ download


def test_full_download_matches_and_leaves_no_part_file(server, tmp_path):
    dest = tmp_path / "out" / "file.bin"
    result = download_file(server.url("/bapps/file.bin"), dest, **FAST)
    assert isinstance(result, DownloadResult)
    assert dest.read_bytes() == PAYLOAD
    assert result.sha256 == hashlib.sha256(PAYLOAD).hexdigest() == sha256_file(dest)
    assert result.size == len(PAYLOAD) and result.path == dest
    assert result.url == server.url("/bapps/file.bin")
    assert not dest.with_name("file.bin.part").exists()
    assert server.requests[0].range is None


def test_existing_destination_is_not_downloaded_again(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"already here")
    result = download_file(server.url("/bapps/file.bin"), dest, **FAST)
    assert result.url is None and result.size == 12
    assert result.sha256 == hashlib.sha256(b"already here").hexdigest()
    assert server.requests == []


def test_dropped_connection_resumes_with_range(server, tmp_path, sleeps):
    # The server sends the full Content-Length, then closes after 1 MB: urllib's read loop just
    # ends early without an error, so only the byte count reveals the truncation.
    server.faults.drop_times, server.faults.drop_after = 2, 1_000_000
    dest = tmp_path / "file.bin"
    result = download_file(server.url("/bapps/file.bin"), dest, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert result.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    ranges = [r.range for r in server.requests]
    assert ranges == [None, "bytes=1000000-", "bytes=2000000-"]
    assert sleeps == [1.0, 1.0]  # each attempt made progress: no growing backoff


def test_connection_reset_is_retried(server, tmp_path, sleeps):
    # A TCP reset may discard bytes already in flight, so how much survives varies.
    server.faults.drop_times, server.faults.drop_after = 2, 1_000_000
    server.faults.drop_mode = "reset"
    dest = tmp_path / "file.bin"
    download_file(server.url("/bapps/file.bin"), dest, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 3 and len(sleeps) == 2


def test_stalled_connection_times_out_and_resumes(server, tmp_path, sleeps):
    server.faults.drop_times, server.faults.drop_after = 1, 5000
    server.faults.drop_mode, server.faults.stall_seconds = "stall", 10
    dest = tmp_path / "file.bin"
    start = time.monotonic()
    download_file(server.url("/bapps/file.bin"), dest, timeout=0.5, progress=False)
    assert time.monotonic() - start < 5
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1].range == "bytes=5000-"


def test_server_ignoring_range_restarts_from_zero(server, tmp_path, sleeps):
    server.faults.drop_times, server.faults.drop_after = 1, 700_000
    server.faults.ignore_range = True
    dest = tmp_path / "file.bin"
    download_file(server.url("/bapps/file.bin"), dest, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert [r.range for r in server.requests] == [None, "bytes=700000-"]


def test_existing_part_file_is_resumed(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.with_name("file.bin.part").write_bytes(PAYLOAD[:1234])
    download_file(server.url("/bapps/file.bin"), dest, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert [r.range for r in server.requests] == ["bytes=1234-"]


def test_complete_part_file_answered_416_is_accepted(server, tmp_path):
    dest = tmp_path / "file.bin"
    dest.with_name("file.bin.part").write_bytes(PAYLOAD)
    result = download_file(server.url("/bapps/file.bin"), dest, **FAST)
    assert dest.read_bytes() == PAYLOAD and result.size == len(PAYLOAD)
    assert [r.range for r in server.requests] == [f"bytes={len(PAYLOAD)}-"]


def test_oversized_part_file_restarts(server, tmp_path, sleeps):
    dest = tmp_path / "file.bin"
    dest.with_name("file.bin.part").write_bytes(PAYLOAD + b"junk")
    download_file(server.url("/bapps/file.bin"), dest, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert [r.range for r in server.requests] == [f"bytes={len(PAYLOAD) + 4}-", None]


def test_404_is_not_retried_and_named_in_the_error(server, tmp_path, sleeps):
    url = server.url("/missing.tar.gz")
    with pytest.raises(DownloadError) as info:
        download_file(url, tmp_path / "x.tar.gz", manual_hint="Place it by hand.", **FAST)
    message = str(info.value)
    assert url in message and "404" in message and "Place it by hand." in message
    assert str(tmp_path / "x.tar.gz") in message
    assert len(server.requests_for("/missing.tar.gz")) == 1 and sleeps == []
    assert isinstance(info.value, OSError)
    assert info.value.failures[0][0] == url


def test_404_falls_through_to_a_working_mirror(server, tmp_path, sleeps):
    urls = [server.url("/missing.bin"), server.url("/bapps/file.bin")]
    result = download_file(urls, tmp_path / "file.bin", **FAST)
    assert result.url == urls[1]
    assert (tmp_path / "file.bin").read_bytes() == PAYLOAD
    assert len(server.requests_for("/missing.bin")) == 1 and sleeps == []


def test_unreachable_host_fails_fast_with_the_hint(tmp_path):
    url = f"http://127.0.0.1:{unused_port()}/jnd.tar.gz"
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_file(
            url, tmp_path / "jnd.tar.gz", manual_hint="Download jnd by hand.", progress=False
        )
    assert time.monotonic() - start < 5  # real backoff: one retry after 1 s
    message = str(info.value)
    assert url in message and "Download jnd by hand." in message
    assert "refused" in message.lower()
    assert not (tmp_path / "jnd.tar.gz").exists()


def test_500_twice_then_success_after_backoff(server, tmp_path, sleeps):
    server.faults.fail_times = 2
    dest = tmp_path / "file.bin"
    download_file(server.url("/bapps/file.bin"), dest, backoff=0.5, **FAST)
    assert dest.read_bytes() == PAYLOAD
    assert sleeps == [0.5, 1.0]
    assert len(server.requests) == 3


def test_persistent_500_gives_up_after_retries(server, tmp_path, sleeps):
    server.faults.fail_times = 100
    with pytest.raises(DownloadError, match=r"HTTP 500.*after 3 attempts"):
        download_file(server.url("/bapps/file.bin"), tmp_path / "f.bin", retries=2, **FAST)
    assert sleeps == [1.0, 2.0] and len(server.requests) == 3


def test_403_is_not_retried(server, tmp_path, sleeps):
    server.faults.fail_times, server.faults.fail_status = 1, 403
    with pytest.raises(DownloadError, match=r"HTTP 403.*not retried"):
        download_file(server.url("/bapps/file.bin"), tmp_path / "f.bin", **FAST)
    assert sleeps == []


def test_file_url_mirror_works(tmp_path):
    source = tmp_path / "local.bin"
    source.write_bytes(PAYLOAD[:5000])
    result = download_file(["not a url", source.as_uri()], tmp_path / "copy.bin", **FAST)
    assert (tmp_path / "copy.bin").read_bytes() == PAYLOAD[:5000]
    assert result.url == source.as_uri()


def test_progress_bar_does_not_break_the_download(server, tmp_path):
    dest = tmp_path / "file.bin"
    download_file(server.url("/bapps/file.bin"), dest, timeout=5.0, progress=True)
    assert dest.read_bytes() == PAYLOAD


# ------------------------------------------------------------------------- connect timeout


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_host_that_drops_packets_fails_within_the_connect_timeout(tmp_path, scheme):
    """Before the connect timeout had its own setting, this took 2 x `timeout` (60 s) + 1 s."""
    with silent_port() as port:
        url = f"{scheme}://127.0.0.1:{port}/jnd.tar.gz"
        start = time.monotonic()
        with pytest.raises(DownloadError) as info:
            download_file(
                url,
                tmp_path / "jnd.tar.gz",
                timeout=30.0,
                connect_timeout=0.5,
                backoff=0.1,
                progress=False,
            )
        elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 4  # two attempts of 0.5 s and a 0.1 s pause
    assert "cannot connect" in str(info.value) and "after 2 attempts" in str(info.value)


def test_reads_wait_for_the_read_timeout_not_the_connect_timeout(server, tmp_path, sleeps, caplog):
    """A server that pauses 1 s mid-body is not cut off by a 0.2 s connect timeout."""
    server.faults.drop_times, server.faults.drop_after = 1, 1000
    server.faults.drop_mode, server.faults.stall_seconds = "stall", 1.0
    dest = tmp_path / "file.bin"
    download_file(
        server.url("/bapps/file.bin"), dest, timeout=5.0, connect_timeout=0.2, progress=False
    )
    assert dest.read_bytes() == PAYLOAD
    assert "connection closed early: got 1000" in caplog.text and "timed out" not in caplog.text

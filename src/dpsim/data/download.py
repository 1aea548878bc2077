"""Robust download of large files.

Written for the BAPPS archives (three ``.tar.gz`` files of 0.2 to 5.3 GB, served from a base URL
with mirrors) but generic:

- :func:`download_file` streams a URL to ``<dest>.part``, resumes it with ``Range`` requests after
  a dropped connection, retries transient failures with exponential backoff, falls through to
  mirror URLs, and renames the part file onto ``dest`` only once every byte has arrived. Making
  the connection has its own short timeout, separate from the timeout of each read, so a host
  that drops packets fails in seconds while a slow transfer is not cut off.
- :func:`sha256_file` hashes a file in chunks.

Extracting the archives safely is :mod:`dpsim.data.archive`'s job.

Only the standard library is used, plus tqdm for the progress bar.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import logging
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

__all__ = ["DownloadError", "DownloadResult", "download_file", "sha256_file"]

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
"""Bytes read and written per step while downloading, extracting and hashing (1 MiB)."""

USER_AGENT = "dpsim-downloader/1.0"
"""Sent with every request; some servers refuse urllib's default agent."""

CONNECT_ATTEMPTS = 2
"""A URL whose host cannot be reached at all (refused, DNS failure, connect timeout) is tried at
most this many times, so that working offline fails in seconds instead of minutes: against a host
that drops packets, ``CONNECT_ATTEMPTS * connect_timeout + backoff`` seconds per URL."""

CONNECT_TIMEOUT = 5.0
"""Default seconds to wait for a TCP connection. The kernel resends an unanswered SYN after 1 and
3 s, so 5 s covers two resends; a reachable host answers in well under a second."""

sleep: Callable[[float], None] = time.sleep
"""The pause between retries; tests replace it (``monkeypatch.setattr(download, "sleep", ...)``)."""


class DownloadError(OSError):
    """No URL delivered the file.

    Attributes:
        dest: Where the file should have been written.
        failures: ``(url, last error)`` for every URL tried, in order.
    """

    def __init__(
        self, message: str, *, dest: Path | None = None, failures: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(message)
        self.dest = dest
        self.failures = tuple(failures)


@dataclass(frozen=True)
class DownloadResult:
    """A file that is completely on disk.

    Attributes:
        path: The downloaded file (the ``dest`` given to :func:`download_file`).
        url: The URL that delivered it; ``None`` when the file was already there.
        size: Its size in bytes.
        sha256: Its SHA-256 as lowercase hex, for provenance records and checksum checks.
    """

    path: Path
    url: str | None
    size: int
    sha256: str


# --------------------------------------------------------------------------------------- hashing


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = CHUNK_SIZE) -> str:
    """Hash a file without loading it into memory.

    Args:
        path: The file to hash.
        chunk_size: Bytes read per step.

    Returns:
        The SHA-256 digest as lowercase hex.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# -------------------------------------------------------------------------------------- download


class _AttemptError(Exception):
    """One request for one URL failed; ``retry`` says whether asking that URL again may help."""

    def __init__(self, reason: str, *, retry: bool, connect: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.connect = connect


def download_file(
    urls: str | Sequence[str],
    dest: str | os.PathLike[str],
    *,
    timeout: float = 30.0,
    connect_timeout: float = CONNECT_TIMEOUT,
    retries: int = 4,
    backoff: float = 1.0,
    manual_hint: str = "",
    progress: bool = True,
) -> DownloadResult:
    """Download a file, resuming and retrying until it is complete, trying mirrors in order.

    The body is streamed to ``<dest>.part`` and renamed onto ``dest`` only once the number of
    bytes received equals the size the server announced (a dropped connection can end a urllib
    read loop early without any error, so the count is always checked). A part file left by an
    earlier attempt or run is resumed with ``Range: bytes=N-``; a server that ignores the range
    (answers 200) restarts the file from zero. Connection errors, timeouts, truncated bodies and
    5xx / 408 / 429 answers are retried after ``backoff * 2**k`` seconds, where ``k`` counts the
    failed attempts in a row that added no bytes (so a long download over a flaky link keeps
    going as long as it makes progress). Other 4xx answers (404, 403, ...) are not retried: the
    next URL is tried. A host that cannot be reached at all is tried at most
    :data:`CONNECT_ATTEMPTS` times, so that offline the call fails within seconds.

    Args:
        urls: One URL or several tried in order (the primary, then mirrors). Anything urllib
            opens works, including ``file://`` URLs of a local copy. Mirrors must serve the same
            bytes: a part file left by one URL is resumed from the next.
        dest: Where the file goes. If it exists already it is not downloaded again.
        timeout: Seconds to wait for the answer's headers and for each read before giving up
            on the attempt.
        connect_timeout: Seconds to wait for the connection itself (name resolution is not
            covered; it fails fast when offline). Short, so that a host that drops packets
            fails in ``CONNECT_ATTEMPTS * connect_timeout + backoff`` seconds per URL.
        retries: Extra attempts per URL after a retryable failure that made no progress.
        backoff: Seconds before the first retry; doubled for each further one.
        manual_hint: Appended to the error when every URL fails: how to obtain the file by hand
            and where to place it.
        progress: Show a tqdm progress bar (on stderr).

    Returns:
        The path, URL used, size and SHA-256 of the complete file.

    Raises:
        DownloadError: Every URL failed; the message names each URL with its last error, the
            destination and ``manual_hint``. A partial ``.part`` file is kept for the next call.
        ValueError: ``urls`` is empty.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list:
        raise ValueError(f"download_file needs at least one URL for {dest}")
    dest = Path(dest)
    if dest.exists():
        log.info("%s is already present; not downloading it again", dest)
        return DownloadResult(dest, None, dest.stat().st_size, sha256_file(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures: list[tuple[str, str]] = []
    for url in url_list:
        log.info("Downloading %s to %s", url, dest)
        try:
            _download_from(
                url,
                part,
                label=dest.name,
                timeouts=(connect_timeout, timeout),
                retries=retries,
                backoff=backoff,
                progress=progress,
            )
        except _AttemptError as failure:
            log.warning("Giving up on %s: %s", url, failure.reason)
            failures.append((url, failure.reason))
            continue
        os.replace(part, dest)
        result = DownloadResult(dest, url, dest.stat().st_size, sha256_file(dest))
        log.info("Downloaded %s (%d bytes, sha256 %s)", dest, result.size, result.sha256)
        return result
    message = _failure_message(dest, part, failures, manual_hint)
    raise DownloadError(message, dest=dest, failures=failures)


def _failure_message(
    dest: Path, part: Path, failures: Sequence[tuple[str, str]], manual_hint: str
) -> str:
    """Explain a failed download: every URL with its last error, the destination, the hint."""
    lines = [f"Could not download {dest.name} to {dest}; tried {len(failures)} URL(s):"]
    lines += [f"  - {url}: {reason}" for url, reason in failures]
    if part.exists():
        lines.append(f"The partial file {part} is kept; the next attempt resumes it.")
    if manual_hint:
        lines.append(manual_hint)
    return "\n".join(lines)


def _download_from(
    url: str,
    part: Path,
    *,
    label: str,
    timeouts: tuple[float, float],
    retries: int,
    backoff: float,
    progress: bool,
) -> None:
    """Fetch ``url`` into ``part`` until complete, retrying what may be transient.

    ``timeouts`` is ``(connect, read)`` in seconds.

    Raises:
        _AttemptError: The URL failed for good; its reason says why and after how many attempts.
    """
    attempts = 0
    no_progress = 0  # failed attempts in a row that did not grow the part file past `largest`
    connect_failures = 0
    largest = _size(part)
    while True:
        attempts += 1
        try:
            _attempt(url, part, label=label, timeouts=timeouts, progress=progress)
            return
        except _AttemptError as failure:
            if not failure.retry:
                failure.reason += " (not retried)"
                raise
            size = _size(part)
            no_progress = 0 if size > largest else no_progress + 1
            largest = max(largest, size)
            connect_failures += failure.connect
            if no_progress > retries or connect_failures >= CONNECT_ATTEMPTS:
                failure.reason += f" (after {attempts} attempts)"
                raise
            delay = backoff * 2 ** max(no_progress - 1, 0)
            log.warning(
                "%s: attempt %d failed (%s); retrying in %.1f s", url, attempts, failure, delay
            )
            sleep(delay)


def _size(path: Path) -> int:
    """Size of ``path`` in bytes, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _attempt(
    url: str, part: Path, *, label: str, timeouts: tuple[float, float], progress: bool
) -> None:
    """One request: resume or restart ``part`` from ``url`` and check that it is complete.

    Raises:
        _AttemptError: The request failed or the body was incomplete.
    """
    offset = _size(part)
    response = _open(url, offset, timeouts, part)
    if response is None:  # a 416 answer confirmed that the part file is already complete
        return
    with response:
        start, total = _body_plan(response, offset, part)
        received = _stream(response, part, start=start, total=total, label=label, show=progress)
    if total is None:
        log.warning("%s sent no length; cannot check that %s is complete", url, part.name)
    elif received < total:
        raise _AttemptError(f"connection closed early: got {received} of {total} bytes", retry=True)
    elif received > total:
        part.unlink(missing_ok=True)
        raise _AttemptError(
            f"got {received} bytes but the server announced {total}; restarting", retry=True
        )


def _open(
    url: str, offset: int, timeouts: tuple[float, float], part: Path
) -> http.client.HTTPResponse | None:
    """Send the request (with ``Range`` when resuming) and classify any failure.

    The connection must be made within ``timeouts[0]`` seconds; the answer and each read then
    have ``timeouts[1]``.

    Returns:
        The open response, or ``None`` when the server says (416) that ``part`` is complete.
    """
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        request = urllib.request.Request(url, headers=headers)
        connect, read = timeouts
        opener = urllib.request.build_opener(_HTTPHandler(connect), _HTTPSHandler(connect))
        return opener.open(request, timeout=read)
    except urllib.error.HTTPError as err:
        with err:
            _http_error(err, offset, part)  # returns only for a complete part file
            return None
    except urllib.error.URLError as err:
        if isinstance(err.reason, OSError):
            reason = f"cannot connect: {_describe(err.reason)}"
            raise _AttemptError(reason, retry=True, connect=True) from err
        raise _AttemptError(f"cannot open: {err.reason}", retry=False) from err
    except ValueError as err:  # not a URL at all
        raise _AttemptError(f"invalid URL: {err}", retry=False) from err
    except (http.client.HTTPException, OSError) as err:
        raise _AttemptError(f"no answer: {_describe(err)}", retry=True) from err


def _connect_within(
    connect_timeout: float,
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """Open a TCP connection within ``connect_timeout`` s, then give reads ``timeout`` s."""
    sock = socket.create_connection(address, connect_timeout, source_address)
    sock.settimeout(timeout)
    return sock


class _ConnectTimeout:
    """Makes an ``http.client`` connection connect within ``connect_timeout`` seconds while its
    ``timeout`` (urllib's ``timeout=``) governs only the reads; http.client connects through the
    instance's ``_create_connection``, so replacing it covers HTTP and HTTPS (TLS follows)."""

    def __init__(self, *args: Any, connect_timeout: float = CONNECT_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(_connect_within, connect_timeout)


class _HTTPConnection(_ConnectTimeout, http.client.HTTPConnection):
    """HTTP with a connect timeout of its own."""


class _HTTPSConnection(_ConnectTimeout, http.client.HTTPSConnection):
    """HTTPS with a connect timeout of its own."""


class _HTTPHandler(urllib.request.HTTPHandler):
    """urllib's handler for ``http://``, connecting within ``connect_timeout`` seconds."""

    def __init__(self, connect_timeout: float) -> None:
        super().__init__()
        self.connect_timeout = connect_timeout

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, req, connect_timeout=self.connect_timeout)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's handler for ``https://`` (default certificate checks), connecting within
    ``connect_timeout`` seconds."""

    def __init__(self, connect_timeout: float) -> None:
        self.ssl_context = ssl.create_default_context()
        super().__init__(context=self.ssl_context)
        self.connect_timeout = connect_timeout

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _HTTPSConnection, req, context=self.ssl_context, connect_timeout=self.connect_timeout
        )


def _http_error(err: urllib.error.HTTPError, offset: int, part: Path) -> None:
    """Handle an HTTP error status: a 416 may mean the part file is complete.

    Raises:
        _AttemptError: Always, except for a 416 whose ``Content-Range`` total equals the size of
            the part file.
    """
    status = f"HTTP {err.code} {err.reason}".strip()
    if err.code == 416 and offset:
        total = _content_range(err.headers.get("Content-Range", ""))[2]
        if total == offset:
            log.info("%s is already complete (%d bytes)", part.name, offset)
            return None
        part.unlink(missing_ok=True)
        raise _AttemptError(
            f"{status}: the partial file ({offset} bytes) does not fit the remote file"
            f" ({total if total is not None else 'unknown'} bytes); restarting from zero",
            retry=True,
        )
    retry = err.code >= 500 or err.code in (408, 429)
    raise _AttemptError(status, retry=retry)


def _describe(err: BaseException) -> str:
    """A short description of an exception that names its type when its text is empty."""
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _content_range(value: str) -> tuple[int | None, int | None, int | None]:
    """Parse ``Content-Range: bytes first-last/total`` (or ``bytes */total``).

    Returns:
        ``(first, last, total)``, each ``None`` when absent, ``*`` or unparsable.
    """
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)\s*/\s*(\d+|\*)\s*", value or "")
    if match is None:
        return None, None, None
    first, last, total = (int(g) if g and g != "*" else None for g in match.groups())
    return first, last, total


def _int_header(value: str | None) -> int | None:
    """An integer header such as Content-Length, ``None`` when absent or malformed."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _body_plan(
    response: http.client.HTTPResponse, offset: int, part: Path
) -> tuple[int, int | None]:
    """Decide whether the body appends to ``part`` or replaces it, and how big the file is.

    Returns:
        ``(start, total)``: the byte offset the body starts at (``offset`` or 0) and the complete
        file's size (``None`` when the server does not say).

    Raises:
        _AttemptError: The answer cannot be used (an unexpected status or range).
    """
    status = getattr(response, "status", None)  # None for file:// URLs
    length = _int_header(response.headers.get("Content-Length"))
    if status == 206:
        first, _, total = _content_range(response.headers.get("Content-Range", ""))
        if first != offset:
            part.unlink(missing_ok=True)
            raise _AttemptError(
                f"asked for bytes from {offset} but got a range starting at {first}; restarting",
                retry=True,
            )
        if total is None and length is not None:
            total = offset + length
        return offset, total
    if status in (None, 200):
        if offset:
            log.info("The server ignored the Range request; restarting %s from zero", part.name)
        return 0, length
    raise _AttemptError(f"unexpected HTTP {status}", retry=False)


def _stream(
    response: http.client.HTTPResponse,
    part: Path,
    *,
    start: int,
    total: int | None,
    label: str,
    show: bool,
) -> int:
    """Copy the body into ``part`` (appending when ``start`` > 0) with a progress bar.

    Returns:
        The size of ``part`` afterwards. The caller compares it with the announced total, since a
        dropped connection may just end the body early.

    Raises:
        _AttemptError: The connection failed while reading; what arrived so far stays in
            ``part`` for the next attempt to resume.
    """
    # read1 returns what has arrived (at most one socket read), so a stalled connection that
    # times out loses nothing already received; read(n) would wait to fill all n bytes.
    read = getattr(response, "read1", response.read)
    received = start
    bar = tqdm(
        total=total,
        initial=start,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=label,
        disable=not show,
        mininterval=1.0,
    )
    with bar, part.open("ab" if start else "wb") as out:
        while True:
            try:
                chunk = read(CHUNK_SIZE)
            except (http.client.HTTPException, OSError) as err:
                out.flush()
                raise _AttemptError(
                    f"connection lost after {received} bytes: {_describe(err)}", retry=True
                ) from err
            if not chunk:
                break
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    return received

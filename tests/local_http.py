"""A real HTTP server on 127.0.0.1 for tests, with switchable faults.

It serves files from a dict ``{path: bytes}`` and/or a folder, supports ``Range: bytes=N-`` and
``bytes=N-M`` (206 with ``Content-Range``; 416 past the end), answers 404 for unknown paths, and
records every request it receives. Faults, set through :attr:`LocalHTTPServer.faults` at any time:

- ``fail_times`` / ``fail_status``: answer the next N requests with that status (500 by default).
- ``drop_times`` / ``drop_after``: on the next N file responses, send the full headers (the real
  ``Content-Length``), then only ``drop_after`` bytes of the body, then end the connection:
  ``drop_mode="close"`` closes it cleanly (the client just sees the body end early),
  ``"reset"`` aborts it (the client gets ``ConnectionResetError``), ``"stall"`` keeps it open and
  silent for ``stall_seconds`` (to exercise client read timeouts) before closing it.
- ``ignore_range``: answer 200 with the whole file even when a ``Range`` was asked for.

Usage::

    from local_http import LocalHTTPServer

    with LocalHTTPServer({"/data/a.bin": payload}) as server:
        server.faults.drop_times, server.faults.drop_after = 1, 1000
        fetch(server.url("/data/a.bin"))
        assert server.requests[-1].range == "bytes=1000-"

:func:`silent_port` gives a port whose connection attempts go unanswered, like a host behind a
firewall that drops packets (no refusal: the client waits for its connect timeout).

or as a pytest fixture::

    @pytest.fixture
    def server():
        with LocalHTTPServer() as srv:
            yield srv

Everything is bounded in time: connections time out after ``handler_timeout`` seconds, handler
threads are daemons, stalls end when the server closes, and :meth:`LocalHTTPServer.close` waits
at most a few seconds.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Literal

import pytest

__all__ = ["Faults", "LocalHTTPServer", "RecordedRequest", "silent_port", "unused_port"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received.

    Attributes:
        method: ``GET`` or ``HEAD``.
        path: The request path, query string included.
        range: The ``Range`` header, ``None`` when absent.
        headers: All request headers.
    """

    method: str
    path: str
    range: str | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Faults:
    """Faults the server injects; counters go down as faults are served.

    Attributes:
        fail_times: Answer this many upcoming requests with ``fail_status``.
        fail_status: The status used by ``fail_times`` (e.g. 500, 503, 403).
        drop_times: Cut this many upcoming file responses short.
        drop_after: Body bytes sent before a cut.
        drop_mode: How the connection ends: ``"close"`` (clean close, no error on the client),
            ``"reset"`` (TCP reset) or ``"stall"`` (silence for ``stall_seconds``, then close).
        stall_seconds: How long a ``"stall"`` lasts at most (it ends early when the server closes).
        ignore_range: Answer 200 with the whole file even when a ``Range`` was requested.
    """

    fail_times: int = 0
    fail_status: int = 500
    drop_times: int = 0
    drop_after: int = 0
    drop_mode: Literal["close", "reset", "stall"] = "close"
    stall_seconds: float = 5.0
    ignore_range: bool = False


def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (connecting to it is refused).

    Returns:
        The port number of a socket that was bound and closed again; the kernel does not hand
        it out again right away, so it serves as an "unreachable host" in tests.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def silent_port(probe_timeout: float = 0.3) -> Iterator[int]:
    """A port on 127.0.0.1 that never answers a connection attempt, as a host that drops packets.

    A socket listens with a backlog of 0 and never accepts; a few connections fill its accept
    queue, after which the kernel (Linux, with the default ``tcp_abort_on_overflow = 0``) drops
    every further SYN silently, so ``connect`` waits for its timeout. The port is probed first:
    where the kernel answers anyway, the calling test is skipped rather than trusted.

    Yields:
        The port number; everything is closed when the block ends.
    """
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):  # more than the queue holds; the surplus waits in SYN_SENT
            filler = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        time.sleep(0.1)  # let the handshakes of the fillers complete
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(probe_timeout)
            try:
                probe.connect(("127.0.0.1", port))
            except TimeoutError:
                pass
            else:
                pytest.skip("this kernel answers connections beyond a full backlog")
        yield port


class LocalHTTPServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) running in a daemon thread.

    Args:
        files: Served paths (``"/a/b.tar.gz"``) and their bytes. Can also be changed later
            through :attr:`files`.
        root: A folder whose files are served too (path ``/x/y`` -> ``root/x/y``); ``files``
            takes precedence.
        handler_timeout: Seconds a connection may stay idle before the server drops it.

    Attributes:
        files: The served in-memory files.
        faults: The faults to inject (see :class:`Faults`); change them at any time.
        requests: Every request received, in order.
    """

    def __init__(
        self,
        files: Mapping[str, bytes] | None = None,
        *,
        root: str | Path | None = None,
        handler_timeout: float = 10.0,
    ) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.root = Path(root) if root is not None else None
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self._handler_timeout = handler_timeout
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> LocalHTTPServer:
        """Bind a free port and serve in a background thread.

        Returns:
            The server itself, for chaining.
        """
        handler = type(
            "BoundHandler", (_Handler,), {"owner": self, "timeout": self._handler_timeout}
        )
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, end stalled responses and release the port (waits at most ~5 s)."""
        self.closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses and records

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError("LocalHTTPServer is not running; use start() or a with block")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The full URL of ``path`` (with or without a leading slash)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The recorded requests for one path, in order."""
        wanted = "/" + path.lstrip("/")
        with self.lock:
            return [r for r in self.requests if r.path == wanted]

    # -- used by the handler

    def lookup(self, path: str) -> bytes | None:
        """The bytes served at ``path``, or ``None`` (-> 404)."""
        path = path.split("?", 1)[0]
        if path in self.files:
            return self.files[path]
        if self.root is None:
            return None
        candidate = (self.root / path.lstrip("/")).resolve()
        root = self.root.resolve()
        if root not in candidate.parents or not candidate.is_file():
            return None
        return candidate.read_bytes()

    def take_fault(self, counter: Literal["fail_times", "drop_times"]) -> bool:
        """Consume one occurrence of a counted fault; whether it applies to this request."""
        with self.lock:
            remaining = getattr(self.faults, counter)
            if remaining <= 0:
                return False
            setattr(self.faults, counter, remaining - 1)
            return True


class _Handler(BaseHTTPRequestHandler):
    """Serves :class:`LocalHTTPServer` files; ``owner`` is set on a per-server subclass."""

    owner: LocalHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: pytest shows the test's own output."""

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def _respond(self, *, body: bool) -> None:
        owner = self.owner
        range_header = self.headers.get("Range")
        with owner.lock:
            owner.requests.append(
                RecordedRequest(self.command, self.path, range_header, dict(self.headers.items()))
            )
        if owner.take_fault("fail_times"):
            self._send_simple(owner.faults.fail_status, b"injected failure\n", body=body)
            return
        data = owner.lookup(self.path)
        if data is None:
            self._send_simple(HTTPStatus.NOT_FOUND, b"not found\n", body=body)
            return
        status, start, end = self._select_range(range_header, len(data))
        if status == HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE:
            headers = {"Content-Range": f"bytes */{len(data)}"}
            self._send_simple(status, b"", body=body, headers=headers)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if not body:
            return
        payload = data[start:end]
        if owner.take_fault("drop_times"):
            self._drop(payload[: owner.faults.drop_after])
            return
        self.wfile.write(payload)

    def _select_range(self, header: str | None, size: int) -> tuple[int, int, int]:
        """``(status, start, end)`` for the request; end is exclusive."""
        if header is None or self.owner.faults.ignore_range:
            return HTTPStatus.OK, 0, size
        match = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", header)
        if match is None:
            return HTTPStatus.OK, 0, size  # unsupported forms (suffix, multiple): whole file
        start = int(match.group(1))
        end = min(int(match.group(2)) + 1, size) if match.group(2) else size
        if start >= size or start >= end:
            return HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, 0, 0
        return HTTPStatus.PARTIAL_CONTENT, start, end

    def _send_simple(
        self,
        status: int,
        payload: bytes,
        *,
        body: bool,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """A complete small answer (errors, 416)."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if body:
            self.wfile.write(payload)

    def _drop(self, partial: bytes) -> None:
        """Send part of the body, then end the connection as ``faults.drop_mode`` says."""
        faults = self.owner.faults
        self.wfile.write(partial)
        self.wfile.flush()
        if faults.drop_mode == "stall":
            self.owner.closing.wait(faults.stall_seconds)
        elif faults.drop_mode == "reset":  # SO_LINGER with a zero timeout: close sends RST
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        with contextlib.suppress(OSError):  # the client may have gone away first
            self.connection.shutdown(socket.SHUT_RDWR)

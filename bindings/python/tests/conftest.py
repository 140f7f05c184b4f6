"""Fixtures: a tiny threaded HTTP/1.1 server on 127.0.0.1 whose accepted keys the test sets,
and helpers to write key files the ways real systems rotate them."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest


class QuietHandler(BaseHTTPRequestHandler):
    """The tests' request handler base: HTTP/1.1 (keep-alive), no access log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass


class LocalServer:
    """A threaded HTTP/1.1 server on a free port of 127.0.0.1 (``self.url``), until ``close``."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FixedAnswer(LocalServer):
    """Answers every request with the same status, headers (pairs: a name may repeat) and
    body; counts the requests."""

    def __init__(self, status: int, headers=(), body: bytes = b""):
        self.requests = 0
        server = self

        class Handler(QuietHandler):
            def _answer(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests += 1
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self._serve(Handler)


class KeyServer(LocalServer):
    """Answers 200 with a JSON echo when the request carries an accepted key, else 401.

    The key is read from ``X-API-Key``, ``Authorization: Bearer``/``Basic`` or the ``api_key``
    query parameter. Paths: ``/status/<code>`` answers that status (after the key check),
    ``/slow?delay=<s>`` sleeps first, ``/text?charset=<cs>`` answers the request body as text,
    ``/redirect`` answers 302 to ``/echo``, ``/big?size=<n>``
    sends ``n`` bytes in 64 KiB pieces (``&pause=<s>`` between them), ``/cookies`` sets two
    cookies.
    """

    def __init__(self, accepted=("k1",)):
        self._lock = threading.Lock()
        self._accepted = set(accepted)
        self._flaky_refusals = 0
        self.requests = 0
        self.rejected = 0
        self.seen_keys: list[str] = []
        server = self

        class Handler(QuietHandler):
            def _handle(self):
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if parts.path == "/slow":
                    time.sleep(float(query.get("delay", "1")))
                key = server.key_of(self.headers, query)
                with server._lock:
                    server.requests += 1
                    server.seen_keys.append(key or "")
                    ok = key in server._accepted and server._flaky_refusals == 0
                    if key in server._accepted and server._flaky_refusals:
                        server._flaky_refusals -= 1
                    if not ok:
                        server.rejected += 1
                if not ok:
                    return self._send(401, {"error": "unauthorized"})
                if parts.path == "/big":
                    # ``size`` bytes of b"0123456789" repeated, written in 64 KiB pieces
                    # with a pause (``pause`` seconds) between them.
                    size = int(query.get("size", "1000000"))
                    pause = float(query.get("pause", "0"))
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    pattern = b"0123456789" * 6554
                    sent = 0
                    while sent < size:
                        piece = pattern[: min(65536, size - sent)]
                        self.wfile.write(piece)
                        self.wfile.flush()
                        sent += len(piece)
                        if pause:
                            time.sleep(pause)
                    return None
                if parts.path == "/cookies":
                    self.send_response(200)
                    self.send_header("Set-Cookie", "session=abc123; Path=/; HttpOnly")
                    self.send_header("Set-Cookie", 'theme="dark"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if parts.path == "/text":
                    # The request body sent back as text in the charset asked for.
                    charset = query.get("charset", "utf-8")
                    self.send_response(200)
                    self.send_header("Content-Type", f"text/plain; charset={charset}")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return None
                if parts.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/echo")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                status = 200
                if parts.path.startswith("/status/"):
                    status = int(parts.path.rsplit("/", 1)[1])
                return self._send(
                    status,
                    {
                        "method": self.command,
                        "path": parts.path,
                        "query": query,
                        "body": body.decode("utf-8", "replace"),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    },
                )

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Multi", "a")
                self.send_header("X-Multi", "b")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self._serve(Handler)

    @staticmethod
    def key_of(headers, query):
        if headers.get("X-API-Key"):
            return headers["X-API-Key"]
        auth = headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            return auth[len("Bearer "):]
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return password
        return query.get("api_key")

    def accept(self, *keys):
        """Accept exactly these keys from now on."""
        with self._lock:
            self._accepted = set(keys)

    def refuse_next(self, n=1):
        """Refuse the next ``n`` requests carrying an accepted key (a flaky gateway)."""
        with self._lock:
            self._flaky_refusals = n


@pytest.fixture
def server():
    s = KeyServer()
    yield s
    s.close()


def write_atomic(path: Path, content: str) -> None:
    """Write to a temporary file and rename it over ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content)
    os.rename(tmp, path)


class K8sSecretDir:
    """A Kubernetes secret volume: ``api_key -> ..data/api_key``, ``..data -> ..<timestamp>``;
    an update writes a new timestamped dir, points ``..data_tmp`` at it and renames it over
    ``..data``, then removes the old dir — exactly what the kubelet's AtomicWriter does."""

    def __init__(self, root: Path, key: str):
        self.root = root
        self.n = 0
        self.current = None
        self._write(key)
        os.symlink("..data/api_key", root / "api_key")

    def _write(self, key: str) -> None:
        self.n += 1
        stamp = f"..2026_01_01_00_00_{self.n:02d}.{self.n:09d}"
        d = self.root / stamp
        d.mkdir()
        (d / "api_key").write_text(key)
        tmp = self.root / "..data_tmp"
        os.symlink(stamp, tmp)
        os.rename(tmp, self.root / "..data")
        if self.current is not None:
            old = self.root / self.current
            (old / "api_key").unlink()
            old.rmdir()
        self.current = stamp

    def rotate(self, key: str) -> None:
        self._write(key)

    @property
    def path(self) -> Path:
        return self.root / "api_key"


def wait_for(predicate, timeout=5.0, interval=0.01):
    """Polls ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class SecretsServer(LocalServer):
    """A stand-in for a secrets manager on 127.0.0.1: answers GET with ``self.payload`` as JSON
    when every header in ``self.required`` matches, else 403. Counts fetches."""

    def __init__(self):
        self.payload: dict = {}
        self.required: dict = {}
        self.fetches = 0
        self.paths: list[str] = []
        server = self

        class Handler(QuietHandler):
            def do_GET(self):
                server.fetches += 1
                server.paths.append(self.path)
                ok = all(self.headers.get(k) == v for k, v in server.required.items())
                data = json.dumps(server.payload if ok else {"errors": ["permission denied"]}).encode()
                self.send_response(200 if ok else 403)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._serve(Handler)


@pytest.fixture
def secrets_server():
    s = SecretsServer()
    yield s
    s.close()

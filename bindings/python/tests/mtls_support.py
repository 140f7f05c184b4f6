"""A real TLS server that requires client certificates (the standard library's ``ssl``, i.e.
OpenSSL), and certificates made with the ``openssl`` command line.

Hard revocation: each client certificate comes from a CA of its own, and the server trusts only
the newest CA — an older certificate is refused at the handshake (alert ``unknown_ca``) — and
answers 403 on a connection opened with an older certificate. It counts requests that arrive on
a connection it has already refused.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from conftest import QuietHandler


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Ca:
    """A CA in ``dir`` (``ca.crt``, ``ca.key``) that issues P-256 leaves."""

    def __init__(self, dir: Path, name: str):
        self.dir = dir
        dir.mkdir(parents=True, exist_ok=True)
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                 "-subj", f"/CN={name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=dir)
        self.pem = (dir / "ca.crt").read_text()
        self.n = 0

    def issue(self, cn: str, san: str | None = None) -> tuple[str, str]:
        """A leaf: (certificate PEM, key PEM)."""
        self.n += 1
        stem = f"leaf{self.n}"
        ext = self.dir / f"{stem}.ext"
        lines = ["basicConstraints=CA:FALSE"]
        if san:
            lines.append(f"subjectAltName={san}")
        ext.write_text("\n".join(lines) + "\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={cn}",
                 cwd=self.dir)
        _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-set_serial", str(1000 + self.n), "-days", "1", "-out", f"{stem}.crt",
                 "-extfile", ext.name, cwd=self.dir)
        return (self.dir / f"{stem}.crt").read_text(), (self.dir / f"{stem}.key").read_text()


def der_of(pem: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem)


class TlsSecretDir:
    """A Kubernetes TLS secret volume (``tls.crt``, ``tls.key``, ``ca.crt`` behind ``..data``),
    updated as the kubelet does: a new timestamped dir, ``..data`` swapped by rename."""

    def __init__(self, root: Path, files: dict[str, str]):
        self.root = root
        self.n = 0
        self.current = None
        self.update(files)
        for name in files:
            os.symlink(f"..data/{name}", root / name)

    def update(self, files: dict[str, str | bytes]) -> None:
        self.n += 1
        stamp = f"..2026_01_01_00_00_{self.n:02d}.{self.n:09d}"
        d = self.root / stamp
        d.mkdir()
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            (d / name).write_bytes(data)
        tmp = self.root / "..data_tmp"
        os.symlink(stamp, tmp)
        os.rename(tmp, self.root / "..data")
        if self.current is not None:
            old = self.root / self.current
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        self.current = stamp


class MtlsServer:
    """HTTPS on 127.0.0.1 requiring a client certificate from the CA it currently trusts."""

    def __init__(self, workdir: Path, server_ca: Ca, client_ca: Ca):
        self.workdir = workdir
        self.lock = threading.Lock()
        self.requests = 0
        self.ok = 0
        self.refused = 0
        self.after_refusal = 0
        self.handshake_failures = 0
        self.newest_der: bytes | None = None
        self._server_cert = server_ca.issue("localhost", "IP:127.0.0.1,DNS:localhost")
        self._client_ca_pem = client_ca.pem
        self.ctx = self._context()
        server = self

        class Handler(QuietHandler):
            def setup(self):
                self.refused_here = False
                try:
                    self.request.do_handshake()
                except (ssl.SSLError, OSError):
                    with server.lock:
                        server.handshake_failures += 1
                    raise
                self.peer = self.request.getpeercert(binary_form=True)
                super().setup()

            def do_GET(self):
                with server.lock:
                    server.requests += 1
                    if self.refused_here:
                        server.after_refusal += 1
                    trusted = server.newest_der is None or self.peer == server.newest_der
                    if trusted:
                        server.ok += 1
                    else:
                        server.refused += 1
                if trusted:
                    body, status = b"ok", 200
                else:
                    self.refused_here = True
                    body, status = b"certificate revoked", 403
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # The context current at accept: a rotation applies to new connections.
                return server.ctx.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False
                ), addr

            def handle_error(self, request, client_address):
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert, key = self._server_cert
        d = self.workdir
        n = len(list(d.glob("server*.pem")))
        (d / f"server{n}.pem").write_text(cert + key)
        ctx.load_cert_chain(d / f"server{n}.pem")
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=self._client_ca_pem)
        return ctx

    def trust_only(self, client_ca: Ca, cert_pem: str) -> None:
        """From now on only ``cert_pem`` (issued by ``client_ca``) is accepted."""
        with self.lock:
            self._client_ca_pem = client_ca.pem
            self.newest_der = der_of(cert_pem)
            self.ctx = self._context()

    def present(self, server_ca: Ca) -> None:
        """New connections get a server certificate issued by ``server_ca``."""
        self._server_cert = server_ca.issue("localhost", "IP:127.0.0.1,DNS:localhost")
        self.ctx = self._context()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

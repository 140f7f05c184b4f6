"""Self-contained demo: a local API server, a key file, and a keyswap client that keeps working
while the key is rotated twice — once the Kubernetes way and once with a plain rename — with
the server revoking the old key at the same moment.

    python examples/rotate_demo.py
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import keyswap

ACCEPTED = {"key-1"}


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        ok = self.headers.get("X-API-Key") in ACCEPTED
        body = json.dumps({"price": "64000.10"} if ok else {"error": "invalid key"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def k8s_swap(root: Path, n: int, key: str) -> None:
    """What the kubelet does to a secret volume: new timestamped dir, ..data swapped by rename."""
    stamp = f"..2026_01_01_00_00_{n:02d}.000000000"
    (root / stamp).mkdir()
    (root / stamp / "api_key").write_text(key)
    os.symlink(stamp, root / "..data_tmp")
    os.rename(root / "..data_tmp", root / "..data")


def main() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        k8s_swap(root, 1, "key-1")
        os.symlink("..data/api_key", root / "api_key")  # the path the application reads

        client = keyswap.Client(
            source=keyswap.FileSource(root / "api_key"),
            auth=keyswap.Header("X-API-Key"),
            base_url=base,
        )
        client.on_rotate(lambda old, new: print(f"  rotated: {old} -> {new}"))
        print(client)

        def burst(label: str) -> None:
            codes = [client.get("/v1/ticker", params={"symbol": "BTCUSDT"}).status_code
                     for _ in range(20)]
            print(f"{label}: {codes.count(200)}/20 OK")

        burst("before rotation")

        print("rotation 1: Kubernetes ..data swap, server revokes key-1 at once")
        k8s_swap(root, 2, "key-2")
        ACCEPTED.clear()
        ACCEPTED.add("key-2")
        burst("after rotation 1")

        print("rotation 2: write a temp file and rename it over the key file")
        (root / "api_key").unlink()
        (root / "api_key.tmp").write_text("key-3")
        os.rename(root / "api_key.tmp", root / "api_key")
        ACCEPTED.clear()
        ACCEPTED.add("key-3")
        burst("after rotation 2")

        time.sleep(0.2)  # let the on_rotate callbacks print
        print("stats:", client.stats())
        client.close()
    httpd.shutdown()


if __name__ == "__main__":
    main()

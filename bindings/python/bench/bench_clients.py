"""Requests/s of keyswap's sync Client vs requests.Session vs httpx.Client, each with an
equivalent "re-read the key file and retry once on 401" auth, against one local server, in one
run, single-threaded and with N threads.

Not part of the tests. Setup (from bindings/python):

    KEYSWAP_PY_PROFILE=release ../../scripts/test-python.sh   # release build into .venv
    .venv/bin/pip install requests httpx uvloop               # uvloop optional (faster server)
    .venv/bin/python bench/bench_clients.py [--rounds 3] [--duration 2] [--threads 8]

The server is a minimal HTTP/1.1 keep-alive responder on asyncio (uvloop when installed) in a
separate process, so it does not share a GIL with the clients. It checks ``X-API-Key`` against
the key it was started with and answers 200 with a small JSON body, else 401. On 2 cores the
server process and the clients compete for CPU; see docs/benchmarks.md for what that means.
Every run is bounded: rounds x clients x 2 cells x (warm-up + ``--duration``) seconds (~45 s).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

KEY = "bench-key-0123456789"
BODY = b'{"ok":true,"symbol":"BTCUSDT","price":"64000.10"}'
OK = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)
UNAUTHORIZED = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n"


# --- server (child process) -----------------------------------------------------------------


def serve(port_queue, key: str) -> None:
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
        loop_kind = "uvloop"
    except ImportError:
        loop_kind = "asyncio"
    key_b = key.encode()

    class Proto(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport
            self.buf = b""
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data):
            buf = self.buf + data
            out = []
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                length = 0
                key_seen = None
                for line in buf[:end].split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"x-api-key":
                        key_seen = value.strip()
                total = end + 4 + length
                if len(buf) < total:
                    break
                buf = buf[total:]
                out.append(OK if key_seen == key_b else UNAUTHORIZED)
            self.buf = buf
            if out:
                self.t.write(b"".join(out))

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Proto, "127.0.0.1", 0, backlog=1024)
        port_queue.put((server.sockets[0].getsockname()[1], loop_kind))
        await asyncio.sleep(3600)  # the parent terminates us

    asyncio.run(main())


# --- clients ----------------------------------------------------------------------------------


class KeyFile:
    """The hand-written part for requests/httpx: cache the key, re-read the file on a 401."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.key = path.read_text().strip()

    def reload(self, rejected: str) -> str:
        with self.lock:
            if self.key == rejected:
                self.key = self.path.read_text().strip()
            return self.key


def make_requests(url: str, keyfile: KeyFile):
    import requests
    from requests.auth import AuthBase

    class FileKeyAuth(AuthBase):
        def __call__(self, r):
            r.headers["X-API-Key"] = keyfile.key
            r.register_hook("response", self.retry_on_401)
            return r

        def retry_on_401(self, resp, **kwargs):
            if resp.status_code != 401:
                return resp
            rejected = resp.request.headers["X-API-Key"]
            resp.content  # drain, so the connection can be reused
            resp.close()
            prep = resp.request.copy()
            prep.headers["X-API-Key"] = keyfile.reload(rejected)
            prep.hooks = {"response": []}
            retried = resp.connection.send(prep, **kwargs)
            retried.history.append(resp)
            retried.request = prep
            return retried

    def factory():
        s = requests.Session()
        s.auth = FileKeyAuth()

        def get():
            r = s.get(url)
            return r.status_code

        return get

    return factory


def make_httpx(url: str, keyfile: KeyFile):
    import httpx

    class FileKeyAuth(httpx.Auth):
        def auth_flow(self, request):
            key = keyfile.key
            request.headers["X-API-Key"] = key
            response = yield request
            if response.status_code == 401:
                request.headers["X-API-Key"] = keyfile.reload(key)
                yield request

    def factory():
        c = httpx.Client(auth=FileKeyAuth())

        def get():
            return c.get(url).status_code

        return get

    return factory


def make_keyswap(url: str, keyfile: KeyFile):
    import keyswap

    client = keyswap.Client(
        source=keyswap.FileSource(keyfile.path), auth=keyswap.Header("X-API-Key")
    )

    def factory():
        def get():
            return client.get(url).status_code

        return get

    return factory


# --- measurement ------------------------------------------------------------------------------


def measure(factory, threads: int, duration: float, warmup: float) -> tuple[float, int]:
    """Runs ``threads`` threads calling their ``get`` until time is up; returns (req/s, errors)."""
    gets = [factory() for _ in range(threads)]
    counts = [0] * threads
    errors = [0] * threads
    phase = {"measuring": False, "stop": False}
    barrier = threading.Barrier(threads + 1)

    def run(i):
        get = gets[i]
        barrier.wait()
        n = bad = 0
        while not phase["stop"]:
            if get() != 200:
                bad += 1
            if phase["measuring"]:
                n += 1
        counts[i] = n
        errors[i] = bad

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    time.sleep(warmup)
    phase["measuring"] = True
    start = time.perf_counter()
    time.sleep(duration)
    elapsed = time.perf_counter() - start
    phase["stop"] = True
    for t in ts:
        t.join()
    return sum(counts) / elapsed, sum(errors)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=2.0, help="seconds measured per cell")
    ap.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    ap.add_argument("--threads", type=int, default=8, help="threads in the concurrent column")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    ap.add_argument("--clients", default="keyswap,requests,httpx")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="keyswap-bench-"))
    keypath = tmp / "api_key"
    keypath.write_text(KEY + "\n")

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=serve, args=(q, KEY), daemon=True)
    proc.start()
    try:
        port, loop_kind = q.get(timeout=30)
        url = f"http://127.0.0.1:{port}/v1/ticker?symbol=BTCUSDT"
        import httpx
        import requests

        import keyswap

        makers = {"keyswap": make_keyswap, "requests": make_requests, "httpx": make_httpx}
        versions = {
            "keyswap": keyswap.__version__,
            "requests": requests.__version__,
            "httpx": httpx.__version__,
        }
        names = [n.strip() for n in args.clients.split(",") if n.strip()]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, server: {loop_kind}, "
              f"{args.rounds} rounds x {args.duration:g}s per cell after {args.warmup:g}s warm-up")
        factories = {}
        for name in names:
            factories[name] = makers[name](url, KeyFile(keypath))
        samples: dict[str, dict[int, list[float]]] = {n: {1: [], args.threads: []} for n in names}
        # Interleaved rounds, median per cell: noise from the shared 2-core machine hits every
        # client alike instead of whichever happened to run during a bad second.
        for rnd in range(1, args.rounds + 1):
            for name in names:
                for threads in (1, args.threads):
                    rps, errors = measure(factories[name], threads, args.duration, args.warmup)
                    samples[name][threads].append(rps)
                    print(f"  round {rnd} {name:9s} {versions[name]:8s} threads={threads:<2d} "
                          f"{rps:9.0f} req/s" + (f"  ({errors} non-200)" if errors else ""),
                          flush=True)
        results = {n: {t: statistics.median(v) for t, v in per.items()} for n, per in samples.items()}

        print()
        cols = (1, args.threads)
        print("| client | " + " | ".join(f"{c} thread{'s' if c > 1 else ''}, req/s (median)" for c in cols)
              + " | " + " | ".join(f"keyswap / this ({c}t)" for c in cols) + " |")
        print("|---" * (1 + 2 * len(cols)) + "|")
        for name in names:
            row = [f"{results[name][c]:.0f}" for c in cols]
            if "keyswap" in results:
                row += [f"{results['keyswap'][c] / results[name][c]:.2f}x" for c in cols]
            else:
                row += ["-"] * len(cols)
            print(f"| {name} {versions[name]} | " + " | ".join(row) + " |")
    finally:
        proc.terminate()
        proc.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

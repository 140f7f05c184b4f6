"""Requests/s of keyswap's Python clients vs other Python HTTP clients (Rust-based: pyreqwest,
httpr; pure Python: niquests, httpx, requests; asyncio: aiohttp, httpx.AsyncClient, pyreqwest's
async client), each with the same auth: the key read from a file and cached; on a 401 the file
is re-read and the request retried once. One run, three modes:

- ``1t``: one thread calling ``get`` in a loop (sync clients);
- ``8t``: 8 threads (``--threads``) calling ``get`` in a loop (sync clients);
- ``64a``: 64 asyncio tasks (``--tasks``) on one event loop (async clients).

Every cell is measured in each of ``--rounds`` rounds; the order of the clients alternates
between rounds (reversed every other round) so that noise from the shared machine hits every
client alike; the median per cell is reported. Each ``get`` reads the whole body as bytes.

Not part of the tests. Setup (from bindings/python):

    KEYSWAP_PY_PROFILE=release ../../scripts/test-python.sh -k nothing   # release wheel
    .venv/bin/pip install pyreqwest httpr niquests aiohttp httpx requests uvloop
    .venv/bin/python bench/bench_peers.py [--rounds 5] [--duration 2] [--json out.jsonl]

The server is bench_clients.py's (a separate process; uvloop when installed). Peers that are
not installed are skipped. ``--clients`` and ``--modes`` select a subset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_clients import KEY, KeyFile, make_httpx, make_requests, serve  # noqa: E402

# --- sync clients: make(url, keyfile) -> factory() -> get() -> status ---------------------------


KEYSWAP_MODULE = {"keyswap": "keyswap"}  # + "keyswap-before" with --baseline-module


def _keyswap_mod(name):
    import importlib

    return importlib.import_module(KEYSWAP_MODULE[name])


def make_keyswap(url, keyfile, name="keyswap"):
    keyswap = _keyswap_mod(name)

    client = keyswap.Client(
        source=keyswap.FileSource(keyfile.path), auth=keyswap.Header("X-API-Key")
    )

    def factory():
        def get():
            r = client.get(url)
            r.content
            return r.status_code

        return get

    return factory


def make_pyreqwest(url, keyfile):
    from pyreqwest.client import SyncClientBuilder

    client = SyncClientBuilder().build()

    def factory():
        def get():
            key = keyfile.key
            r = client.get(url).header("X-API-Key", key).build().send()
            if r.status == 401:
                r.bytes()
                r = client.get(url).header("X-API-Key", keyfile.reload(key)).build().send()
            r.bytes()
            return r.status

        return get

    return factory


def make_httpr(url, keyfile):
    import httpr

    client = httpr.Client(follow_redirects=False, cookie_store=False)

    def factory():
        def get():
            key = keyfile.key
            r = client.get(url, headers={"X-API-Key": key})
            if r.status_code == 401:
                r = client.get(url, headers={"X-API-Key": keyfile.reload(key)})
            r.content
            return r.status_code

        return get

    return factory


def make_niquests(url, keyfile):
    import niquests

    def factory():
        s = niquests.Session()

        def get():
            key = keyfile.key
            r = s.get(url, headers={"X-API-Key": key})
            if r.status_code == 401:
                r.content
                r = s.get(url, headers={"X-API-Key": keyfile.reload(key)})
            r.content
            return r.status_code

        return get

    return factory


def make_requests_body(url, keyfile):
    base = make_requests(url, keyfile)

    def factory():
        # bench_clients' `get` returns the status; requests reads the body eagerly anyway.
        return base()

    return factory


SYNC = {
    "keyswap": make_keyswap,
    "pyreqwest": make_pyreqwest,
    "httpr": make_httpr,
    "niquests": make_niquests,
    "httpx": make_httpx,  # httpx.Client reads the body eagerly
    "requests": make_requests_body,
}

# --- async clients: make(url, keyfile) -> async context manager yielding get() -----------------


class AsyncKeyswap:
    name = "keyswap"

    def __init__(self, url, keyfile):
        self.url, self.keyfile = url, keyfile

    async def __aenter__(self):
        keyswap = _keyswap_mod(self.name)

        self.client = keyswap.AsyncClient(
            source=keyswap.FileSource(self.keyfile.path), auth=keyswap.Header("X-API-Key")
        )
        url, client = self.url, self.client

        async def get():
            r = await client.get(url)
            r.content
            return r.status_code

        return get

    async def __aexit__(self, *exc):
        await self.client.aclose()


class AsyncPyreqwest:
    def __init__(self, url, keyfile):
        self.url, self.keyfile = url, keyfile

    async def __aenter__(self):
        from pyreqwest.client import ClientBuilder

        self.client = ClientBuilder().build()
        url, client, keyfile = self.url, self.client, self.keyfile

        async def get():
            key = keyfile.key
            r = await client.get(url).header("X-API-Key", key).build().send()
            if r.status == 401:
                await r.bytes()
                r = await client.get(url).header("X-API-Key", keyfile.reload(key)).build().send()
            await r.bytes()
            return r.status

        return get

    async def __aexit__(self, *exc):
        await self.client.close()


class AsyncHttpx:
    def __init__(self, url, keyfile):
        self.url, self.keyfile = url, keyfile

    async def __aenter__(self):
        import httpx

        keyfile = self.keyfile

        class FileKeyAuth(httpx.Auth):
            def auth_flow(self, request):
                key = keyfile.key
                request.headers["X-API-Key"] = key
                response = yield request
                if response.status_code == 401:
                    request.headers["X-API-Key"] = keyfile.reload(key)
                    yield request

        self.client = httpx.AsyncClient(auth=FileKeyAuth())
        url, client = self.url, self.client

        async def get():
            r = await client.get(url)
            r.content
            return r.status_code

        return get

    async def __aexit__(self, *exc):
        await self.client.aclose()


class AsyncAiohttp:
    def __init__(self, url, keyfile):
        self.url, self.keyfile = url, keyfile

    async def __aenter__(self):
        import aiohttp

        self.session = aiohttp.ClientSession()
        url, session, keyfile = self.url, self.session, self.keyfile

        async def get():
            key = keyfile.key
            async with session.get(url, headers={"X-API-Key": key}) as r:
                await r.read()
                status = r.status
            if status == 401:
                async with session.get(url, headers={"X-API-Key": keyfile.reload(key)}) as r:
                    await r.read()
                    status = r.status
            return status

        return get

    async def __aexit__(self, *exc):
        await self.session.close()


ASYNC = {
    "keyswap": AsyncKeyswap,
    "pyreqwest": AsyncPyreqwest,
    "aiohttp": AsyncAiohttp,
    "httpx": AsyncHttpx,
}

DIST = {"keyswap": "keyswap", "pyreqwest": "pyreqwest", "httpr": "httpr", "niquests": "niquests",
        "httpx": "httpx", "requests": "requests", "aiohttp": "aiohttp"}


def version(name: str) -> str:
    if name.startswith("keyswap-"):
        return "before"
    try:
        return metadata.version(DIST[name])
    except metadata.PackageNotFoundError:
        return "?"


# --- measurement --------------------------------------------------------------------------------

SERVER_PID = [0]


def cpu_now() -> tuple[float, float]:
    """(this process's CPU seconds, the server process's CPU seconds or nan)."""
    server = float("nan")
    try:
        with open(f"/proc/{SERVER_PID[0]}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return time.process_time(), server


def measure_threads(factory, threads: int, duration: float, warmup: float):
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
    cpu0 = cpu_now()
    time.sleep(duration)
    cpu1 = cpu_now()
    elapsed = time.perf_counter() - start
    phase["stop"] = True
    for t in ts:
        t.join()
    n = sum(counts)
    return n / elapsed, sum(errors), cpu_per_request(cpu0, cpu1, n)


def cpu_per_request(cpu0, cpu1, n):
    """µs of CPU per request in the client and in the server process during the measurement
    (counts of the whole period divided by the requests completed in it)."""
    n = max(n, 1)
    return tuple(round((b - a) * 1e6 / n, 1) for a, b in zip(cpu0, cpu1))


def measure_async(cm_cls, url, keyfile, tasks: int, duration: float, warmup: float,
                  loop_kind: str) -> tuple[float, int, tuple]:
    async def main():
        phase = {"measuring": False, "stop": False}
        counts = [0] * tasks
        errors = [0] * tasks
        async with cm_cls(url, keyfile) as get:

            async def run(i):
                n = bad = 0
                while not phase["stop"]:
                    if await get() != 200:
                        bad += 1
                    if phase["measuring"]:
                        n += 1
                counts[i] = n
                errors[i] = bad

            workers = [asyncio.ensure_future(run(i)) for i in range(tasks)]
            await asyncio.sleep(warmup)
            phase["measuring"] = True
            start = time.perf_counter()
            cpu0 = cpu_now()
            await asyncio.sleep(duration)
            cpu1 = cpu_now()
            elapsed = time.perf_counter() - start
            phase["stop"] = True
            await asyncio.gather(*workers)
        n = sum(counts)
        return n / elapsed, sum(errors), cpu_per_request(cpu0, cpu1, n)

    if loop_kind == "uvloop":
        import uvloop  # type: ignore[import-not-found]

        return uvloop.run(main())
    return asyncio.run(main())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=2.0, help="seconds measured per cell")
    ap.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--tasks", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", default=",".join(dict.fromkeys([*SYNC, *ASYNC])))
    ap.add_argument("--modes", default="1t,8t,64a")
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                    help="event loop of the client side in the 64a mode")
    ap.add_argument("--json", help="append one JSON line per measurement to this file")
    ap.add_argument("--baseline-module", help="an importable copy of an older keyswap package "
                    "(e.g. keyswap_base on PYTHONPATH), measured as client 'keyswap-before'; "
                    "several, comma-separated, are measured as 'keyswap-MODULE'")
    args = ap.parse_args()
    for module in (args.baseline_module or "").split(","):
        if not module.strip():
            continue
        name = "keyswap-before" if module == args.baseline_module else f"keyswap-{module}"
        KEYSWAP_MODULE[name] = module.strip()
        SYNC[name] = lambda url, kf, name=name: make_keyswap(url, kf, name)
        ASYNC[name] = type(f"Async_{module}", (AsyncKeyswap,), {"name": name})
        DIST[name] = name
        if name not in args.clients:
            args.clients = name + "," + args.clients

    tmp = Path(tempfile.mkdtemp(prefix="keyswap-bench-"))
    keypath = tmp / "api_key"
    keypath.write_text(KEY + "\n")

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=serve, args=(q, KEY), daemon=True)
    proc.start()
    out = open(args.json, "a") if args.json else None
    try:
        port, server_loop = q.get(timeout=30)
        SERVER_PID[0] = proc.pid
        url = f"http://127.0.0.1:{port}/v1/ticker?symbol=BTCUSDT"
        wanted = [n.strip() for n in args.clients.split(",") if n.strip()]
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        mode_n = {"1t": 1, "8t": args.threads, "64a": args.tasks}
        cells: dict[str, list[str]] = {}
        for mode in modes:
            table = ASYNC if mode == "64a" else SYNC
            cells[mode] = [n for n in wanted if n in table and version(n) != "?"]
        versions = {n: version(n) for m in cells.values() for n in m}
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, server: {server_loop}, "
              f"client loop: {args.loop}, {args.rounds} rounds x {args.duration:g}s per cell "
              f"after {args.warmup:g}s warm-up; threads={args.threads} tasks={args.tasks}")
        print("versions: " + ", ".join(f"{n} {v}" for n, v in versions.items()), flush=True)
        factories = {}
        for mode in modes:
            if mode != "64a":
                for name in cells[mode]:
                    if name not in factories:
                        factories[name] = SYNC[name](url, KeyFile(keypath))
        samples = {m: {n: [] for n in cells[m]} for m in modes}
        cpus = {m: {n: [] for n in cells[m]} for m in modes}
        for rnd in range(1, args.rounds + 1):
            for mode in modes:
                order = cells[mode] if rnd % 2 else list(reversed(cells[mode]))
                for name in order:
                    if mode == "64a":
                        rps, errors, cpu = measure_async(ASYNC[name], url, KeyFile(keypath),
                                                    args.tasks, args.duration, args.warmup,
                                                    args.loop)
                    else:
                        rps, errors, cpu = measure_threads(factories[name], mode_n[mode],
                                                      args.duration, args.warmup)
                    samples[mode][name].append(rps)
                    cpus[mode][name].append(cpu)
                    rec = {"round": rnd, "mode": mode, "client": name,
                           "version": versions[name], "rps": round(rps, 1), "errors": errors,
                           "client_cpu_us": cpu[0], "server_cpu_us": cpu[1]}
                    if out:
                        out.write(json.dumps(rec) + "\n")
                        out.flush()
                    print(json.dumps(rec), flush=True)

        print()
        print("| mode | client | req/s (median) | min–max | keyswap ÷ this "
              "| client CPU µs/req | server CPU µs/req |")
        print("|---|---|---:|---:|---:|---:|---:|")
        summary = {}
        for mode in modes:
            med = {n: statistics.median(v) for n, v in samples[mode].items()}
            ks = med.get("keyswap")
            for name in sorted(med, key=med.get, reverse=True):
                lo, hi = min(samples[mode][name]), max(samples[mode][name])
                ratio = f"{ks / med[name]:.2f}×" if ks else "-"
                c_cpu = statistics.median(c for c, _ in cpus[mode][name])
                s_cpu = statistics.median(s for _, s in cpus[mode][name])
                print(f"| {mode} | {name} {versions[name]} | {med[name]:.0f} | "
                      f"{lo:.0f}–{hi:.0f} | {ratio} | {c_cpu:.1f} | {s_cpu:.1f} |")
            peers = {n: r for n, r in med.items() if not n.startswith("keyswap")}
            if ks and peers:
                best = max(peers, key=peers.get)
                summary[mode] = (best, ks / peers[best])
        print()
        for mode, (best, ratio) in summary.items():
            print(f"{mode}: keyswap / fastest peer ({best}) = {ratio:.2f}×")
            if out:
                out.write(json.dumps({"summary": mode, "fastest_peer": best,
                                      "ratio": round(ratio, 3)}) + "\n")
    finally:
        if out:
            out.close()
        proc.terminate()
        proc.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

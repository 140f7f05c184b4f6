"""User-space instructions per blocking ``Client.get`` (one thread), repeatable on a noisy
machine: run it under callgrind with two request counts and take the difference, e.g.

    for n in 300 1300; do
      valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/instr_requests.py keyswap $n 2>&1 | grep Collected
    done   # (b - a) / 1000 = instructions per request

The server (bench_clients') runs in another process, which callgrind does not follow: the
count is the client process only (the Python loop, the bindings, the core, reqwest/hyper).
``MODULE`` is ``keyswap`` or an importable copy of another build (see bench_peers.py).
"""

import importlib
import multiprocessing as mp
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_clients import KEY, serve  # noqa: E402


def main() -> None:
    module, n = sys.argv[1], int(sys.argv[2])
    ks = importlib.import_module(module)
    keyfile = Path(tempfile.mkdtemp(prefix="keyswap-instr-")) / "api_key"
    keyfile.write_text(KEY + "\n")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    server = ctx.Process(target=serve, args=(q, KEY), daemon=True)
    server.start()
    port, _ = q.get(timeout=60)
    url = f"http://127.0.0.1:{port}/v1/ticker?symbol=BTCUSDT"
    client = ks.Client(source=ks.FileSource(str(keyfile)), auth=ks.Header("X-API-Key"))
    for _ in range(50):
        client.get(url).content
    for _ in range(n):
        r = client.get(url)
        r.content
        r.status_code
    server.terminate()


if __name__ == "__main__":
    main()

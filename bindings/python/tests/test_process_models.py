"""Process models: forked workers (prefork servers, multiprocessing's fork), clients built in a
child, event loops that must never stall, Ctrl-C during a blocking call, slow Sign callbacks.

The children are real `os.fork` children of this process (whose server threads keep serving
them); each reports what it saw through a pipe. A child that hangs is killed and counted.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

import keyswap
from conftest import QuietHandler, write_atomic

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

HERE = Path(__file__).resolve().parent
ROTATE_EVERY = 0.4


def rotate_during(server, key_file: Path, seconds: float, prefix: str = "r") -> int:
    """Hard revocation every ROTATE_EVERY s for ``seconds``: the server accepts only the new
    key, then the file follows. Every request in flight with the old key is refused until the
    file changes; the clients must wait for it (the rotation wait), in every process.

    (The other order, the file first, adds the "new key briefly refused" race of the recover
    path, which tests/test_rotation.py covers; here the subject is the process model.)
    Returns the number of rotations."""
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(ROTATE_EVERY)
        n += 1
        server.accept(f"{prefix}{n}")
        write_atomic(key_file, f"{prefix}{n}")
    return n


def request_loop(client: keyswap.Client, seconds: float) -> dict:
    """Requests back to back for ``seconds``: counts, failures and the slowest request."""
    ok = failed = 0
    slowest = 0.0
    errors: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            status = client.get("/echo", timeout=5.0).status_code
        except Exception as e:  # noqa: BLE001 - reported to the parent
            status = None
            errors.append(f"{type(e).__name__}: {e}")
        slowest = max(slowest, time.monotonic() - t0)
        if status == 200:
            ok += 1
        else:
            failed += 1
            if status is not None:
                errors.append(f"status {status}")
    return {"ok": ok, "failed": failed, "slowest": slowest, "errors": errors[:5]}


def fork_children(n: int, body, deadline: float) -> list[dict]:
    """Forks ``n`` children running ``body(i) -> dict``; returns their reports. A child still
    running after ``deadline`` seconds is killed and reported as hung."""
    children = []
    for i in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(r)
            try:
                report = body(i)
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                report = {"crashed": f"{type(e).__name__}: {e}"}
            with os.fdopen(w, "w") as out:
                out.write(json.dumps(report))
            os._exit(0)
        os.close(w)
        children.append((pid, r))
    reports = []
    end = time.monotonic() + deadline
    for pid, r in children:
        while True:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > end:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.02)
        with os.fdopen(r) as inp:
            data = inp.read()
        reports.append(json.loads(data) if data else {"hung": True})
    return reports


def assert_no_failures(reports: list[dict], rotations: int) -> None:
    print(f"{rotations} rotations; per child: "
          + ", ".join(f"{r.get('ok')} ok / {r.get('failed')} failed / slowest "
                      f"{r.get('slowest', 0):.3f} s" for r in reports))
    assert rotations >= 5
    for report in reports:
        assert "hung" not in report and "crashed" not in report, report
        assert report["failed"] == 0, report
        assert report["ok"] > 0, report
        # No request waits longer than one rotation wait (await_rotation, 1 s) plus slack.
        assert report["slowest"] < 1.5, report


@pytest.fixture
def rotating(server, tmp_path):
    server.accept("r0")
    key = tmp_path / "api_key"
    key.write_text("r0")
    return server, key


def test_prefork_workers_keep_working_through_hard_revocations(rotating):
    """gunicorn --preload / celery prefork: a Client built and used in the parent, then four
    forked workers making requests while the key is hard-revoked every 0.4 s."""
    server, key = rotating
    client = keyswap.Client(source=keyswap.FileSource(str(key)), auth="header:X-API-Key",
                            base_url=server.url)
    assert client.get("/echo").status_code == 200  # the parent has a pool and a watch
    rotator = threading.Thread(target=lambda: results.append(rotate_during(server, key, 3.0)))
    results: list[int] = []
    rotator.start()
    reports = fork_children(4, lambda i: request_loop(client, 3.0), deadline=15)
    rotator.join()
    assert_no_failures(reports, results[0])
    # The parent's client still works too.
    assert client.get("/echo").status_code == 200


def test_new_sync_and_async_clients_built_in_a_child(rotating):
    """Clients built in a forked child (the parent has used keyswap: its threads and runtimes
    exist there and not in the child) see every rotation."""
    server, key = rotating
    with keyswap.Client(source=str(key.as_uri()), auth="header:X-API-Key",
                        base_url=server.url) as parent_client:
        assert parent_client.get("/echo").status_code == 200

    async def async_loop(seconds: float) -> dict:
        client = await keyswap.AsyncClient.create(
            source=keyswap.FileSource(str(key)), auth="header:X-API-Key", base_url=server.url)
        ok = failed = 0
        slowest = 0.0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.monotonic()
            status = (await client.get("/echo", timeout=5.0)).status_code
            slowest = max(slowest, time.monotonic() - t0)
            ok, failed = (ok + 1, failed) if status == 200 else (ok, failed + 1)
        await client.aclose()
        return {"ok": ok, "failed": failed, "slowest": slowest}

    def body(i: int) -> dict:
        if i == 0:
            client = keyswap.Client(source=keyswap.FileSource(str(key)),
                                    auth="header:X-API-Key", base_url=server.url)
            return request_loop(client, 3.0)
        return asyncio.run(async_loop(3.0))

    results: list[int] = []
    rotator = threading.Thread(target=lambda: results.append(rotate_during(server, key, 3.0)))
    rotator.start()
    reports = fork_children(2, body, deadline=15)
    rotator.join()
    assert_no_failures(reports, results[0])


# Module level, so that the fork pool's tasks can name it.
POOL_CLIENT: keyswap.Client | None = None


def pool_task(_: int) -> tuple[int, float]:
    t0 = time.monotonic()
    status = POOL_CLIENT.get("/echo", timeout=5.0).status_code
    time.sleep(0.02)
    return status, time.monotonic() - t0


def test_multiprocessing_fork_pool(rotating):
    global POOL_CLIENT
    server, key = rotating
    POOL_CLIENT = keyswap.Client(source=keyswap.FileSource(str(key)), auth="header:X-API-Key",
                                 base_url=server.url)
    try:
        assert POOL_CLIENT.get("/echo").status_code == 200
        results: list[int] = []
        rotator = threading.Thread(
            target=lambda: results.append(rotate_during(server, key, 2.5)))
        with multiprocessing.get_context("fork").Pool(4) as pool:
            rotator.start()
            outcomes = pool.map_async(pool_task, range(300)).get(timeout=30)
        rotator.join()
        print(f"fork pool: {len(outcomes)} tasks, {results[0]} rotations, "
              f"{sum(s != 200 for s, _ in outcomes)} failed, "
              f"slowest {max(t for _, t in outcomes):.3f} s")
        assert results[0] >= 5
        assert [s for s, _ in outcomes if s != 200] == []
        assert max(t for _, t in outcomes) < 1.5
    finally:
        POOL_CLIENT.close()
        POOL_CLIENT = None


class SlowKeyEndpoint:
    """An endpoint source answering ``{"key": "k1"}`` after ``delay`` seconds."""

    def __init__(self, delay: float):
        class Handler(QuietHandler):

            def do_GET(self):
                time.sleep(delay)
                body = b'{"key": "k1"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/secret"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


async def loop_lag_while(awaitable) -> tuple[object, float]:
    """Awaits ``awaitable`` while a probe measures how late the loop runs a 1 ms sleep."""
    worst = 0.0
    done = False

    async def probe():
        nonlocal worst
        while not done:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - t0 - 0.001)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.01)
    try:
        result = await awaitable
    finally:
        done = True
        await task
    return result, worst


def test_async_client_create_never_stalls_the_loop(server):
    server.accept("k1")
    endpoint = SlowKeyEndpoint(1.5)
    try:
        async def main():
            # Started inside the probe's window: the constructor's own work counts too.
            async def build():
                return await keyswap.AsyncClient.create(
                    source=keyswap.HttpSource(endpoint.url, key_pointer="/key"),
                    auth="header:X-API-Key", base_url=server.url)
            t0 = time.monotonic()
            client, lag = await loop_lag_while(build())
            took = time.monotonic() - t0
            status = (await client.get("/echo")).status_code
            await client.aclose()
            return took, lag, status

        took, lag, status = asyncio.run(main())
        assert took >= 1.4, "the first load was awaited"
        assert status == 200
        print(f"loop lag while building against a 1.5 s endpoint: {lag * 1000:.2f} ms")
        # The figure is the target's (≤ 10 ms, printed above; see the README). What the test
        # decides is whether the loop was blocked by the load: a blocked loop lags as long as
        # the endpoint's 1.5 s delay, while a busy machine's scheduling adds tens to a few
        # hundred ms at most. A third of the delay tells the two apart without a timing race.
        assert lag < 0.5, f"the event loop stalled {lag * 1000:.0f} ms (the load blocked it)"
    finally:
        endpoint.close()


def test_async_client_create_raises_the_constructors_errors(tmp_path):
    async def main():
        with pytest.raises(keyswap.SourceError):
            await keyswap.AsyncClient.create(source=f"file://{tmp_path}/missing")
        with pytest.raises(keyswap.ConfigError):
            await keyswap.AsyncClient.create(source="env:X", retry_on_status=[42])

    asyncio.run(main())


def run_script(script: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(HERE),
        env={**os.environ, **(env or {})},
    )


def test_ctrl_c_reaches_a_blocking_get_with_no_timeout():
    """A server that accepts and never answers; `get(timeout=None)` blocks until SIGINT."""
    proc = run_script("""
        import signal, socket, sys, time
        import keyswap
        # Ctrl-C as a terminal delivers it: a suite started in the background by a shell
        # without job control (`nohup ... &`, some CI runners) has SIGINT ignored, and a
        # child inherits that, so Python would not install its handler.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/never"
        client = keyswap.Client(source=keyswap.FixedSource("k"), auth="header:X-API-Key")
        print("ready", flush=True)
        try:
            client.get(url, timeout=None)
            print("returned", flush=True)
        except KeyboardInterrupt:
            print(f"interrupted {time.time()!r}", flush=True)
    """)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # inside the blocking call by now
        sent = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert out.startswith("interrupted"), (out, err)
    delay = float(out.split()[1]) - sent
    print(f"KeyboardInterrupt raised {delay * 1000:.0f} ms after SIGINT")
    assert delay < 0.2, delay


def test_a_slow_sign_callback_does_not_hold_up_other_requests():
    """With one runtime worker, an AsyncClient request whose Sign callback blocks must not
    keep another client's request waiting."""
    proc = run_script("""
        import asyncio, threading, time
        import keyswap
        from conftest import KeyServer
        server = KeyServer(accepted=("k1",))
        entered, release = threading.Event(), threading.Event()

        def slow_sign(request, credential):
            entered.set()
            release.wait(5)
            request.set_header("X-API-Key", credential.expose_key())

        async def main():
            signed = keyswap.AsyncClient(source=keyswap.FixedSource("k1"),
                                         auth=keyswap.Sign(slow_sign), base_url=server.url)
            plain = keyswap.AsyncClient(source=keyswap.FixedSource("k1"),
                                        auth="header:X-API-Key", base_url=server.url)
            assert (await plain.get("/echo")).status_code == 200  # warm
            slow = asyncio.ensure_future(signed.get("/echo"))
            while not entered.is_set():
                await asyncio.sleep(0.005)
            t0 = time.monotonic()
            status = (await asyncio.wait_for(plain.get("/echo"), 10)).status_code
            took = time.monotonic() - t0
            blocked = not release.is_set()
            release.set()
            assert (await slow).status_code == 200
            print(status, f"{took:.3f}", blocked, flush=True)

        asyncio.run(main())
        server.close()
    """, env={"KEYSWAP_WORKER_THREADS": "1"})
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    status, took, blocked = out.split()
    assert status == "200" and blocked == "True"
    assert float(took) < 1.0, f"the other request waited {took} s behind the callback"



def test_an_absurd_worker_thread_count_still_builds_a_working_runtime(server):
    """KEYSWAP_WORKER_THREADS=10**9 would fail to spawn; it is capped, not fatal."""
    server.accept("k1")
    proc = run_script(f"""
        import asyncio, keyswap

        async def main():
            c = keyswap.AsyncClient(source=keyswap.FixedSource("k1"),
                                    auth="header:X-API-Key", base_url={server.url!r})
            print((await c.get("/echo")).status_code, flush=True)
            await c.aclose()

        asyncio.run(main())
    """, env={"KEYSWAP_WORKER_THREADS": str(10**9)})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.split() == ["200"]


def test_a_runtime_the_os_refuses_is_an_error_and_the_next_call_builds_it(server):
    """Out of file descriptors when the shared runtime is first needed: the call raises a
    RuntimeError naming the cause, not a PanicException, and once descriptors are free again
    the next call builds the runtime and works."""
    server.accept("k1")
    proc = run_script(f"""
        import asyncio, os, resource, keyswap

        def create():
            return keyswap.AsyncClient.create(source=keyswap.FixedSource("k1"),
                                              auth="header:X-API-Key", base_url={server.url!r})

        async def main():
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            lowest_free = os.open(os.devnull, os.O_RDONLY)
            os.close(lowest_free)
            # Every new descriptor would be numbered at least `lowest_free`: all are refused.
            resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
            try:
                await create()
                print("built", flush=True)
            except RuntimeError as e:
                print(f"refused: {{e}}", flush=True)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            c = await create()
            print((await c.get("/echo")).status_code, flush=True)
            await c.aclose()

        asyncio.run(main())
    """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    refused, status = out.splitlines()
    assert refused.startswith("refused: cannot start keyswap's shared runtime"), refused
    assert "Too many open files" in refused, refused
    assert status == "200"

GUNICORN_APP = """
import os
import keyswap

# Module level: with --preload it is built once, in the master, before the workers fork.
api = keyswap.Client(source=keyswap.FileSource(os.environ["KEY_FILE"]),
                     auth="header:X-API-Key", base_url=os.environ["API_URL"])
api.get("/echo")  # the master has used it: a pool, a watch


def app(environ, start_response):
    try:
        status = api.get("/echo", timeout=5.0).status_code
    except Exception as e:  # reported to the test as a 599
        status = 599
    start_response(f"{status} X", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return [b""]
"""


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_preload_four_workers_through_hard_revocations(rotating, tmp_path):
    pytest.importorskip("gunicorn")
    import urllib.error
    import urllib.request

    server, key = rotating
    (tmp_path / "ksapp.py").write_text(GUNICORN_APP)
    port = free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-w", "4", "-b", f"127.0.0.1:{port}",
         "--graceful-timeout", "5", "ksapp:app"],
        cwd=str(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "KEY_FILE": str(key), "API_URL": server.url},
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        ready = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < ready and master.poll() is None, "gunicorn never came up"
                time.sleep(0.1)
        statuses: list[int] = []
        slowest = [0.0]
        lock = threading.Lock()
        stop = time.monotonic() + 3.0

        def consumer():
            while time.monotonic() < stop:
                t0 = time.monotonic()
                try:
                    status = urllib.request.urlopen(url, timeout=15).status
                except urllib.error.HTTPError as e:
                    status = e.code
                except Exception:  # noqa: BLE001 - a timeout or a reset counts as a failure
                    status = 0
                with lock:
                    statuses.append(status)
                    slowest[0] = max(slowest[0], time.monotonic() - t0)

        consumers = [threading.Thread(target=consumer) for _ in range(4)]
        for t in consumers:
            t.start()
        rotations = rotate_during(server, key, 3.0)
        for t in consumers:
            t.join()
        failures = [s for s in statuses if s != 200]
        print(f"gunicorn --preload -w 4: {len(statuses)} requests, {len(failures)} failed, "
              f"{rotations} rotations, slowest {slowest[0]:.3f} s")
        assert rotations >= 5
        assert len(statuses) > 100
        assert failures == []
        assert slowest[0] < 1.5
    finally:
        t0 = time.monotonic()
        master.terminate()
        try:
            master.wait(timeout=15)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()
    shutdown = time.monotonic() - t0
    print(f"gunicorn master shut down in {shutdown:.2f} s")
    assert shutdown < 6, "the master took too long to shut down"

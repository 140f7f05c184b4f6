"""How requests reach the runtime: the blocking Client drives a current-thread runtime on the
calling thread (a keeper thread drives it between requests); AsyncClient completes its asyncio
futures on the loop's thread. These tests pin the behaviour that design must keep."""

import asyncio
import socket
import threading
import time

import pytest

import keyswap


class ClosingServer:
    """Answers each request 200 with keep-alive, then closes the connection ``close_after``
    seconds later without saying so (as servers do with idle keep-alive connections)."""

    def __init__(self, close_after=0.05):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.close_after = close_after
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            time.sleep(self.close_after)

    def close(self):
        self.sock.close()


@pytest.fixture
def closing_server():
    s = ClosingServer()
    yield s
    s.close()


def client(cls, url):
    return cls(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
               base_url=url, timeout=5.0)


def test_sync_idle_connection_closed_by_server(closing_server):
    # Between the two requests nobody calls the client: the keeper must drive the runtime so
    # that the pooled connection sees the server's close and is not reused.
    with client(keyswap.Client, closing_server.url) as c:
        for _ in range(3):
            assert c.get("/a").content == b"ok"
            time.sleep(0.3)
    assert closing_server.connections == 3


def test_sync_threads_share_the_runtime(server):
    with client(keyswap.Client, server.url) as c:
        errors = []

        def run():
            try:
                for i in range(50):
                    assert c.get(f"/t{i}").status_code == 200
                    if i % 10 == 0:
                        time.sleep(0.01)  # let the keeper take the runtime now and then
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        ts = [threading.Thread(target=run) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors
        assert c.stats()["requests"] == 400


def test_sync_timeout_on_the_calling_thread(server):
    with client(keyswap.Client, server.url) as c:
        start = time.monotonic()
        with pytest.raises(keyswap.RequestTimeoutError):
            c.get("/slow", params={"delay": 2}, timeout=0.2)
        assert time.monotonic() - start < 1.5
        assert c.get("/after").status_code == 200


def test_async_cancel_and_errors(server):
    async def main():
        async with client(keyswap.AsyncClient, server.url) as c:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.get("/slow", params={"delay": 2}), 0.1)
            fut = c.get("/x")
            assert asyncio.isfuture(fut)
            assert (await fut).status_code == 200
            rs = await asyncio.gather(*(c.get(f"/g{i}") for i in range(100)))
            assert {r.status_code for r in rs} == {200}
        async with keyswap.AsyncClient(source=keyswap.FixedSource("k1"),
                                       base_url="http://127.0.0.1:9") as c:
            with pytest.raises(keyswap.ConnectError):
                await c.get("/refused")

    # A new loop each time: every loop gets its own completion channel.
    for _ in range(3):
        asyncio.run(main())


def test_async_and_sync_together(server):
    sync = client(keyswap.Client, server.url)
    stop = threading.Event()
    counts = []

    def background():
        n = 0
        while not stop.is_set():
            assert sync.get("/s").status_code == 200
            n += 1
        counts.append(n)

    t = threading.Thread(target=background)
    t.start()
    try:
        async def main():
            async with client(keyswap.AsyncClient, server.url) as c:
                rs = await asyncio.gather(*(c.get(f"/a{i}") for i in range(50)))
                assert all(r.status_code == 200 for r in rs)

        asyncio.run(main())
    finally:
        stop.set()
        t.join()
        sync.close()
    assert counts and counts[0] > 0


class CountingServer:
    """Keep-alive HTTP/1.1 server answering 200 to every request; counts the connections the
    client still holds open (a connection ends when the client closes it)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.lock = threading.Lock()
        self.accepted = 0
        self.open = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.open += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(4096)
                    if not data:
                        with self.lock:
                            self.open -= 1
                        return
                    buf += data
                _, buf = buf.split(b"\r\n\r\n", 1)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    def wait_open(self, n, timeout=3.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.open == n:
                return True
            time.sleep(0.02)
        return self.open == n

    def close(self):
        self.sock.close()


def test_sync_each_thread_has_its_pool_and_frees_it_on_exit():
    # Each calling thread sends on its own runtime and connection pool. When threads exit,
    # the last four runtimes are kept (with their connections) for threads started later;
    # the others are freed with their connections. The credential store stays one per client.
    srv = CountingServer()
    try:
        with client(keyswap.Client, srv.url) as c:
            go, first_done = threading.Barrier(8), threading.Barrier(8)

            def run():
                go.wait()
                assert c.get("/t").status_code == 200
                first_done.wait()  # all 8 threads (and runtimes) alive at once
                for _ in range(19):
                    assert c.get("/t").status_code == 200

            ts = [threading.Thread(target=run) for _ in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            assert srv.accepted == 8  # one connection per thread, reused
            assert c.stats()["requests"] == 160
            assert srv.wait_open(4), srv.open  # 4 kept as spares, 4 freed
    finally:
        srv.close()


def test_sync_short_lived_threads_reuse_connections():
    # A thread per request: each new thread takes over the runtime (and pool) of the one before.
    srv = CountingServer()
    try:
        with client(keyswap.Client, srv.url) as c:
            for _ in range(5):
                t = threading.Thread(target=lambda: c.get("/once").raise_for_status())
                t.start()
                t.join()
            assert srv.accepted == 1
    finally:
        srv.close()


def test_sync_close_releases_idle_threads_pools():
    # A thread that stays alive but idle still drops the pool of a closed client.
    srv = CountingServer()
    try:
        c = client(keyswap.Client, srv.url)
        done, release = threading.Event(), threading.Event()

        def run():
            assert c.get("/t").status_code == 200
            done.set()
            release.wait(5)

        t = threading.Thread(target=run)
        t.start()
        try:
            assert done.wait(5)
            assert srv.open == 1
            c.close()
            assert srv.wait_open(0), srv.open
            with pytest.raises(keyswap.ClientClosedError):
                c.get("/after")
        finally:
            release.set()
            t.join()
    finally:
        srv.close()


def test_sync_stream_read_on_another_thread():
    # A stream=True body lives on the sending thread's runtime; another thread can read it,
    # also after the sending thread has exited.
    srv = CountingServer()
    try:
        with client(keyswap.Client, srv.url) as c:
            box = []
            t = threading.Thread(target=lambda: box.append(c.get("/s", stream=True)))
            t.start()
            t.join()
            assert box[0].read() == b"ok"
    finally:
        srv.close()


SPIN_PROBE = """
import sys, time, keyswap
c = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                   base_url=sys.argv[1], timeout=5.0)
c.get("/warm-up")
cpu = time.process_time()
assert c.get("/slow", params={"delay": 0.5}).status_code == 200
print(time.process_time() - cpu)
"""


def _cpu_while_waiting(url, spin_us):
    import os
    import subprocess
    import sys
    env = dict(os.environ)
    if spin_us is None:
        env.pop("KEYSWAP_SYNC_SPIN_US", None)
    else:
        env["KEYSWAP_SYNC_SPIN_US"] = str(spin_us)
    out = subprocess.run([sys.executable, "-c", SPIN_PROBE, url], env=env, check=True,
                         capture_output=True, text=True, timeout=60)
    return float(out.stdout.strip())


def test_sync_waiting_spins_at_most_its_bound(server):
    # A lone caller polls for its response without sleeping for at most the bound (default
    # 200 us), then blocks: waiting 0.5 s for a slow server costs next to no CPU. A bound of
    # 5 s shows the spin is real (on the CPU whenever the scheduler lets it: on a loaded
    # machine that is less than the whole 0.5 s, hence a ratio); 0 turns it off.
    bounded = _cpu_while_waiting(server.url, None)
    off = _cpu_while_waiting(server.url, 0)
    spinning = _cpu_while_waiting(server.url, 5_000_000)
    assert bounded < 0.1 and off < 0.1, (bounded, off)
    assert spinning > 0.1 and spinning > 5 * max(bounded, off, 0.01), (bounded, off, spinning)

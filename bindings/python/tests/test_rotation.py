"""Rotation: files (rename and the Kubernetes symlink swap), 401 -> refresh -> retry, env
variables, overlap fallback, custom sources, callbacks, and threads sharing one client."""

import os
import threading

import keyswap
from conftest import K8sSecretDir, wait_for, write_atomic


def test_rename_rotation_via_401_refresh_retry(server, tmp_path):
    key = tmp_path / "api_key"
    key.write_text("k1\n")
    # No watching, no polling: only the refresh path can pick the new key up.
    src = keyswap.FileSource(key, watch=False, poll_interval=None)
    c = keyswap.Client(source=src, auth=keyswap.Header("X-API-Key"), base_url=server.url)
    assert c.get("/a").status_code == 200
    write_atomic(key, "k2\n")
    server.accept("k2")  # hard revocation of k1
    r = c.get("/a")
    assert r.status_code == 200
    s = c.stats()
    assert (s["auth_failures"], s["retries"], s["refreshes"], s["rotations"]) == (1, 1, 1, 1)
    assert server.seen_keys[-2:] == ["k1", "k2"]


def test_rename_rotation_seen_by_the_watcher(server, tmp_path):
    key = tmp_path / "api_key"
    key.write_text("k1")
    seen = []
    done = threading.Event()
    c = keyswap.Client(source=keyswap.FileSource(key), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url)
    c.on_rotate(lambda old, new: (seen.append((old, new)), done.set()))  # after construction
    v1 = c.credential_version
    write_atomic(key, "k2")
    assert done.wait(5), "watcher did not pick the renamed file up"
    assert seen == [(v1, c.credential_version)] and v1 != c.credential_version
    server.accept("k2")
    assert c.get("/a").status_code == 200
    assert c.stats()["auth_failures"] == 0


def test_kubernetes_symlink_swap(server, tmp_path):
    vol = K8sSecretDir(tmp_path, "k1")
    c = keyswap.Client(source=keyswap.FileSource(vol.path), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url)
    assert c.get("/a").status_code == 200
    for n, key in enumerate(["k2", "k3"], start=1):
        before = c.credential_version
        vol.rotate(key)
        # the watch must survive each swap (a watch on the file itself dies after the first)
        assert wait_for(lambda: c.credential_version != before), f"swap {n} not seen"
        server.accept(key)
        assert c.get("/a").status_code == 200
    assert c.stats()["rotations"] == 2
    assert c.stats()["auth_failures"] == 0


def test_kubernetes_swap_with_hard_revocation_before_the_watcher(server, tmp_path):
    vol = K8sSecretDir(tmp_path, "k1")
    src = keyswap.FileSource(vol.path, watch=False, poll_interval=None)
    c = keyswap.Client(source=src, auth=keyswap.Header("X-API-Key"), base_url=server.url)
    vol.rotate("k2")
    server.accept("k2")
    assert c.get("/a").status_code == 200
    assert c.stats()["refreshes"] == 1


def test_env_source_refresh(server, monkeypatch):
    monkeypatch.setenv("KEYSWAP_TEST_KEY", "e1")
    server.accept("e1")
    c = keyswap.Client(source=keyswap.EnvSource("KEYSWAP_TEST_KEY"), base_url=server.url)
    assert c.get("/a").status_code == 200
    v1 = c.credential_version
    os.environ["KEYSWAP_TEST_KEY"] = "e2"
    server.accept("e2")
    assert c.get("/a").status_code == 200  # 401 -> re-read the variable -> retry
    assert c.credential_version != v1
    os.environ["KEYSWAP_TEST_KEY"] = "e3"
    v3 = c.refresh()  # explicit refresh
    assert v3 == c.credential_version
    assert c.stats()["rotations"] == 2


def test_overlap_fallback_while_server_propagates(server, tmp_path):
    key = tmp_path / "api_key"
    key.write_text("k1")
    src = keyswap.FileSource(key, watch=False, poll_interval=None)
    c = keyswap.Client(source=src, auth=keyswap.Header("X-API-Key"), base_url=server.url,
                       overlap_window=30.0, await_rotation=0.05)
    write_atomic(key, "k2")
    c.refresh()  # the client switched to k2 ...
    # ... but the server still only knows k1
    r = c.get("/a")
    assert r.status_code == 200
    assert c.stats()["fallbacks"] == 1
    assert server.seen_keys[-1] == "k1"


def test_no_overlap_gives_up_after_bounded_wait(server, tmp_path):
    key = tmp_path / "api_key"
    key.write_text("k1")
    src = keyswap.FileSource(key, watch=False, poll_interval=None)
    c = keyswap.Client(source=src, auth=keyswap.Header("X-API-Key"), base_url=server.url,
                       overlap_window=0, await_rotation=0.05)
    server.accept("other")
    r = c.get("/a")
    assert r.status_code == 401
    try:
        r.raise_for_status()
    except keyswap.CredentialRejectedError as e:
        assert isinstance(e, keyswap.AuthError) and isinstance(e, keyswap.HTTPStatusError)
        assert e.response is r and e.status_code == 401
    else:
        raise AssertionError("raise_for_status did not raise")


def test_custom_source(server):
    current = {"key": "c1"}
    calls = []

    def load():
        calls.append(1)
        return current["key"]

    server.accept("c1")
    c = keyswap.Client(source=keyswap.CustomSource(load, name="my-store"),
                       auth=keyswap.Header("X-API-Key"), base_url=server.url)
    assert c.source_name == "my-store"
    assert c.get("/a").status_code == 200
    current["key"] = "c2"
    server.accept("c2")
    assert c.get("/a").status_code == 200
    assert len(calls) == 2


def test_custom_source_returning_credential_and_raising(server):
    def load():
        return keyswap.Credential("k1", version="v7")

    c = keyswap.Client(source=keyswap.CustomSource(load), base_url=server.url)
    assert c.credential_version == "v7"

    def broken():
        raise RuntimeError("vault sealed")

    try:
        keyswap.Client(source=keyswap.CustomSource(broken, name="vault"))
    except keyswap.SourceError as e:
        assert "vault sealed" in str(e) and "vault" in str(e)
    else:
        raise AssertionError("no SourceError")


def test_on_rotate_callback_errors_are_unraisable(server, tmp_path, monkeypatch):
    key = tmp_path / "api_key"
    key.write_text("k1")
    hits = []
    unraisable = []
    done = threading.Event()
    monkeypatch.setattr("sys.unraisablehook", lambda u: unraisable.append(u))

    def bad(old, new):
        raise ValueError("boom")

    def good(old, new):
        hits.append(new)
        done.set()

    c = keyswap.Client(source=keyswap.FileSource(key, watch=False, poll_interval=None),
                       base_url=server.url, on_rotate=bad)
    assert c.on_rotate(good) is good
    write_atomic(key, "k2")
    c.refresh()
    assert done.wait(5)
    assert hits == [c.credential_version]
    assert len(unraisable) == 1 and isinstance(unraisable[0].exc_value, ValueError)


def test_threads_share_one_client_through_rotations(server, tmp_path):
    key = tmp_path / "api_key"
    key.write_text("r0")
    server.accept("r0")
    c = keyswap.Client(source=keyswap.FileSource(key), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url)
    failures = []
    statuses = []
    start = threading.Barrier(9)

    def worker():
        start.wait()
        for _ in range(50):
            try:
                statuses.append(c.get("/w").status_code)
            except Exception as e:  # noqa: BLE001 - every failure counts
                failures.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    start.wait()
    for n in range(1, 4):
        wait_for(lambda: server.requests >= n * 80, timeout=5)
        write_atomic(key, f"r{n}")  # the file first, then the server revokes the old key
        server.accept(f"r{n}")
    for t in threads:
        t.join(30)
    assert failures == []
    assert len(statuses) == 400 and set(statuses) == {200}
    s = c.stats()
    assert s["rotations"] == 3 and s["requests"] == 400


def test_a_revocation_after_a_transient_refusal_reaches_no_consumer(server, tmp_path):
    key = tmp_path / "api_key"
    key.write_text("t1")
    server.accept("t1")
    c = keyswap.Client(source=keyswap.FileSource(key), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url, await_rotation=0.3)
    server.refuse_next(1)  # a flaky gateway refuses the valid key once
    assert c.get("/a").status_code == 401  # that one refusal may reach the caller
    assert c.health().state == "failing"
    assert c.get("/a").status_code == 200
    assert c.health().state == "fresh", "accepted again: a good key again"

    # Now really revoked, and the file follows 150 ms later.
    server.accept("t2")
    timer = threading.Timer(0.15, write_atomic, args=(key, "t2"))
    timer.start()
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(c.get("/a").status_code))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    timer.join()
    assert statuses == [200] * 8
    assert c.health().state == "fresh"

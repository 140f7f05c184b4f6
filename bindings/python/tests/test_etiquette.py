"""Rotation etiquette settings reach the core: propagation_hold and probe_interval."""

from __future__ import annotations

import time

import pytest

import keyswap


def _client(server, key, **kw):
    server.accept("old")
    return keyswap.Client(source=keyswap.CustomSource(lambda: key[0], name="box"),
                          auth=keyswap.Header("X-API-Key"), base_url=server.url,
                          await_rotation=0, overlap_window=30.0, **kw)


def _rotate_before_the_server_propagates(server, c, key):
    server.accept("old")
    key[0] = "new"
    c.refresh()  # the client now holds "new"; the server still only accepts "old"


def test_hold_keeps_requests_on_the_previous_key_and_probes_at_a_bounded_rate(server):
    key = ["old"]
    c = _client(server, key, propagation_hold=30.0, probe_interval=0.2)
    assert c.get("/x").status_code == 200
    _rotate_before_the_server_propagates(server, c, key)
    t0 = time.monotonic()
    for _ in range(30):
        assert c.get("/x").status_code == 200  # no caller sees a failure
    elapsed = time.monotonic() - t0
    s = c.stats()
    # The first request meets the rejection and falls back; then requests hold on "old" and at
    # most one per 0.2 s tries "new".
    assert s["fallbacks"] >= 1
    assert s["auth_failures"] <= 2 + elapsed / 0.2, s
    assert s["auth_failures"] < 15, s

    # The server propagates the new key: the next probe switches everyone to it.
    server.accept("old", "new")
    time.sleep(0.25)
    for _ in range(5):
        assert c.get("/x").status_code == 200
    assert c.stats()["probes"] >= 1, c.stats()
    server.accept("new")
    assert c.get("/x").status_code == 200
    assert server.seen_keys[-1] == "new"


def test_zero_hold_tries_the_new_key_on_every_request(server):
    key = ["old"]
    c = _client(server, key, propagation_hold=0)
    _rotate_before_the_server_propagates(server, c, key)
    for _ in range(10):
        assert c.get("/x").status_code == 200  # each after a rejection and a fallback
    s = c.stats()
    assert s["auth_failures"] >= 10 and s["probes"] == 0, s


def test_long_probe_interval_limits_probes(server):
    key = ["old"]
    c = _client(server, key, propagation_hold=30.0, probe_interval=60.0)
    _rotate_before_the_server_propagates(server, c, key)
    for _ in range(20):
        assert c.get("/x").status_code == 200
    s = c.stats()
    assert s["auth_failures"] <= 2 and s["probes"] <= 1, s


@pytest.mark.parametrize("cls", [keyswap.Client, keyswap.AsyncClient])
def test_signature_defaults(cls):
    import inspect

    # the native signature is exposed through __text_signature__
    sig = inspect.signature(cls)
    assert sig.parameters["propagation_hold"].default == 30.0
    assert sig.parameters["probe_interval"].default == 0.2

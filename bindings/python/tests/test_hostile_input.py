"""Hostile numbers never panic: a duration or a timestamp that cannot be represented raises
ValueError (ConfigError) naming the argument; huge but representable durations are accepted."""

from __future__ import annotations

import asyncio

import pytest

import keyswap

BAD = [float("nan"), float("inf"), float("-inf"), -1, -0.5, 1e300]


def _client(**kw):
    return keyswap.Client(source=keyswap.FixedSource("k1"), **kw)


def _async_client(**kw):
    return keyswap.AsyncClient(source=keyswap.FixedSource("k1"), **kw)


def _file_source(tmp_path, **kw):
    path = tmp_path / "api_key"
    path.write_text("k1")
    return keyswap.FileSource(path, **kw)


CLIENT_DURATIONS = ["overlap_window", "propagation_hold", "probe_interval", "await_rotation",
                    "load_timeout", "timeout", "connect_timeout"]

CASES = (
    [(f"Client({a}=)", a, lambda v, a=a, **_: _client(**{a: v})) for a in CLIENT_DURATIONS]
    + [(f"AsyncClient({a}=)", a, lambda v, a=a, **_: _async_client(**{a: v}))
       for a in CLIENT_DURATIONS]
    + [
        ("Credential(expires_at=)", "expires_at",
         lambda v, **_: keyswap.Credential("k", expires_at=v)),
        ("FileSource(poll_interval=)", "poll_interval",
         lambda v, tmp_path, **_: _file_source(tmp_path, poll_interval=v)),
        ("FileSource(debounce=)", "debounce",
         lambda v, tmp_path, **_: _file_source(tmp_path, debounce=v)),
        ("CustomSource(poll_interval=)", "poll_interval",
         lambda v, **_: keyswap.CustomSource(lambda: "k", poll_interval=v)),
        ("HttpSource(poll_interval=)", "poll_interval",
         lambda v, **_: keyswap.HttpSource("https://secrets.test/k", poll_interval=v)),
        ("HttpSource(timeout=)", "timeout",
         lambda v, **_: keyswap.HttpSource("https://secrets.test/k", timeout=v)),
        ("HttpSource(reuse_window=)", "reuse_window",
         lambda v, **_: keyswap.HttpSource("https://secrets.test/k", reuse_window=v)),
        ("VaultSource(timeout=)", "timeout",
         lambda v, **_: keyswap.VaultSource("https://vault.test", "p", token="t", timeout=v)),
        ("Client.get(timeout=)", "timeout",
         lambda v, server, **_: _client(base_url=server.url).get("/x", timeout=v)),
    ]
)


@pytest.mark.parametrize("value", BAD, ids=repr)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_unrepresentable_values_raise_value_error_naming_the_argument(case, value, tmp_path,
                                                                     server):
    _, arg, make = case
    with pytest.raises(ValueError, match=arg) as e:
        make(value, tmp_path=tmp_path, server=server)
    assert isinstance(e.value, keyswap.ConfigError)


@pytest.mark.parametrize("value", [1e19, 1.8e19, 9.3e18])
def test_expiry_beyond_system_time_raises_instead_of_panicking(value):
    """Representable as a duration, but not as a point in time after 1970."""
    with pytest.raises(ValueError, match="expires_at"):
        keyswap.Credential("k", expires_at=value)


def test_async_request_timeout_is_checked(server):
    async def main():
        async with _async_client(base_url=server.url) as c:
            for v in BAD:
                with pytest.raises(ValueError, match="timeout"):
                    await c.get("/x", timeout=v)

    asyncio.run(main())


def test_huge_finite_durations_are_accepted(server, tmp_path, secrets_server):
    huge = 1e18  # about 3e10 years: a valid Duration; the core saturates deadlines
    c = keyswap.Client(
        source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"), base_url=server.url,
        **{a: huge for a in CLIENT_DURATIONS},
    )
    assert c.get("/x", timeout=huge).status_code == 200
    c.refresh()
    f = keyswap.Client(source=_file_source(tmp_path, poll_interval=huge, debounce=huge),
                       auth=keyswap.Header("X-API-Key"), base_url=server.url)
    assert f.get("/x").status_code == 200
    secrets_server.payload = {"key": "k1"}
    h = keyswap.Client(
        source=keyswap.HttpSource(secrets_server.url + "/s", key_pointer="/key",
                                  poll_interval=huge, timeout=huge, reuse_window=huge),
        auth=keyswap.Header("X-API-Key"), base_url=server.url,
    )
    assert h.get("/x").status_code == 200
    assert h.refresh() == h.credential_version
    cred = keyswap.Credential("k1", expires_at=4102444800.0)  # 2100-01-01
    assert cred.expires_at == 4102444800.0
    x = keyswap.Client(source=keyswap.FixedSource(cred), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url)
    assert x.get("/x").status_code == 200
    for client in (c, f, h, x):
        assert client.stats()["background_failures"] == 0

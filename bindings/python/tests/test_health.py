"""Client.health() / AsyncClient.health(): the core's Health snapshot."""

import asyncio
import time

import pytest

import keyswap


def test_health_fresh_then_stale_then_fresh(server, tmp_path):
    key = tmp_path / "api_key"
    key.write_text("k1")
    before = time.time()
    with keyswap.Client(source=keyswap.FileSource(str(key)), auth=keyswap.Header("X-API-Key"),
                        base_url=server.url) as c:
        h = c.health()
        assert isinstance(h, keyswap.Health)
        assert h.state == "fresh" and h.ok
        assert h.credential_version == c.credential_version
        assert isinstance(h.last_success, float) and before - 1 <= h.last_success <= time.time() + 1
        assert h.failing_since is None and h.last_error is None
        assert "fresh" in repr(h)

        # The source breaks: the last good key still serves, the health says stale.
        key.unlink()
        with pytest.raises(keyswap.SourceError):
            c.refresh()
        h = c.health()
        assert h.state == "stale" and h.ok
        assert isinstance(h.failing_since, float) and h.failing_since >= h.last_success - 1
        assert h.last_error and str(key) in h.last_error
        assert "k1" not in repr(h)
        assert c.get("/x").status_code == 200

        # Back: fresh again, failing_since cleared.
        key.write_text("k1")
        c.refresh()
        h = c.health()
        assert h.state == "fresh" and h.failing_since is None


def test_health_failing_when_credential_expired(server):
    cred = keyswap.Credential("k1", expires_at=time.time() + 0.3)
    with keyswap.Client(source=keyswap.FixedSource(cred), auth=keyswap.Header("X-API-Key"),
                        base_url=server.url) as c:
        assert c.health().state == "fresh"
        time.sleep(0.5)
        h = c.health()
        assert h.state == "failing" and not h.ok


def test_health_is_frozen_and_comparable(server):
    with keyswap.Client(source=keyswap.FixedSource("k1"), base_url=server.url) as c:
        h = c.health()
        with pytest.raises(AttributeError):
            h.state = "failing"
        assert h == c.health(), "nothing happened in between: equal snapshots"
        c.refresh()  # a new load: a new last_success
        assert h != c.health() and c.health().last_success > h.last_success
    with pytest.raises(keyswap.ClientClosedError):
        c.health()


def test_async_client_health(server):
    async def main():
        async with keyswap.AsyncClient(source=keyswap.FixedSource("k1"),
                                       base_url=server.url) as c:
            h = c.health()  # not awaitable: no I/O
            assert h.state == "fresh" and h.credential_version == c.credential_version

    asyncio.run(main())

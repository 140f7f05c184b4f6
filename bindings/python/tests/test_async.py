"""AsyncClient: awaitable methods, async with, rotation under concurrent tasks."""

import asyncio

import pytest

import keyswap
from conftest import write_atomic


def test_async_client_basic(server):
    async def main():
        async with keyswap.AsyncClient(source=keyswap.FixedSource("k1"),
                                       auth=keyswap.Header("X-API-Key"),
                                       base_url=server.url) as c:
            r = await c.get("/v1/ticker", params={"symbol": "BTCUSDT"}, timeout=5.0)
            assert r.status_code == 200 and r.json()["query"] == {"symbol": "BTCUSDT"}
            r = await c.post("/p", json={"a": 1})
            assert r.json()["body"] == '{"a":1}'
            for method in ("put", "patch", "delete"):
                r = await getattr(c, method)("/m")
                assert r.json()["method"] == method.upper()
            r = await c.request("GET", "/req")
            assert r.json()["path"] == "/req"
            assert c.stats()["requests"] == 6
            assert (await c.refresh()) == c.credential_version
        assert c.closed
        with pytest.raises(keyswap.ClientClosedError):
            await c.get("/x")

    asyncio.run(main())


def test_async_rotation_with_concurrent_tasks(server, tmp_path):
    key = tmp_path / "api_key"
    key.write_text("a1")
    server.accept("a1")

    async def main():
        c = keyswap.AsyncClient(source=keyswap.FileSource(key, watch=False, poll_interval=None),
                                auth=keyswap.Bearer(), base_url=server.url)
        assert all(r.status_code == 200 for r in await asyncio.gather(*(c.get("/x") for _ in range(20))))
        write_atomic(key, "a2")
        server.accept("a2")
        rs = await asyncio.gather(*(c.get("/x") for _ in range(20)))
        assert [r.status_code for r in rs] == [200] * 20
        s = c.stats()
        # single flight: the concurrent 401s share a handful of source reads, one rotation
        assert s["rotations"] == 1 and s["refreshes"] <= 20
        await c.aclose()

    asyncio.run(main())


def test_async_errors_map(server):
    async def main():
        c = keyswap.AsyncClient(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                                base_url=server.url)
        with pytest.raises(keyswap.RequestTimeoutError):
            await c.get("/slow", params={"delay": "1"}, timeout=0.1)
        with pytest.raises(TimeoutError):
            await c.get("/slow", params={"delay": "1"}, timeout=0.1)

    asyncio.run(main())

"""The skin does not decide again what the core decided: the verdict on a response, the
configuration from the environment (issue 16)."""

import asyncio
import json

import pytest

import keyswap
from conftest import FixedAnswer

SECRET = "sk_live_SECRET_9f3a"


# How Kraken answers a revoked key: HTTP 200, the error in the body.
KRAKEN_REFUSAL = json.dumps({"error": ["EAPI:Invalid key"]}).encode()


@pytest.fixture
def kraken():
    s = FixedAnswer(200, [("Content-Type", "application/json")], KRAKEN_REFUSAL)
    yield s
    s.close()


def kraken_client(cls, kraken):
    return cls(source=keyswap.FixedSource("kkey", secret="c2VjcmV0"), auth="kraken",
               base_url=kraken.url, await_rotation=0, sync_clock=False)


def test_a_streamed_response_carries_the_cores_body_verdict(kraken):
    # The core read Kraken's body to classify it (and tried to recover); a stream=True
    # response still raises for it, and its body reads as the server sent it.
    with kraken_client(keyswap.Client, kraken) as c:
        r = c.post("/0/private/Balance", stream=True)
        assert r.status_code == 200 and not r.is_read
        with pytest.raises(keyswap.CredentialRejectedError) as info:
            r.raise_for_status()
        assert info.value.status_code == 200 and info.value.response is r
        assert b"".join(r.iter_bytes()) == KRAKEN_REFUSAL
        assert r.num_bytes_downloaded == len(KRAKEN_REFUSAL)
        assert c.stats()["auth_failures"] >= 1


def test_an_async_streamed_response_carries_the_verdict_and_reads_with_aread(kraken):
    async def main():
        async with kraken_client(keyswap.AsyncClient, kraken) as c:
            r = await c.post("/0/private/Balance", stream=True)
            with pytest.raises(keyswap.CredentialRejectedError):
                r.raise_for_status()
            assert await r.aread() == KRAKEN_REFUSAL
            assert r.is_read and r.json() == {"error": ["EAPI:Invalid key"]}

    asyncio.run(main())


ENV = ("KEYSWAP_SOURCE", "KEYSWAP_AUTH", "KEYSWAP_BASE_URL", "KEYSWAP_CERT", "KEYSWAP_VERIFY")


@pytest.fixture
def env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("var, value, override", [
    # Each variable the client takes is checked by the core, with the core's rule, even when
    # another one is given as an argument.
    ("KEYSWAP_BASE_URL", f"https://user:{SECRET}@api.example.com", {"auth": "bearer"}),
    ("KEYSWAP_BASE_URL", f"ftp://api.example.com/{SECRET}", {"source": "env:K"}),
    ("KEYSWAP_CERT", f"/nonexistent/{SECRET}.pem,", {"source": "env:K"}),
    ("KEYSWAP_AUTH", f"header:X?{SECRET}=1", {"base_url": "http://127.0.0.1:9"}),
])
def test_from_env_takes_the_cores_checked_values(env, var, value, override):
    env.setenv("KEYSWAP_SOURCE", "env:K")
    env.setenv(var, value)
    with pytest.raises(keyswap.ConfigError, match=var) as info:
        keyswap.Client.from_env(**override)
    assert SECRET not in str(info.value)


def test_from_env_arguments_replace_their_variables(env, server):
    env.setenv("KEYSWAP_TEST_FROM_ENV_KEY", "k1")
    env.setenv("KEYSWAP_SOURCE", "env:KEYSWAP_TEST_FROM_ENV_KEY")
    env.setenv("KEYSWAP_AUTH", "query:api_key")
    env.setenv("KEYSWAP_BASE_URL", "http://127.0.0.1:9")  # replaced: never contacted
    with keyswap.Client.from_env(base_url=server.url) as c:
        r = c.get("/e")
        assert r.status_code == 200 and r.json()["query"]["api_key"] == "k1"
        assert "query" in repr(c).lower() and server.url in repr(c)
    # A source given as an argument: KEYSWAP_SOURCE is not required.
    env.delenv("KEYSWAP_SOURCE")
    with keyswap.Client.from_env(source=keyswap.FixedSource("k1"), base_url=server.url) as c:
        assert c.get("/e").status_code == 200
    with pytest.raises(keyswap.ConfigError, match="KEYSWAP_SOURCE is not set"):
        keyswap.AsyncClient.from_env(base_url=server.url)

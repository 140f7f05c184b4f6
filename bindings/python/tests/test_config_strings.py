"""Configuration strings (source="file:///...", auth="header:X") and Client.from_env()."""

import asyncio

import pytest

import keyswap

ENV_VARS = ("KEYSWAP_SOURCE", "KEYSWAP_AUTH", "KEYSWAP_BASE_URL")


@pytest.fixture
def clean_env(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_source_and_auth_strings(server, tmp_path):
    key = tmp_path / "api_key"
    key.write_text("k1\n")
    with keyswap.Client(source=f"file://{key}", auth="header:X-API-Key",
                        base_url=server.url) as c:
        assert c.source_name == f"file:{key}"
        r = c.get("/echo")
        assert r.status_code == 200 and r.json()["headers"]["x-api-key"] == "k1"
        assert "x-api-key" in repr(c).lower()


def test_env_source_string_and_query_auth(server, monkeypatch):
    monkeypatch.setenv("PY11_TEST_KEY", "k1")
    with keyswap.Client(source="env:PY11_TEST_KEY", auth="query:api_key",
                        base_url=server.url) as c:
        r = c.get("/q", params={"a": "1"})
        assert r.status_code == 200 and r.json()["query"] == {"a": "1", "api_key": "k1"}
        assert "k1" not in r.url and "k1" not in r.request.url
    # Strings mix with objects.
    with keyswap.Client(source="env:PY11_TEST_KEY", auth=keyswap.Bearer(),
                        base_url=server.url) as c:
        assert c.get("/b").json()["headers"]["authorization"] == "Bearer k1"
    with keyswap.Client(source=keyswap.FixedSource("k1"), auth="basic:me",
                        base_url=server.url) as c:
        assert c.get("/b").status_code == 200


@pytest.mark.parametrize(
    "source",
    [
        "fixed:sk_live_SECRET123",
        "vault+https://vault.internal:8200/v1/secret/data/p?token=sk_live_SECRET123",
        "https://user:sk_live_SECRET123@secrets.internal/key",
        "nope://sk_live_SECRET123",
        "",
    ],
)
def test_malformed_source_string_is_config_error_without_the_token(source):
    with pytest.raises(keyswap.ConfigError) as exc:
        keyswap.Client(source=source)
    assert isinstance(exc.value, ValueError)
    assert "sk_live_SECRET123" not in str(exc.value)


@pytest.mark.parametrize("auth", ["header:", "bearer:sk_live_SECRET123", "binance?recv_window=sk_live_SECRET123", "what"])
def test_malformed_auth_string_is_config_error_without_the_token(auth):
    with pytest.raises(keyswap.ConfigError) as exc:
        keyswap.Client(source=keyswap.FixedSource("k"), auth=auth)
    assert isinstance(exc.value, ValueError)
    assert "sk_live_SECRET123" not in str(exc.value)


def test_wrong_types_are_type_errors():
    with pytest.raises(TypeError):
        keyswap.Client(source=42)
    with pytest.raises(TypeError):
        keyswap.Client(source=keyswap.FixedSource("k"), auth=42)


def test_from_env(server, tmp_path, clean_env):
    key = tmp_path / "api_key"
    key.write_text("k1")
    clean_env.setenv("KEYSWAP_SOURCE", f"file://{key}")
    clean_env.setenv("KEYSWAP_AUTH", "header:X-API-Key")
    clean_env.setenv("KEYSWAP_BASE_URL", server.url)
    with keyswap.Client.from_env() as c:
        assert isinstance(c, keyswap.Client)
        assert c.get("/e").json()["headers"]["x-api-key"] == "k1"
    # Keyword arguments go to the constructor; source/auth/base_url override the variables.
    with keyswap.Client.from_env(auth=keyswap.Bearer(), timeout=5.0) as c:
        assert c.get("/e").json()["headers"]["authorization"] == "Bearer k1"
    clean_env.setenv("KEYSWAP_BASE_URL", "http://127.0.0.1:9")
    with keyswap.Client.from_env(base_url=server.url, auth="header:X-API-Key") as c:
        assert c.get("/e").status_code == 200


def test_from_env_defaults_to_bearer_and_async(server, clean_env):
    clean_env.setenv("PY11_TEST_KEY", "k1")
    clean_env.setenv("KEYSWAP_SOURCE", "env:PY11_TEST_KEY")
    clean_env.setenv("KEYSWAP_AUTH", "   ")  # blank counts as unset

    async def main():
        async with keyswap.AsyncClient.from_env(base_url=server.url) as c:
            assert isinstance(c, keyswap.AsyncClient)
            r = await c.get("/a")
            assert r.json()["headers"]["authorization"] == "Bearer k1"

    asyncio.run(main())


def test_from_env_errors_name_the_variable_not_the_value(clean_env):
    with pytest.raises(keyswap.ConfigError, match="KEYSWAP_SOURCE"):
        keyswap.Client.from_env()
    clean_env.setenv("KEYSWAP_SOURCE", "fixed:sk_live_SECRET123")
    with pytest.raises(keyswap.ConfigError, match="KEYSWAP_SOURCE") as exc:
        keyswap.Client.from_env()
    assert "sk_live_SECRET123" not in str(exc.value)
    # The same with an override of another argument (checked by the bindings then).
    with pytest.raises(keyswap.ConfigError, match="KEYSWAP_SOURCE") as exc:
        keyswap.Client.from_env(auth="bearer")
    assert "sk_live_SECRET123" not in str(exc.value)
    clean_env.setenv("KEYSWAP_SOURCE", "env:X")
    clean_env.setenv("KEYSWAP_AUTH", "bogus:sk_live_SECRET123")
    with pytest.raises(keyswap.ConfigError, match="KEYSWAP_AUTH") as exc:
        keyswap.AsyncClient.from_env()
    assert "sk_live_SECRET123" not in str(exc.value)
    clean_env.delenv("KEYSWAP_AUTH")
    clean_env.setenv("KEYSWAP_BASE_URL", "ftp://sk_live_SECRET123@host/")
    with pytest.raises(keyswap.ConfigError, match="KEYSWAP_BASE_URL") as exc:
        keyswap.Client.from_env()
    assert "sk_live_SECRET123" not in str(exc.value)

"""Endpoint sources (HttpSource and the Vault / AWS agent presets) against a local stand-in."""

import json

import pytest

import keyswap

TOKEN = "hvs.VAULTTOKENSECRET"


def vault_payload(key, version):
    return {"data": {"data": {"api_key": key, "api_secret": key + "-s"},
                     "metadata": {"version": version}}}


def test_vault_source_rotation_via_401(server, secrets_server, monkeypatch):
    monkeypatch.setenv("KEYSWAP_TEST_VAULT_TOKEN", TOKEN)
    secrets_server.required = {"X-Vault-Token": TOKEN}
    secrets_server.payload = vault_payload("v-key-1", 1)
    server.accept("v-key-1")
    src = keyswap.VaultSource(secrets_server.url, "payments/exchange",
                              token=keyswap.FromEnv("KEYSWAP_TEST_VAULT_TOKEN"),
                              secret_field="api_secret", poll_interval=None, reuse_window=0)
    assert repr(src) == f'VaultSource("{secrets_server.url}/v1/secret/data/payments/exchange")'
    c = keyswap.Client(source=src, auth=keyswap.Header("X-API-Key"), base_url=server.url)
    assert c.credential_version == "1"
    assert c.get("/a").status_code == 200
    secrets_server.payload = vault_payload("v-key-2", 2)
    server.accept("v-key-2")
    assert c.get("/a").status_code == 200
    assert c.credential_version == "2"
    assert secrets_server.paths[-1] == "/v1/secret/data/payments/exchange"
    assert TOKEN not in repr(c) and TOKEN not in repr(src)


def test_http_source_with_decode_steps_and_file_header(server, secrets_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("agent-token\n")
    secrets_server.required = {"X-Aws-Parameters-Secrets-Token": "agent-token"}
    secrets_server.payload = {"VersionId": "abc", "SecretString": json.dumps({"api_key": "h-key"})}
    src = keyswap.HttpSource(
        secrets_server.url + "/secretsmanager/get?secretId=prod%2Fexchange",
        headers={"X-Aws-Parameters-Secrets-Token": keyswap.FromFile(token_file)},
        decode=[("json", "/SecretString")],
        key_pointer="/SecretString/api_key",
        version_pointer="/VersionId",
        poll_interval=None,
    )
    server.accept("h-key")
    c = keyswap.Client(source=src, auth=keyswap.Bearer(), base_url=server.url)
    assert c.credential_version == "abc"
    assert c.get("/x").status_code == 200


def test_aws_agent_preset_base_url(secrets_server):
    secrets_server.required = {"X-Aws-Parameters-Secrets-Token": "session"}
    secrets_server.payload = {"VersionId": "v9", "SecretString": json.dumps({"k": "a-key"})}
    src = keyswap.AwsSecretsManagerAgentSource(
        "prod/exchange", json_key="k", base_url=secrets_server.url,
        headers={"X-Aws-Parameters-Secrets-Token": "session"}, poll_interval=None)
    c = keyswap.Client(source=src)
    assert c.credential_version == "v9"
    assert secrets_server.paths[-1] == "/secretsmanager/get?secretId=prod%2Fexchange"


def test_endpoint_errors_name_the_source_not_the_token(secrets_server):
    secrets_server.required = {"X-Vault-Token": "right"}
    secrets_server.payload = vault_payload("k", 1)
    src = keyswap.VaultSource(secrets_server.url, "p", token=TOKEN, poll_interval=None)
    with pytest.raises(keyswap.SourceError) as e:
        keyswap.Client(source=src)
    msg = str(e.value)
    assert "403" in msg and "/v1/secret/data/p" in msg and TOKEN not in msg
    with pytest.raises(keyswap.ConfigError):
        keyswap.HttpSource(secrets_server.url, decode=[("xml", "/a")])
    with pytest.raises(keyswap.ConfigError):
        keyswap.HttpSource(secrets_server.url, headers={"X-T": 3})

"""OAuth2ClientCredentials against a real authorization server: oidc-provider (npm), run by
tests/oauth2_server/server.mjs on 127.0.0.1 (scripts/test-python.sh runs `npm ci` there).
Tokens live 2 s; the server's /api accepts only valid ones."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

import keyswap
from conftest import write_atomic

SERVER_DIR = Path(__file__).resolve().parents[3] / "tests" / "oauth2_server"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AuthServer:
    def __init__(self, tmp_path: Path, clients: list[dict], ttl: int = 2):
        if not (SERVER_DIR / "node_modules" / "oidc-provider").is_dir():
            pytest.fail("oidc-provider is not installed: run scripts/test-python.sh "
                        "(it runs `npm ci` in tests/oauth2_server/)")
        config = tmp_path / "oauth2-server.json"
        config.write_text(json.dumps({"ttl": ttl, "clients": clients}))
        self.proc = subprocess.Popen(
            ["node", str(SERVER_DIR / "server.mjs"), str(config)], cwd=SERVER_DIR,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening "), f"the authorization server did not start: {line!r}"
        self.url = f"http://127.0.0.1:{line.split()[1]}"
        self.token_url = f"{self.url}/token"

    def admin(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET")
        with NO_PROXY.open(req, timeout=5) as resp:
            return json.loads(resp.read())

    def token_requests(self, client_id: str) -> int:
        return self.admin("/admin/stats")["token_requests"].get(client_id, 0)

    def close(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def auth_server(tmp_path):
    servers = []

    def start(clients, ttl=2):
        s = AuthServer(tmp_path, clients, ttl)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def test_oauth2_client_with_a_rotating_secret_file(auth_server, tmp_path):
    server = auth_server([{"client_id": "py", "client_secret": "old-secret"}])
    secret = tmp_path / "client_secret"
    write_atomic(secret, "old-secret")
    source = keyswap.OAuth2ClientCredentials(server.token_url, client_id="py",
                                             client_secret=str(secret), scope="api:read")
    assert "old-secret" not in repr(source) and source.client_id == "py"
    failures, served = [], [0]
    with keyswap.Client(source=source, base_url=server.url) as client:
        stop = time.monotonic() + 5.0

        def caller():
            while time.monotonic() < stop:
                try:
                    r = client.get("/api")
                    if r.status_code == 200:
                        served[0] += 1
                    else:
                        failures.append(r.status_code)
                except keyswap.KeyswapError as e:
                    failures.append(e)

        threads = [threading.Thread(target=caller) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.8)  # just before the first renewal (1.9 s)
        server.admin("/admin/secret", {"client_id": "py", "client_secret": "new-secret"})
        time.sleep(0.15)
        write_atomic(secret, "new-secret")
        for t in threads:
            t.join()
    assert failures == []
    assert served[0] > 100
    # 5 s of 2 s tokens: renewed with the new secret, and never more than (5/2)+2.
    assert 3 <= server.token_requests("py") <= 5


def test_oauth2_async_client_with_secret_from_env_and_post(auth_server, monkeypatch):
    server = auth_server([{"client_id": "apy", "client_secret": "env-s3cret",
                           "auth_method": "client_secret_post"}])
    monkeypatch.setenv("KEYSWAP_TEST_OAUTH_SECRET", "env-s3cret")
    source = keyswap.OAuth2ClientCredentials(
        server.token_url, client_id="apy", auth_method="client_secret_post",
        client_secret=keyswap.FromEnv("KEYSWAP_TEST_OAUTH_SECRET"))

    async def main():
        async with keyswap.AsyncClient(source=source, base_url=server.url) as client:
            rs = await asyncio.gather(*(client.get("/api") for _ in range(64)))
            assert {r.status_code for r in rs} == {200}
            assert rs[0].json()["client_id"] == "apy"

    asyncio.run(main())
    assert server.token_requests("apy") == 1


def test_oauth2_refused_client_names_the_cause_never_the_secret(auth_server, tmp_path):
    server = auth_server([{"client_id": "bad", "client_secret": "right"}])
    secret = tmp_path / "s"
    write_atomic(secret, "wrong-SECRET-value")
    source = keyswap.OAuth2ClientCredentials(server.token_url, client_id="bad",
                                             client_secret=keyswap.FromFile(str(secret)),
                                             await_secret=0.2)
    with pytest.raises(keyswap.SourceError) as err:
        keyswap.Client(source=source, base_url=server.url)
    shown = str(err.value)
    assert "invalid_client" in shown and "has not changed" in shown, shown
    assert "wrong-SECRET-value" not in shown


def test_oauth2_arguments_are_checked():
    with pytest.raises(keyswap.ConfigError, match="auth_method"):
        keyswap.OAuth2ClientCredentials("https://as.example/token", client_id="x",
                                        client_secret="/s", auth_method="magic")
    with pytest.raises(keyswap.ConfigError, match="client_secret"):
        keyswap.OAuth2ClientCredentials("https://as.example/token", client_id="x",
                                        client_secret=42)
    with pytest.raises(keyswap.ConfigError, match="advisory_margin"):
        keyswap.OAuth2ClientCredentials("https://as.example/token", client_id="x",
                                        client_secret="/s", advisory_margin=-1)


def test_oauth2_from_a_configuration_string(auth_server, tmp_path):
    server = auth_server([{"client_id": "cfg", "client_secret": "cfg-s3cret"}])
    secret = tmp_path / "secret"
    write_atomic(secret, "cfg-s3cret")
    source = f"oauth2+{server.token_url}?client_id=cfg&secret_file={secret}&scope=api:read"
    with keyswap.Client(source=source, base_url=server.url) as client:
        r = client.get("/api")
        assert r.status_code == 200 and r.json() == {"client_id": "cfg", "scope": "api:read"}

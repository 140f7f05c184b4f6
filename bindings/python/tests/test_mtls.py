"""cert= and verify=: client certificates and CA bundles that rotate, against a real OpenSSL
server (the standard library's ``ssl``) that requires client certificates."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time

import pytest

import keyswap
from conftest import wait_for
from mtls_support import Ca, MtlsServer, TlsSecretDir

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


@pytest.fixture
def pki(tmp_path):
    server_ca = Ca(tmp_path / "server-ca", "servers")
    client_ca = Ca(tmp_path / "client-ca-0", "clients-0")
    server = MtlsServer(tmp_path, server_ca, client_ca)
    cert, key = client_ca.issue("client")
    server.trust_only(client_ca, cert)
    secret = tmp_path / "secret"
    secret.mkdir()
    volume = TlsSecretDir(secret, {"tls.crt": cert, "tls.key": key, "ca.crt": server_ca.pem})
    yield tmp_path, server, server_ca, volume, (cert, key)
    server.close()


def rotate(tmp_path, server, server_ca, volume, n, delay=0.1):
    """Hard revocation: a new CA and certificate; the server trusts only them from now on,
    and the client's volume gets them ``delay`` later."""
    ca = Ca(tmp_path / f"client-ca-{n}", f"clients-{n}")
    cert, key = ca.issue("client")
    server.trust_only(ca, cert)
    time.sleep(delay)
    volume.update({"tls.crt": cert, "tls.key": key, "ca.crt": server_ca.pem})
    return cert, key


def test_rotation_with_hard_revocation_eight_threads(pki):
    tmp_path, server, server_ca, volume, _ = pki
    secret = volume.root
    with keyswap.Client(cert=(secret / "tls.crt", secret / "tls.key"),
                        verify=secret / "ca.crt", base_url=server.url) as client:
        stop = threading.Event()
        failures, ok = [], [0]

        def caller():
            while not stop.is_set():
                try:
                    r = client.get("/")
                    if r.status_code == 200:
                        ok[0] += 1
                    else:
                        failures.append(r.status_code)
                except keyswap.KeyswapError as e:
                    failures.append(str(e))

        threads = [threading.Thread(target=caller) for _ in range(8)]
        for t in threads:
            t.start()
        rotations = 6
        for n in range(1, rotations + 1):
            time.sleep(0.5)
            rotate(tmp_path, server, server_ca, volume, n)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        tls = client.stats()["tls"]
    assert failures == [], failures[:5]
    assert ok[0] > 100
    assert server.refused + server.handshake_failures > 0, "revocation was exercised"
    # Only requests already under way when a refusal arrived can meet a refused connection.
    assert server.after_refusal <= rotations
    assert tls["identity_rotations"] == rotations
    assert tls["handshakes"] >= rotations


def test_async_client_rotates_its_certificate(pki):
    tmp_path, server, server_ca, volume, _ = pki

    async def main():
        async with keyswap.AsyncClient(cert=volume.root, base_url=server.url,
                                       verify=volume.root / "ca.crt") as client:
            stop = asyncio.Event()
            failures, ok = [], [0]

            async def caller():
                while not stop.is_set():
                    try:
                        r = await client.get("/")
                        if r.status_code == 200:
                            ok[0] += 1
                        else:
                            failures.append(r.status_code)
                    except keyswap.KeyswapError as e:
                        failures.append(str(e))

            tasks = [asyncio.create_task(caller()) for _ in range(8)]
            for n in range(1, 4):
                await asyncio.sleep(0.5)
                await asyncio.to_thread(rotate, tmp_path, server, server_ca, volume, n)
            await asyncio.sleep(0.3)
            stop.set()
            await asyncio.gather(*tasks)
            return failures, ok[0], client.stats()["tls"]

    failures, ok, tls = asyncio.run(main())
    assert failures == [], failures[:5]
    assert ok > 50
    assert tls["identity_rotations"] == 3


def test_bad_pairs_are_refused_and_the_last_good_keeps_serving(pki):
    tmp_path, server, server_ca, volume, (cert, key) = pki
    other_cert, _ = Ca(tmp_path / "other", "other").issue("client")
    huge = "-----BEGIN CERTIFICATE-----\n" + "A" * (10 << 20) + "\n-----END CERTIFICATE-----\n"
    with keyswap.Client(cert=volume.root, verify=volume.root, base_url=server.url) as client:
        assert client.get("/").status_code == 200
        version = repr(client)
        for what, c, k in [("torn pair", other_cert, key), ("garbage", "garbage", "garbage"),
                           ("10 MiB", huge, key)]:
            errors = client.stats()["tls"]["identity_errors"]
            volume.update({"tls.crt": c, "tls.key": k, "ca.crt": server_ca.pem})
            assert wait_for(lambda: client.stats()["tls"]["identity_errors"] > errors), what
            assert repr(client) == version, what
            assert client.get("/").status_code == 200, what


def test_server_certificate_reissued_under_a_new_ca(pki):
    tmp_path, server, server_ca, volume, (cert, key) = pki
    new_ca = Ca(tmp_path / "server-ca-2", "servers-2")
    with keyswap.Client(cert=volume.root, verify=volume.root, base_url=server.url) as client:
        assert client.get("/").status_code == 200
        # The bundle gets the new CA and the server switches at once.
        volume.update({"tls.crt": cert, "tls.key": key, "ca.crt": new_ca.pem})
        server.present(new_ca)
        failures = []
        for _ in range(20):
            # A new connection each time: verified against the new CA.
            r = client.get("/", headers={"Connection": "close"})
            if r.status_code != 200:
                failures.append(r.status_code)
        assert failures == []
        assert client.stats()["tls"]["trust_rotations"] == 1


def test_revoked_with_nothing_newer_names_the_cause(pki):
    tmp_path, server, server_ca, volume, _ = pki
    ca = Ca(tmp_path / "elsewhere", "elsewhere")
    server.trust_only(ca, ca.issue("client")[0])
    with keyswap.Client(cert=volume.root, verify=volume.root, base_url=server.url,
                        await_rotation=0.2) as client:
        with pytest.raises(keyswap.RequestError) as e:
            client.get("/")
    assert "refused the client certificate" in str(e.value)
    assert "unknown_ca" in str(e.value)


def test_cert_and_verify_arguments(pki, tmp_path):
    _, server, server_ca, volume, (cert, key) = pki
    combined = tmp_path / "combined.pem"
    combined.write_text(cert + key)
    with keyswap.Client(cert=str(combined), verify=str(volume.root / "ca.crt"),
                        base_url=server.url) as client:
        assert client.get("/").status_code == 200
        assert "cert=" in repr(client)
        assert key.splitlines()[1] not in repr(client)
    with pytest.raises(keyswap.ConfigError, match="verify=False"):
        keyswap.Client(cert=str(combined), verify=False)
    with pytest.raises(keyswap.ConfigError, match="cert="):
        keyswap.Client(source="env:NOPE", verify=str(volume.root / "ca.crt"))
    with pytest.raises(keyswap.ConfigError, match="source is required"):
        keyswap.Client()
    bad = tmp_path / "bad.pem"
    bad.write_text("garbage")
    with pytest.raises(keyswap.SourceError, match="no certificate"):
        keyswap.Client(cert=str(bad), verify=str(volume.root / "ca.crt"))


def test_config_strings_and_from_env(pki, tmp_path, monkeypatch):
    _, server, server_ca, volume, (cert, key) = pki
    crt, k = tmp_path / "c.crt", tmp_path / "c.key"
    crt.write_text(cert)
    k.write_text(key)
    async def once():
        async with keyswap.AsyncClient(cert=f"{crt},{k}", verify=str(volume.root),
                                       base_url=server.url) as client:
            return (await client.get("/")).status_code

    assert asyncio.run(once()) == 200
    for name in ("KEYSWAP_SOURCE", "KEYSWAP_AUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEYSWAP_CERT", f"file:{volume.root}")
    monkeypatch.setenv("KEYSWAP_VERIFY", str(volume.root / "ca.crt"))
    monkeypatch.setenv("KEYSWAP_BASE_URL", server.url)
    with keyswap.Client.from_env() as client:
        assert client.get("/").status_code == 200
        assert client.stats()["tls"]["handshakes"] >= 1
    monkeypatch.delenv("KEYSWAP_CERT")
    with pytest.raises(keyswap.ConfigError, match="KEYSWAP_CERT"):
        keyswap.Client.from_env()

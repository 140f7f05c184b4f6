"""Error mapping onto the exception hierarchy, and secrets kept out of repr() and messages."""

import socket
import threading
import time

import pytest

import keyswap

SECRET = "SUPERSECRETKEY123"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_hierarchy():
    K = keyswap.KeyswapError
    assert issubclass(keyswap.ConfigError, K) and issubclass(keyswap.ConfigError, ValueError)
    assert issubclass(keyswap.SourceError, K)
    assert issubclass(keyswap.InsecureTransportError, K)
    assert issubclass(keyswap.SignError, keyswap.AuthError)
    assert issubclass(keyswap.CredentialRejectedError, keyswap.AuthError)
    assert issubclass(keyswap.CredentialRejectedError, keyswap.HTTPStatusError)
    assert issubclass(keyswap.ConnectError, keyswap.RequestError)
    assert issubclass(keyswap.ConnectError, ConnectionError)
    assert issubclass(keyswap.RequestTimeoutError, keyswap.RequestError)
    assert issubclass(keyswap.RequestTimeoutError, TimeoutError)
    assert issubclass(keyswap.RequestError, K) and issubclass(keyswap.HTTPStatusError, K)
    assert keyswap.KeyswapError.__module__ == "keyswap"


def test_source_errors(tmp_path):
    with pytest.raises(keyswap.SourceError, match="file not found"):
        keyswap.Client(source=keyswap.FileSource(tmp_path / "missing"))
    with pytest.raises(keyswap.SourceError, match="not set"):
        keyswap.Client(source=keyswap.EnvSource("KEYSWAP_SURELY_UNSET_VAR"))
    bad = tmp_path / "half"
    bad.write_text('{"key": "' + SECRET)  # half-written JSON
    with pytest.raises(keyswap.SourceError) as e:
        keyswap.Client(source=keyswap.FileSource(bad))
    assert SECRET not in str(e.value) and str(bad) in str(e.value)


def test_config_errors(server):
    with pytest.raises(keyswap.ConfigError):
        keyswap.Header("bad header")
    with pytest.raises(ValueError):
        keyswap.Client(source=keyswap.FixedSource("k"), base_url="not a url")
    with pytest.raises(keyswap.ConfigError):
        keyswap.Client(source=keyswap.FixedSource("k"), overlap_window=-1)
    with pytest.raises(keyswap.ConfigError):
        keyswap.Client(source=keyswap.FixedSource("k"), retry_on_status=[1000])
    c = keyswap.Client(source=keyswap.FixedSource("k1"), base_url=server.url)
    with pytest.raises(keyswap.ConfigError):
        c.get("/x", headers={"bad name": "v"})
    with pytest.raises(keyswap.ConfigError) as e:
        c.get("/x", headers={"X-Token": SECRET + "\n"})
    assert SECRET not in str(e.value)
    with pytest.raises(keyswap.ConfigError):
        c.post("/x", json={"a": 1}, data=b"x")
    with pytest.raises(keyswap.ConfigError):
        keyswap.Client(source=keyswap.FixedSource("k")).get("relative/without/base")


def test_transport_errors(server):
    c = keyswap.Client(source=keyswap.FixedSource(SECRET), auth=keyswap.Query("api_key"))
    with pytest.raises(keyswap.ConnectError) as e:
        c.get(f"http://127.0.0.1:{free_port()}/x", params={"a": "b"})
    assert isinstance(e.value, ConnectionError)
    assert SECRET not in str(e.value)
    with pytest.raises(keyswap.RequestTimeoutError) as e:
        c.get(server.url + "/slow", params={"delay": "1"}, timeout=0.1)
    assert isinstance(e.value, TimeoutError) and SECRET not in str(e.value)
    # plain http to a host that is not loopback: refused before anything is sent
    with pytest.raises(keyswap.InsecureTransportError) as e:
        c.get("http://insecure.test/x")
    assert SECRET not in str(e.value)


def test_client_timeout_option(server):
    c = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url, timeout=0.1)
    t = time.monotonic()
    with pytest.raises(TimeoutError):
        c.get("/slow", params={"delay": "1"})
    assert time.monotonic() - t < 0.9


def test_raise_for_status(server):
    c = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url)
    r = c.get("/status/500")
    with pytest.raises(keyswap.HTTPStatusError) as e:
        r.raise_for_status()
    assert not isinstance(e.value, keyswap.AuthError)
    assert e.value.response is r and e.value.status_code == 500
    assert "500 Internal Server Error" in str(e.value)
    with pytest.raises(keyswap.HTTPStatusError):
        c.get("/status/404").raise_for_status()
    # 403 is not in the default retry_on_status ([401]): a plain HTTPStatusError
    with pytest.raises(keyswap.HTTPStatusError) as e:
        c.get("/status/403").raise_for_status()
    assert not isinstance(e.value, keyswap.CredentialRejectedError)
    assert c.get("/status/204").raise_for_status().status_code == 204


def test_sign_error(server):
    def signer(req, cred):
        raise RuntimeError("hsm offline")

    c = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Sign(signer),
                       base_url=server.url)
    with pytest.raises(keyswap.SignError, match="hsm offline"):
        c.get("/x")


def test_closed_client(server):
    c = keyswap.Client(source=keyswap.FixedSource("k1"), base_url=server.url)
    c.close()
    with pytest.raises(keyswap.ClientClosedError):
        c.get("/x")


def test_secrets_absent_from_reprs(server, tmp_path, monkeypatch):
    key = tmp_path / "api_key"
    key.write_text(SECRET)
    monkeypatch.setenv("KEYSWAP_SECRET_VAR", SECRET)
    objs = [
        keyswap.FileSource(key),
        keyswap.EnvSource("KEYSWAP_SECRET_VAR"),
        keyswap.FixedSource(SECRET, secret=SECRET + "s"),
        keyswap.Credential(SECRET, secret="SECRETSIDE"),
        keyswap.Header("X-API-Key"),
        keyswap.Query("api_key"),
        keyswap.Basic("user"),
    ]
    for src in objs[:3]:
        c = keyswap.Client(source=src, auth=keyswap.Query("api_key"),
                           base_url=f"http://user:{SECRET}@127.0.0.1:1/?token={SECRET}")
        objs.append(c)
    server.accept(SECRET)
    ac = keyswap.AsyncClient(source=keyswap.FixedSource(SECRET), auth=keyswap.Query("api_key"),
                             base_url=server.url)
    objs.append(ac)
    r = keyswap.Client(source=keyswap.FixedSource(SECRET), auth=keyswap.Query("api_key"),
                       base_url=server.url).get("/x")
    objs += [r, r.headers]
    assert r.status_code == 200 and SECRET not in r.url
    for o in objs:
        assert SECRET not in repr(o), repr(o)
        assert "SECRETSIDE" not in repr(o), repr(o)
    cred = keyswap.Credential(SECRET, secret="SECRETSIDE", version="v1")
    assert cred.expose_key() == SECRET and cred.expose_secret() == "SECRETSIDE"
    assert repr(cred) == 'Credential(version="v1", has_secret=True)'


def test_rejected_status_message_has_no_query_secret(server):
    c = keyswap.Client(source=keyswap.FixedSource(SECRET), auth=keyswap.Query("api_key"),
                       base_url=server.url, await_rotation=0, overlap_window=0)
    server.accept("another")
    r = c.get("/x", params={"q": "1"})
    with pytest.raises(keyswap.CredentialRejectedError) as e:
        r.raise_for_status()
    assert SECRET not in str(e.value) and SECRET not in r.url


def test_gil_released_during_requests(server):
    """A slow request in one thread does not stop Python code in another."""
    c = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.005)

    t = threading.Thread(target=ticker)
    t.start()
    c.get("/slow", params={"delay": "0.3"})
    stop.set()
    t.join()
    assert len(ticks) > 10

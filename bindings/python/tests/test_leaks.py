"""The core alone decides what "credential rejected" means and removes a query-parameter key
from response URLs; no repr(), str() or exception message shows a key or a secret, whatever
the auth placement."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket

import pytest

import keyswap

KEY = "KEYMATERIAL9f3a1c"
SECRET = "SECRETMATERIAL7b2e"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- one rule for "credential rejected", from the core ------------------------------------


def test_403_is_a_plain_status_error_with_the_default_retry_on_status(server):
    c = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url, retry_on_status=[401])
    r = c.get("/status/403")
    assert r.status_code == 403
    with pytest.raises(keyswap.HTTPStatusError) as e:
        r.raise_for_status()
    assert not isinstance(e.value, keyswap.CredentialRejectedError)
    assert not isinstance(e.value, keyswap.AuthError)
    # the default is [401] too
    d = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url)
    with pytest.raises(keyswap.HTTPStatusError) as e:
        d.get("/status/403").raise_for_status()
    assert type(e.value) is keyswap.HTTPStatusError


def test_a_status_in_retry_on_status_is_a_credential_rejection(server):
    c = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url, retry_on_status=[400, 401], await_rotation=0,
                       overlap_window=0)
    r = c.get("/status/400")
    assert r.status_code == 400
    with pytest.raises(keyswap.CredentialRejectedError) as e:
        r.raise_for_status()
    assert e.value.status_code == 400 and e.value.response is r
    assert c.stats()["auth_failures"] >= 1  # the same rule started the recover path


def test_401_is_not_hard_coded(server):
    """With retry_on_status=[403], a 401 is neither retried nor a credential rejection."""
    server.accept("another")
    c = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url, retry_on_status=[403])
    r = c.get("/x")
    assert r.status_code == 401
    with pytest.raises(keyswap.HTTPStatusError) as e:
        r.raise_for_status()
    assert not isinstance(e.value, keyswap.CredentialRejectedError)
    assert c.stats()["auth_failures"] == 0
    # and with the default, a rejected key is a CredentialRejectedError
    d = keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                       base_url=server.url, await_rotation=0, overlap_window=0)
    with pytest.raises(keyswap.CredentialRejectedError):
        d.get("/x").raise_for_status()


def test_async_client_uses_the_same_rule(server):
    async def main():
        async with keyswap.AsyncClient(source=keyswap.FixedSource("k1"),
                                       auth=keyswap.Header("X-API-Key"), base_url=server.url,
                                       retry_on_status=[400, 401], await_rotation=0) as c:
            with pytest.raises(keyswap.CredentialRejectedError):
                (await c.get("/status/400")).raise_for_status()
            with pytest.raises(keyswap.HTTPStatusError) as e:
                (await c.get("/status/403")).raise_for_status()
            assert not isinstance(e.value, keyswap.CredentialRejectedError)

    asyncio.run(main())


# --- a query-parameter key is never returned -----------------------------------------------


def test_query_key_never_returned(server):
    server.accept(KEY)
    c = keyswap.Client(source=keyswap.FixedSource(KEY), auth=keyswap.Query("api_key"),
                       base_url=server.url, await_rotation=0, overlap_window=0)
    shown = [repr(c), str(c)]

    r = c.get("/x", params={"a": "1", "b": "two words"})
    assert r.status_code == 200
    assert r.json()["query"] == {"a": "1", "b": "two words", "api_key": KEY}  # it was sent
    assert "a=1" in r.url and "b=two+words" in r.url and "api_key" not in r.url
    shown += [r.url, repr(r), str(r)]

    r = c.get("/redirect", params={"keep": "me"})  # the key goes along to the same origin
    assert r.status_code == 200 and r.json()["path"] == "/echo"
    shown += [r.url, repr(r)]

    r = c.get("/status/500", params={"a": "1"})
    assert "a=1" in r.url
    with pytest.raises(keyswap.HTTPStatusError) as e:
        r.raise_for_status()
    shown += [r.url, str(e.value), repr(e.value), repr(e.value.args)]

    server.accept("another")
    r = c.get("/x", params={"a": "1"})
    assert r.status_code == 401 and r.url.endswith("/x?a=1")
    with pytest.raises(keyswap.CredentialRejectedError) as e:
        r.raise_for_status()
    shown += [r.url, str(e.value), repr(e.value), repr(e.value.args)]

    with pytest.raises(keyswap.ConnectError) as e:
        c.get(f"http://127.0.0.1:{free_port()}/x", params={"a": "1"})
    shown += [str(e.value), repr(e.value), repr(e.value.args)]

    for text in shown:
        assert KEY not in text, text


# --- nothing leaks, whatever the placement -------------------------------------------------


def _sign(req, cred):
    req.set_header("X-API-Key", cred.expose_key())
    sig = hmac.new(cred.expose_secret().encode(), req.query.encode(), hashlib.sha256)
    req.add_query_param("signature", sig.hexdigest())


PLACEMENTS = {
    "header": lambda: keyswap.Header("X-API-Key"),
    "bearer": keyswap.Bearer,
    "query": lambda: keyswap.Query("api_key"),
    "basic": lambda: keyswap.Basic("user"),
    "sign": lambda: keyswap.Sign(_sign),
    "default": lambda: None,
}


def _forbidden():
    """Every form of the key and the secret that must not appear."""
    return [KEY, SECRET, base64.b64encode(f"user:{KEY}".encode()).decode()]


def _check(texts):
    for text in texts:
        for bad in _forbidden():
            assert bad not in text, text


def _shown(obj):
    out = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        out += [repr(obj.args)]
        resp = getattr(obj, "response", None)
        if resp is not None:
            out += [repr(resp), resp.url, repr(resp.headers)]
    return out


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_no_key_or_secret_in_repr_str_or_errors(placement, server, tmp_path, monkeypatch):
    make_auth = PLACEMENTS[placement]
    server.accept(KEY)
    shown = []

    def client(**kw):
        kw.setdefault("source", keyswap.FixedSource(KEY, secret=SECRET))
        c = keyswap.Client(auth=make_auth(), await_rotation=0, overlap_window=0, **kw)
        shown.extend(_shown(c))
        return c

    # source errors: a bad file, at construction and on a later refresh; a bad variable
    for bad in (
        '{"key": "%s", "secret": "%s"' % (KEY, SECRET),  # half-written JSON
        '{"key": "%s", "secret": "%s", "expires_at": "%s"}' % (KEY, SECRET, KEY),
        '{"key": "%s", "secret": "%s", "expires_at": 1e30}' % (KEY, SECRET),
        '{"secret": "%s", "token": "%s"}' % (SECRET, KEY),
    ):
        path = tmp_path / "api_key"
        path.write_text(bad)
        with pytest.raises(keyswap.SourceError) as e:
            client(source=keyswap.FileSource(path, watch=False, poll_interval=None))
        shown += _shown(e.value)
        monkeypatch.setenv("KEYSWAP_LEAK_TEST", bad)
        with pytest.raises(keyswap.SourceError) as e:
            client(source=keyswap.EnvSource("KEYSWAP_LEAK_TEST"))
        shown += _shown(e.value)

    good = tmp_path / "good"
    good.write_text('{"key": "%s", "secret": "%s"}' % (KEY, SECRET))
    fc = client(source=keyswap.FileSource(good, watch=False, poll_interval=None))
    good.write_text('{"key": "%s", "secret": "%s", "expires_at": "%s"' % (KEY, SECRET, SECRET))
    with pytest.raises(keyswap.SourceError) as e:
        fc.refresh()
    shown += _shown(e.value) + _shown(fc)

    c = client(base_url=server.url)
    ac = keyswap.AsyncClient(source=keyswap.FixedSource(KEY, secret=SECRET), auth=make_auth(),
                             base_url=server.url)
    shown += _shown(ac) + _shown(keyswap.FixedSource(KEY, secret=SECRET))
    auth = make_auth()
    if auth is not None:
        shown += _shown(auth)

    # responses
    r = c.get("/x", params={"a": "1"})
    assert r.status_code == 200, r.text
    shown += _shown(r) + [r.url, repr(r.headers)]
    assert r.raise_for_status() is r

    # raise_for_status: a server error, then a rejected credential
    with pytest.raises(keyswap.HTTPStatusError) as e:
        c.get("/status/500", params={"a": "1"}).raise_for_status()
    shown += _shown(e.value)
    server.accept("another")
    r = c.get("/x", params={"a": "1"})
    assert r.status_code == 401
    with pytest.raises(keyswap.CredentialRejectedError) as e:
        r.raise_for_status()
    shown += _shown(e.value)

    # transport errors
    plain = client()
    with pytest.raises(keyswap.ConnectError) as e:
        plain.get(f"http://127.0.0.1:{free_port()}/x", params={"a": "1"})
    shown += _shown(e.value)
    with pytest.raises(keyswap.RequestTimeoutError) as e:
        plain.get(server.url + "/slow", params={"delay": "1"}, timeout=0.05)
    shown += _shown(e.value)
    with pytest.raises(keyswap.InsecureTransportError) as e:
        plain.get("http://insecure.test/x", params={"a": "1"})
    shown += _shown(e.value)

    # async paths
    async def main():
        with pytest.raises(keyswap.ConnectError) as e:
            await ac.get(f"http://127.0.0.1:{free_port()}/x")
        shown.extend(_shown(e.value))
        r = await ac.get("/x")
        shown.extend(_shown(r))
        with pytest.raises(keyswap.CredentialRejectedError) as e:
            r.raise_for_status()
        shown.extend(_shown(e.value))
        await ac.aclose()
        shown.extend(_shown(ac))

    asyncio.run(main())
    c.close()
    shown += _shown(c)
    _check(shown)

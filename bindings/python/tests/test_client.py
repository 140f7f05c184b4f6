"""The request/response surface of the sync Client."""

import base64
import hashlib
import hmac
from collections.abc import Mapping

import keyswap


def make(server, **kw):
    kw.setdefault("source", keyswap.FixedSource("k1"))
    kw.setdefault("auth", keyswap.Header("X-API-Key"))
    kw.setdefault("base_url", server.url)
    return keyswap.Client(**kw)


def test_get_with_params_headers_and_response_surface(server):
    with make(server) as c:
        r = c.get("/v1/ticker", params={"symbol": "BTCUSDT", "n": 3, "flag": True, "skip": None},
                  headers={"X-Trace": "abc"}, timeout=5.0)
        assert r.status_code == 200 and r.ok and r.reason_phrase == "OK"
        body = r.json()
        assert body["path"] == "/v1/ticker"
        assert body["query"] == {"symbol": "BTCUSDT", "n": "3", "flag": "true"}
        assert body["headers"]["x-trace"] == "abc"
        assert body["headers"]["x-api-key"] == "k1"
        assert body["headers"]["user-agent"].startswith("keyswap-python/")
        assert r.headers["content-type"] == "application/json"
        assert r.headers["Content-Type"] == "application/json"
        assert "CONTENT-TYPE" in r.headers
        assert r.headers["x-multi"] == "a, b"
        assert r.headers.get_list("X-Multi") == ["a", "b"]
        assert r.headers.get("missing") is None
        assert isinstance(r.headers, Mapping)
        assert isinstance(r.content, bytes) and r.text == r.content.decode()
        assert r.url.startswith(server.url + "/v1/ticker?")
        assert r.http_version == "HTTP/1.1"
        assert r.raise_for_status() is r
        assert repr(r) == "<Response [200 OK]>"


def test_bodies_and_methods(server):
    c = make(server)
    r = c.post("/p", json={"a": [1, 2], "b": "é"})
    assert r.json()["body"] == '{"a":[1,2],"b":"é"}'
    assert r.json()["headers"]["content-type"] == "application/json"
    assert c.put("/p", data=b"\x00raw").json()["method"] == "PUT"
    r = c.patch("/p", data="text body")
    assert r.json()["body"] == "text body" and r.json()["method"] == "PATCH"
    r = c.post("/p", data={"x": "1", "y": ["2", "3"]})
    assert r.json()["body"] == "x=1&y=2&y=3"
    assert r.json()["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert c.delete("/p").json()["method"] == "DELETE"
    assert c.request("options", "/p").json()["method"] == "OPTIONS"
    r = c.head("/p")
    assert r.status_code == 200 and r.content == b""
    # absolute URLs work too
    assert c.get(server.url + "/abs").json()["path"] == "/abs"


def test_auth_placements(server):
    server.accept("k1")
    r = make(server, auth=keyswap.Bearer()).get("/x")
    assert r.json()["headers"]["authorization"] == "Bearer k1"
    r = make(server, auth=keyswap.Basic("bob")).get("/x")
    assert r.json()["headers"]["authorization"] == "Basic " + base64.b64encode(b"bob:k1").decode()
    r = make(server, auth=keyswap.Query("api_key")).get("/x", params={"a": "1"})
    assert r.json()["query"] == {"a": "1", "api_key": "k1"}
    assert "k1" not in r.url and r.url.endswith("/x?a=1")
    # default auth is Bearer
    r = keyswap.Client(source=keyswap.FixedSource("k1"), base_url=server.url).get("/x")
    assert r.status_code == 200


def test_sign_callback_signs_every_attempt(server):
    secret = "s3cr3t"

    def signer(req, cred):
        assert isinstance(req, keyswap.SigningRequest) and isinstance(cred, keyswap.Credential)
        req.add_query_param("timestamp", "1700000000000")
        sig = hmac.new(cred.expose_secret().encode(), req.query.encode(), hashlib.sha256).hexdigest()
        req.add_query_param("signature", sig)
        req.set_header("X-API-Key", cred.expose_key())

    c = make(server, source=keyswap.FixedSource("k1", secret=secret), auth=keyswap.Sign(signer))
    r = c.get("/order", params={"symbol": "ETH"})
    q = r.json()["query"]
    expected = hmac.new(secret.encode(), b"symbol=ETH&timestamp=1700000000000", hashlib.sha256).hexdigest()
    assert q["signature"] == expected
    assert repr(keyswap.Sign(signer)) == "Sign(..)"


def test_stats_and_properties(server):
    c = make(server)
    c.get("/a")
    c.get("/b")
    s = c.stats()
    assert set(s) == {"requests", "auth_failures", "retries", "refreshes", "rotations",
                      "fallbacks", "rotation_waits", "source_errors", "probes", "resigns",
                      "background_failures"}
    assert s["requests"] == 2 and s["auth_failures"] == 0
    assert s["probes"] == 0 and s["background_failures"] == 0
    assert c.source_name == "fixed"
    assert c.credential_version.startswith("auto:")
    assert c.refresh() == c.credential_version


def test_redirect_is_followed(server):
    r = make(server).get("/redirect")
    assert r.status_code == 200 and r.json()["path"] == "/echo"


def test_default_headers_and_user_agent(server):
    c = make(server, headers={"User-Agent": "bot/1", "X-Default": "d"})
    h = c.get("/x").json()["headers"]
    assert h["user-agent"] == "bot/1" and h["x-default"] == "d"


def test_context_manager_closes(server):
    with make(server) as c:
        assert not c.closed
    assert c.closed
    assert "closed" in repr(c)

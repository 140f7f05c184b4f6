"""Exchange signers end to end, against local mock exchanges (Binance- and Kraken-shaped) that
verify every signature server-side with the secret of the key the request names, keep their
own clock (possibly skewed from the host's, also in their ``Date`` header) and answer
rejections the way the real exchanges document them: rotation of the key pair with hard
revocation, a skewed server clock, Kraken's HTTP 200 errors, nonce rejections; plus the other
signers' schemes checked against an echo server, argument checking and reprs."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

import keyswap
from conftest import LocalServer, QuietHandler, write_atomic


def host_ms() -> int:
    return int(time.time() * 1000)


def kraken_secret(n: int) -> str:
    return base64.b64encode(bytes([n]) * 64).decode()


def write_pair(path: Path, key: str, secret: str, **extra) -> None:
    """The key file as a secrets agent writes it: JSON, renamed into place."""
    write_atomic(path, json.dumps({"key": key, "secret": secret, **extra}))


class Exchange(LocalServer):
    """A Binance- or Kraken-shaped exchange on 127.0.0.1 that honours the key pairs in
    ``pairs`` (key -> secret), runs ``skew_ms`` ahead of the host (negative: behind) and
    counts what it saw."""

    def __init__(self, flavour: str, pairs: dict, skew_ms: int = 0):
        self.flavour = flavour
        self._lock = threading.Lock()
        self.pairs = dict(pairs)
        self.skew_ms = skew_ms
        self.accepted = self.bad_key = self.bad_signature = 0
        self.bad_timestamp = self.bad_nonce = self.time_requests = 0
        self.signatures: list[str] = []
        self.seen: list[dict] = []  # accepted requests
        self.last_nonce: dict[str, int] = {}
        self.refuse_next_nonce = False
        self.bad_key_status = 401  # Binance: the status of a -2015 (it also sends 400)
        ex = self

        class Handler(QuietHandler):

            def date_time_string(self, timestamp=None):
                # The exchange's own clock in `Date`, as a real one sends it.
                return email.utils.formatdate(ex.now_ms() / 1000, usegmt=True)

            def _handle(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = ex._binance if ex.flavour == "binance" else ex._kraken
                status, payload = answer(self.command, parts.path, parts.query, body, self.headers)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._serve(Handler)

    def now_ms(self) -> int:
        return host_ms() + self.skew_ms

    def honour_only(self, pairs: dict) -> None:
        with self._lock:
            self.pairs = dict(pairs)

    def _binance(self, method, path, query, body, headers):
        if path == "/api/v3/time":
            with self._lock:
                self.time_requests += 1
            return 200, {"serverTime": self.now_ms()}
        with self._lock:
            secret = self.pairs.get(headers.get("X-MBX-APIKEY"))
            if secret is None:
                self.bad_key += 1
                return self.bad_key_status, {
                    "code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
            signed, sep, signature = query.rpartition("&signature=")
            expected = hmac.new(secret.encode(), signed.encode() + body, hashlib.sha256).hexdigest()
            self.signatures.append(signature)
            if not sep or not hmac.compare_digest(expected, signature):
                self.bad_signature += 1
                return 400, {"code": -1022, "msg": "Signature for this request is not valid."}
            params = dict(parse_qsl(signed))
            params.update(parse_qsl(body.decode()))
            ts, window = int(params.get("timestamp", 0)), int(params.get("recvWindow", 5000))
            now = self.now_ms()
            if ts > now + 1000 or now - ts > window:
                self.bad_timestamp += 1
                return 400, {"code": -1021,
                             "msg": "Timestamp for this request is outside of the recvWindow."}
            self.accepted += 1
            self.seen.append({"method": method, "path": path, "query": signed, "body": body,
                              "params": params})
            return 200, {"orderId": self.accepted, "status": "NEW", "params": params}

    def _kraken(self, method, path, query, body, headers):
        if path == "/0/public/Time":
            with self._lock:
                self.time_requests += 1
            return 200, {"error": [], "result": {"unixtime": self.now_ms() // 1000}}
        key = headers.get("API-Key")
        with self._lock:
            secret = self.pairs.get(key)
            if secret is None:
                self.bad_key += 1
                return 200, {"error": ["EAPI:Invalid key"]}  # every error comes with HTTP 200
            sign = headers.get("API-Sign", "")
            self.signatures.append(sign)
            form = dict(parse_qsl(body.decode()))
            nonce = form.get("nonce", "")
            digest = hashlib.sha256(nonce.encode() + body).digest()
            mac = hmac.new(base64.b64decode(secret), path.encode() + digest, hashlib.sha512)
            if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), sign):
                self.bad_signature += 1
                return 200, {"error": ["EAPI:Invalid signature"]}
            refuse, self.refuse_next_nonce = self.refuse_next_nonce, False
            if refuse or int(nonce or 0) <= self.last_nonce.get(key, 0):
                self.bad_nonce += 1
                return 200, {"error": ["EAPI:Invalid nonce"]}
            self.last_nonce[key] = int(nonce)
            self.accepted += 1
            self.seen.append({"method": method, "path": path, "body": body,
                              "content_type": headers.get("Content-Type")})
            return 200, {"error": [], "result": {"XXBT": "1.5", "ZUSD": "1000.0", "form": form}}


class Echo(LocalServer):
    """Answers every request 200 with what it received (for schemes checked in the test)."""

    def __init__(self):
        server = self
        self.last: dict = {}

        class Handler(QuietHandler):

            def _handle(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.last = {
                    "method": self.command, "path": parts.path, "query": parts.query,
                    "body": body, "headers": {k.lower(): v for k, v in self.headers.items()},
                }
                data = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._serve(Handler)


@pytest.fixture
def binance():
    ex = Exchange("binance", {"key-1": "secret-1"})
    yield ex
    ex.close()


@pytest.fixture
def kraken():
    ex = Exchange("kraken", {"kkey-1": kraken_secret(1)})
    yield ex
    ex.close()


@pytest.fixture
def echo():
    s = Echo()
    yield s
    s.close()


ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "50000"}


# --- Binance ----------------------------------------------------------------------------------


def test_binance_rotation_with_hard_revocation_is_absorbed(binance, tmp_path):
    path = tmp_path / "binance.json"
    write_pair(path, "key-1", "secret-1")
    # No watching, no polling: only the recover path can pick the new pair up.
    src = keyswap.FileSource(path, watch=False, poll_interval=None)
    c = keyswap.Client(source=src, auth=keyswap.BinanceSigner(), base_url=binance.url)
    assert c.post("/api/v3/order", params=ORDER).status_code == 200

    # The exchange revokes the pair; the key file follows 100 ms later.
    binance.honour_only({"key-2": "secret-2"})
    threading.Timer(0.1, write_pair, (path, "key-2", "secret-2")).start()
    r = c.post("/api/v3/order", data=ORDER)
    assert r.status_code == 200, r.text
    assert (binance.accepted, binance.bad_key, binance.bad_signature) == (2, 1, 0)
    s = c.stats()
    assert (s["auth_failures"], s["retries"], s["rotations"], s["resigns"]) == (1, 1, 1, 0)
    assert len(set(binance.signatures)) == len(binance.signatures), "a signature is never replayed"


def test_binance_rotations_under_concurrent_traffic_cost_no_failure(binance, tmp_path):
    path = tmp_path / "binance.json"
    write_pair(path, "key-1", "secret-1")
    c = keyswap.Client(source=keyswap.FileSource(path), auth=keyswap.BinanceSigner(),
                       base_url=binance.url)
    failures: list = []
    stop = threading.Event()

    def bot(n):
        i = 0
        while not stop.is_set():
            i += 1
            order = dict(ORDER, newClientOrderId=f"bot{n}-{i}")
            try:
                r = (c.post("/api/v3/order", data=order) if i % 2
                     else c.get("/api/v3/account"))
                if r.status_code != 200:
                    failures.append((r.status_code, r.text))
            except keyswap.KeyswapError as e:  # pragma: no cover - reported by the assert
                failures.append(repr(e))

    bots = [threading.Thread(target=bot, args=(n,)) for n in range(4)]
    for t in bots:
        t.start()
    for n in range(2, 5):
        time.sleep(0.3)
        binance.honour_only({f"key-{n}": f"secret-{n}"})  # hard revocation
        time.sleep(0.1)
        write_pair(path, f"key-{n}", f"secret-{n}")  # the key file follows 100 ms later
    time.sleep(0.3)
    stop.set()
    for t in bots:
        t.join(10)
    assert failures == []
    assert binance.bad_signature == 0 and binance.bad_timestamp == 0
    s = c.stats()
    assert s["rotations"] == 3
    assert s["auth_failures"] == binance.bad_key


def test_binance_params_and_data_are_both_signed(binance):
    c = keyswap.Client(source=keyswap.FixedSource("key-1", secret="secret-1"),
                       auth=keyswap.BinanceSigner(recv_window=10000), base_url=binance.url)
    r = c.get("/api/v3/openOrders", params={"symbol": "BTCUSDT"})
    assert r.status_code == 200
    assert r.json()["params"]["recvWindow"] == "10000"
    seen = binance.seen[-1]
    assert seen["query"].startswith("symbol=BTCUSDT&recvWindow=10000&timestamp=")
    assert seen["body"] == b""

    r = c.post("/api/v3/order", params={"symbol": "BTCUSDT"}, data={"side": "SELL", "quantity": 1})
    assert r.status_code == 200
    seen = binance.seen[-1]
    assert seen["body"] == b"side=SELL&quantity=1"  # the form body, signed after the query
    assert seen["params"]["symbol"] == "BTCUSDT" and seen["params"]["side"] == "SELL"
    assert binance.bad_signature == 0


def test_a_skewed_exchange_clock_is_learned_without_a_failure(binance):
    binance.skew_ms = -3000  # the exchange runs 3 s behind the host
    c = keyswap.Client(source=keyswap.FixedSource("key-1", secret="secret-1"),
                       auth=keyswap.BinanceSigner(), base_url=binance.url)
    assert binance.time_requests == 1, "learned when the client was built"
    for _ in range(5):
        assert c.get("/api/v3/account").status_code == 200
    assert binance.bad_timestamp == 0
    assert c.stats()["resigns"] == 0

    # The exchange's clock jumps: one rejection (400 -1021), re-learned, re-signed, retried.
    binance.skew_ms = 8000
    assert c.get("/api/v3/account").status_code == 200
    assert binance.bad_timestamp == 1
    s = c.stats()
    assert (s["resigns"], s["auth_failures"]) == (1, 0)


def test_sync_clock_false_learns_the_clock_from_the_first_rejection(binance):
    binance.skew_ms = -3000
    c = keyswap.Client(source=keyswap.FixedSource("key-1", secret="secret-1"),
                       auth=keyswap.BinanceSigner(), base_url=binance.url, sync_clock=False)
    assert binance.time_requests == 0
    assert c.get("/api/v3/account").status_code == 200
    assert binance.bad_timestamp == 1 and c.stats()["resigns"] == 1
    assert c.get("/api/v3/account").status_code == 200
    assert binance.bad_timestamp == 1


def test_full_urls_without_base_url_learn_the_clock_from_the_origin_once(binance):
    binance.skew_ms = 4000
    c = keyswap.Client(source=keyswap.FixedSource("key-1", secret="secret-1"),
                       auth=keyswap.BinanceSigner())
    for _ in range(3):
        assert c.get(f"{binance.url}/api/v3/account").status_code == 200
    assert binance.time_requests == 1
    assert binance.bad_timestamp == 0


def test_async_client_with_a_signer(binance, tmp_path):
    path = tmp_path / "binance.json"
    write_pair(path, "key-1", "secret-1")

    async def main():
        async with keyswap.AsyncClient(source=keyswap.FileSource(path, watch=False),
                                       auth=keyswap.BinanceSigner(),
                                       base_url=binance.url) as c:
            rs = await asyncio.gather(*(c.post("/api/v3/order", data=ORDER) for _ in range(8)))
            assert [r.status_code for r in rs] == [200] * 8
            binance.honour_only({"key-2": "secret-2"})
            write_pair(path, "key-2", "secret-2")
            rs = await asyncio.gather(*(c.post("/api/v3/order", data=ORDER) for _ in range(8)))
            assert [r.status_code for r in rs] == [200] * 8
            assert c.stats()["rotations"] == 1

    asyncio.run(main())
    assert binance.bad_signature == 0


def test_a_rejected_pair_surfaces_as_credential_rejected(binance):
    c = keyswap.Client(source=keyswap.FixedSource("key-1", secret="wrong"),
                       auth=keyswap.BinanceSigner(), base_url=binance.url, await_rotation=0)
    r = c.get("/api/v3/account")
    assert r.status_code == 400 and r.json()["code"] == -1022
    with pytest.raises(keyswap.CredentialRejectedError):
        r.raise_for_status()  # -1022 read from the body: the pair is wrong, not the request


@pytest.mark.parametrize("auth", ["binance", keyswap.BinanceSigner], ids=["string", "object"])
@pytest.mark.parametrize(
    "bad_key_status, secret, code",
    [(400, "secret-1", -2015), (401, "secret-1", -2015), (400, "wrong", -1022)],
)
def test_binance_body_rejections_raise_credential_rejected_however_auth_is_given(
        binance, auth, bad_key_status, secret, code):
    """The rule comes from the core's classifier: a signer given as a string reads the body too."""
    binance.bad_key_status = bad_key_status
    key = "key-9" if code == -2015 else "key-1"
    auth = auth if isinstance(auth, str) else auth()
    with keyswap.Client(source=keyswap.FixedSource(key, secret=secret), auth=auth,
                        base_url=binance.url, await_rotation=0) as c:
        r = c.get("/api/v3/account")
        assert r.status_code == (bad_key_status if code == -2015 else 400)
        assert r.json()["code"] == code
        with pytest.raises(keyswap.CredentialRejectedError) as info:
            r.raise_for_status()
        assert info.value.status_code == r.status_code
    with keyswap.Client(source=keyswap.FixedSource("key-1", secret="secret-1"), auth=auth,
                        base_url=binance.url) as ok:
        r = ok.get("/api/v3/account")
        assert r.raise_for_status() is r and r.status_code == 200


# --- Kraken -----------------------------------------------------------------------------------
# --- Kraken -----------------------------------------------------------------------------------


def test_kraken_form_body_rotation_and_http_200_errors(kraken, tmp_path):
    path = tmp_path / "kraken.json"
    write_pair(path, "kkey-1", kraken_secret(1))
    src = keyswap.FileSource(path, watch=False, poll_interval=None)
    c = keyswap.Client(source=src, auth=keyswap.KrakenSigner(), base_url=kraken.url)
    r = c.post("/0/private/Balance", data={"asset": "XBT"})
    assert r.status_code == 200 and r.json()["error"] == [], r.text
    assert r.json()["result"]["form"]["asset"] == "XBT"
    seen = kraken.seen[-1]
    assert seen["body"].startswith(b"nonce=") and seen["body"].endswith(b"&asset=XBT")
    assert seen["content_type"] == "application/x-www-form-urlencoded"
    assert c.post("/0/private/Balance").json()["error"] == []  # no fields: the nonce alone

    # Hard revocation, answered with HTTP 200 {"error": ["EAPI:Invalid key"]}; the file
    # follows 100 ms later.
    kraken.honour_only({"kkey-2": kraken_secret(2)})
    threading.Timer(0.1, write_pair, (path, "kkey-2", kraken_secret(2))).start()
    r = c.post("/0/private/Balance", data={"asset": "XBT"})
    assert r.json()["error"] == [], r.text
    assert (kraken.bad_key, kraken.bad_signature) == (1, 0)
    s = c.stats()
    assert (s["auth_failures"], s["rotations"]) == (1, 1)

    # Another process sharing the key used a larger nonce: a new nonce, one retry.
    kraken.refuse_next_nonce = True
    assert c.post("/0/private/Balance", data={"asset": "XBT"}).json()["error"] == []
    assert kraken.bad_nonce == 1 and c.stats()["resigns"] == 1
    assert len(set(kraken.signatures)) == len(kraken.signatures)


def test_kraken_key_rejected_for_good_raises_on_raise_for_status(kraken):
    c = keyswap.Client(source=keyswap.FixedSource("kkey-9", secret=kraken_secret(9)),
                       auth=keyswap.KrakenSigner(nonce_unit="us"), base_url=kraken.url,
                       await_rotation=0.1)
    r = c.post("/0/private/Balance")
    assert r.status_code == 200 and r.json() == {"error": ["EAPI:Invalid key"]}
    assert c.stats()["auth_failures"] >= 1
    with pytest.raises(keyswap.CredentialRejectedError) as info:
        r.raise_for_status()
    assert info.value.status_code == 200


@pytest.mark.parametrize("auth", ["kraken", "kraken?nonce=us", keyswap.KrakenSigner],
                         ids=["string", "string-us", "object"])
def test_kraken_http_200_rejection_raises_however_auth_is_given(kraken, auth):
    auth = auth if isinstance(auth, str) else auth()
    with keyswap.Client(source=keyswap.FixedSource("kkey-9", secret=kraken_secret(9)),
                        auth=auth, base_url=kraken.url, await_rotation=0) as c:
        r = c.post("/0/private/Balance")
        assert r.status_code == 200 and r.json() == {"error": ["EAPI:Invalid key"]}
        with pytest.raises(keyswap.CredentialRejectedError) as info:
            r.raise_for_status()
        assert info.value.status_code == 200
    with keyswap.Client(source=keyswap.FixedSource("kkey-1", secret=kraken_secret(1)),
                        auth=auth, base_url=kraken.url) as c:
        r = c.post("/0/private/Balance", data={"asset": "XBT"})
        assert r.json()["error"] == [] and r.raise_for_status() is r


@pytest.mark.parametrize("flavour", ["binance", "kraken"])
@pytest.mark.parametrize("given", ["string", "object"])
def test_async_body_rejections_raise_however_auth_is_given(binance, kraken, flavour, given):
    if flavour == "binance":
        binance.bad_key_status = 400
        ex, auth, path = binance, ("binance" if given == "string" else keyswap.BinanceSigner()), \
            "/api/v3/account"
        src = keyswap.FixedSource("key-9", secret="secret-9")
    else:
        ex, auth, path = kraken, ("kraken" if given == "string" else keyswap.KrakenSigner()), \
            "/0/private/Balance"
        src = keyswap.FixedSource("kkey-9", secret=kraken_secret(9))

    async def main():
        async with keyswap.AsyncClient(source=src, auth=auth, base_url=ex.url,
                                       await_rotation=0) as c:
            r = await c.post(path) if flavour == "kraken" else await c.get(path)
            with pytest.raises(keyswap.CredentialRejectedError):
                r.raise_for_status()

    asyncio.run(main())


def test_kraken_refuses_a_non_form_body(kraken):
    c = keyswap.Client(source=keyswap.FixedSource("kkey-1", secret=kraken_secret(1)),
                       auth=keyswap.KrakenSigner(), base_url=kraken.url)
    with pytest.raises(keyswap.SignError, match="kraken"):
        c.post("/0/private/Balance", json={"asset": "XBT"})


# --- HmacSigner and the other schemes ---------------------------------------------------------

BINANCE_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
BINANCE_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
BINANCE_SIGNED = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
                  "&recvWindow=5000&timestamp=1499827319559")
BINANCE_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_hmac_signer_reproduces_binance_and_its_published_vector():
    # The published example, computed with Python's hmac: what the mock exchange checks.
    assert hmac.new(BINANCE_SECRET.encode(), BINANCE_SIGNED.encode(),
                    hashlib.sha256).hexdigest() == BINANCE_SIGNATURE
    ex = Exchange("binance", {BINANCE_KEY: BINANCE_SECRET}, skew_ms=-3000)
    try:
        generic = keyswap.HmacSigner(
            "binance-generic",
            parts=["query", "body"],
            key_header="X-MBX-APIKEY",
            params={"recvWindow": "5000"},
            timestamp_query="timestamp",
            signature_query="signature",
            time_endpoint=("/api/v3/time", "/serverTime", "ms"),
        )
        c = keyswap.Client(source=keyswap.FixedSource(BINANCE_KEY, secret=BINANCE_SECRET),
                           auth=generic, base_url=ex.url)
        params = [("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"),
                  ("timeInForce", "GTC"), ("quantity", "1"), ("price", "0.1")]
        for _ in range(3):
            assert c.post("/api/v3/order", params=params).status_code == 200
        assert (ex.bad_signature, ex.bad_timestamp, ex.time_requests) == (0, 0, 1)
        # The signed text has exactly the shape of the published example.
        signed = ex.seen[-1]["query"]
        assert re.sub(r"timestamp=\d+", "timestamp=1499827319559", signed) == BINANCE_SIGNED
        ts = int(ex.seen[-1]["params"]["timestamp"])
        assert abs(ts - (host_ms() - 3000)) < 2000, "signed with the exchange's clock"
    finally:
        ex.close()


def test_hmac_signer_custom_scheme(echo):
    secret = bytes(range(40))
    signer = keyswap.HmacSigner(
        "custom",
        parts=["method", ("literal", "\n"), "path", ("literal", "\n"), "timestamp",
               ("literal", "\n"), "body"],
        hash="sha512", encoding="base64", secret_encoding="base64", timestamp="s",
        key_query="apikey", timestamp_header="X-Ts", signature_header="X-Sig",
        headers={"X-Sign-Type": "2"}, credential_statuses=[401, 403],
    )
    c = keyswap.Client(source=keyswap.FixedSource("my&key", secret=base64.b64encode(secret).decode()),
                       auth=signer, base_url=echo.url)
    assert c.post("/v1/orders", params={"x": "1"}, json={"a": 1}).status_code == 200
    got = echo.last
    ts = got["headers"]["x-ts"]
    assert abs(int(ts) - time.time()) < 5
    text = f"POST\n/v1/orders\n{ts}\n".encode() + b'{"a":1}'
    expected = base64.b64encode(hmac.new(secret, text, hashlib.sha512).digest()).decode()
    assert got["headers"]["x-sig"] == expected
    assert got["query"] == "x=1&apikey=my%26key"
    assert got["headers"]["x-sign-type"] == "2"
    assert "x-api-key" not in got["headers"] and "x-timestamp" not in got["headers"]


def test_hmac_signer_defaults(echo):
    c = keyswap.Client(source=keyswap.FixedSource("k", secret="s"), auth=keyswap.HmacSigner(),
                       base_url=echo.url)
    c.put("/p", params={"a": "b"}, data=b"body")
    h = echo.last["headers"]
    text = f"{h['x-timestamp']}PUT/p?a=bbody".encode()
    assert h["x-signature"] == hmac.new(b"s", text, hashlib.sha256).hexdigest()
    assert h["x-api-key"] == "k"


def test_okx_passphrase_rotates_with_the_pair(echo, tmp_path):
    path = tmp_path / "okx.json"
    write_pair(path, "okx-key", "okx-secret", passphrase="okx-pass")
    c = keyswap.Client(source=keyswap.FileSource(path, watch=False), auth=keyswap.OkxSigner(),
                       base_url=echo.url, sync_clock=False)
    c.get("/api/v5/account/balance", params={"ccy": "BTC"})
    h = echo.last["headers"]
    text = h["ok-access-timestamp"] + "GET" + "/api/v5/account/balance?ccy=BTC"
    expected = base64.b64encode(hmac.new(b"okx-secret", text.encode(), hashlib.sha256).digest())
    assert h["ok-access-sign"] == expected.decode()
    assert (h["ok-access-key"], h["ok-access-passphrase"]) == ("okx-key", "okx-pass")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", h["ok-access-timestamp"])
    cred = keyswap.Credential("k", secret="s", passphrase="p")
    assert cred.has_passphrase and cred.expose_passphrase() == "p" and "p" not in repr(cred)[10:]
    c2 = keyswap.Client(source=keyswap.FixedSource("k", secret="s"), auth=keyswap.OkxSigner(),
                        base_url=echo.url, sync_clock=False)
    with pytest.raises(keyswap.SignError, match="no passphrase"):
        c2.get("/api/v5/account/balance")


def test_bybit_signs_query_for_get_and_body_for_post(echo):
    c = keyswap.Client(source=keyswap.FixedSource("by-key", secret="by-secret"),
                       auth=keyswap.BybitSigner(recv_window=8000), base_url=echo.url,
                       sync_clock=False)
    c.get("/v5/order/realtime", params={"category": "spot"})
    h = echo.last["headers"]
    text = h["x-bapi-timestamp"] + "by-key" + "8000" + "category=spot"
    assert h["x-bapi-sign"] == hmac.new(b"by-secret", text.encode(), hashlib.sha256).hexdigest()
    assert h["x-bapi-recv-window"] == "8000"
    c.post("/v5/order/create", json={"category": "spot"})
    h = echo.last["headers"]
    text = h["x-bapi-timestamp"] + "by-key" + "8000" + '{"category":"spot"}'
    assert h["x-bapi-sign"] == hmac.new(b"by-secret", text.encode(), hashlib.sha256).hexdigest()


# A throwaway P-256 key, generated for this test only.
COINBASE_PEM = """-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIDR/as3eBVusvOtW6XgAmSqxS5wntvSAnsBMZnIuQxo5oAoGCCqGSM49
AwEHoUQDQgAE+wQyBNHePPC1NmXdbx0qby4teP9XveJBLOlp5LYXWOMg3tzZSs5L
mIv6/vfCVpPL+fc0qN51C4u/3k18eMnjrA==
-----END EC PRIVATE KEY-----
"""


def b64url_json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_coinbase_issues_a_fresh_jwt_per_request(echo, tmp_path):
    name = "organizations/org-1/apiKeys/key-1"
    path = tmp_path / "cdp.json"
    write_pair(path, name, COINBASE_PEM)  # JSON escapes the newlines, as Coinbase's file does
    c = keyswap.Client(source=keyswap.FileSource(path, watch=False),
                       auth=keyswap.CoinbaseSigner(lifetime=60), base_url=echo.url,
                       sync_clock=False)
    tokens = []
    for _ in range(2):
        c.get("/api/v3/brokerage/accounts", params={"limit": "1"})
        auth = echo.last["headers"]["authorization"]
        assert auth.startswith("Bearer ")
        tokens.append(auth[len("Bearer "):])
    assert tokens[0] != tokens[1]
    header, claims, sig = tokens[1].split(".")
    header, claims = b64url_json(header), b64url_json(claims)
    assert header["alg"] == "ES256" and header["kid"] == name
    port = urlsplit(echo.url).port
    assert claims["sub"] == name and claims["iss"] == "cdp"
    assert claims["uri"] == f"GET 127.0.0.1:{port}/api/v3/brokerage/accounts"
    assert claims["exp"] - claims["nbf"] == 60
    assert len(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))) == 64

    bad = keyswap.Client(source=keyswap.FixedSource(name, secret="not-a-pem-SECRET"),
                         auth=keyswap.CoinbaseSigner(), base_url=echo.url, sync_clock=False)
    with pytest.raises(keyswap.SignError) as info:
        bad.get("/api/v3/brokerage/accounts")
    assert "coinbase" in str(info.value) and "SECRET" not in str(info.value)


# --- reprs, arguments, stubs ------------------------------------------------------------------


def test_reprs_show_the_signer_and_its_settings_never_a_secret(binance, tmp_path):
    assert repr(keyswap.BinanceSigner()) == "BinanceSigner(recv_window=5000)"
    assert repr(keyswap.KrakenSigner(nonce_unit="us")) == 'KrakenSigner(nonce_unit="us")'
    assert repr(keyswap.CoinbaseSigner()) == "CoinbaseSigner(lifetime=120)"
    assert repr(keyswap.OkxSigner()) == "OkxSigner()"
    assert repr(keyswap.BybitSigner()) == "BybitSigner(recv_window=5000)"
    h = keyswap.HmacSigner("acme", headers={"X-Static-Token": "tok-SECRET"},
                           params={"apiToken": "param-SECRET"}, key_query="k")
    text = repr(h)
    assert text.startswith('HmacSigner("acme", parts=["timestamp", "method", "path_and_query", '
                           '"body"], hash="sha256", encoding="hex"')
    assert 'key_query="k"' in text and "x-static-token" in text and '"apiToken"' in text
    assert "SECRET" not in text
    for cls in (keyswap.BinanceSigner, keyswap.KrakenSigner, keyswap.CoinbaseSigner,
                keyswap.OkxSigner, keyswap.BybitSigner, keyswap.HmacSigner):
        assert issubclass(cls, keyswap.Auth)

    path = tmp_path / "binance.json"
    write_pair(path, "key-1", "secret-1")
    c = keyswap.Client(source=keyswap.FileSource(path), auth=keyswap.BinanceSigner(),
                       base_url=binance.url)
    c.get("/api/v3/account")
    shown = repr(c) + repr(c.stats()) + c.credential_version
    assert "auth=BinanceSigner(recv_window=5000)" in repr(c)
    assert "secret-1" not in shown and "key-1" not in shown

    no_secret = keyswap.Client(source=keyswap.FixedSource("key-1"), auth=keyswap.BinanceSigner(),
                               base_url=binance.url)
    with pytest.raises(keyswap.SignError) as info:
        no_secret.get("/api/v3/account")
    assert "no secret" in str(info.value)
    assert "key-1" not in str(info.value)


@pytest.mark.parametrize("make, argument", [
    (lambda: keyswap.BinanceSigner(recv_window=0), "recv_window"),
    (lambda: keyswap.BinanceSigner(recv_window=60001), "recv_window"),
    (lambda: keyswap.BinanceSigner(recv_window="5000"), "recv_window"),
    (lambda: keyswap.BinanceSigner(recv_window=True), "recv_window"),
    (lambda: keyswap.BinanceSigner(recv_window=5000.5), "recv_window"),
    (lambda: keyswap.BybitSigner(recv_window=-1), "recv_window"),
    (lambda: keyswap.KrakenSigner(nonce_unit="ns"), "nonce_unit"),
    (lambda: keyswap.CoinbaseSigner(lifetime=121), "lifetime"),
    (lambda: keyswap.CoinbaseSigner(lifetime=0), "lifetime"),
    (lambda: keyswap.HmacSigner(hash="md5"), "hash"),
    (lambda: keyswap.HmacSigner(encoding="b32"), "encoding"),
    (lambda: keyswap.HmacSigner(secret_encoding="hex"), "secret_encoding"),
    (lambda: keyswap.HmacSigner(timestamp="ns"), "timestamp"),
    (lambda: keyswap.HmacSigner(parts=["bdy"]), "parts"),
    (lambda: keyswap.HmacSigner(parts="body"), "parts"),
    (lambda: keyswap.HmacSigner(parts=[]), "parts"),
    (lambda: keyswap.HmacSigner(parts=[("lit", "x")]), "parts"),
    (lambda: keyswap.HmacSigner(key_header="X-K", key_query="k"), "key_header"),
    (lambda: keyswap.HmacSigner(key_header="bad header"), "key_header"),
    (lambda: keyswap.HmacSigner(signature_header=None), "signature_header"),
    (lambda: keyswap.HmacSigner(passphrase_header="a b"), "passphrase_header"),
    (lambda: keyswap.HmacSigner(credential_statuses=[99]), "credential_statuses"),
    (lambda: keyswap.HmacSigner(credential_statuses=401), "credential_statuses"),
    (lambda: keyswap.HmacSigner(time_endpoint=("/t", "/ts", "days")), "time_endpoint"),
    (lambda: keyswap.HmacSigner(time_endpoint="/t"), "time_endpoint"),
    (lambda: keyswap.HmacSigner(""), "name"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


@pytest.mark.parametrize("name, cls, top", [("binance", keyswap.BinanceSigner, 60000),
                                             ("bybit", keyswap.BybitSigner, 3600000)])
def test_recv_window_range_is_one_rule_for_objects_and_auth_strings(name, cls, top):
    """The range lives in the core's constructor: the class and the string both ask it."""
    assert cls(recv_window=top).recv_window == top
    assert cls(recv_window=1).recv_window == 1
    rule = f"recv_window must be from 1 to {top} milliseconds"
    for bad in (0, top + 1, -1, 2**70):
        with pytest.raises(keyswap.ConfigError, match=rule):
            cls(recv_window=bad)
    keyswap.Client(source=keyswap.FixedSource("k", secret="s"), auth=f"{name}?recv_window={top}")
    with pytest.raises(keyswap.ConfigError, match=rule):
        keyswap.Client(source=keyswap.FixedSource("k", secret="s"),
                       auth=f"{name}?recv_window={top + 1}")
    with pytest.raises(keyswap.ConfigError, match="lifetime must be from 1 to 120 seconds"):
        keyswap.Client(source=keyswap.FixedSource("k", secret="s"), auth="coinbase?lifetime=121")
    with pytest.raises(keyswap.ConfigError, match="lifetime must be from 1 to 120 seconds"):
        keyswap.CoinbaseSigner(lifetime=121)


def test_hmac_signer_placement_rules(echo):
    # key_header=None alone: no key sent (it can still be signed with "key").
    signer = keyswap.HmacSigner(key_header=None, timestamp_header=None,
                                parts=["key", ("literal", ":"), "timestamp"])
    c = keyswap.Client(source=keyswap.FixedSource("kk", secret="s"), auth=signer,
                       base_url=echo.url)
    c.get("/x")
    h = echo.last["headers"]
    assert "x-api-key" not in h and "x-timestamp" not in h and "x-signature" in h
    assert repr(signer).count("_header=None") == 2


# --- the example ------------------------------------------------------------------------------


def test_trading_bot_example_runs_without_failures():
    example = Path(__file__).resolve().parents[1] / "examples" / "trading_bot.py"
    proc = subprocess.run([sys.executable, str(example), "--seconds", "3"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"failures seen by the bot:\s+0", proc.stdout), proc.stdout
    orders = int(re.search(r"orders placed:\s+(\d+)", proc.stdout).group(1))
    assert orders > 0

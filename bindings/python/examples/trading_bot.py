"""A trading bot on a local mock exchange (Binance-shaped, verifying every HMAC signature) that
rotates the bot's key pairs with hard revocation and runs 3 s behind the host's clock.

Least privilege: the bot holds a read-only pair for account data and a trading pair for
orders, each in its own JSON key file ({"key": ..., "secret": ...}) and rotated
independently. The exchange revokes a pair the moment it issues the next one; the key file
follows ~100 ms later (as a secrets agent would write it). keyswap signs every attempt in Rust
with the exchange's clock (learned from /api/v3/time), absorbs the rejections and re-signs.

    python examples/trading_bot.py                 # 8 s
    python examples/trading_bot.py --seconds 20

Expect ``failures seen by the bot: 0``; the exit status is 1 otherwise.
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import hmac
import itertools
import json
import os
import random
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import keyswap

SKEW_MS = -3000  # the exchange's clock is 3 s behind the host's


class Exchange:
    """Binance-shaped: HMAC-SHA256 over query + body with the secret of the key in
    X-MBX-APIKEY; 401 {"code": -2015} for keys it does not honour; 400 {"code": -1021} for a
    timestamp outside recvWindow; its own (skewed) clock in /api/v3/time and in Date."""

    def __init__(self, pairs: dict[str, str]):
        self.lock = threading.Lock()
        self.pairs = dict(pairs)
        self.accepted = self.bad_key = self.bad_signature = self.bad_timestamp = 0
        self.client_order_ids: set[str] = set()
        self.duplicates = 0
        ex = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def date_time_string(self, timestamp=None):
                return email.utils.formatdate(ex.now_ms() / 1000, usegmt=True)

            def _handle(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = ex.answer(parts.path, parts.query, body, self.headers)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000) + SKEW_MS

    def honour_only(self, pairs: dict[str, str]) -> None:
        with self.lock:
            self.pairs = dict(pairs)

    def answer(self, path, query, body, headers):
        if path == "/api/v3/time":
            return 200, {"serverTime": self.now_ms()}
        with self.lock:
            secret = self.pairs.get(headers.get("X-MBX-APIKEY"))
            if secret is None:
                self.bad_key += 1
                return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
            signed, _, signature = query.rpartition("&signature=")
            expected = hmac.new(secret.encode(), signed.encode() + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, signature):
                self.bad_signature += 1
                return 400, {"code": -1022, "msg": "Signature for this request is not valid."}
            params = dict(parse_qsl(signed))
            params.update(parse_qsl(body.decode()))
            now = self.now_ms()
            ts, window = int(params.get("timestamp", 0)), int(params.get("recvWindow", 5000))
            if ts > now + 1000 or now - ts > window:
                self.bad_timestamp += 1
                return 400, {"code": -1021,
                             "msg": "Timestamp for this request is outside of the recvWindow."}
            self.accepted += 1
            if path == "/api/v3/order":
                cid = params.get("newClientOrderId", "")
                if cid in self.client_order_ids:
                    self.duplicates += 1
                    return 400, {"code": -2010, "msg": "Duplicate order sent."}
                self.client_order_ids.add(cid)
                return 200, {"orderId": self.accepted, "clientOrderId": cid, "status": "NEW"}
            return 200, {"balances": [{"asset": "BTC", "free": "1.5"}]}


def write_pair(path: Path, key: str, secret: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"key": key, "secret": secret, "version": key}))
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--bots", type=int, default=4)
    args = parser.parse_args()

    pairs = {"read": ("read-0", "read-secret-0"), "trade": ("trade-0", "trade-secret-0")}
    exchange = Exchange(dict(pairs.values()))
    tmp = tempfile.TemporaryDirectory()
    files = {kind: Path(tmp.name) / f"{kind}.json" for kind in pairs}
    for kind, (key, secret) in pairs.items():
        write_pair(files[kind], key, secret)

    def client(kind: str) -> keyswap.Client:
        return keyswap.Client(
            source=keyswap.FileSource(files[kind]),   # JSON {"key", "secret"}: one credential
            auth=keyswap.BinanceSigner(),             # recvWindow 5000
            base_url=exchange.url,                    # the clock is learned from /api/v3/time
            timeout=5.0,
        )

    reader, trader = client("read"), client("trade")
    print(f"exchange at {exchange.url} (3 s behind the host, hard revocation); "
          f"read and trade keys rotate independently for {args.seconds:g} s")

    deadline = time.monotonic() + args.seconds
    rotations = 0

    def rotate() -> None:
        nonlocal rotations
        for n in itertools.count(1):
            time.sleep(0.35 + random.random() * 0.3)
            if time.monotonic() + 0.8 > deadline:
                return
            kind = "read" if n % 2 == 0 else "trade"
            pairs[kind] = (f"{kind}-{n}", f"{kind}-secret-{n}")
            exchange.honour_only(dict(pairs.values()))  # the old pair is revoked at once
            rotations += 1
            time.sleep(0.1)
            write_pair(files[kind], *pairs[kind])          # the key file follows 100 ms later

    counts = {"orders": 0, "reads": 0, "failures": 0}
    lock = threading.Lock()

    def count(what: str) -> None:
        with lock:
            counts[what] += 1

    def bot(n: int) -> None:
        for i in itertools.count():
            if time.monotonic() >= deadline:
                return
            try:
                account = reader.get("/api/v3/account")
                account.raise_for_status()
                count("reads")
            except keyswap.KeyswapError as e:
                print(f"bot {n}: account read failed: {e}", file=sys.stderr)
                count("failures")
            # A client order id makes *your* retry of a timed-out order idempotent: keyswap
            # re-sends only orders the exchange rejected (never placed), never after a
            # transport error or a timeout.
            order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                     "quantity": "0.001", "price": "50000", "newClientOrderId": f"bot{n}-{i}"}
            try:
                trader.post("/api/v3/order", data=order).raise_for_status()
                count("orders")
            except keyswap.KeyswapError as e:
                print(f"bot {n}: order failed: {e}", file=sys.stderr)
                count("failures")

    threads = [threading.Thread(target=rotate)]
    threads += [threading.Thread(target=bot, args=(n,)) for n in range(args.bots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    r, t = reader.stats(), trader.stats()
    reader.close()
    trader.close()
    exchange.httpd.shutdown()
    tmp.cleanup()
    print()
    print(f"orders placed:                {counts['orders']}")
    print(f"account reads:                {counts['reads']}")
    print(f"failures seen by the bot:     {counts['failures']}")
    print(f"key-pair rotations:           {rotations} "
          f"(read {r['rotations']} · trade {t['rotations']})")
    print(f"rejections absorbed:          {r['auth_failures'] + t['auth_failures']} credential · "
          f"{r['resigns'] + t['resigns']} timestamp re-signed")
    print(f"exchange saw:                 {exchange.accepted} accepted · {exchange.bad_key} bad key"
          f" · {exchange.bad_timestamp} bad timestamp · {exchange.bad_signature} bad signature"
          f" · {exchange.duplicates} duplicate orders")
    failed = counts["failures"] or exchange.bad_signature or exchange.duplicates
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

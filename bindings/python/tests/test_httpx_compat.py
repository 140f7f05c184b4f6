"""The httpx-like surface: elapsed, request, history, cookies, iter_bytes/stream=True,
cookies=, follow_redirects=, files=."""

import asyncio
import datetime
import io
import threading
import time

import pytest

import keyswap
from conftest import FixedAnswer, KeyServer


def make(server, cls=keyswap.Client, **kw):
    kw.setdefault("source", keyswap.FixedSource("k1"))
    kw.setdefault("auth", keyswap.Header("X-API-Key"))
    kw.setdefault("base_url", server.url)
    return cls(**kw)


def test_elapsed_request_history(server):
    with make(server) as c:
        r = c.get("/slow", params={"delay": "0.2"})
        assert isinstance(r.elapsed, datetime.timedelta)
        assert 0.2 <= r.elapsed.total_seconds() < 5
        assert isinstance(r.request, keyswap.Request)
        assert r.request.method == "GET" and r.request.url == r.url
        assert r.history == []
        r = c.post("/p", json={"a": 1})
        assert r.request.method == "POST" and r.request.url == server.url + "/p"
        assert "POST" in repr(r.request)
        # keyswap follows the redirect itself; as in httpx, history holds the redirect
        # response, request is the request as sent and url the final URL.
        r = c.get("/redirect", params={"n": "1"})
        assert r.status_code == 200 and r.url == server.url + "/echo"
        assert r.request.url == server.url + "/redirect?n=1"
        [hop] = r.history
        assert hop.status_code == 302 and hop.headers["location"] == "/echo"
        assert hop.url == server.url + "/redirect?n=1" and hop.content == b""
        assert hop.is_redirect and not r.is_redirect and hop.history == []


def test_request_url_has_no_query_credential(server):
    with make(server, auth=keyswap.Query("api_key")) as c:
        r = c.get("/q", params={"x": "1"})
        assert r.status_code == 200
        assert "k1" not in r.request.url and "x=1" in r.request.url
        assert "k1" not in repr(r.request)


def test_response_cookies(server):
    with make(server) as c:
        r = c.get("/cookies")
        assert r.cookies == {"session": "abc123", "theme": "dark"}
        assert c.get("/echo").cookies == {}


def test_cookies_argument_sent_as_cookie_header(server):
    with make(server) as c:
        r = c.get("/echo", cookies={"a": "1", "b": "two"})
        assert r.json()["headers"]["cookie"] == "a=1; b=two"
        r = c.get("/echo", headers={"Cookie": "z=0"}, cookies=[("a", "1")])
        assert r.json()["headers"]["cookie"] == "z=0; a=1"
        with pytest.raises(keyswap.ConfigError) as exc:
            c.get("/echo", cookies={"a": "x;sk_live_SECRET"})
        assert "sk_live_SECRET" not in str(exc.value)


def test_iter_bytes_of_a_read_body(server):
    with make(server) as c:
        r = c.get("/big", params={"size": "100000"})
        assert r.is_read and len(r.content) == 100000
        assert b"".join(r.iter_bytes()) == r.content
        chunks = list(r.iter_bytes(chunk_size=30000))
        assert [len(x) for x in chunks] == [30000, 30000, 30000, 10000]
        assert b"".join(chunks) == r.content
        with pytest.raises(ValueError):
            r.iter_bytes(chunk_size=0)


def test_stream_true_reads_chunk_by_chunk(server):
    size = 5 * 1024 * 1024
    with make(server) as c:
        r = c.get("/big", params={"size": str(size)}, stream=True)
        assert r.status_code == 200 and not r.is_read
        total = 0
        n = 0
        expected = (b"0123456789" * 6554)[:65536]
        for chunk in r.iter_bytes(chunk_size=65536):
            assert len(chunk) == 65536 or total + len(chunk) == size
            if len(chunk) == 65536:
                assert chunk == expected
            total += len(chunk)
            n += 1
        assert total == size and n == size // 65536 + (size % 65536 > 0)
        with pytest.raises(RuntimeError):
            r.content  # consumed by iter_bytes
        with pytest.raises(RuntimeError):
            r.iter_bytes()
        # read() / content read the rest of an unread stream.
        r = c.get("/big", params={"size": "200000"}, stream=True)
        assert len(r.read()) == 200000 and r.is_read and r.content == r.read()
        r = c.get("/echo", stream=True)
        assert r.json()["path"] == "/echo"
        # close() releases an unread body.
        r = c.get("/big", params={"size": str(size)}, stream=True)
        r.close()
        with pytest.raises(RuntimeError):
            r.content
        # The client still works.
        assert c.get("/echo").status_code == 200


def test_stream_releases_the_gil_while_waiting_for_chunks(server):
    """A thread blocked on the next chunk (the server pauses between pieces) lets others run."""
    with make(server) as c:
        r = c.get("/big", params={"size": str(5 * 65536), "pause": "0.1"}, stream=True)
        ticks = 0
        stop = threading.Event()

        def ticker():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                time.sleep(0.005)

        t = threading.Thread(target=ticker)
        t.start()
        try:
            total = sum(len(x) for x in r.iter_bytes())
        finally:
            stop.set()
            t.join()
        assert total == 5 * 65536
        assert ticks >= 20


def test_async_client_stream(server):
    async def main():
        async with make(server, keyswap.AsyncClient) as c:
            r = await c.get("/big", params={"size": "300000"}, stream=True)
            assert not r.is_read
            assert sum(len(x) for x in r.iter_bytes(chunk_size=100000)) == 300000
            r = await c.get("/big", params={"size": "300000", "pause": "0.05"}, stream=True)
            sizes = [len(x) async for x in r.aiter_bytes(chunk_size=100000)]
            assert sizes == [100000, 100000, 100000]
            with pytest.raises(RuntimeError):
                r.aiter_bytes()
            r = await c.get("/big", params={"size": "1000"})
            assert b"".join([x async for x in r.aiter_bytes()]) == r.content
            r = await c.get("/cookies", cookies={"a": "1"})
            assert r.cookies["session"] == "abc123"
            assert r.request.method == "GET"
            r = await c.get("/slow", params={"delay": "0.05"})
            assert 0.05 <= r.elapsed.total_seconds() < 5

    asyncio.run(main())


def test_follow_redirects(server):
    # A client that follows redirects (max_redirects=10).
    with make(server) as c:
        for follow in (None, True):
            r = c.get("/redirect", follow_redirects=follow)
            assert r.status_code == 200 and r.url == server.url + "/echo", follow
        r = c.get("/redirect", follow_redirects=False)  # this request only: the 302 as it is
        assert r.status_code == 302 and r.headers["location"] == "/echo"
        assert r.url == server.url + "/redirect"
        assert c.get("/redirect").status_code == 200  # the client's setting is unchanged
        r = c.request("GET", "/redirect", follow_redirects=False)
        assert r.status_code == 302
    # A client that returns every 3xx (max_redirects=0).
    with make(server, max_redirects=0) as c:
        for follow in (None, False):
            r = c.get("/redirect", follow_redirects=follow)
            assert r.status_code == 302 and r.headers["location"] == "/echo", follow
        r = c.get("/redirect", follow_redirects=True)  # the core's default limit
        assert r.status_code == 200 and r.url == server.url + "/echo"
        assert r.json()["headers"]["x-api-key"] == "k1"  # same origin: the key went along
        assert c.get("/redirect").status_code == 302


def test_follow_redirects_async(server):
    async def main():
        async with make(server, keyswap.AsyncClient) as c:
            r = await c.get("/redirect", follow_redirects=False)
            assert r.status_code == 302 and r.headers["location"] == "/echo"
            for follow in (None, True):
                r = await c.get("/redirect", follow_redirects=follow)
                assert r.status_code == 200 and r.url == server.url + "/echo"
        async with keyswap.AsyncClient(source=keyswap.FixedSource("k1"),
                                       auth=keyswap.Header("X-API-Key"),
                                       base_url=server.url, max_redirects=0) as c:
            for follow in (None, False):
                assert (await c.get("/redirect", follow_redirects=follow)).status_code == 302
            r = await c.request("GET", "/redirect", follow_redirects=True)
            assert r.status_code == 200 and r.url == server.url + "/echo"

    asyncio.run(main())


def test_follow_redirects_never_carries_the_key_to_another_origin():
    other = KeyServer(accepted=())  # records the key each request carried ("" for none)
    away = FixedAnswer(302, [("Location", other.url + "/echo")])
    try:
        with keyswap.Client(source=keyswap.FixedSource("k1"), auth=keyswap.Header("X-API-Key"),
                            base_url=away.url, max_redirects=0) as c:
            r = c.get("/away", follow_redirects=True)
            assert r.status_code == 401 and r.url == other.url + "/echo"
        assert other.seen_keys == [""]
    finally:
        away.close()
        other.close()


def test_files_multipart_upload(server):
    with make(server) as c:
        r = c.post(
            "/upload",
            files={
                "report": ("report.csv", b"a,b\n1,2\n", "text/csv"),
                "blob": io.BytesIO(b"\x00\x01binary"),
                "note": b"plain",
            },
            data={"title": "Q3"},
        )
        assert r.status_code == 200
        echo = r.json()
        ct = echo["headers"]["content-type"]
        assert ct.startswith("multipart/form-data; boundary=")
        boundary = ct.split("boundary=", 1)[1]
        body = echo["body"]
        assert body.endswith(f"--{boundary}--\r\n")
        assert 'Content-Disposition: form-data; name="title"\r\n\r\nQ3\r\n' in body
        assert ('Content-Disposition: form-data; name="report"; filename="report.csv"\r\n'
                "Content-Type: text/csv\r\n\r\na,b\n1,2\n\r\n") in body
        assert 'name="blob"; filename="upload"' in body
        assert 'name="note"; filename="upload"' in body
        # Parsed by the standard library, as a server would.
        from email.parser import BytesParser
        from email.policy import HTTP
        raw = f"Content-Type: {ct}\r\n\r\n".encode() + body.encode("utf-8", "surrogateescape")
        msg = BytesParser(policy=HTTP).parsebytes(raw)
        parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
        assert set(parts) == {"title", "report", "blob", "note"}
        assert parts["report"].get_content() == "a,b\n1,2\n"
        with pytest.raises(keyswap.ConfigError):
            c.post("/upload", files={"f": b"x"}, json={"a": 1})
        with pytest.raises(keyswap.ConfigError):
            c.post("/upload", files={"f": 42})


def test_files_upload_is_retried_after_rotation(server, tmp_path):
    """A multipart body is bytes: replayed with the new key after a 401."""
    key = tmp_path / "k"
    key.write_text("k1")
    with keyswap.Client(source=keyswap.FileSource(str(key)), auth=keyswap.Header("X-API-Key"),
                        base_url=server.url, await_rotation=2.0) as c:
        key.write_text("k2")
        server.accept("k2")
        r = c.post("/upload", files={"f": ("f.txt", b"hello")})
        assert r.status_code == 200 and "hello" in r.json()["body"]


def test_signatures_list_the_httpx_arguments():
    import inspect

    for cls in (keyswap.Client, keyswap.AsyncClient):
        for name in ("request", "get", "post", "put", "patch", "delete"):
            params = inspect.signature(getattr(cls, name)).parameters
            assert {"stream", "cookies", "follow_redirects", "files"} <= set(params), (cls, name)
        for name in ("head", "options"):
            params = inspect.signature(getattr(cls, name)).parameters
            assert {"stream", "cookies", "follow_redirects"} <= set(params), (cls, name)
        params = inspect.signature(cls).parameters
        # `source` is optional: with `cert=` the certificate may be the only credential.
        assert params["source"].default is None, cls
        assert {"cert", "verify"} <= set(params), cls


def big_body(size):
    """What the test server's ``/big`` sends: 64 KiB pieces of a repeated pattern."""
    piece = (b"0123456789" * 6554)[:65536]
    return (piece * (size // 65536 + 1))[:size]


def test_status_predicates(server):
    with make(server) as c:
        for status, success, client_err, server_err in [(200, True, False, False),
                                                        (201, True, False, False),
                                                        (404, False, True, False),
                                                        (503, False, False, True)]:
            r = c.get(f"/status/{status}")
            assert r.status_code == status
            assert (r.is_success, r.is_client_error, r.is_server_error) == (
                success, client_err, server_err)
            assert r.is_error == (client_err or server_err) and not r.is_redirect
        assert c.get("/redirect", follow_redirects=False).is_redirect


def test_iter_text_and_iter_lines_decode_across_chunk_boundaries(server):
    text = "héllo\r\nwörld\r€ last\n\nend"
    with make(server) as c:
        for charset in ("utf-8", "iso-8859-15"):
            r = c.post("/text", params={"charset": charset}, data=text.encode(charset))
            assert r.encoding == charset and r.text == text
            assert "".join(r.iter_text()) == text
            # One byte per chunk: every multi-byte character is split across chunks.
            assert "".join(r.iter_text(chunk_size=1)) == text
            assert list(r.iter_lines()) == ["héllo", "wörld", "€ last", "", "end"]
        # A streamed body, in pieces the server sends apart.
        r = c.get("/big", params={"size": "200000", "pause": "0.01"}, stream=True)
        assert "".join(r.iter_text(chunk_size=4096)).encode() == big_body(200000)


def test_aiter_text_and_aiter_lines(server):
    async def main():
        async with make(server, keyswap.AsyncClient) as c:
            r = await c.get("/big", params={"size": "100000"}, stream=True)
            text = "".join([t async for t in r.aiter_text(chunk_size=999)])
            assert text.encode() == big_body(100000)
            r = await c.get("/echo")
            assert [line async for line in r.aiter_lines()] == r.text.splitlines()

    asyncio.run(main())


def test_read_timeout_bounds_each_read_not_the_whole_body(server):
    # A body that keeps arriving (pieces 0.1 s apart, 0.5 s in all) outlives a 0.3 s read
    # timeout; a server silent for longer than it does not.
    with make(server, read_timeout=0.3) as c:
        r = c.get("/big", params={"size": str(65536 * 5), "pause": "0.1"})
        assert len(r.content) == 65536 * 5
        with pytest.raises(keyswap.RequestTimeoutError):
            c.get("/slow", params={"delay": "1.0"})


def test_num_bytes_downloaded_counts_what_was_read(server):
    size = 65536 * 4
    with make(server) as c:
        assert c.get("/big", params={"size": str(size)}).num_bytes_downloaded == size
        r = c.get("/big", params={"size": str(size), "pause": "0.05"}, stream=True)
        assert r.num_bytes_downloaded == 0
        chunks = r.iter_bytes()
        first = next(chunks)
        assert 0 < r.num_bytes_downloaded < size and len(first) <= r.num_bytes_downloaded
        assert len(first) + sum(len(c) for c in chunks) == size
        assert r.num_bytes_downloaded == size
        r = c.get("/big", params={"size": str(size)}, stream=True)
        assert len(r.read()) == size and r.num_bytes_downloaded == size


def test_redirect_not_followed_raises_and_names_its_location(server):
    with make(server) as c:
        r = c.get("/redirect", follow_redirects=False)
        assert r.status_code == 302 and r.is_redirect and r.has_redirect_location
        # As httpx: raise_for_status accepts 2xx only.
        with pytest.raises(keyswap.HTTPStatusError) as info:
            r.raise_for_status()
        assert not isinstance(info.value, keyswap.CredentialRejectedError)
        assert info.value.response is r and info.value.status_code == 302
        assert info.value.request.url == server.url + "/redirect"
        assert "redirect response" in str(info.value)
        bare = c.get("/status/302", follow_redirects=False)
        assert bare.is_redirect and not bare.has_redirect_location
        ok = c.get("/echo")
        assert not ok.is_redirect and not ok.has_redirect_location
        assert ok.raise_for_status() is ok


def test_json_kwargs_and_encoding_defaults(server):
    import decimal

    with make(server) as c:
        r = c.post("/text", data=b'{"x": 1.5, "n": 2}')
        assert r.json(parse_float=decimal.Decimal) == {"x": decimal.Decimal("1.5"), "n": 2}
        assert r.json(parse_int=str) == {"x": 1.5, "n": "2"}
        r = c.get("/echo")
        # No charset named: httpx's encoding falls back to UTF-8, charset_encoding says None.
        assert r.charset_encoding is None and r.encoding == "utf-8"
        r = c.post("/text", params={"charset": "latin-1"}, data="é".encode("latin-1"))
        assert r.charset_encoding == "latin-1" == r.encoding and r.text == "é"
        # The body's own bytes, whatever the encoding.
        assert r.content == "é".encode("latin-1")


def test_headers_get_list_splits_commas_on_request():
    srv = FixedAnswer(200, [("Vary", "Accept, Origin"), ("Vary", "Cookie")])
    try:
        with keyswap.Client(source=keyswap.FixedSource("k"), base_url=srv.url) as c:
            h = c.get("/").headers
            assert h["vary"] == "Accept, Origin, Cookie"
            assert h.get_list("Vary") == ["Accept, Origin", "Cookie"]
            assert h.get_list("vary", split_commas=True) == ["Accept", "Origin", "Cookie"]
            assert h.get_list("absent", split_commas=True) == []
    finally:
        srv.close()


def test_async_stream_aread_and_aclose(server):
    async def main():
        async with make(server, keyswap.AsyncClient) as c:
            r = await c.get("/big", params={"size": "150000"}, stream=True)
            assert not r.is_read
            assert await r.aread() == big_body(150000)
            assert r.is_read and r.num_bytes_downloaded == 150000
            assert await r.aread() == big_body(150000)  # read once, returned again
            r = await c.get("/big", params={"size": "150000"}, stream=True)
            assert await r.aclose() is None
            with pytest.raises(RuntimeError, match="consumed"):
                r.content

    asyncio.run(main())

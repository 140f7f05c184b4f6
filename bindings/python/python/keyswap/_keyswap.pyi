"""Type stubs for the native module ``keyswap._keyswap`` (re-exported by ``keyswap``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
import datetime
from typing import IO, Any, Awaitable, Literal, Optional, Tuple, Union


__version__: str

_Params = Union[Mapping[str, Any], Sequence[Tuple[str, Any]], None]
_Headers = Union[Mapping[str, Union[str, bytes]], Sequence[Tuple[str, Union[str, bytes]]], None]
_Data = Union[bytes, bytearray, memoryview, str, Mapping[str, Any], Sequence[Tuple[str, Any]], None]
_RotateCallback = Callable[[str, str], Any]
_Cookies = Union[Mapping[str, str], Sequence[Tuple[str, str]], None]
_FileContent = Union[bytes, bytearray, str, IO[bytes]]
_FileValue = Union[
    _FileContent,
    Tuple[Optional[str], _FileContent],
    Tuple[Optional[str], _FileContent, Optional[str]],
]
_Files = Union[Mapping[str, _FileValue], Sequence[Tuple[str, _FileValue]], None]
_PathArg = Union[str, os.PathLike[str]]
_CertArg = Union[_PathArg, tuple[_PathArg, _PathArg], None]
_VerifyArg = Union[_PathArg, bool, None]
_SourceArg = Union[Source, str]
_AuthArg = Union[Auth, str, None]

# --- errors ---------------------------------------------------------------------------------

class KeyswapError(Exception):
    """Base class of every error keyswap raises. Messages never contain key or secret material."""

class ConfigError(KeyswapError, ValueError):
    """Invalid configuration or arguments (bad URL, header, duration, option)."""

class SourceError(KeyswapError):
    """The credential source could not produce a valid credential; the message names the source."""

class InsecureTransportError(KeyswapError):
    """Refused to send the credential over plain http:// to a host that is not loopback."""

class AuthError(KeyswapError):
    """Authentication failed: see SignError and CredentialRejectedError."""

class SignError(AuthError):
    """The credential could not be attached (a Sign callback raised, or the key is not header-safe)."""

class RequestError(KeyswapError):
    """The HTTP exchange itself failed (connect, TLS, protocol, body)."""

class ConnectError(RequestError, ConnectionError):
    """The connection could not be established."""

class RedirectError(RequestError):
    """A redirect could not be followed (too many hops, bad Location)."""

class RequestTimeoutError(RequestError, TimeoutError):
    """The request timed out (per-request or client timeout)."""

class HTTPStatusError(KeyswapError):
    """Raised by Response.raise_for_status() for a status that is not 2xx."""

    response: Response
    request: Request
    status_code: int

class CredentialRejectedError(AuthError, HTTPStatusError):
    """raise_for_status() when the client counts the response as "credential rejected" (a
    status in its retry_on_status, 401 by default, or a rejection its exchange signer reads in
    the body), after keyswap already refreshed, retried and waited for a rotation."""

class ClientClosedError(KeyswapError):
    """The client was closed."""

# --- credentials and sources ----------------------------------------------------------------

class Credential:
    """One API credential. repr() never shows the key or the secret."""

    def __init__(
        self,
        key: str,
        *,
        secret: Optional[str] = None,
        version: Optional[str] = None,
        expires_at: Optional[float] = None,
        passphrase: Optional[str] = None,
    ) -> None:
        """``expires_at`` in Unix seconds; negative, NaN, inf or out of range raises ConfigError.
        ``passphrase``: the one some exchanges (OKX) issue with a key pair."""
    @property
    def version(self) -> str:
        """The version label (from the source, or ``auto:`` + 8 hex digits keyed per process)."""
    @property
    def has_secret(self) -> bool:
        """Whether a signing secret is present."""
    @property
    def has_passphrase(self) -> bool:
        """Whether a passphrase is present."""
    @property
    def expires_at(self) -> Optional[float]:
        """Expiry in Unix seconds, or None."""
    def expose_key(self) -> str:
        """The key."""
    def expose_secret(self) -> Optional[str]:
        """The signing secret, or None."""
    def expose_passphrase(self) -> Optional[str]:
        """The passphrase, or None."""

class Source:
    """Base class of credential sources."""

    @property
    def name(self) -> str:
        """The source's name as errors and logs show it (``file:/path``, ``env:NAME``, ...)."""

class FileSource(Source):
    """A credential in a file (plain key or JSON ``{"key", "secret", "passphrase", "version",
    "expires_at"}``), watched for every real update pattern."""

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        watch: bool = True,
        poll_interval: Optional[float] = 10.0,
        debounce: float = 0.025,
    ) -> None: ...
    @property
    def path(self) -> str:
        """The path read."""

class EnvSource(Source):
    """A credential in an environment variable, read again on every load.

    Mutating ``os.environ`` (C ``setenv``) while clients may read an EnvSource from worker
    threads (C ``getenv``) is unsafe: glibc's getenv/setenv are not thread-safe, as in C
    libraries generally. Set the variable before clients start and call ``client.refresh()``
    from the same thread after a change (no requests in flight), or use a FileSource, or feed
    the key from Python with CustomSource(load=callable).
    """

    def __init__(self, name: str) -> None: ...
    @property
    def var(self) -> str:
        """The variable's name."""

class FixedSource(Source):
    """A credential that never changes."""

    def __init__(
        self,
        key: Union[str, Credential],
        *,
        secret: Optional[str] = None,
        version: Optional[str] = None,
        passphrase: Optional[str] = None,
    ) -> None: ...

class CustomSource(Source):
    """A source of your own: ``load()`` returns a key or a Credential."""

    def __init__(
        self,
        load: Callable[[], Union[str, Credential]],
        *,
        name: str = "custom",
        poll_interval: Optional[float] = None,
    ) -> None: ...

# --- endpoint sources -----------------------------------------------------------------------

class FromFile:
    """A request-header value read from a file on every fetch (trimmed)."""

    def __init__(self, path: Union[str, os.PathLike[str]]) -> None: ...
    @property
    def path(self) -> str: ...

class FromEnv:
    """A request-header value read from an environment variable on every fetch (trimmed)."""

    def __init__(self, name: str) -> None: ...
    @property
    def name(self) -> str: ...

_HeaderValue = Union[str, FromFile, FromEnv]

class HttpSource(Source):
    """A credential held by an HTTP endpoint that answers JSON."""

    def __init__(
        self,
        url: str,
        *,
        key_pointer: str = "",
        headers: Optional[Mapping[str, _HeaderValue]] = None,
        bearer: Optional[_HeaderValue] = None,
        secret_pointer: Optional[str] = None,
        version_pointer: Optional[str] = None,
        version_last_segment: bool = False,
        expiry_pointer: Optional[str] = None,
        decode: Sequence[Tuple[str, str]] = (),
        passphrase_pointer: Optional[str] = None,
        poll_interval: Optional[float] = 300.0,
        timeout: float = 5.0,
        max_body_bytes: int = 1048576,
        reuse_window: float = 0.25,
        base_url: Optional[str] = None,
    ) -> None: ...

class VaultSource(Source):
    """HashiCorp Vault KV v2 (``X-Vault-Token``; key at ``data.data[field]``)."""

    def __init__(
        self,
        addr: str,
        path: str,
        *,
        field: str = "api_key",
        mount: str = "secret",
        token: Optional[_HeaderValue] = None,
        secret_field: Optional[str] = None,
        namespace: Optional[str] = None,
        headers: Optional[Mapping[str, _HeaderValue]] = None,
        poll_interval: Optional[float] = 300.0,
        timeout: float = 5.0,
        max_body_bytes: int = 1048576,
        reuse_window: float = 0.25,
    ) -> None: ...

class AwsSecretsManagerAgentSource(Source):
    """The AWS Secrets Manager Agent / Lambda extension (localhost:2773)."""

    def __init__(
        self,
        secret_id: str,
        *,
        json_key: Optional[str] = None,
        json_secret_key: Optional[str] = None,
        headers: Optional[Mapping[str, _HeaderValue]] = None,
        base_url: Optional[str] = None,
        poll_interval: Optional[float] = 300.0,
        timeout: float = 5.0,
        max_body_bytes: int = 1048576,
        reuse_window: float = 0.25,
    ) -> None: ...

class GcpSecretManagerSource(Source):
    """Google Cloud Secret Manager, latest version of a secret."""

    def __init__(
        self,
        project: str,
        secret: str,
        *,
        token: _HeaderValue,
        base_url: Optional[str] = None,
        poll_interval: Optional[float] = 300.0,
        timeout: float = 5.0,
        max_body_bytes: int = 1048576,
        reuse_window: float = 0.25,
    ) -> None: ...

class AzureKeyVaultSource(Source):
    """Azure Key Vault, current version of a secret."""

    def __init__(
        self,
        vault_url: str,
        name: str,
        *,
        token: _HeaderValue,
        poll_interval: Optional[float] = 300.0,
        timeout: float = 5.0,
        max_body_bytes: int = 1048576,
        reuse_window: float = 0.25,
    ) -> None: ...

class OAuth2ClientCredentials(Source):
    """OAuth2 client credentials (RFC 6749 §4.4): an access token from ``token_url``, renewed
    before it expires, sent as ``Authorization: Bearer``. ``client_secret`` says where the
    secret is (a file path, ``FromFile``, ``FromEnv`` or a ``Source``); it is re-read when the
    token endpoint answers ``invalid_client``. ``auth_method``: ``"client_secret_basic"``,
    ``"client_secret_post"`` or ``"private_key_jwt"`` (the secret is then a PEM P-256 key)."""

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str,
        client_secret: Union[str, FromFile, FromEnv, Source],
        scope: Optional[str] = None,
        audience: Optional[str] = None,
        resource: Optional[str] = None,
        auth_method: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"] = "client_secret_basic",
        extra_params: Optional[Sequence[Tuple[str, str]]] = None,
        key_id: Optional[str] = None,
        advisory_margin: float = 300.0,
        mandatory_margin: float = 60.0,
        default_lifetime: float = 900.0,
        timeout: float = 2.0,
        await_secret: float = 1.0,
        retry_spacing: float = 1.0,
    ) -> None: ...
    @property
    def client_id(self) -> str: ...

# --- auth -----------------------------------------------------------------------------------

class Auth:
    """Base class of the ways a credential is attached: Header, Bearer, Query, Basic, Sign,
    and the exchange signers BinanceSigner, KrakenSigner, CoinbaseSigner, OkxSigner,
    BybitSigner, HmacSigner."""

class Header(Auth):
    """The key as the value of header ``name``."""

    def __init__(self, name: str) -> None: ...

class Bearer(Auth):
    """``Authorization: Bearer <key>`` (the default)."""

    def __init__(self) -> None: ...

class Query(Auth):
    """The key as query parameter ``name``; the core removes it from Response.url and URLs in errors."""

    def __init__(self, name: str) -> None: ...

class Basic(Auth):
    """HTTP basic auth with ``user`` and the key as the password."""

    def __init__(self, user: str) -> None: ...

class SigningRequest:
    """The request a Sign callback sees and changes."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> dict[str, str]: ...
    def set_header(self, name: str, value: str) -> None:
        """Sets header ``name`` (replacing it), marked sensitive."""
    def add_query_param(self, name: str, value: str) -> None:
        """Appends ``name=value`` to the query string."""

class Sign(Auth):
    """A signer of your own, called on every attempt."""

    def __init__(self, callback: Callable[[SigningRequest, Credential], None]) -> None: ...

# --- responses ------------------------------------------------------------------------------

# --- exchange signers ------------------------------------------------------------------------

_Part = Union[
    Literal["timestamp", "method", "path", "query", "path_and_query", "body", "query_or_body", "key"],
    Tuple[Literal["literal"], str],
]

class BinanceSigner(Auth):
    """Binance SIGNED endpoints: ``X-MBX-APIKEY``; ``recvWindow``, ``timestamp`` (exchange
    time) and ``signature`` = hex HMAC-SHA256(secret, query + body) appended to the query.
    Pass parameters with ``params=`` (query) or ``data=`` (form body). 401 / -2014 / -2015 /
    -1022 are key rejections; 400 -1021 re-learns the clock and re-signs once."""

    def __init__(self, recv_window: int = 5000) -> None:
        """``recv_window``: milliseconds, 1 to 60000."""
    @property
    def recv_window(self) -> int:
        """The recvWindow sent, in milliseconds."""

class KrakenSigner(Auth):
    """Kraken private endpoints: ``nonce`` put first in the form body (``data=``), ``API-Key``
    and ``API-Sign`` = base64 HMAC-SHA512(b64decode(secret), path + SHA256(nonce + body)).
    HTTP 200 ``EAPI:Invalid key`` / ``EAPI:Invalid signature`` are key rejections;
    ``EAPI:Invalid nonce`` re-signs once with a new nonce."""

    def __init__(self, nonce_unit: Literal["ms", "us"] = "ms") -> None: ...
    @property
    def nonce_unit(self) -> str:
        """``"ms"`` or ``"us"``."""

class CoinbaseSigner(Auth):
    """Coinbase Advanced Trade (CDP keys): a fresh ES256 JWT per attempt as
    ``Authorization: Bearer``; the key is the key name, the secret the PEM EC private key."""

    def __init__(self, lifetime: int = 120) -> None:
        """``lifetime``: JWT lifetime in seconds, 1 to 120."""
    @property
    def lifetime(self) -> int:
        """The JWT lifetime in seconds."""

class OkxSigner(Auth):
    """OKX v5: ``OK-ACCESS-KEY/SIGN/TIMESTAMP/PASSPHRASE``, base64 HMAC-SHA256 over
    timestamp + METHOD + path?query + body; the passphrase comes from the credential."""

    def __init__(self) -> None: ...

class BybitSigner(Auth):
    """Bybit v5: ``X-BAPI-*`` headers, hex HMAC-SHA256 over timestamp + key + recvWindow +
    (query for GET, body otherwise)."""

    def __init__(self, recv_window: int = 5000) -> None:
        """``recv_window``: milliseconds, 1 to 3600000."""
    @property
    def recv_window(self) -> int:
        """The receive window in milliseconds."""

class HmacSigner(Auth):
    """A configurable HMAC signer: the signed text is ``parts`` concatenated; key, timestamp
    and signature each go in a header (defaults ``X-API-KEY``, ``X-TIMESTAMP``,
    ``X-SIGNATURE``) or a query parameter (``*_query`` replaces the default header;
    ``key_header=None`` / ``timestamp_header=None`` alone sends none). Bad values raise
    ConfigError (a ValueError) naming the argument."""

    def __init__(
        self,
        name: str = "hmac",
        *,
        parts: Optional[Sequence[_Part]] = None,
        hash: Literal["sha256", "sha512"] = "sha256",
        encoding: Literal["hex", "base64"] = "hex",
        secret_encoding: Literal["raw", "base64"] = "raw",
        timestamp: Literal["ms", "s", "iso"] = "ms",
        key_header: Optional[str] = "X-API-KEY",
        key_query: Optional[str] = None,
        timestamp_header: Optional[str] = "X-TIMESTAMP",
        timestamp_query: Optional[str] = None,
        signature_header: Optional[str] = "X-SIGNATURE",
        signature_query: Optional[str] = None,
        passphrase_header: Optional[str] = None,
        headers: _Headers = None,
        params: _Params = None,
        credential_statuses: Optional[Iterable[int]] = None,
        time_endpoint: Optional[Tuple[str, str, Literal["s", "ms", "us", "ns"]]] = None,
    ) -> None:
        """``parts`` default: ``["timestamp", "method", "path_and_query", "body"]``;
        ``credential_statuses`` default ``[401]``; ``time_endpoint=(path, json_pointer, unit)``,
        e.g. ``("/api/v3/time", "/serverTime", "ms")``."""
    @property
    def name(self) -> str:
        """The signer's name (in errors)."""

class Headers(Mapping[str, str]):
    """Case-insensitive, read-only response headers."""

    def __getitem__(self, name: str) -> str: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def get_list(self, name: str, split_commas: bool = False) -> list[str]:
        """Every value of ``name``, in order; with ``split_commas``, comma-separated lists
        split into their items."""
    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair as received."""

class Health:
    """A snapshot from ``Client.health()``; never holds a key. Frozen; compares by value."""

    @property
    def state(self) -> Literal["fresh", "stale", "failing"]:
        """``fresh``: the last load succeeded; ``stale``: the source fails, the last good
        credential (still valid) serves; ``failing``: no valid credential."""
    @property
    def credential_version(self) -> Optional[str]:
        """The version of the credential in use (None before the first load)."""
    @property
    def last_success(self) -> Optional[float]:
        """When the source last produced a valid credential (Unix seconds), or None."""
    @property
    def failing_since(self) -> Optional[float]:
        """Since when every load has failed (Unix seconds); None while the source is healthy."""
    @property
    def last_error(self) -> Optional[str]:
        """The last load error (never a secret), or None."""
    @property
    def ok(self) -> bool:
        """Whether ``state`` is ``fresh`` or ``stale``."""

class Request:
    """The request a Response answers: method and URL as sent, before any redirect (as
    httpx's; ``Response.url`` is the final one), without a query credential."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...

class ByteStream(Iterator[bytes]):
    """The iterator ``Response.iter_bytes()`` returns."""

    def __iter__(self) -> ByteStream: ...
    def __next__(self) -> bytes: ...

class AsyncByteStream:
    """The async iterator ``Response.aiter_bytes()`` returns."""

    def __aiter__(self) -> AsyncByteStream: ...
    def __anext__(self) -> Awaitable[bytes]: ...

class Response:
    """An HTTP response; its body read, unless the request passed ``stream=True``."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def url(self) -> str: ...
    @property
    def http_version(self) -> str: ...
    @property
    def content(self) -> bytes: ...
    @property
    def charset_encoding(self) -> Optional[str]:
        """The charset named by ``Content-Type``, or None."""
    @property
    def encoding(self) -> str:
        """``charset_encoding``, else ``"utf-8"``: what ``text`` decodes with."""
    @property
    def text(self) -> str: ...
    def json(self, **kwargs: Any) -> Any:
        """The body parsed with ``json.loads(content, **kwargs)``."""
    def read(self) -> bytes:
        """Reads the rest of a ``stream=True`` body; returns the whole body."""
    def aread(self) -> Awaitable[bytes]:
        """``read`` for asyncio, without blocking the event loop."""
    def iter_bytes(self, chunk_size: Optional[int] = None) -> ByteStream:
        """The body in chunks (as received, or ``chunk_size`` bytes each); with ``stream=True``
        read from the connection as it arrives, the GIL released while waiting."""
    def aiter_bytes(self, chunk_size: Optional[int] = None) -> AsyncByteStream:
        """``iter_bytes`` for asyncio: ``async for chunk in r.aiter_bytes()``, without blocking
        the event loop."""
    def close(self) -> None:
        """Releases the connection of an unread ``stream=True`` body."""
    def aclose(self) -> Awaitable[None]:
        """``close`` for asyncio."""
    @property
    def is_read(self) -> bool: ...
    @property
    def num_bytes_downloaded(self) -> int:
        """Body bytes received so far (with ``stream=True``, as they are read)."""
    @property
    def elapsed(self) -> datetime.timedelta:
        """From sending to the body read (``stream=True``: to the headers), retries included."""
    @property
    def request(self) -> Request: ...
    @property
    def history(self) -> list[Response]:
        """The redirect responses followed to reach this one, oldest first (status, headers,
        URL; empty bodies: keyswap follows redirects itself and does not read theirs)."""
    @property
    def is_success(self) -> bool:
        """2xx."""
    @property
    def is_redirect(self) -> bool:
        """301, 302, 303, 307 or 308 (one that was not followed)."""
    @property
    def has_redirect_location(self) -> bool:
        """A redirect status with a ``Location`` header."""
    @property
    def is_client_error(self) -> bool:
        """4xx."""
    @property
    def is_server_error(self) -> bool:
        """5xx."""
    @property
    def is_error(self) -> bool:
        """4xx or 5xx."""
    def iter_text(self, chunk_size: Optional[int] = None) -> Iterator[str]:
        """The body as text, decoded incrementally with ``encoding`` (UTF-8 by default)."""
    def iter_lines(self) -> Iterator[str]:
        """The body line by line, without ``\\n``, ``\\r\\n`` or ``\\r``."""
    def aiter_text(self, chunk_size: Optional[int] = None) -> AsyncIterator[str]:
        """``iter_text`` for ``async for``."""
    def aiter_lines(self) -> AsyncIterator[str]:
        """``iter_lines`` for ``async for``."""
    @property
    def cookies(self) -> dict[str, str]:
        """``{name: value}`` from the ``Set-Cookie`` headers."""
    def raise_for_status(self) -> Response:
        """Returns self for a 2xx; raises CredentialRejectedError when the client's core counts
        the response as "credential rejected" (retry_on_status, 401 by default, or a rejection
        the exchange signer reads in the body, whatever the status: Kraken answers HTTP 200;
        the same for a signer object and an auth string such as ``"kraken"``, and for a
        ``stream=True`` response), HTTPStatusError for any other status (1xx, 3xx, 4xx, 5xx, as
        httpx). The exception has ``response``, ``request`` and ``status_code``."""

# --- clients --------------------------------------------------------------------------------

class Client:
    """A blocking HTTP client that keeps working while its credential is rotated.

    ``cert=``: a client certificate (mTLS) that rotates like a key, as in requests/httpx:
    ``("tls.crt", "tls.key")``, one combined PEM path, a Kubernetes TLS-secret directory, or a
    string ``"CERT,KEY"``; the files are watched, each new connection presents the certificate
    current at its handshake, a certificate the server refuses (a TLS alert, or a status of
    ``retry_on_status``, which with ``cert=`` defaults to 401 and 403) is reloaded and the
    request retried once on a new connection. ``verify=``: the CA bundle that verifies
    the server (a path, or a directory's ``ca.crt``), watched too; ``True``/``None``: the
    platform's trust store; ``False`` is refused. Without ``source``, the certificate is the
    only credential."""

    def __init__(
        self,
        source: Optional[_SourceArg] = None,
        auth: _AuthArg = None,
        base_url: Optional[str] = None,
        *,
        cert: _CertArg = None,
        verify: _VerifyArg = None,
        allow_origins: Optional[Iterable[str]] = None,
        allow_insecure_http: bool = False,
        retry_on_status: Optional[Iterable[int]] = None,
        overlap_window: float = 30.0,
        propagation_hold: float = 30.0,
        probe_interval: float = 0.2,
        await_rotation: float = 1.0,
        load_timeout: float = 5.0,
        max_redirects: int = 10,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = 5.0,
        read_timeout: Optional[float] = 5.0,
        headers: _Headers = None,
        on_rotate: Union[_RotateCallback, Iterable[_RotateCallback], None] = None,
        sync_clock: bool = True,
    ) -> None: ...
    def request(
        self, method: str, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Response:
        """Sends a request. ``follow_redirects``: ``None`` follows the client's
        ``max_redirects``; ``False`` returns a 3xx as it is; ``True`` follows redirects, up to
        the client's ``max_redirects`` (10 when the client was built with 0). Each hop
        decides again whether the credential goes along (never to another origin)."""
    def get(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Response: ...
    def post(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Response: ...
    def put(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Response: ...
    def patch(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Response: ...
    def delete(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Response: ...
    def head(
        self, url: str, *, params: _Params = None, headers: _Headers = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
    ) -> Response: ...
    def options(
        self, url: str, *, params: _Params = None, headers: _Headers = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
    ) -> Response: ...
    def refresh(self) -> str:
        """Re-loads the source now; returns the credential version in use."""
    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters: requests, auth_failures, retries, refreshes, rotations,
        fallbacks, rotation_waits, source_errors, probes, resigns (attempts an exchange signer
        signed again after a timestamp or nonce rejection), background_failures; with
        ``cert=``, also ``tls``: a dict of handshakes, identity_rotations,
        identity_rejections, identity_errors, generations, trust_rotations."""
    def on_rotate(self, callback: _RotateCallback) -> _RotateCallback:
        """Registers callback(old_version, new_version)."""
    def health(self) -> Health:
        """A snapshot of the client's health (no I/O): fresh, stale or failing."""
    @classmethod
    def from_env(cls, **overrides: Any) -> Client:
        """A client from ``KEYSWAP_SOURCE`` (required), ``KEYSWAP_AUTH`` (default ``bearer``)
        and ``KEYSWAP_BASE_URL``; keyword arguments go to the constructor and override them."""
    @property
    def credential_version(self) -> str: ...
    @property
    def source_name(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> Client: ...
    def __exit__(self, *args: object) -> None: ...

class AsyncClient:
    """The asyncio variant of Client: same options, awaitable methods."""

    def __init__(
        self,
        source: Optional[_SourceArg] = None,
        auth: _AuthArg = None,
        base_url: Optional[str] = None,
        *,
        cert: _CertArg = None,
        verify: _VerifyArg = None,
        allow_origins: Optional[Iterable[str]] = None,
        allow_insecure_http: bool = False,
        retry_on_status: Optional[Iterable[int]] = None,
        overlap_window: float = 30.0,
        propagation_hold: float = 30.0,
        probe_interval: float = 0.2,
        await_rotation: float = 1.0,
        load_timeout: float = 5.0,
        max_redirects: int = 10,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = 5.0,
        read_timeout: Optional[float] = 5.0,
        headers: _Headers = None,
        on_rotate: Union[_RotateCallback, Iterable[_RotateCallback], None] = None,
        sync_clock: bool = True,
    ) -> None: ...
    def request(
        self, method: str, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Awaitable[Response]:
        """Sends a request. ``follow_redirects``: ``None`` follows the client's
        ``max_redirects``; ``False`` returns a 3xx as it is; ``True`` follows redirects, up to
        the client's ``max_redirects`` (10 when the client was built with 0). Each hop
        decides again whether the credential goes along (never to another origin)."""
    def get(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Awaitable[Response]: ...
    def post(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Awaitable[Response]: ...
    def put(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Awaitable[Response]: ...
    def patch(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Awaitable[Response]: ...
    def delete(
        self, url: str, *, params: _Params = None, headers: _Headers = None,
        json: Any = None, data: _Data = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
        files: _Files = None,
    ) -> Awaitable[Response]: ...
    def head(
        self, url: str, *, params: _Params = None, headers: _Headers = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
    ) -> Awaitable[Response]: ...
    def options(
        self, url: str, *, params: _Params = None, headers: _Headers = None, timeout: Optional[float] = None,
        stream: bool = False, cookies: _Cookies = None, follow_redirects: Optional[bool] = None,
    ) -> Awaitable[Response]: ...
    def refresh(self) -> Awaitable[str]: ...
    def stats(self) -> dict[str, Any]: ...
    def on_rotate(self, callback: _RotateCallback) -> _RotateCallback: ...
    def health(self) -> Health:
        """A snapshot of the client's health (no I/O): fresh, stale or failing."""
    @classmethod
    def create(cls, *args: Any, **kwargs: Any) -> Awaitable[AsyncClient]:
        """Builds the client without blocking the event loop: the constructor's arguments; an
        awaitable of the client with its first credential loaded."""
    @classmethod
    def from_env(cls, **overrides: Any) -> AsyncClient:
        """A client from ``KEYSWAP_SOURCE`` (required), ``KEYSWAP_AUTH`` (default ``bearer``)
        and ``KEYSWAP_BASE_URL``; keyword arguments go to the constructor and override them."""
    @property
    def credential_version(self) -> str: ...
    @property
    def source_name(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def aclose(self) -> Awaitable[None]: ...
    def __aenter__(self) -> Awaitable[AsyncClient]: ...
    def __aexit__(self, *args: object) -> Awaitable[None]: ...

def _after_fork_in_child() -> None:
    """Starts a new process generation (registered with ``os.register_at_fork``)."""

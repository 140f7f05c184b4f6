"""keyswap: an HTTP client that keeps working while its API credential is rotated.

The client attaches the current credential to every request. When the server rejects it
(401 by default), keyswap re-reads the source once for all concurrent requests, retries with
the new key, falls back to the previous key while the server is still propagating the new
one, or waits a bounded time for a new key to appear. The credential source (a file,
including Kubernetes secret volumes, an environment variable, a fixed key or your own
callable, or a secrets manager over HTTP: Vault, the AWS Secrets Manager Agent, GCP
Secret Manager, Azure Key Vault, any JSON endpoint) is also watched in the background.

Everything runs in the Rust core (``keyswap._keyswap``); this package only re-exports it.

Quick start::

    import keyswap

    client = keyswap.Client(
        source="file:///run/secrets/api/api_key",   # or keyswap.FileSource(...)
        auth="header:X-API-Key",                      # or keyswap.Header("X-API-Key")
        base_url="https://api.example.com",
    )
    r = client.get("/v1/ticker", params={"symbol": "BTCUSDT"}, timeout=5.0)
    r.raise_for_status()
    print(r.json())

Exchange APIs: ``auth=keyswap.BinanceSigner()`` (or ``KrakenSigner``, ``CoinbaseSigner``,
``OkxSigner``, ``BybitSigner``, ``HmacSigner(...)``) signs every attempt in Rust with the
exchange's clock and a fresh nonce; key, secret and passphrase rotate together from a JSON
source ``{"key": ..., "secret": ...}``.
"""

import os as _os
from collections.abc import Mapping as _Mapping

from ._keyswap import (
    AsyncByteStream,
    AsyncClient,
    Auth,
    AuthError,
    AwsSecretsManagerAgentSource,
    AzureKeyVaultSource,
    Basic,
    Bearer,
    BinanceSigner,
    BybitSigner,
    ByteStream,
    Client,
    ClientClosedError,
    CoinbaseSigner,
    ConfigError,
    ConnectError,
    Credential,
    CredentialRejectedError,
    CustomSource,
    EnvSource,
    FileSource,
    FixedSource,
    FromEnv,
    FromFile,
    GcpSecretManagerSource,
    Header,
    Headers,
    Health,
    HmacSigner,
    HttpSource,
    HTTPStatusError,
    InsecureTransportError,
    KeyswapError,
    KrakenSigner,
    OAuth2ClientCredentials,
    OkxSigner,
    Query,
    RedirectError,
    Request,
    RequestError,
    RequestTimeoutError,
    Response,
    Sign,
    SignError,
    SigningRequest,
    Source,
    SourceError,
    VaultSource,
    __version__,
)

from ._keyswap import _after_fork_in_child

_Mapping.register(Headers)

# A forked child (gunicorn --preload, multiprocessing's fork, celery prefork) has none of the
# parent's keyswap threads and must not share its pooled connections: everything is rebuilt
# there on first use. See "Process models" in the README.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = [
    "AsyncByteStream",
    "AsyncClient",
    "Auth",
    "AuthError",
    "AwsSecretsManagerAgentSource",
    "AzureKeyVaultSource",
    "Basic",
    "Bearer",
    "BinanceSigner",
    "BybitSigner",
    "ByteStream",
    "Client",
    "ClientClosedError",
    "CoinbaseSigner",
    "ConfigError",
    "ConnectError",
    "Credential",
    "CredentialRejectedError",
    "CustomSource",
    "EnvSource",
    "FileSource",
    "FixedSource",
    "FromEnv",
    "FromFile",
    "GcpSecretManagerSource",
    "Header",
    "Headers",
    "Health",
    "HmacSigner",
    "HttpSource",
    "HTTPStatusError",
    "InsecureTransportError",
    "KeyswapError",
    "KrakenSigner",
    "OAuth2ClientCredentials",
    "OkxSigner",
    "Query",
    "RedirectError",
    "Request",
    "RequestError",
    "RequestTimeoutError",
    "Response",
    "Sign",
    "SignError",
    "SigningRequest",
    "Source",
    "SourceError",
    "VaultSource",
    "__version__",
]

//! Exchange signers: wrappers of `keyswap::sign::*`, attached with `keyswap::Auth::signer`.
//!
//! Signing runs in the Rust core on every attempt (inside the core's send, so without the
//! GIL), with the client's server-time clock and nonces. These classes only convert the
//! constructor arguments: ranges are checked by the core's constructors, so a bad value raises
//! `ConfigError` (a `ValueError`) naming the argument and the range the core allows.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use keyswap::reqwest::StatusCode;
use keyswap::reqwest::header::{HeaderName, HeaderValue};
use keyswap::sign::{
    HashAlg, NonceUnit, Part, SecretEncoding, SigEncoding, TimeEndpoint, TimeUnit, TimestampFormat,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString, PyTuple};

use crate::auth::{Auth, signer_auth};
use crate::convert;
use crate::errors::{config_error, to_py};

/// An integer argument (not a bool, not a float); errors name `what`. A value beyond `i64`
/// saturates: it is out of every range the core accepts, and the core's check says so.
fn int(what: &str, value: &Bound<'_, PyAny>) -> PyResult<i64> {
    if value.cast::<PyBool>().is_ok() || value.cast::<PyInt>().is_err() {
        return Err(config_error(format!("{what} must be an integer")));
    }
    Ok(value.extract::<i64>().unwrap_or_else(|_| {
        if value.gt(0).unwrap_or(false) {
            i64::MAX
        } else {
            i64::MIN
        }
    }))
}

/// A receive window for a recipe: its setter checks the range (a negative value is below
/// every range: passed as 0, which the setter refuses with the range in its message).
fn with_recv_window(
    signer: keyswap::sign::HmacSigner,
    recv_window: Option<Bound<'_, PyAny>>,
) -> PyResult<keyswap::sign::HmacSigner> {
    match recv_window {
        None => Ok(signer),
        Some(w) => {
            let ms = u64::try_from(int("recv_window", &w)?).unwrap_or(0);
            signer.recv_window_ms(ms).map_err(to_py)
        }
    }
}

/// An integer argument in `min..=max`; errors name `what` and the range.
fn int_in(what: &str, value: &Bound<'_, PyAny>, min: i64, max: i64) -> PyResult<i64> {
    let v = int(what, value)?;
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(config_error(format!(
            "{what} must be an integer from {min} to {max}"
        )))
    }
}

/// One of `choices` (case-insensitive); errors name `what` and list the choices.
fn choice<T: Copy>(what: &str, value: &str, choices: &[(&str, T)]) -> PyResult<T> {
    let lower = value.to_ascii_lowercase();
    choices
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
            config_error(format!(
                "{what} must be one of {}, got {value:?}",
                names.join(", ")
            ))
        })
}

fn header_name(what: &str, name: &str) -> PyResult<HeaderName> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| config_error(format!("{what}: invalid header name {name:?}")))
}

fn non_empty(what: &str, name: String) -> PyResult<String> {
    if name.is_empty() {
        Err(config_error(format!("{what} is empty")))
    } else {
        Ok(name)
    }
}

/// Text that must live as long as the process (`TimeEndpoint` holds `&'static str`): each
/// distinct text is leaked once and reused.
fn intern(text: &str) -> &'static str {
    static TEXTS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut texts = TEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(t) = texts.get(text) {
        return t;
    }
    let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
    texts.insert(leaked);
    leaked
}

/// Binance ``SIGNED`` endpoints (spot ``/api/v3``, ``/sapi``; the futures APIs sign the same
/// way).
///
/// Every attempt sends the key in ``X-MBX-APIKEY`` and appends ``recvWindow``,
/// ``timestamp`` (the exchange's time, learned from ``/api/v3/time``) and
/// ``signature = hex(HMAC-SHA256(secret, query + body))`` to the query. Pass the order's
/// parameters with ``params=`` (query) or ``data=`` (form body); both are signed.
///
/// ``recv_window``: milliseconds, 1 to 60000 (default 5000). Rejections: 401 and codes
/// -2014/-2015/-1022 mean the key pair was rejected (refresh, retry); 400 with code -1021 means
/// the timestamp was outside ``recvWindow`` (re-learn the clock, sign again, retry once).
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct BinanceSigner {
    recv_window: u64,
}

#[pymethods]
impl BinanceSigner {
    #[new]
    #[pyo3(signature = (recv_window=None))]
    fn new(recv_window: Option<Bound<'_, PyAny>>) -> PyResult<PyClassInitializer<Self>> {
        let signer = with_recv_window(keyswap::sign::HmacSigner::binance(), recv_window)?;
        let ms = signer.recv_window().unwrap_or_default();
        let repr = format!("BinanceSigner(recv_window={ms})");
        Ok(signer_auth(signer, repr).add_subclass(BinanceSigner { recv_window: ms }))
    }

    /// The ``recvWindow`` sent with every request, in milliseconds.
    #[getter]
    fn recv_window(&self) -> u64 {
        self.recv_window
    }
}

/// Kraken spot private endpoints (``/0/private/*``).
///
/// Every attempt puts a new ``nonce`` first in the form body (pass the other fields with
/// ``data=``, e.g. ``client.post("/0/private/Balance", data={"asset": "XBT"})``), and sends
/// ``API-Key`` and ``API-Sign = base64(HMAC-SHA512(base64decode(secret), path +
/// SHA256(nonce + body)))``.
///
/// ``nonce_unit``: ``"ms"`` (default, the unit of Kraken's example) or ``"us"``. A key that
/// has seen microsecond nonces rejects millisecond ones from then on. Rejections: Kraken
/// answers errors with HTTP 200; ``EAPI:Invalid key`` / ``EAPI:Invalid signature`` mean the key
/// pair was rejected, ``EAPI:Invalid nonce`` gets a new nonce and one retry.
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct KrakenSigner {
    nonce_unit: &'static str,
}

#[pymethods]
impl KrakenSigner {
    #[new]
    #[pyo3(signature = (nonce_unit="ms"))]
    fn new(nonce_unit: &str) -> PyResult<PyClassInitializer<Self>> {
        let (unit, shown) = choice(
            "nonce_unit",
            nonce_unit,
            &[
                ("ms", (NonceUnit::Millis, "ms")),
                ("us", (NonceUnit::Micros, "us")),
            ],
        )?;
        let signer = keyswap::sign::KrakenSigner::new().nonce_unit(unit);
        let repr = format!("KrakenSigner(nonce_unit={shown:?})");
        Ok(signer_auth(signer, repr).add_subclass(KrakenSigner { nonce_unit: shown }))
    }

    /// The nonce unit: ``"ms"`` or ``"us"``.
    #[getter]
    fn nonce_unit(&self) -> &'static str {
        self.nonce_unit
    }
}

/// Coinbase Advanced Trade (CDP API keys, ES256).
///
/// Every attempt sends ``Authorization: Bearer <jwt>``, a new JWT signed with the EC P-256
/// private key (PEM, the credential's ``secret``; literal ``\n`` accepted) for the key name
/// (the credential's ``key``), with the request's method, host and path in its ``uri`` claim.
///
/// ``lifetime``: seconds the JWT is valid, 1 to 120 (default 120, Coinbase's maximum).
/// Rejections: 401 means the key was rejected.
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct CoinbaseSigner {
    lifetime: i64,
}

#[pymethods]
impl CoinbaseSigner {
    #[new]
    #[pyo3(signature = (lifetime=None))]
    fn new(lifetime: Option<Bound<'_, PyAny>>) -> PyResult<PyClassInitializer<Self>> {
        let signer = match lifetime {
            Some(l) => keyswap::sign::CoinbaseSigner::new()
                .lifetime_secs(int("lifetime", &l)?)
                .map_err(to_py)?,
            None => keyswap::sign::CoinbaseSigner::new(),
        };
        let lifetime = signer.lifetime();
        let repr = format!("CoinbaseSigner(lifetime={lifetime})");
        Ok(signer_auth(signer, repr).add_subclass(CoinbaseSigner { lifetime }))
    }

    /// The JWT lifetime in seconds.
    #[getter]
    fn lifetime(&self) -> i64 {
        self.lifetime
    }
}

/// OKX v5 (``OK-ACCESS-KEY``, ``OK-ACCESS-SIGN``, ``OK-ACCESS-TIMESTAMP``,
/// ``OK-ACCESS-PASSPHRASE``).
///
/// Every attempt signs ``timestamp + METHOD + path?query + body`` with base64
/// HMAC-SHA256; the passphrase comes from the credential (``"passphrase"`` in a JSON key file,
/// or ``Credential(passphrase=...)``) and rotates with the pair. Send JSON bodies with
/// ``json=``. Rejections: 401 with codes 50102/50112 mean a timestamp rejection (re-learn the
/// clock, sign again, retry once); 50111/50113/50105/50101/50114 and other 401s mean the key
/// pair was rejected.
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct OkxSigner;

#[pymethods]
impl OkxSigner {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        let signer = keyswap::sign::HmacSigner::okx();
        signer_auth(signer, "OkxSigner()".into()).add_subclass(OkxSigner)
    }
}

/// Bybit v5 (``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``, ``X-BAPI-RECV-WINDOW``,
/// ``X-BAPI-SIGN``).
///
/// Every attempt signs ``timestamp + key + recvWindow + payload`` (payload: the query for
/// ``GET``, the JSON body otherwise: send it with ``json=``) with hex HMAC-SHA256.
///
/// ``recv_window``: milliseconds, 1 to 3600000 (default 5000). Rejections (HTTP 200 or 401 with a JSON
/// ``retCode``): 10002 means a timestamp rejection; 10003/10004/10007/33004 mean the key pair
/// was rejected.
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct BybitSigner {
    recv_window: u64,
}

#[pymethods]
impl BybitSigner {
    #[new]
    #[pyo3(signature = (recv_window=None))]
    fn new(recv_window: Option<Bound<'_, PyAny>>) -> PyResult<PyClassInitializer<Self>> {
        let signer = with_recv_window(keyswap::sign::HmacSigner::bybit(), recv_window)?;
        let ms = signer.recv_window().unwrap_or_default();
        let repr = format!("BybitSigner(recv_window={ms})");
        Ok(signer_auth(signer, repr).add_subclass(BybitSigner { recv_window: ms }))
    }

    /// The receive window in milliseconds.
    #[getter]
    fn recv_window(&self) -> u64 {
        self.recv_window
    }
}

const PART_NAMES: &[(&str, &str)] = &[
    ("timestamp", "the timestamp as sent"),
    ("method", "the method, upper case"),
    ("path", "the URL path"),
    (
        "query",
        "the query without '?', as sent, without the signature",
    ),
    (
        "path_and_query",
        "the path, plus '?query' when there is one",
    ),
    ("body", "the body's bytes"),
    ("query_or_body", "the query for GET, the body otherwise"),
    ("key", "the credential's key"),
];

fn part(item: &Bound<'_, PyAny>) -> PyResult<(Part, String)> {
    let bad = || {
        let names: Vec<String> = PART_NAMES.iter().map(|(n, _)| format!("{n:?}")).collect();
        config_error(format!(
            "parts: each part is one of {} or (\"literal\", text)",
            names.join(", ")
        ))
    };
    if let Ok(s) = item.cast::<PyString>() {
        let name = s.to_cow()?.to_ascii_lowercase();
        let p = match name.as_str() {
            "timestamp" => Part::Timestamp,
            "method" => Part::Method,
            "path" => Part::Path,
            "query" => Part::Query,
            "path_and_query" => Part::PathAndQuery,
            "body" => Part::Body,
            "query_or_body" => Part::QueryOrBody,
            "key" => Part::Key,
            _ => return Err(bad()),
        };
        return Ok((p, format!("{name:?}")));
    }
    if let Ok(t) = item.cast::<PyTuple>() {
        if t.len() == 2 {
            let kind: String = t.get_item(0)?.extract().map_err(|_| bad())?;
            let text: String = t.get_item(1)?.extract().map_err(|_| bad())?;
            if kind == "literal" {
                let shown = format!("(\"literal\", {text:?})");
                return Ok((Part::Literal(text), shown));
            }
        }
    }
    Err(bad())
}

/// Where the key, timestamp or signature goes: the header or the query parameter argument.
/// The header has a default; naming a query parameter replaces it, naming both is an error;
/// `None` for both means "not sent".
fn placement(
    what: &str,
    header: Option<String>,
    query: Option<String>,
    default_header: &str,
) -> PyResult<Option<Result<HeaderName, String>>> {
    match (header, query) {
        (Some(h), Some(_)) if !h.eq_ignore_ascii_case(default_header) => Err(config_error(
            format!("pass {what}_header or {what}_query, not both"),
        )),
        (_, Some(q)) => Ok(Some(Err(non_empty(&format!("{what}_query"), q)?))),
        (Some(h), None) => Ok(Some(Ok(header_name(&format!("{what}_header"), &h)?))),
        (None, None) => Ok(None),
    }
}

fn shown(p: &Option<Result<HeaderName, String>>, what: &str) -> String {
    match p {
        Some(Ok(h)) => format!("{what}_header={:?}", h.as_str()),
        Some(Err(q)) => format!("{what}_query={q:?}"),
        None => format!("{what}_header=None"),
    }
}

/// A configurable HMAC signer for APIs without a dedicated signer.
///
/// The signed text is ``parts`` concatenated: names from ``"timestamp"``, ``"method"``,
/// ``"path"``, ``"query"`` (the query as sent, with the signer's own parameters, without the
/// signature), ``"path_and_query"``, ``"body"``, ``"query_or_body"`` (query for GET, body
/// otherwise), ``"key"``, and ``("literal", text)`` for separators or fixed text.
///
/// ``hash``: ``"sha256"`` | ``"sha512"``; ``encoding`` (of the signature): ``"hex"`` |
/// ``"base64"``; ``secret_encoding``: ``"raw"`` (the secret's UTF-8 bytes) | ``"base64"``;
/// ``timestamp``: ``"ms"`` | ``"s"`` | ``"iso"`` (``2020-12-08T09:08:57.715Z``).
///
/// Placement: the key goes in ``key_header`` (default ``X-API-KEY``) or ``key_query``; the
/// timestamp in ``timestamp_header`` (default ``X-TIMESTAMP``) or ``timestamp_query``; the
/// signature in ``signature_header`` (default ``X-SIGNATURE``) or ``signature_query``
/// (appended last). Naming a query parameter replaces the default header; ``key_header=None``
/// (``timestamp_header=None``) without a query parameter sends no key (timestamp), which can
/// still be signed. ``passphrase_header`` sends the credential's passphrase. ``headers`` and
/// ``params`` are fixed headers and query parameters added to every signed request (the
/// parameters before the timestamp, so ``"query"`` covers them).
///
/// ``credential_statuses`` (default ``[401]``) are the statuses that mean the key pair was
/// rejected. ``time_endpoint=(path, json_pointer, unit)`` names the API's server-time endpoint
/// (``unit``: ``"s"``, ``"ms"``, ``"us"``, ``"ns"``), e.g.
/// ``("/api/v3/time", "/serverTime", "ms")``; the clock is learned from it.
#[pyclass(extends = Auth, frozen, module = "keyswap")]
pub struct HmacSigner {
    name: String,
}

#[pymethods]
impl HmacSigner {
    #[new]
    #[pyo3(signature = (name="hmac".to_owned(), *, parts=None, hash="sha256", encoding="hex",
        secret_encoding="raw", timestamp="ms", key_header=Some("X-API-KEY".to_owned()),
        key_query=None, timestamp_header=Some("X-TIMESTAMP".to_owned()), timestamp_query=None,
        signature_header=Some("X-SIGNATURE".to_owned()), signature_query=None,
        passphrase_header=None, headers=None, params=None, credential_statuses=None,
        time_endpoint=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: String,
        parts: Option<Bound<'_, PyAny>>,
        hash: &str,
        encoding: &str,
        secret_encoding: &str,
        timestamp: &str,
        key_header: Option<String>,
        key_query: Option<String>,
        timestamp_header: Option<String>,
        timestamp_query: Option<String>,
        signature_header: Option<String>,
        signature_query: Option<String>,
        passphrase_header: Option<String>,
        headers: Option<Bound<'_, PyAny>>,
        params: Option<Bound<'_, PyAny>>,
        credential_statuses: Option<Bound<'_, PyAny>>,
        time_endpoint: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let name = non_empty("name", name)?;
        let mut signer = keyswap::sign::HmacSigner::new(name.clone());
        let mut repr = vec![format!("{name:?}")];

        if let Some(parts) = parts.filter(|p| !p.is_none()) {
            if parts.cast::<PyString>().is_ok() {
                return Err(config_error("parts must be a list of parts, not a str"));
            }
            let mut list = Vec::new();
            let mut shown = Vec::new();
            for item in parts
                .try_iter()
                .map_err(|_| config_error("parts must be a list of parts"))?
            {
                let (p, s) = part(&item?)?;
                list.push(p);
                shown.push(s);
            }
            if list.is_empty() {
                return Err(config_error("parts is empty"));
            }
            repr.push(format!("parts=[{}]", shown.join(", ")));
            signer = signer.parts(list);
        } else {
            repr.push("parts=[\"timestamp\", \"method\", \"path_and_query\", \"body\"]".to_owned());
        }

        let h = choice(
            "hash",
            hash,
            &[
                ("sha256", (HashAlg::Sha256, "sha256")),
                ("sha512", (HashAlg::Sha512, "sha512")),
            ],
        )?;
        signer = signer.hash(h.0);
        repr.push(format!("hash={:?}", h.1));
        let e = choice(
            "encoding",
            encoding,
            &[
                ("hex", (SigEncoding::Hex, "hex")),
                ("base64", (SigEncoding::Base64, "base64")),
            ],
        )?;
        signer = signer.encoding(e.0);
        repr.push(format!("encoding={:?}", e.1));
        let se = choice(
            "secret_encoding",
            secret_encoding,
            &[
                ("raw", (SecretEncoding::Raw, "raw")),
                ("base64", (SecretEncoding::Base64, "base64")),
            ],
        )?;
        signer = signer.secret_encoding(se.0);
        repr.push(format!("secret_encoding={:?}", se.1));
        let tf = choice(
            "timestamp",
            timestamp,
            &[
                ("ms", (TimestampFormat::UnixMillis, "ms")),
                ("s", (TimestampFormat::UnixSeconds, "s")),
                ("iso", (TimestampFormat::Iso8601Millis, "iso")),
            ],
        )?;
        signer = signer.timestamp_format(tf.0);
        repr.push(format!("timestamp={:?}", tf.1));

        let key = placement("key", key_header, key_query, "x-api-key")?;
        repr.push(shown(&key, "key"));
        signer = match key {
            Some(Ok(h)) => signer.key_header(h),
            Some(Err(q)) => signer.key_query(q),
            None => signer.no_key(),
        };
        let ts = placement(
            "timestamp",
            timestamp_header,
            timestamp_query,
            "x-timestamp",
        )?;
        repr.push(shown(&ts, "timestamp"));
        signer = match ts {
            Some(Ok(h)) => signer.timestamp_header(h),
            Some(Err(q)) => signer.timestamp_query(q),
            None => signer.no_timestamp(),
        };
        let sig = placement(
            "signature",
            signature_header,
            signature_query,
            "x-signature",
        )?;
        repr.push(shown(&sig, "signature"));
        signer = match sig {
            Some(Ok(h)) => signer.signature_header(h),
            Some(Err(q)) => signer.signature_query(q),
            None => {
                return Err(config_error(
                    "the signature needs a place: pass signature_header or signature_query",
                ));
            }
        };
        if let Some(p) = passphrase_header {
            let h = header_name("passphrase_header", &p)?;
            repr.push(format!("passphrase_header={:?}", h.as_str()));
            signer = signer.passphrase_header(h);
        }

        // Fixed headers and parameters: configuration, but shown by name only.
        let fixed = convert::headers(headers.as_ref())?;
        if !fixed.is_empty() {
            let names: Vec<String> = fixed.keys().map(|k| format!("{:?}", k.as_str())).collect();
            repr.push(format!("headers=[{}]", names.join(", ")));
        }
        for (k, v) in &fixed {
            signer = signer.header(k.clone(), HeaderValue::clone(v));
        }
        let fixed = convert::params(params.as_ref(), "params")?;
        if !fixed.is_empty() {
            let names: Vec<String> = fixed.iter().map(|(k, _)| format!("{k:?}")).collect();
            repr.push(format!("params=[{}]", names.join(", ")));
        }
        for (k, v) in fixed {
            signer = signer.query_param(k, v);
        }

        if let Some(statuses) = credential_statuses.filter(|s| !s.is_none()) {
            let mut codes = Vec::new();
            for s in statuses
                .try_iter()
                .map_err(|_| config_error("credential_statuses must be a list of HTTP statuses"))?
            {
                let code = int_in("credential_statuses", &s?, 100, 599)?;
                codes.push(
                    StatusCode::from_u16(code as u16)
                        .map_err(|_| config_error("credential_statuses: not an HTTP status"))?,
                );
            }
            let shown: Vec<String> = codes.iter().map(|c| c.as_u16().to_string()).collect();
            repr.push(format!("credential_statuses=[{}]", shown.join(", ")));
            signer = signer.credential_statuses(codes);
        }

        if let Some(ep) = time_endpoint.filter(|e| !e.is_none()) {
            let bad = || {
                config_error(
                    "time_endpoint must be (path, json_pointer, unit) with unit \"s\", \"ms\", \
                     \"us\" or \"ns\"",
                )
            };
            let (path, pointer, unit): (String, String, String) =
                ep.extract().map_err(|_| bad())?;
            if !path.starts_with('/') || !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(config_error(
                    "time_endpoint: the path starts with '/', the JSON pointer is \"\" or starts \
                     with '/'",
                ));
            }
            let unit = choice(
                "time_endpoint unit",
                &unit,
                &[
                    ("s", TimeUnit::Seconds),
                    ("ms", TimeUnit::Millis),
                    ("us", TimeUnit::Micros),
                    ("ns", TimeUnit::Nanos),
                ],
            )?;
            let shown_unit = match unit {
                TimeUnit::Seconds => "s",
                TimeUnit::Millis => "ms",
                TimeUnit::Micros => "us",
                _ => "ns",
            };
            repr.push(format!(
                "time_endpoint=({path:?}, {pointer:?}, {shown_unit:?})"
            ));
            signer = signer.with_time_endpoint(TimeEndpoint {
                path: intern(&path),
                pointer: intern(&pointer),
                unit,
            });
        }

        let repr = format!("HmacSigner({})", repr.join(", "));
        Ok(signer_auth(signer, repr).add_subclass(HmacSigner { name }))
    }

    /// The signer's name (in errors).
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }
}

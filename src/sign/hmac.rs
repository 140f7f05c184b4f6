//! [`HmacSigner`]: a configurable HMAC request signer for exchanges (and other APIs) not
//! covered by a dedicated signer.

use base64::Engine as _;
use http::{HeaderName, HeaderValue, Method, StatusCode};

use super::{Rejection, SignContext, SignError, SignErrorKind, Signer, TimeEndpoint, util};
use crate::Credential;

/// The hash function of the HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashAlg {
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How the signature bytes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigEncoding {
    /// Lower-case hexadecimal.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// How the credential's secret becomes the HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretEncoding {
    /// The secret's UTF-8 bytes.
    Raw,
    /// The secret is standard base64: the decoded bytes.
    Base64,
}

/// How the timestamp is written (in its header or parameter and in the signed text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampFormat {
    /// Whole seconds since the UNIX epoch.
    UnixSeconds,
    /// Milliseconds since the UNIX epoch.
    UnixMillis,
    /// ISO 8601 UTC with milliseconds: `2020-12-08T09:08:57.715Z`.
    Iso8601Millis,
}

/// One piece of the text that is signed; the pieces are concatenated with nothing between
/// them (use [`Part::Literal`] for separators).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The timestamp, as sent.
    Timestamp,
    /// The HTTP method, upper case (`GET`).
    Method,
    /// The URL path (`/api/v5/account/balance`).
    Path,
    /// The query string without `?`, as sent: with the signer's own parameters (timestamp,
    /// key, fixed parameters) but without the signature.
    Query,
    /// The path, plus `?` and the query when there is one.
    PathAndQuery,
    /// The request body's bytes (empty without a body).
    Body,
    /// The query for `GET`, the body for other methods (Bybit's rule).
    QueryOrBody,
    /// The credential's key.
    Key,
    /// Fixed text (a separator such as `"\n"`, a receive window such as `"5000"`).
    Literal(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Placement {
    Header(HeaderName),
    Query(String),
}

/// A configurable HMAC signer: what is signed ([`Part`]s), with which hash, encoded how, and
/// where key, timestamp, signature and passphrase go.
///
/// Defaults of [`HmacSigner::new`]: parts `Timestamp, Method, PathAndQuery, Body`; HMAC-SHA256;
/// hex; the secret's raw bytes; UNIX milliseconds; key in `X-API-KEY`, timestamp in
/// `X-TIMESTAMP`, signature in `X-SIGNATURE`; no passphrase; HTTP 401 means a rejected
/// credential; no server-time endpoint. Parameters the signer puts in the query (key,
/// timestamp, signature, fixed parameters) are replaced, not duplicated, when a request is
/// signed again; names and values given for the query are percent-encoded by the signer.
///
/// ```
/// use keyswap::reqwest::header::HeaderName;
/// use keyswap::sign::{HmacSigner, Part, SigEncoding, TimestampFormat};
///
/// // OKX's scheme, spelled out.
/// let okx_like = HmacSigner::new("okx-like")
///     .parts([Part::Timestamp, Part::Method, Part::PathAndQuery, Part::Body])
///     .encoding(SigEncoding::Base64)
///     .timestamp_format(TimestampFormat::Iso8601Millis)
///     .key_header(HeaderName::from_static("ok-access-key"))
///     .signature_header(HeaderName::from_static("ok-access-sign"))
///     .timestamp_header(HeaderName::from_static("ok-access-timestamp"))
///     .passphrase_header(HeaderName::from_static("ok-access-passphrase"));
/// # let _ = okx_like;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacSigner {
    name: String,
    parts: Vec<Part>,
    hash: HashAlg,
    encoding: SigEncoding,
    secret_encoding: SecretEncoding,
    timestamp_format: TimestampFormat,
    key: Option<Placement>,
    timestamp: Option<Placement>,
    signature: Placement,
    passphrase_header: Option<HeaderName>,
    headers: Vec<(HeaderName, HeaderValue)>,
    query: Vec<(String, String)>,
    credential_statuses: Vec<StatusCode>,
    time_endpoint: Option<TimeEndpoint>,
}

impl Default for HmacSigner {
    fn default() -> Self {
        HmacSigner::new("hmac")
    }
}

impl HmacSigner {
    /// A signer named `name` (in errors and logs) with the defaults above.
    pub fn new(name: impl Into<String>) -> Self {
        HmacSigner {
            name: name.into(),
            parts: vec![
                Part::Timestamp,
                Part::Method,
                Part::PathAndQuery,
                Part::Body,
            ],
            hash: HashAlg::Sha256,
            encoding: SigEncoding::Hex,
            secret_encoding: SecretEncoding::Raw,
            timestamp_format: TimestampFormat::UnixMillis,
            key: Some(Placement::Header(HeaderName::from_static("x-api-key"))),
            timestamp: Some(Placement::Header(HeaderName::from_static("x-timestamp"))),
            signature: Placement::Header(HeaderName::from_static("x-signature")),
            passphrase_header: None,
            headers: Vec::new(),
            query: Vec::new(),
            credential_statuses: vec![StatusCode::UNAUTHORIZED],
            time_endpoint: None,
        }
    }

    /// What is signed, in order.
    pub fn parts(mut self, parts: impl IntoIterator<Item = Part>) -> Self {
        self.parts = parts.into_iter().collect();
        self
    }

    /// The HMAC's hash function.
    pub fn hash(mut self, hash: HashAlg) -> Self {
        self.hash = hash;
        self
    }

    /// How the signature is written.
    pub fn encoding(mut self, encoding: SigEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// How the secret becomes the HMAC key.
    pub fn secret_encoding(mut self, encoding: SecretEncoding) -> Self {
        self.secret_encoding = encoding;
        self
    }

    /// How the timestamp is written.
    pub fn timestamp_format(mut self, format: TimestampFormat) -> Self {
        self.timestamp_format = format;
        self
    }

    /// Sends the key in this header.
    pub fn key_header(mut self, name: HeaderName) -> Self {
        self.key = Some(Placement::Header(name));
        self
    }

    /// Sends the key as this query parameter.
    pub fn key_query(mut self, name: impl Into<String>) -> Self {
        self.key = Some(Placement::Query(name.into()));
        self
    }

    /// Does not send the key (it may still be signed with [`Part::Key`]).
    pub fn no_key(mut self) -> Self {
        self.key = None;
        self
    }

    /// Sends the timestamp in this header.
    pub fn timestamp_header(mut self, name: HeaderName) -> Self {
        self.timestamp = Some(Placement::Header(name));
        self
    }

    /// Sends the timestamp as this query parameter (added before the signature is computed).
    pub fn timestamp_query(mut self, name: impl Into<String>) -> Self {
        self.timestamp = Some(Placement::Query(name.into()));
        self
    }

    /// Does not send the timestamp (it may still be signed with [`Part::Timestamp`]).
    pub fn no_timestamp(mut self) -> Self {
        self.timestamp = None;
        self
    }

    /// Sends the signature in this header.
    pub fn signature_header(mut self, name: HeaderName) -> Self {
        self.signature = Placement::Header(name);
        self
    }

    /// Appends the signature as this query parameter (last).
    pub fn signature_query(mut self, name: impl Into<String>) -> Self {
        self.signature = Placement::Query(name.into());
        self
    }

    /// Sends the credential's passphrase in this header; signing then fails for a credential
    /// without one.
    pub fn passphrase_header(mut self, name: HeaderName) -> Self {
        self.passphrase_header = Some(name);
        self
    }

    /// Adds a fixed header to every signed request (`X-BAPI-SIGN-TYPE: 2`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds a fixed query parameter to every signed request, before the timestamp
    /// (`recvWindow=5000`).
    pub fn query_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// The statuses that mean [`Rejection::Credential`] (default: 401).
    pub fn credential_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.credential_statuses = statuses.into_iter().collect();
        self
    }

    /// The API's server-time endpoint.
    pub fn with_time_endpoint(mut self, endpoint: TimeEndpoint) -> Self {
        self.time_endpoint = Some(endpoint);
        self
    }

    fn err(&self, kind: SignErrorKind) -> SignError {
        SignError::new(self.name.clone(), kind)
    }

    fn format_timestamp(&self, ms: i64) -> String {
        match self.timestamp_format {
            TimestampFormat::UnixSeconds => ms.div_euclid(1_000).to_string(),
            TimestampFormat::UnixMillis => ms.to_string(),
            TimestampFormat::Iso8601Millis => util::iso8601_millis(ms),
        }
    }

    /// Signs with a given time (UNIX ms): what [`Signer::sign`] does with the clock's time.
    pub fn sign_at(
        &self,
        req: &mut reqwest::Request,
        cred: &Credential,
        timestamp_ms: i64,
    ) -> Result<(), SignError> {
        let name = self.name.as_str();
        let secret = util::secret(cred, name)?;
        let hmac_key = match self.secret_encoding {
            SecretEncoding::Raw => secret.as_bytes().to_vec(),
            SecretEncoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(secret.trim())
                .map_err(|_| self.err(SignErrorKind::InvalidSecret("valid base64")))?,
        };
        let passphrase = match &self.passphrase_header {
            Some(_) => Some(util::sensitive_value(
                util::passphrase(cred, name)?,
                name,
                "the passphrase is not a valid header value",
            )?),
            None => None,
        };
        let key_text = cred.expose_key();
        let key_header =
            util::sensitive_value(key_text, name, "the key is not a valid header value")?;
        util::body_bytes(req, name)?;
        let timestamp = self.format_timestamp(timestamp_ms);

        // The query: ours removed, then fixed parameters, key and timestamp appended.
        let mut ours: Vec<String> = self.query.iter().map(|(n, _)| encode(n)).collect();
        for placement in [
            self.key.as_ref(),
            self.timestamp.as_ref(),
            Some(&self.signature),
        ]
        .into_iter()
        .flatten()
        {
            if let Placement::Query(n) = placement {
                ours.push(encode(n));
            }
        }
        let ours: Vec<&str> = ours.iter().map(String::as_str).collect();
        let mut query = util::strip_params(req.url().query().unwrap_or(""), &ours);
        for (n, v) in &self.query {
            util::push_param(&mut query, &encode(n), &encode(v));
        }
        if let Some(Placement::Query(n)) = &self.key {
            util::push_param(&mut query, &encode(n), &encode(key_text));
        }
        if let Some(Placement::Query(n)) = &self.timestamp {
            util::push_param(&mut query, &encode(n), &encode(&timestamp));
        }
        let mut query = util::set_query(req, &query);

        let body = util::body_bytes(req, name)?;
        let url = req.url();
        let path_and_query = if query.is_empty() {
            url.path().to_owned()
        } else {
            format!("{}?{query}", url.path())
        };
        let pieces: Vec<&[u8]> = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Timestamp => timestamp.as_bytes(),
                Part::Method => req.method().as_str().as_bytes(),
                Part::Path => url.path().as_bytes(),
                Part::Query => query.as_bytes(),
                Part::PathAndQuery => path_and_query.as_bytes(),
                Part::Body => body,
                Part::QueryOrBody if req.method() == Method::GET => query.as_bytes(),
                Part::QueryOrBody => body,
                Part::Key => key_text.as_bytes(),
                Part::Literal(text) => text.as_bytes(),
            })
            .collect();
        let mac = match self.hash {
            HashAlg::Sha256 => util::hmac_sha256(&hmac_key, &pieces),
            HashAlg::Sha512 => util::hmac_sha512(&hmac_key, &pieces),
        };
        let signature = match self.encoding {
            SigEncoding::Hex => hex::encode(mac),
            SigEncoding::Base64 => util::base64(&mac),
        };

        match &self.signature {
            Placement::Query(n) => {
                util::push_param(&mut query, &encode(n), &encode(&signature));
                util::set_query(req, &query);
            }
            Placement::Header(h) => {
                let value = util::sensitive_value(&signature, name, "the signature is not valid")?;
                req.headers_mut().insert(h.clone(), value);
            }
        }
        if let Some(Placement::Header(h)) = &self.timestamp {
            let value = util::plain_value(&timestamp, name)?;
            req.headers_mut().insert(h.clone(), value);
        }
        let headers = req.headers_mut();
        if let Some(Placement::Header(h)) = &self.key {
            headers.insert(h.clone(), key_header);
        }
        if let (Some(h), Some(value)) = (&self.passphrase_header, passphrase) {
            headers.insert(h.clone(), value);
        }
        for (h, v) in &self.headers {
            headers.insert(h.clone(), v.clone());
        }
        Ok(())
    }
}

/// Percent-encodes a query name or value (form rules, as `url` would).
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl Signer for HmacSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn sign(
        &self,
        req: &mut reqwest::Request,
        cred: &Credential,
        ctx: &SignContext<'_>,
    ) -> Result<(), SignError> {
        self.sign_at(req, cred, ctx.clock.now_ms())
    }

    fn classify(
        &self,
        status: StatusCode,
        _headers: &http::HeaderMap,
        _body: Option<&[u8]>,
    ) -> Rejection {
        if self.credential_statuses.contains(&status) {
            Rejection::Credential
        } else {
            Rejection::None
        }
    }

    fn time_endpoint(&self) -> Option<TimeEndpoint> {
        self.time_endpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::testutil::*;
    use crate::sign::{BinanceSigner, BybitSigner, OkxSigner, TimeUnit};

    fn bybit_via_hmac() -> HmacSigner {
        HmacSigner::new("bybit-generic")
            .parts([
                Part::Timestamp,
                Part::Key,
                Part::Literal("5000".into()),
                Part::QueryOrBody,
            ])
            .key_header(HeaderName::from_static("x-bapi-api-key"))
            .timestamp_header(HeaderName::from_static("x-bapi-timestamp"))
            .signature_header(HeaderName::from_static("x-bapi-sign"))
            .header(
                HeaderName::from_static("x-bapi-recv-window"),
                HeaderValue::from_static("5000"),
            )
            .header(
                HeaderName::from_static("x-bapi-sign-type"),
                HeaderValue::from_static("2"),
            )
    }

    fn same_headers(a: &reqwest::Request, b: &reqwest::Request) {
        assert_eq!(a.headers().len(), b.headers().len());
        for (name, value) in a.headers() {
            assert_eq!(b.headers().get(name), Some(value), "{name}");
        }
        assert_eq!(a.url(), b.url());
    }

    #[test]
    fn reconstructs_bybit() {
        let fx = Fixture::at(1_658_384_314_791);
        let cred = Credential::new("XXXXXXXXXX").with_secret("bybit-secret");
        for (method, url, body) in [
            (
                "GET",
                "https://api.bybit.com/v5/order/realtime?category=option&symbol=BTC",
                None,
            ),
            (
                "POST",
                "https://api.bybit.com/v5/order/create",
                Some(r#"{"category":"spot"}"#),
            ),
        ] {
            let mut a = request(method, url, body);
            let mut b = request(method, url, body);
            BybitSigner::new()
                .sign(&mut a, &cred, &fx.ctx())
                .expect("bybit");
            bybit_via_hmac()
                .sign(&mut b, &cred, &fx.ctx())
                .expect("generic");
            same_headers(&a, &b);
        }
    }

    #[test]
    fn reconstructs_okx() {
        let fx = Fixture::at(1_607_418_537_715);
        let cred = Credential::new("k").with_secret("s").with_passphrase("p");
        let generic = HmacSigner::new("okx-generic")
            .encoding(SigEncoding::Base64)
            .timestamp_format(TimestampFormat::Iso8601Millis)
            .key_header(HeaderName::from_static("ok-access-key"))
            .signature_header(HeaderName::from_static("ok-access-sign"))
            .timestamp_header(HeaderName::from_static("ok-access-timestamp"))
            .passphrase_header(HeaderName::from_static("ok-access-passphrase"));
        for (method, url, body) in [
            (
                "GET",
                "https://www.okx.com/api/v5/account/balance?ccy=BTC",
                None,
            ),
            (
                "POST",
                "https://www.okx.com/api/v5/trade/order",
                Some(r#"{"instId":"BTC-USDT"}"#),
            ),
        ] {
            let mut a = request(method, url, body);
            let mut b = request(method, url, body);
            OkxSigner::new()
                .sign(&mut a, &cred, &fx.ctx())
                .expect("okx");
            generic.sign(&mut b, &cred, &fx.ctx()).expect("generic");
            same_headers(&a, &b);
        }
        let e = generic
            .sign(
                &mut request("GET", "https://x/", None),
                &Credential::new("k").with_secret("s"),
                &fx.ctx(),
            )
            .expect_err("no passphrase");
        assert_eq!(
            e.to_string(),
            "okx-generic: the credential has no passphrase"
        );
    }

    #[test]
    fn reconstructs_binance_query_signing_and_stays_idempotent() {
        let fx = Fixture::at(1_499_827_319_559);
        let cred =
            Credential::new("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A")
                .with_secret("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j");
        let generic = HmacSigner::new("binance-generic")
            .parts([Part::Query, Part::Body])
            .key_header(HeaderName::from_static("x-mbx-apikey"))
            .query_param("recvWindow", "5000")
            .timestamp_query("timestamp")
            .signature_query("signature");
        let url = "https://api.binance.com/api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1";
        let mut a = request("POST", url, None);
        let mut b = request("POST", url, None);
        BinanceSigner::new()
            .sign(&mut a, &cred, &fx.ctx())
            .expect("binance");
        generic.sign(&mut b, &cred, &fx.ctx()).expect("generic");
        same_headers(&a, &b);
        assert!(b.url().query().expect("q").ends_with(
            "signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        ));
        // Again, later: a new signature, no duplicated parameters.
        fx.time.advance_ms(1);
        generic.sign(&mut b, &cred, &fx.ctx()).expect("generic");
        let q = b.url().query().expect("q");
        for name in ["recvWindow=", "timestamp=", "signature=", "symbol="] {
            assert_eq!(q.matches(name).count(), 1, "{name} in {q}");
        }
        assert!(q.contains("timestamp=1499827319560"));
        assert!(!q.contains("c8db56825ae71d6d"));
    }

    #[test]
    fn sha512_base64_secret_seconds_and_key_in_query() {
        use ::hmac::{Hmac, Mac};
        let secret_bytes = b"\x00\x01binary-secret\xff";
        let secret = base64::engine::general_purpose::STANDARD.encode(secret_bytes);
        let cred = Credential::new("my key&x").with_secret(secret.clone());
        let signer = HmacSigner::new("custom")
            .parts([
                Part::Method,
                Part::Literal("\n".into()),
                Part::Path,
                Part::Literal("\n".into()),
                Part::Timestamp,
            ])
            .hash(HashAlg::Sha512)
            .encoding(SigEncoding::Base64)
            .secret_encoding(SecretEncoding::Base64)
            .timestamp_format(TimestampFormat::UnixSeconds)
            .key_query("apikey")
            .no_timestamp()
            .credential_statuses([StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN])
            .with_time_endpoint(TimeEndpoint {
                path: "/time",
                pointer: "/t",
                unit: TimeUnit::Seconds,
            });
        let mut req = request("DELETE", "https://api.example.com/v1/orders/7?x=1", None);
        signer
            .sign_at(&mut req, &cred, 1_700_000_000_999)
            .expect("sign");
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(secret_bytes).expect("hmac");
        mac.update(b"DELETE\n/v1/orders/7\n1700000000");
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(header(&req, "X-SIGNATURE"), expected);
        assert_eq!(req.url().query(), Some("x=1&apikey=my+key%26x"));
        assert!(req.headers().get("x-timestamp").is_none());
        assert!(req.headers().get("x-api-key").is_none());
        assert_eq!(
            signer.classify(StatusCode::FORBIDDEN, &json_headers(), None),
            Rejection::Credential
        );
        assert_eq!(
            signer.classify(StatusCode::BAD_REQUEST, &json_headers(), None),
            Rejection::None
        );
        assert_eq!(signer.time_endpoint().map(|e| e.path), Some("/time"));
        // Signing again does not duplicate the key parameter.
        signer
            .sign_at(&mut req, &cred, 1_700_000_001_000)
            .expect("sign");
        assert_eq!(req.url().query(), Some("x=1&apikey=my+key%26x"));
        assert_ne!(header(&req, "X-SIGNATURE"), expected);
    }

    #[test]
    fn defaults_and_signing_twice() {
        use ::hmac::{Hmac, Mac};
        let fx = Fixture::at(1_000);
        let cred = Credential::new("key").with_secret("secret");
        let signer = HmacSigner::default();
        assert_eq!(signer.name(), "hmac");
        let mut req = request("PUT", "https://h/p?a=b", Some("body"));
        signer.sign(&mut req, &cred, &fx.ctx()).expect("sign");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"secret").expect("hmac");
        mac.update(b"1000PUT/p?a=bbody");
        assert_eq!(
            header(&req, "X-SIGNATURE"),
            hex::encode(mac.finalize().into_bytes())
        );
        assert_eq!(header(&req, "X-TIMESTAMP"), "1000");
        assert_eq!(header(&req, "X-API-KEY"), "key");
        let first = header(&req, "X-SIGNATURE").to_owned();
        fx.time.advance_ms(1);
        signer.sign(&mut req, &cred, &fx.ctx()).expect("sign");
        assert_ne!(header(&req, "X-SIGNATURE"), first);
        assert_eq!(req.headers().get_all("x-signature").iter().count(), 1);
        assert_eq!(req.url().query(), Some("a=b"));
    }

    #[test]
    fn errors_never_show_secrets() {
        let signer = HmacSigner::new("generic").secret_encoding(SecretEncoding::Base64);
        let url = "https://h/p";
        let e = signer
            .sign_at(&mut request("GET", url, None), &Credential::new("key-1"), 0)
            .expect_err("no secret");
        assert_eq!(e.to_string(), "generic: the credential has no secret");
        assert_no_leak(&e, &["key-1"]);
        let bad = "%%%not-base64%%%";
        let e = signer
            .sign_at(
                &mut request("GET", url, None),
                &Credential::new("key-1").with_secret(bad),
                0,
            )
            .expect_err("bad secret");
        assert_eq!(e.to_string(), "generic: the secret is not valid base64");
        assert_no_leak(&e, &["key-1", bad]);
        let e = HmacSigner::new("generic")
            .sign_at(
                &mut streaming_request(url),
                &Credential::new("key-1").with_secret("s3cr3t"),
                0,
            )
            .expect_err("stream");
        assert_no_leak(&e, &["key-1", "s3cr3t"]);
    }
}

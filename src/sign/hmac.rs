//! [`HmacSigner`]: the one HMAC signing engine. It runs a recipe (what is signed, encoded how,
//! sent where; see [`recipe`](super::recipe)) and a rejection table ([`Rejections`]); the
//! exchange presets ([`HmacSigner::binance`], …) are such recipes.

use base64::Engine as _;
use http::{HeaderName, HeaderValue, Method, StatusCode};

use super::error::{SignError, SignErrorKind};
use super::recipe::{HashAlg, Part, SecretEncoding, SigEncoding, TimestampFormat};
use super::recipe::{Placement, RecvWindow};
use super::rejections::Rejections;
use super::signer::{Rejection, SignContext, Signer};
use super::time_endpoint::TimeEndpoint;
use super::util;
use crate::Credential;
use crate::error::{Error, Result};

/// A configurable HMAC signer: what is signed ([`Part`]s), with which hash, encoded how, and
/// where key, timestamp, signature and passphrase go.
///
/// Defaults of [`HmacSigner::new`]: parts `Timestamp, Method, PathAndQuery, Body`; HMAC-SHA256;
/// hex; the secret's raw bytes; UNIX milliseconds; key in `X-API-KEY`, timestamp in
/// `X-TIMESTAMP`, signature in `X-SIGNATURE`; no passphrase; no receive window; HTTP 401
/// means a rejected credential ([`Rejections::new`]); no server-time endpoint. Parameters the
/// signer puts in the query (key, timestamp, receive window, signature, fixed parameters) are
/// replaced, not duplicated, when a request is signed again; names and values given for the
/// query are percent-encoded by the signer.
///
/// The exchange presets are recipes of this engine: [`binance`](HmacSigner::binance),
/// [`bybit`](HmacSigner::bybit), [`okx`](HmacSigner::okx).
///
/// ```
/// use keyswap::reqwest::header::HeaderName;
/// use keyswap::sign::{HmacSigner, Part, SigEncoding, TimestampFormat};
///
/// // OKX's scheme spelled out (HmacSigner::okx() is this, plus OKX's rejection codes and
/// // time endpoint).
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
    recv_window: Option<RecvWindow>,
    passphrase_header: Option<HeaderName>,
    headers: Vec<(HeaderName, HeaderValue)>,
    query: Vec<(String, String)>,
    rejections: Rejections,
    time_endpoint: Option<TimeEndpoint>,
}

impl Default for HmacSigner {
    fn default() -> Self {
        HmacSigner::new("hmac")
    }
}

impl HmacSigner {
    /// The receive window sent by default where a recipe sends one (Binance's and Bybit's
    /// own default), in milliseconds.
    pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;

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
            recv_window: None,
            passphrase_header: None,
            headers: Vec::new(),
            query: Vec::new(),
            rejections: Rejections::new(),
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

    /// Sends a receive window of [`DEFAULT_RECV_WINDOW_MS`](Self::DEFAULT_RECV_WINDOW_MS) in
    /// this header (change it with [`recv_window_ms`](Self::recv_window_ms); sign it with
    /// [`Part::RecvWindow`]).
    pub fn recv_window_header(self, name: HeaderName) -> Self {
        self.sends_recv_window(Placement::Header(name), u64::MAX)
    }

    /// Sends a receive window of [`DEFAULT_RECV_WINDOW_MS`](Self::DEFAULT_RECV_WINDOW_MS) as
    /// this query parameter, after the fixed parameters and before the key and timestamp.
    pub fn recv_window_query(self, name: impl Into<String>) -> Self {
        self.sends_recv_window(Placement::Query(name.into()), u64::MAX)
    }

    /// Sends this receive window (milliseconds) where the recipe puts one. Errors
    /// ([`Error::is_builder`]) name `recv_window` and the range the API accepts: 1 to 60000 for
    /// [`binance`](Self::binance), 1 to 3600000 for [`bybit`](Self::bybit); and a recipe
    /// without a receive window takes none.
    ///
    /// ```
    /// use keyswap::sign::HmacSigner;
    /// let signer = HmacSigner::binance().recv_window_ms(10_000)?;
    /// assert_eq!(signer.recv_window(), Some(10_000));
    /// let err = HmacSigner::binance().recv_window_ms(60_001).unwrap_err();
    /// assert!(err.is_builder() && err.to_string().contains("recv_window must be from 1 to 60000"));
    /// # Ok::<(), keyswap::Error>(())
    /// ```
    pub fn recv_window_ms(mut self, ms: u64) -> Result<Self> {
        let Some(window) = self.recv_window.as_mut() else {
            return Err(Error::builder(format!(
                "recv_window: the {} signer sends no receive window",
                self.name
            )));
        };
        if !(1..=window.max_ms).contains(&ms) {
            return Err(Error::builder(format!(
                "recv_window must be from 1 to {} milliseconds ({})",
                window.max_ms, self.name
            )));
        }
        window.ms = Some(ms);
        Ok(self)
    }

    /// Sends no receive window (the API then applies its own default; one the caller put in
    /// the query is left alone); [`Part::RecvWindow`] signs nothing.
    pub fn without_recv_window(mut self) -> Self {
        if let Some(window) = self.recv_window.as_mut() {
            window.ms = None;
        }
        self
    }

    /// The receive window sent, in milliseconds (`None`: none).
    pub fn recv_window(&self) -> Option<u64> {
        self.recv_window.as_ref().and_then(|w| w.ms)
    }

    /// Sends a receive window (the default, until [`recv_window_ms`](Self::recv_window_ms))
    /// at `placement`; the API accepts at most `max_ms`.
    pub(super) fn sends_recv_window(mut self, placement: Placement, max_ms: u64) -> Self {
        self.recv_window = Some(RecvWindow {
            placement,
            ms: Some(Self::DEFAULT_RECV_WINDOW_MS),
            max_ms,
        });
        self
    }

    /// The statuses that mean [`Rejection::Credential`] (default: 401); see
    /// [`Rejections::credential_statuses`].
    pub fn credential_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.rejections = self.rejections.credential_statuses(statuses);
        self
    }

    /// How the API reports rejections: statuses, and error codes in the body.
    pub fn rejections(mut self, table: Rejections) -> Self {
        self.rejections = table;
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

        let window = self
            .recv_window
            .as_ref()
            .and_then(|w| w.ms.map(|ms| (&w.placement, ms.to_string())));

        // The query: ours removed, then fixed parameters, receive window, key and timestamp
        // appended.
        let mut ours: Vec<String> = self.query.iter().map(|(n, _)| encode(n)).collect();
        for placement in [
            window.as_ref().map(|(p, _)| *p),
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
        if let Some((Placement::Query(n), ms)) = &window {
            util::push_param(&mut query, &encode(n), ms);
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
                Part::RecvWindow => window.as_ref().map_or(&[][..], |(_, ms)| ms.as_bytes()),
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
        if let Some((Placement::Header(h), ms)) = &window {
            let value = util::plain_value(ms, name)?;
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

    fn needs_body(&self, status: StatusCode, headers: &http::HeaderMap) -> bool {
        self.rejections.needs_body(status, headers)
    }

    fn classify(
        &self,
        status: StatusCode,
        _headers: &http::HeaderMap,
        body: Option<&[u8]>,
    ) -> Rejection {
        self.rejections.classify(status, body)
    }

    fn time_endpoint(&self) -> Option<TimeEndpoint> {
        self.time_endpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::TimeUnit;
    use crate::sign::testutil::*;

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
        fx.advance_ms(1);
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

    #[test]
    fn receive_window_in_a_header_or_the_query_is_sent_signed_and_replaced() {
        use ::hmac::{Hmac, Mac};
        let cred = Credential::new("k").with_secret("s");
        let header_window = HmacSigner::new("h")
            .parts([Part::Timestamp, Part::RecvWindow, Part::Path])
            .recv_window_header(HeaderName::from_static("x-window"))
            .recv_window_ms(7_000)
            .expect("in range");
        let mut req = request("GET", "https://h/p", None);
        header_window.sign_at(&mut req, &cred, 42).expect("sign");
        assert_eq!(header(&req, "X-WINDOW"), "7000");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s").expect("hmac");
        mac.update(b"427000/p");
        assert_eq!(
            header(&req, "X-SIGNATURE"),
            hex::encode(mac.finalize().into_bytes())
        );
        // Without a window: nothing sent, nothing signed for it.
        let mut req = request("GET", "https://h/p", None);
        header_window
            .clone()
            .without_recv_window()
            .sign_at(&mut req, &cred, 42)
            .expect("sign");
        assert!(req.headers().get("x-window").is_none());
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s").expect("hmac");
        mac.update(b"42/p");
        assert_eq!(
            header(&req, "X-SIGNATURE"),
            hex::encode(mac.finalize().into_bytes())
        );

        let query_window = HmacSigner::new("q")
            .parts([Part::Query])
            .query_param("a", "1")
            .timestamp_query("ts")
            .recv_window_query("window");
        assert_eq!(query_window.recv_window(), Some(5_000));
        let mut req = request("GET", "https://h/p?window=9&x=2", None);
        query_window.sign_at(&mut req, &cred, 42).expect("sign");
        query_window.sign_at(&mut req, &cred, 43).expect("again");
        assert_eq!(req.url().query(), Some("x=2&a=1&window=5000&ts=43"));
    }

    #[test]
    fn receive_window_errors_name_the_parameter_and_the_range() {
        let e = HmacSigner::new("plain").recv_window_ms(5_000).unwrap_err();
        assert!(e.is_builder());
        assert_eq!(
            e.to_string(),
            "recv_window: the plain signer sends no receive window"
        );
        let e = HmacSigner::new("w")
            .recv_window_query("rw")
            .recv_window_ms(0)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "recv_window must be from 1 to {} milliseconds (w)",
                u64::MAX
            )
        );
    }

    #[test]
    fn the_rejection_table_classifies_bodies() {
        let signer = HmacSigner::new("t").rejections(
            Rejections::new()
                .codes_at("/err", [StatusCode::OK])
                .code(3, Rejection::Nonce),
        );
        assert!(signer.needs_body(StatusCode::OK, &json_headers()));
        assert_eq!(
            signer.classify(StatusCode::OK, &json_headers(), Some(br#"{"err":3}"#)),
            Rejection::Nonce
        );
        assert_eq!(
            signer.classify(StatusCode::UNAUTHORIZED, &json_headers(), None),
            Rejection::Credential
        );
    }
}

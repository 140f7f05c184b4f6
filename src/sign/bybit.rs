//! Bybit v5 (`api.bybit.com/v5/*`) HMAC-SHA256 signing.
//!
//! <https://bybit-exchange.github.io/docs/v5/guide#authentication>

use http::{HeaderName, HeaderValue, Method, StatusCode};

use super::{Rejection, SignContext, SignError, Signer, TimeEndpoint, TimeUnit, util};
use crate::Credential;

const NAME: &str = "bybit";
const KEY_HEADER: HeaderName = HeaderName::from_static("x-bapi-api-key");
const TIMESTAMP_HEADER: HeaderName = HeaderName::from_static("x-bapi-timestamp");
const RECV_WINDOW_HEADER: HeaderName = HeaderName::from_static("x-bapi-recv-window");
const SIGN_HEADER: HeaderName = HeaderName::from_static("x-bapi-sign");
const SIGN_TYPE_HEADER: HeaderName = HeaderName::from_static("x-bapi-sign-type");

/// Bybit v5 private endpoints (HMAC keys; RSA keys are not supported).
///
/// Each attempt sends `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP` (server milliseconds from the
/// clock), `X-BAPI-RECV-WINDOW` (default
/// [`DEFAULT_RECV_WINDOW_MS`](BybitSigner::DEFAULT_RECV_WINDOW_MS)), `X-BAPI-SIGN-TYPE: 2` and
/// `X-BAPI-SIGN = hex(HMAC-SHA256(secret, timestamp ++ key ++ recvWindow ++ payload))`, where
/// `payload` is the query string for `GET` and the raw (JSON) body for other methods.
///
/// Rejections: Bybit answers most errors with HTTP 200 and a JSON `retCode`, and some
/// authentication failures with HTTP 401, so 200 and 401 JSON (or untyped) bodies are read.
/// `retCode` 10002 (request time outside the `recv_window`) → [`Rejection::Timestamp`]; 10003
/// (invalid key), 10004 (signature error), 10007 (user authentication failed), 33004 and
/// -2015 (key expired) → [`Rejection::Credential`]; a 401 without one of these codes →
/// Credential. Server time: `GET /v5/market/time` → `{"time": ms}`.
/// Codes: <https://bybit-exchange.github.io/docs/v5/error>.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BybitSigner {
    recv_window_ms: u64,
}

impl Default for BybitSigner {
    fn default() -> Self {
        BybitSigner::new()
    }
}

impl BybitSigner {
    /// Bybit's own default receive window, in milliseconds.
    pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;

    /// A signer with a 5000 ms receive window.
    pub fn new() -> Self {
        BybitSigner {
            recv_window_ms: Self::DEFAULT_RECV_WINDOW_MS,
        }
    }

    /// Uses this receive window (milliseconds).
    pub fn recv_window_ms(mut self, ms: u64) -> Self {
        self.recv_window_ms = ms;
        self
    }

    /// The `X-BAPI-SIGN` value for these parts.
    pub fn signature(
        secret: &str,
        timestamp_ms: i64,
        key: &str,
        recv_window_ms: u64,
        payload: &[u8],
    ) -> String {
        hex::encode(util::hmac_sha256(
            secret.as_bytes(),
            &[
                timestamp_ms.to_string().as_bytes(),
                key.as_bytes(),
                recv_window_ms.to_string().as_bytes(),
                payload,
            ],
        ))
    }

    /// Signs with a given timestamp (UNIX ms): what [`Signer::sign`] does with the clock's
    /// time.
    pub fn sign_at(
        &self,
        req: &mut reqwest::Request,
        cred: &Credential,
        timestamp_ms: i64,
    ) -> Result<(), SignError> {
        let secret = util::secret(cred, NAME)?;
        let key_text = cred.expose_key();
        let key = util::sensitive_value(key_text, NAME, "the key is not a valid header value")?;
        let body = util::body_bytes(req, NAME)?;
        let payload = if req.method() == Method::GET {
            req.url().query().unwrap_or("").as_bytes()
        } else {
            body
        };
        let signature =
            Self::signature(secret, timestamp_ms, key_text, self.recv_window_ms, payload);
        let signature = util::sensitive_value(&signature, NAME, "the signature is not valid")?;
        let timestamp = util::plain_value(&timestamp_ms.to_string(), NAME)?;
        let window = util::plain_value(&self.recv_window_ms.to_string(), NAME)?;
        let headers = req.headers_mut();
        headers.insert(KEY_HEADER, key);
        headers.insert(TIMESTAMP_HEADER, timestamp);
        headers.insert(RECV_WINDOW_HEADER, window);
        headers.insert(SIGN_HEADER, signature);
        headers.insert(SIGN_TYPE_HEADER, HeaderValue::from_static("2"));
        Ok(())
    }
}

impl Signer for BybitSigner {
    fn name(&self) -> &str {
        NAME
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
        (status == StatusCode::OK || status == StatusCode::UNAUTHORIZED)
            && util::json_or_untyped(headers)
    }

    fn classify(
        &self,
        status: StatusCode,
        _headers: &http::HeaderMap,
        body: Option<&[u8]>,
    ) -> Rejection {
        match body.and_then(|b| util::json_code(b, "/retCode")) {
            Some(10002) => Rejection::Timestamp,
            Some(10003 | 10004 | 10007 | 33004 | -2015) => Rejection::Credential,
            _ => super::classify_status(status),
        }
    }

    fn time_endpoint(&self) -> Option<TimeEndpoint> {
        Some(TimeEndpoint {
            path: "/v5/market/time",
            pointer: "/time",
            unit: TimeUnit::Millis,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::testutil::*;
    use crate::sign::{SignErrorKind, Signer};
    use ::hmac::{Hmac, Mac};
    use sha2::Sha256;

    const KEY: &str = "XXXXXXXXXX";
    const SECRET: &str = "bybit-secret-0123456789";
    const TS: i64 = 1_658_384_314_791;

    fn cred() -> Credential {
        Credential::new(KEY).with_secret(SECRET)
    }

    fn expected(plain: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac");
        mac.update(plain.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn get_signs_the_documented_plain_text() {
        // The docs' GET example plain text: timestamp + api_key + recv_window + queryString.
        let mut req = request(
            "GET",
            "https://api.bybit.com/v5/order/realtime?category=option&symbol=BTC-29JUL22-25000-C",
            None,
        );
        BybitSigner::new()
            .sign_at(&mut req, &cred(), TS)
            .expect("sign");
        assert_eq!(
            header(&req, "X-BAPI-SIGN"),
            expected("1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C")
        );
        assert_eq!(header(&req, "X-BAPI-API-KEY"), KEY);
        assert_eq!(header(&req, "X-BAPI-TIMESTAMP"), "1658384314791");
        assert_eq!(header(&req, "X-BAPI-RECV-WINDOW"), "5000");
        assert_eq!(header(&req, "X-BAPI-SIGN-TYPE"), "2");
        assert_eq!(header(&req, "X-BAPI-SIGN").len(), 64);
        assert!(
            header(&req, "X-BAPI-SIGN")
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn post_signs_the_raw_body() {
        let json = r#"{"category":"option","symbol":"BTC-29JUL22-25000-C","orderType":"Limit","side":"Sell","qty":"0.01","price":"3.15"}"#;
        let mut req = request("POST", "https://api.bybit.com/v5/order/create", Some(json));
        BybitSigner::new()
            .recv_window_ms(20_000)
            .sign_at(&mut req, &cred(), 1_658_385_579_423)
            .expect("sign");
        assert_eq!(
            header(&req, "X-BAPI-SIGN"),
            expected(&format!("1658385579423XXXXXXXXXX20000{json}"))
        );
        assert_eq!(header(&req, "X-BAPI-RECV-WINDOW"), "20000");
        assert_eq!(body(&req), json);
    }

    #[test]
    fn signing_twice_uses_the_new_time_without_duplicates() {
        let fx = Fixture::at(TS);
        let signer = BybitSigner::new();
        let mut req = request(
            "GET",
            "https://api.bybit.com/v5/account/wallet-balance?accountType=UNIFIED",
            None,
        );
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        let first = header(&req, "X-BAPI-SIGN").to_owned();
        fx.time.advance_ms(1);
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        assert_eq!(header(&req, "X-BAPI-TIMESTAMP"), "1658384314792");
        assert_ne!(header(&req, "X-BAPI-SIGN"), first);
        for h in [
            "x-bapi-sign",
            "x-bapi-timestamp",
            "x-bapi-api-key",
            "x-bapi-recv-window",
            "x-bapi-sign-type",
        ] {
            assert_eq!(req.headers().get_all(h).iter().count(), 1, "{h}");
        }
        assert_eq!(req.url().query(), Some("accountType=UNIFIED"));
    }

    #[test]
    fn errors_never_show_secrets() {
        let signer = BybitSigner::new();
        let url = "https://api.bybit.com/v5/order/create";
        let e = signer
            .sign_at(&mut request("GET", url, None), &Credential::new(KEY), TS)
            .expect_err("no secret");
        assert_eq!(e.to_string(), "bybit: the credential has no secret");
        assert_no_leak(&e, &[KEY]);
        let e = signer
            .sign_at(&mut streaming_request(url), &cred(), TS)
            .expect_err("stream");
        assert_eq!(e.kind(), SignErrorKind::StreamingBody);
        assert_no_leak(&e, &[KEY, SECRET]);
    }

    #[test]
    fn classification() {
        let s = BybitSigner::new();
        let json = json_headers();
        assert!(s.needs_body(StatusCode::OK, &json));
        assert!(s.needs_body(StatusCode::UNAUTHORIZED, &http::HeaderMap::new()));
        assert!(!s.needs_body(StatusCode::FORBIDDEN, &json));
        let c = |status, body: &str| s.classify(status, &json, Some(body.as_bytes()));
        assert_eq!(
            c(
                StatusCode::OK,
                r#"{"retCode":10002,"retMsg":"invalid request, please check your server timestamp or recv_window param"}"#
            ),
            Rejection::Timestamp
        );
        assert_eq!(
            c(
                StatusCode::OK,
                r#"{"retCode":10003,"retMsg":"API key is invalid."}"#
            ),
            Rejection::Credential
        );
        assert_eq!(
            c(StatusCode::OK, r#"{"retCode":10004}"#),
            Rejection::Credential
        );
        assert_eq!(
            c(StatusCode::OK, r#"{"retCode":33004}"#),
            Rejection::Credential
        );
        assert_eq!(c(StatusCode::OK, r#"{"retCode":10006}"#), Rejection::None);
        assert_eq!(
            c(StatusCode::OK, r#"{"retCode":0,"result":{}}"#),
            Rejection::None
        );
        assert_eq!(c(StatusCode::UNAUTHORIZED, ""), Rejection::Credential);
        assert_eq!(
            c(StatusCode::UNAUTHORIZED, r#"{"retCode":10002}"#),
            Rejection::Timestamp
        );
        let ep = s.time_endpoint().expect("time");
        assert_eq!(
            ep.parse(br#"{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1688639403","timeNano":"1688639403423213947"},"retExtInfo":{},"time":1688639403423}"#),
            Some(1_688_639_403_423)
        );
    }
}

//! Binance spot (`api.binance.com`) HMAC-SHA256 signing.
//!
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security>

use http::{HeaderName, StatusCode};

use super::{Rejection, SignContext, SignError, Signer, TimeEndpoint, TimeUnit, util};
use crate::Credential;

const NAME: &str = "binance";
const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-mbx-apikey");

/// Binance `SIGNED` endpoints (spot `api/v3` and `sapi`; the futures APIs sign the same way).
///
/// Each attempt sends the key in `X-MBX-APIKEY`, appends `recvWindow` (default
/// [`DEFAULT_RECV_WINDOW_MS`](BinanceSigner::DEFAULT_RECV_WINDOW_MS)) and `timestamp` (server
/// milliseconds from the clock) to the query, and then
/// `signature = hex(HMAC-SHA256(secret, query ++ body))`, where `query` is the query string as
/// sent and `body` the form body (empty for `GET`). Signing again first removes the
/// `recvWindow`, `timestamp` and `signature` parameters it added.
///
/// Rejections: HTTP 401, or a body `code` of -2014 (bad key format), -2015 (invalid key, IP
/// or permissions) or -1022 (invalid signature) → [`Rejection::Credential`]; -1021 (timestamp
/// outside `recvWindow`) → [`Rejection::Timestamp`]. Bodies are read for 400 and 401 responses
/// that are JSON or untyped. Server time: `GET /api/v3/time` → `{"serverTime": ms}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinanceSigner {
    recv_window_ms: Option<u64>,
}

impl Default for BinanceSigner {
    fn default() -> Self {
        BinanceSigner::new()
    }
}

impl BinanceSigner {
    /// Binance's own default `recvWindow`, in milliseconds.
    pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;

    /// A signer sending `recvWindow=5000`.
    pub fn new() -> Self {
        BinanceSigner {
            recv_window_ms: Some(Self::DEFAULT_RECV_WINDOW_MS),
        }
    }

    /// Sends this `recvWindow` (milliseconds; Binance accepts up to 60000).
    pub fn recv_window_ms(mut self, ms: u64) -> Self {
        self.recv_window_ms = Some(ms);
        self
    }

    /// Sends no `recvWindow` (Binance then applies 5000); a `recvWindow` the caller put in the
    /// query is left alone.
    pub fn without_recv_window(mut self) -> Self {
        self.recv_window_ms = None;
        self
    }

    /// The signature: `hex(HMAC-SHA256(secret, query ++ body))`. `query` is the query string
    /// without `?` (including `timestamp`), `body` the form body, concatenated with no
    /// separator, as Binance's `totalParams`.
    pub fn signature(secret: &str, query: &str, body: &[u8]) -> String {
        hex::encode(util::hmac_sha256(
            secret.as_bytes(),
            &[query.as_bytes(), body],
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
        let key = util::sensitive_value(
            cred.expose_key(),
            NAME,
            "the key is not a valid header value",
        )?;
        // Fail on a streamed body before touching the request.
        util::body_bytes(req, NAME)?;

        let added: &[&str] = if self.recv_window_ms.is_some() {
            &["signature", "timestamp", "recvWindow"]
        } else {
            &["signature", "timestamp"]
        };
        let mut query = util::strip_params(req.url().query().unwrap_or(""), added);
        if let Some(window) = self.recv_window_ms {
            util::push_param(&mut query, "recvWindow", &window.to_string());
        }
        util::push_param(&mut query, "timestamp", &timestamp_ms.to_string());
        let mut query = util::set_query(req, &query);

        let signature = Self::signature(secret, &query, util::body_bytes(req, NAME)?);
        util::push_param(&mut query, "signature", &signature);
        util::set_query(req, &query);
        req.headers_mut().insert(API_KEY_HEADER, key);
        Ok(())
    }
}

impl Signer for BinanceSigner {
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
        (status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED)
            && util::json_or_untyped(headers)
    }

    fn classify(
        &self,
        status: StatusCode,
        _headers: &http::HeaderMap,
        body: Option<&[u8]>,
    ) -> Rejection {
        match body.and_then(|b| util::json_code(b, "/code")) {
            Some(-1021) => Rejection::Timestamp,
            Some(-1022 | -2014 | -2015) => Rejection::Credential,
            _ => super::classify_status(status),
        }
    }

    fn time_endpoint(&self) -> Option<TimeEndpoint> {
        Some(TimeEndpoint {
            path: "/api/v3/time",
            pointer: "/serverTime",
            unit: TimeUnit::Millis,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::testutil::*;
    use crate::sign::{HostTime, SignErrorKind, Signer};

    // The published example: https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security
    const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const TS: i64 = 1_499_827_319_559;

    fn cred() -> Credential {
        Credential::new(KEY).with_secret(SECRET)
    }

    #[test]
    fn published_query_string_vector_through_sign_at() {
        let mut req = request(
            "POST",
            "https://api.binance.com/api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1",
            None,
        );
        BinanceSigner::new()
            .sign_at(&mut req, &cred(), TS)
            .expect("sign");
        assert_eq!(
            req.url().query(),
            Some(
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1\
                 &recvWindow=5000&timestamp=1499827319559\
                 &signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
            )
        );
        assert_eq!(header(&req, "X-MBX-APIKEY"), KEY);
        assert!(req.headers()["x-mbx-apikey"].is_sensitive());
    }

    #[test]
    fn published_vectors_for_the_signing_core() {
        // Example 1: everything in the query string (or, identically, in the body).
        let all = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let expected = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        assert_eq!(BinanceSigner::signature(SECRET, all, b""), expected);
        assert_eq!(
            BinanceSigner::signature(SECRET, "", all.as_bytes()),
            expected
        );
        // Example 3: mixed query string and body, concatenated with no `&` between them.
        assert_eq!(
            BinanceSigner::signature(
                SECRET,
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
                b"quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
            ),
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
        );
    }

    #[test]
    fn body_is_signed_after_the_query() {
        let mut req = request(
            "POST",
            "https://api.binance.com/api/v3/order?symbol=LTCBTC",
            Some("quantity=1&price=0.1"),
        );
        BinanceSigner::new()
            .recv_window_ms(10_000)
            .sign_at(&mut req, &cred(), TS)
            .expect("sign");
        let query = req.url().query().expect("query");
        let (signed, sig) = query.split_once("&signature=").expect("signature");
        assert_eq!(
            signed,
            "symbol=LTCBTC&recvWindow=10000&timestamp=1499827319559"
        );
        assert_eq!(
            sig,
            BinanceSigner::signature(SECRET, signed, b"quantity=1&price=0.1")
        );
        assert_eq!(body(&req), "quantity=1&price=0.1");
    }

    #[test]
    fn signing_twice_replaces_params_and_uses_the_new_time() {
        let fx = Fixture::at(TS);
        let signer = BinanceSigner::new();
        let mut req = request(
            "GET",
            "https://api.binance.com/api/v3/account?omitZeroBalances=true",
            None,
        );
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        let first = req.url().query().expect("q").to_owned();
        fx.time.advance_ms(1);
        signer
            .sign(&mut req, &cred(), &fx.ctx())
            .expect("sign again");
        let second = req.url().query().expect("q").to_owned();
        assert_ne!(first, second);
        for name in [
            "timestamp=",
            "recvWindow=",
            "signature=",
            "omitZeroBalances=",
        ] {
            assert_eq!(second.matches(name).count(), 1, "{name} in {second}");
        }
        assert!(second.contains("timestamp=1499827319560"));
        // A clock offset shows in the timestamp.
        fx.clock.reset_to(
            TS + 10_000,
            HostTime::now(&fx.time),
            HostTime::now(&fx.time),
        );
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        assert!(
            req.url()
                .query()
                .expect("q")
                .contains("timestamp=1499827329559")
        );
    }

    #[test]
    fn without_recv_window_leaves_the_callers() {
        let mut req = request("GET", "https://x/api/v3/account?recvWindow=2000", None);
        BinanceSigner::new()
            .without_recv_window()
            .sign_at(&mut req, &cred(), TS)
            .expect("sign");
        let q = req.url().query().expect("q");
        assert!(
            q.starts_with("recvWindow=2000&timestamp=1499827319559&signature="),
            "{q}"
        );
    }

    #[test]
    fn errors_never_show_secrets() {
        let signer = BinanceSigner::new();
        let mut req = request("GET", "https://x/api/v3/account", None);
        let e = signer
            .sign_at(&mut req, &Credential::new(KEY), TS)
            .expect_err("no secret");
        assert_eq!(e.to_string(), "binance: the credential has no secret");
        assert_eq!(e.kind(), SignErrorKind::MissingSecret);
        assert_no_leak(&e, &[KEY]);
        let bad_key = "bad\nkey";
        let e = signer
            .sign_at(&mut req, &Credential::new(bad_key).with_secret(SECRET), TS)
            .expect_err("bad key");
        assert_no_leak(&e, &[bad_key, SECRET]);
        let mut stream = streaming_request("https://x/api/v3/order?a=1");
        let e = signer
            .sign_at(&mut stream, &cred(), TS)
            .expect_err("stream");
        assert_eq!(e.kind(), SignErrorKind::StreamingBody);
        assert_eq!(stream.url().query(), Some("a=1"), "request untouched");
        assert_no_leak(&e, &[KEY, SECRET]);
    }

    #[test]
    fn classification() {
        let s = BinanceSigner::new();
        let json = json_headers();
        assert!(s.needs_body(StatusCode::BAD_REQUEST, &json));
        assert!(s.needs_body(StatusCode::UNAUTHORIZED, &http::HeaderMap::new()));
        assert!(!s.needs_body(StatusCode::OK, &json));
        assert!(!s.needs_body(StatusCode::BAD_REQUEST, &html_headers()));
        let c = |status, body: &str| s.classify(status, &json, Some(body.as_bytes()));
        assert_eq!(
            c(
                StatusCode::BAD_REQUEST,
                r#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#
            ),
            Rejection::Timestamp
        );
        assert_eq!(
            c(StatusCode::BAD_REQUEST, r#"{"code":-1022}"#),
            Rejection::Credential
        );
        assert_eq!(
            c(StatusCode::UNAUTHORIZED, r#"{"code":-2015}"#),
            Rejection::Credential
        );
        assert_eq!(
            c(StatusCode::BAD_REQUEST, r#"{"code":-2014}"#),
            Rejection::Credential
        );
        assert_eq!(
            c(StatusCode::BAD_REQUEST, r#"{"code":-1121}"#),
            Rejection::None
        );
        assert_eq!(
            s.classify(StatusCode::UNAUTHORIZED, &json, None),
            Rejection::Credential
        );
        assert_eq!(s.classify(StatusCode::OK, &json, None), Rejection::None);
        let ep = s.time_endpoint().expect("time");
        assert_eq!(ep.path, "/api/v3/time");
        assert_eq!(ep.parse(br#"{"serverTime":1499827319559}"#), Some(TS));
    }
}

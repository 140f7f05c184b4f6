//! Bybit v5 (`api.bybit.com/v5/*`): the HMAC-SHA256 recipe.
//!
//! <https://bybit-exchange.github.io/docs/v5/guide#authentication>

use http::{HeaderName, HeaderValue, StatusCode};

use super::hmac::HmacSigner;
use super::recipe::Part;
use super::recipe::Placement;
use super::rejections::Rejections;
use super::signer::Rejection;
use super::time_endpoint::{TimeEndpoint, TimeUnit};

impl HmacSigner {
    /// The largest receive window the Bybit recipe sends, in milliseconds (one hour). Bybit
    /// documents no maximum (only the rule `server_time - recv_window <= timestamp <
    /// server_time + 1000`); this bound only catches a value in the wrong unit.
    pub const BYBIT_MAX_RECV_WINDOW_MS: u64 = 3_600_000;

    /// Bybit v5 private endpoints (HMAC keys; RSA keys are not supported), named `bybit`.
    ///
    /// Each attempt sends `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP` (server milliseconds from the
    /// clock), `X-BAPI-RECV-WINDOW` (default
    /// [`DEFAULT_RECV_WINDOW_MS`](HmacSigner::DEFAULT_RECV_WINDOW_MS), at most
    /// [`BYBIT_MAX_RECV_WINDOW_MS`](HmacSigner::BYBIT_MAX_RECV_WINDOW_MS), see
    /// [`recv_window_ms`](HmacSigner::recv_window_ms)), `X-BAPI-SIGN-TYPE: 2` and
    /// `X-BAPI-SIGN = hex(HMAC-SHA256(secret, timestamp ++ key ++ recvWindow ++ payload))`,
    /// where `payload` is the query string for `GET` and the raw (JSON) body for other methods.
    ///
    /// Rejections: Bybit answers most errors with HTTP 200 and a JSON `retCode`, and some
    /// authentication failures with HTTP 401, so 200 and 401 JSON (or untyped) bodies are read.
    /// `retCode` 10002 (request time outside the `recv_window`) → [`Rejection::Timestamp`];
    /// 10003 (invalid key), 10004 (signature error), 10007 (user authentication failed), 33004
    /// and -2015 (key expired) → [`Rejection::Credential`]; a 401 without one of these codes →
    /// Credential. Server time: `GET /v5/market/time` → `{"time": ms}`.
    /// Codes: <https://bybit-exchange.github.io/docs/v5/error>.
    pub fn bybit() -> HmacSigner {
        HmacSigner::new("bybit")
            .parts([
                Part::Timestamp,
                Part::Key,
                Part::RecvWindow,
                Part::QueryOrBody,
            ])
            .key_header(HeaderName::from_static("x-bapi-api-key"))
            .timestamp_header(HeaderName::from_static("x-bapi-timestamp"))
            .sends_recv_window(
                Placement::Header(HeaderName::from_static("x-bapi-recv-window")),
                Self::BYBIT_MAX_RECV_WINDOW_MS,
            )
            .signature_header(HeaderName::from_static("x-bapi-sign"))
            .header(
                HeaderName::from_static("x-bapi-sign-type"),
                HeaderValue::from_static("2"),
            )
            .rejections(
                Rejections::new()
                    .codes_at("/retCode", [StatusCode::OK, StatusCode::UNAUTHORIZED])
                    .code(10002, Rejection::Timestamp)
                    .code(10003, Rejection::Credential)
                    .code(10004, Rejection::Credential)
                    .code(10007, Rejection::Credential)
                    .code(33004, Rejection::Credential)
                    .code(-2015, Rejection::Credential),
            )
            .with_time_endpoint(TimeEndpoint {
                path: "/v5/market/time",
                pointer: "/time",
                unit: TimeUnit::Millis,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credential;
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
        HmacSigner::bybit()
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
        HmacSigner::bybit()
            .recv_window_ms(20_000)
            .expect("in range")
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
        let signer = HmacSigner::bybit();
        let mut req = request(
            "GET",
            "https://api.bybit.com/v5/account/wallet-balance?accountType=UNIFIED",
            None,
        );
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        let first = header(&req, "X-BAPI-SIGN").to_owned();
        fx.advance_ms(1);
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
        let signer = HmacSigner::bybit();
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
        let s = HmacSigner::bybit();
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

    #[test]
    fn recv_window_range_and_absence() {
        assert_eq!(
            HmacSigner::bybit()
                .recv_window_ms(3_600_000)
                .expect("ok")
                .recv_window(),
            Some(3_600_000)
        );
        for ms in [0, 3_600_001] {
            assert_eq!(
                HmacSigner::bybit()
                    .recv_window_ms(ms)
                    .unwrap_err()
                    .to_string(),
                "recv_window must be from 1 to 3600000 milliseconds (bybit)"
            );
        }
        // Without a window the header is not sent and the signed text has none (the docs'
        // "timestamp + key + (recv_window) + payload").
        let mut req = request("GET", "https://api.bybit.com/v5/account/info", None);
        HmacSigner::bybit()
            .without_recv_window()
            .sign_at(&mut req, &cred(), TS)
            .expect("sign");
        assert!(req.headers().get("x-bapi-recv-window").is_none());
        assert_eq!(
            header(&req, "X-BAPI-SIGN"),
            expected("1658384314791XXXXXXXXXX")
        );
    }
}

//! Binance spot (`api.binance.com`): the HMAC-SHA256 recipe.
//!
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security>

use http::{HeaderName, StatusCode};

use super::hmac::HmacSigner;
use super::recipe::Part;
use super::recipe::Placement;
use super::rejections::Rejections;
use super::signer::Rejection;
use super::time_endpoint::{TimeEndpoint, TimeUnit};

impl HmacSigner {
    /// The largest `recvWindow` Binance accepts, in milliseconds (error -1131 above it).
    pub const BINANCE_MAX_RECV_WINDOW_MS: u64 = 60_000;

    /// Binance `SIGNED` endpoints (spot `api/v3` and `sapi`; the futures APIs sign the same
    /// way), named `binance`.
    ///
    /// Each attempt sends the key in `X-MBX-APIKEY`, appends `recvWindow` (default
    /// [`DEFAULT_RECV_WINDOW_MS`](HmacSigner::DEFAULT_RECV_WINDOW_MS), at most
    /// [`BINANCE_MAX_RECV_WINDOW_MS`](HmacSigner::BINANCE_MAX_RECV_WINDOW_MS), see
    /// [`recv_window_ms`](HmacSigner::recv_window_ms)) and `timestamp` (server milliseconds
    /// from the clock) to the query, and then
    /// `signature = hex(HMAC-SHA256(secret, query ++ body))`, where `query` is the query string
    /// as sent and `body` the form body (empty for `GET`). Signing again first removes the
    /// `recvWindow`, `timestamp` and `signature` parameters it added;
    /// [`without_recv_window`](HmacSigner::without_recv_window) leaves a `recvWindow` the caller
    /// put in the query alone.
    ///
    /// Rejections: HTTP 401, or a body `code` of -2014 (bad key format), -2015 (invalid key,
    /// IP or permissions) or -1022 (invalid signature) → [`Rejection::Credential`]; -1021
    /// (timestamp outside `recvWindow`) → [`Rejection::Timestamp`]. Bodies are read for 400
    /// and 401 responses that are JSON or untyped. Server time: `GET /api/v3/time` →
    /// `{"serverTime": ms}`.
    ///
    /// ```
    /// use keyswap::{Auth, sign::HmacSigner};
    /// let auth = Auth::signer(HmacSigner::binance().recv_window_ms(10_000)?);
    /// # let _ = auth;
    /// # Ok::<(), keyswap::Error>(())
    /// ```
    pub fn binance() -> HmacSigner {
        HmacSigner::new("binance")
            .parts([Part::Query, Part::Body])
            .key_header(HeaderName::from_static("x-mbx-apikey"))
            .sends_recv_window(
                Placement::Query("recvWindow".into()),
                Self::BINANCE_MAX_RECV_WINDOW_MS,
            )
            .timestamp_query("timestamp")
            .signature_query("signature")
            .rejections(
                Rejections::new()
                    .codes_at("/code", [StatusCode::BAD_REQUEST, StatusCode::UNAUTHORIZED])
                    .code(-1021, Rejection::Timestamp)
                    .code(-1022, Rejection::Credential)
                    .code(-2014, Rejection::Credential)
                    .code(-2015, Rejection::Credential),
            )
            .with_time_endpoint(TimeEndpoint {
                path: "/api/v3/time",
                pointer: "/serverTime",
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
    use crate::time::TimeSource;
    use ::hmac::{Hmac, Mac};
    use sha2::Sha256;

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
        HmacSigner::binance()
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

    /// The signature the recipe computes for a request whose query and body already hold
    /// `recvWindow` and `timestamp` (the signer adds neither).
    fn signature_over(query: &str, body: &str) -> String {
        let url = format!("https://api.binance.com/api/v3/order?{query}");
        let mut req = request("POST", &url, Some(body));
        HmacSigner::binance()
            .without_recv_window()
            .no_timestamp()
            .sign_at(&mut req, &cred(), TS)
            .expect("sign");
        let q = req.url().query().expect("query").to_owned();
        let (signed, sig) = q.rsplit_once("signature=").expect("signature");
        assert_eq!(signed.trim_end_matches('&'), query);
        sig.to_owned()
    }

    #[test]
    fn published_vectors_for_the_body_and_the_mixed_case() {
        // Example 2: everything in the body.
        let all = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            signature_over("", all),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        // Example 3: mixed query string and body, concatenated with no `&` between them.
        assert_eq!(
            signature_over(
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
                "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
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
        HmacSigner::binance()
            .recv_window_ms(10_000)
            .expect("in range")
            .sign_at(&mut req, &cred(), TS)
            .expect("sign");
        let query = req.url().query().expect("query");
        let (signed, sig) = query.split_once("&signature=").expect("signature");
        assert_eq!(
            signed,
            "symbol=LTCBTC&recvWindow=10000&timestamp=1499827319559"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac");
        mac.update(format!("{signed}quantity=1&price=0.1").as_bytes());
        assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
        assert_eq!(body(&req), "quantity=1&price=0.1");
    }

    #[test]
    fn signing_twice_replaces_params_and_uses_the_new_time() {
        let fx = Fixture::at(TS);
        let signer = HmacSigner::binance();
        let mut req = request(
            "GET",
            "https://api.binance.com/api/v3/account?omitZeroBalances=true",
            None,
        );
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        let first = req.url().query().expect("q").to_owned();
        fx.advance_ms(1);
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
        fx.clock
            .reset_to(TS + 10_000, fx.time.system_time(), fx.time.system_time());
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
        HmacSigner::binance()
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
        let signer = HmacSigner::binance();
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
        let s = HmacSigner::binance();
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
        assert_eq!(s.name(), "binance");
        assert_eq!(ep.path, "/api/v3/time");
        assert_eq!(ep.parse(br#"{"serverTime":1499827319559}"#), Some(TS));
    }

    #[test]
    fn recv_window_range_is_binances() {
        for ms in [1, 60_000] {
            assert_eq!(
                HmacSigner::binance()
                    .recv_window_ms(ms)
                    .expect("ok")
                    .recv_window(),
                Some(ms)
            );
        }
        for ms in [0, 60_001] {
            let e = HmacSigner::binance().recv_window_ms(ms).unwrap_err();
            assert!(e.is_builder());
            assert_eq!(
                e.to_string(),
                "recv_window must be from 1 to 60000 milliseconds (binance)"
            );
        }
        assert_eq!(HmacSigner::binance().recv_window(), Some(5_000));
        assert_eq!(
            HmacSigner::binance().without_recv_window().recv_window(),
            None
        );
    }
}

//! OKX v5 REST (`www.okx.com/api/v5/*`): the HMAC-SHA256 recipe.
//!
//! <https://www.okx.com/docs-v5/en/#overview-rest-authentication-making-requests>

use http::{HeaderName, StatusCode};

use super::hmac::HmacSigner;
use super::recipe::{Part, SigEncoding, TimestampFormat};
use super::rejections::Rejections;
use super::signer::Rejection;
use super::time_endpoint::{TimeEndpoint, TimeUnit};

impl HmacSigner {
    /// OKX v5 private endpoints, named `okx`.
    ///
    /// Each attempt sends `OK-ACCESS-KEY`, `OK-ACCESS-PASSPHRASE` (the credential's passphrase:
    /// required), `OK-ACCESS-TIMESTAMP` (ISO 8601 UTC with milliseconds,
    /// `2020-12-08T09:08:57.715Z`, from the clock) and
    /// `OK-ACCESS-SIGN = base64(HMAC-SHA256(secret, timestamp ++ METHOD ++ requestPath ++ body))`,
    /// where `requestPath` is the path plus `?query` when there is a query, and `body` the JSON
    /// body as sent (empty for `GET`).
    ///
    /// Rejections (OKX answers all of these with HTTP 401 and a JSON `code`, so 401 bodies are
    /// read): 50102 (timestamp request expired) and 50112 (invalid `OK-ACCESS-TIMESTAMP`) →
    /// [`Rejection::Timestamp`]; 50111 (invalid `OK-ACCESS-KEY`), 50113 (invalid signature),
    /// 50105 (wrong passphrase), 50101 (key does not match the environment) and 50114 (invalid
    /// authorization) → [`Rejection::Credential`]; 50110 (IP not in the key's whitelist) →
    /// [`Rejection::None`] (a new key would not fix the caller's IP); any other 401 →
    /// Credential.
    ///
    /// Why 50113 is a credential rejection: OKX checks the timestamp first and reports a skewed
    /// clock as 50102/50112; the signature covers the timestamp the request itself carries, so
    /// a skewed clock cannot make it invalid. With this signer computing it, an invalid
    /// signature means the secret does not belong to the key: a rotated (or half-rotated)
    /// credential.
    ///
    /// Server time: `GET /api/v5/public/time` → `{"data": [{"ts": "ms"}]}`.
    pub fn okx() -> HmacSigner {
        HmacSigner::new("okx")
            .parts([
                Part::Timestamp,
                Part::Method,
                Part::PathAndQuery,
                Part::Body,
            ])
            .encoding(SigEncoding::Base64)
            .timestamp_format(TimestampFormat::Iso8601Millis)
            .key_header(HeaderName::from_static("ok-access-key"))
            .signature_header(HeaderName::from_static("ok-access-sign"))
            .timestamp_header(HeaderName::from_static("ok-access-timestamp"))
            .passphrase_header(HeaderName::from_static("ok-access-passphrase"))
            .rejections(
                Rejections::new()
                    .codes_at("/code", [StatusCode::UNAUTHORIZED])
                    .code(50102, Rejection::Timestamp)
                    .code(50112, Rejection::Timestamp)
                    .code(50101, Rejection::Credential)
                    .code(50105, Rejection::Credential)
                    .code(50111, Rejection::Credential)
                    .code(50113, Rejection::Credential)
                    .code(50114, Rejection::Credential)
                    .code(50110, Rejection::None),
            )
            .with_time_endpoint(TimeEndpoint {
                path: "/api/v5/public/time",
                pointer: "/data/0/ts",
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
    use base64::Engine as _;
    use sha2::Sha256;

    const KEY: &str = "37c541a1-okx-key";
    const SECRET: &str = "22582BD0CFF14C41EDBF1AB98506286D";
    const PASSPHRASE: &str = "pass-phrase-1";
    const TS: i64 = 1_607_418_537_715; // 2020-12-08T09:08:57.715Z, the docs' example time

    fn cred() -> Credential {
        Credential::new(KEY)
            .with_secret(SECRET)
            .with_passphrase(PASSPHRASE)
    }

    /// The documented pre-hash, computed independently of the signer.
    fn expected(prehash: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac");
        mac.update(prehash.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn get_with_query_matches_the_documented_prehash() {
        let mut req = request(
            "GET",
            "https://www.okx.com/api/v5/account/balance?ccy=BTC",
            None,
        );
        HmacSigner::okx()
            .sign_at(&mut req, &cred(), TS)
            .expect("sign");
        assert_eq!(
            header(&req, "OK-ACCESS-TIMESTAMP"),
            "2020-12-08T09:08:57.715Z"
        );
        assert_eq!(
            header(&req, "OK-ACCESS-SIGN"),
            expected("2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC")
        );
        assert_eq!(header(&req, "OK-ACCESS-KEY"), KEY);
        assert_eq!(header(&req, "OK-ACCESS-PASSPHRASE"), PASSPHRASE);
        assert!(req.headers()["ok-access-sign"].is_sensitive());
        assert!(req.headers()["ok-access-passphrase"].is_sensitive());
        // The signature is base64 of a 32-byte HMAC.
        let raw = base64::engine::general_purpose::STANDARD
            .decode(header(&req, "OK-ACCESS-SIGN"))
            .expect("base64");
        assert_eq!(raw.len(), 32);
    }

    #[test]
    fn post_signs_the_json_body() {
        let body_json = r#"{"instId":"BTC-USDT","lever":"5","mgnMode":"isolated"}"#;
        let mut req = request(
            "POST",
            "https://www.okx.com/api/v5/account/set-leverage",
            Some(body_json),
        );
        HmacSigner::okx()
            .sign_at(&mut req, &cred(), TS)
            .expect("sign");
        assert_eq!(
            header(&req, "OK-ACCESS-SIGN"),
            expected(&format!(
                "2020-12-08T09:08:57.715ZPOST/api/v5/account/set-leverage{body_json}"
            ))
        );
        assert_eq!(body(&req), body_json);
    }

    #[test]
    fn signing_twice_uses_the_new_time_without_duplicates() {
        let fx = Fixture::at(TS);
        let signer = HmacSigner::okx();
        let mut req = request("GET", "https://www.okx.com/api/v5/account/balance", None);
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        let first = header(&req, "OK-ACCESS-SIGN").to_owned();
        fx.advance_ms(1);
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        assert_eq!(
            header(&req, "OK-ACCESS-TIMESTAMP"),
            "2020-12-08T09:08:57.716Z"
        );
        assert_ne!(header(&req, "OK-ACCESS-SIGN"), first);
        for h in [
            "ok-access-sign",
            "ok-access-timestamp",
            "ok-access-key",
            "ok-access-passphrase",
        ] {
            assert_eq!(req.headers().get_all(h).iter().count(), 1, "{h}");
        }
        assert_eq!(req.url().query(), None);
    }

    #[test]
    fn errors_never_show_secrets() {
        let signer = HmacSigner::okx();
        let url = "https://www.okx.com/api/v5/account/balance";
        let e = signer
            .sign_at(
                &mut request("GET", url, None),
                &Credential::new(KEY).with_secret(SECRET),
                TS,
            )
            .expect_err("no passphrase");
        assert_eq!(e.to_string(), "okx: the credential has no passphrase");
        assert_eq!(e.kind(), SignErrorKind::MissingPassphrase);
        assert_no_leak(&e, &[KEY, SECRET]);
        let e = signer
            .sign_at(
                &mut request("GET", url, None),
                &Credential::new(KEY).with_passphrase(PASSPHRASE),
                TS,
            )
            .expect_err("no secret");
        assert_eq!(e.to_string(), "okx: the credential has no secret");
        assert_no_leak(&e, &[KEY, PASSPHRASE]);
        let bad_pass = "pass\r\nword";
        let e = signer
            .sign_at(
                &mut request("GET", url, None),
                &Credential::new(KEY)
                    .with_secret(SECRET)
                    .with_passphrase(bad_pass),
                TS,
            )
            .expect_err("bad passphrase");
        assert_no_leak(&e, &[KEY, SECRET, bad_pass]);
        let e = signer
            .sign_at(&mut streaming_request(url), &cred(), TS)
            .expect_err("stream");
        assert_no_leak(&e, &[KEY, SECRET, PASSPHRASE]);
    }

    #[test]
    fn classification() {
        let s = HmacSigner::okx();
        let json = json_headers();
        assert!(s.needs_body(StatusCode::UNAUTHORIZED, &json));
        assert!(!s.needs_body(StatusCode::OK, &json));
        let c = |body: &str| s.classify(StatusCode::UNAUTHORIZED, &json, Some(body.as_bytes()));
        assert_eq!(
            c(r#"{"msg":"Timestamp request expired","code":"50102"}"#),
            Rejection::Timestamp
        );
        assert_eq!(
            c(r#"{"msg":"Invalid OK-ACCESS-TIMESTAMP","code":"50112"}"#),
            Rejection::Timestamp
        );
        assert_eq!(
            c(r#"{"msg":"Invalid Sign","code":"50113"}"#),
            Rejection::Credential
        );
        assert_eq!(
            c(r#"{"msg":"Invalid OK-ACCESS-KEY","code":"50111"}"#),
            Rejection::Credential
        );
        assert_eq!(c(r#"{"code":"50105"}"#), Rejection::Credential);
        assert_eq!(c(r#"{"code":"50110"}"#), Rejection::None);
        assert_eq!(c("<html>"), Rejection::Credential);
        assert_eq!(
            s.classify(StatusCode::OK, &json, Some(br#"{"code":"0","data":[]}"#)),
            Rejection::None
        );
        let ep = s.time_endpoint().expect("time");
        assert_eq!(
            ep.parse(br#"{"code":"0","data":[{"ts":"1597026383085"}],"msg":""}"#),
            Some(1_597_026_383_085)
        );
    }
}

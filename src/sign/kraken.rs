//! Kraken spot REST (`api.kraken.com/0/private/*`) HMAC-SHA512 signing.
//!
//! <https://docs.kraken.com/api/docs/guides/spot-rest-auth>

use base64::Engine as _;
use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, StatusCode};
use sha2::{Digest as _, Sha256};

use super::error::{SignError, SignErrorKind};
use super::nonce::NonceUnit;
use super::signer::{Rejection, SignContext, Signer};
use super::time_endpoint::{TimeEndpoint, TimeUnit};
use super::util;
use crate::Credential;

const NAME: &str = "kraken";
const API_KEY_HEADER: HeaderName = HeaderName::from_static("api-key");
const API_SIGN_HEADER: HeaderName = HeaderName::from_static("api-sign");
const FORM: &str = "application/x-www-form-urlencoded";

/// Kraken spot private endpoints.
///
/// Each attempt takes a new nonce from the context's [`Nonces`](super::Nonces) and puts it in
/// the form body as `nonce=` (first; an existing `nonce` field is removed), sets
/// `Content-Type: application/x-www-form-urlencoded` when absent (a body of another type is
/// refused), and sends `API-Key` and
/// `API-Sign = base64(HMAC-SHA512(base64decode(secret), path ++ SHA256(nonce ++ body)))`,
/// where `path` is the URL path (`/0/private/AddOrder`).
///
/// The nonce unit defaults to [`NonceUnit::Millis`], the unit of Kraken's published example
/// (`1616492376594`); Kraken only requires an increasing 64-bit integer per key, so
/// [`nonce_unit`](KrakenSigner::nonce_unit) can switch to microseconds, but a key that has
/// seen microsecond nonces rejects millisecond ones from then on.
///
/// Rejections: Kraken answers errors with HTTP 200 and `{"error": ["EAPI:Invalid key"]}`, so
/// every 200 JSON (or untyped) response is read. `EAPI:Invalid key` and
/// `EAPI:Invalid signature` → [`Rejection::Credential`]; `EAPI:Invalid nonce` →
/// [`Rejection::Nonce`]; HTTP 401 → Credential. Server time: `GET /0/public/Time` →
/// `{"result": {"unixtime": seconds}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KrakenSigner {
    unit: NonceUnit,
}

impl Default for KrakenSigner {
    fn default() -> Self {
        KrakenSigner::new()
    }
}

impl KrakenSigner {
    /// A signer with millisecond nonces.
    pub fn new() -> Self {
        KrakenSigner {
            unit: NonceUnit::Millis,
        }
    }

    /// Uses nonces in this unit.
    pub fn nonce_unit(mut self, unit: NonceUnit) -> Self {
        self.unit = unit;
        self
    }

    /// The `API-Sign` value for a path, nonce and the complete form body (which contains
    /// `nonce=`), with the secret as Kraken issues it (base64).
    pub fn signature(
        secret_b64: &str,
        path: &str,
        nonce: u64,
        post_data: &[u8],
    ) -> Result<String, SignError> {
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_b64.trim())
            .map_err(|_| util::err(NAME, SignErrorKind::InvalidSecret("valid base64")))?;
        let mut inner = Sha256::new();
        inner.update(nonce.to_string().as_bytes());
        inner.update(post_data);
        let inner = inner.finalize();
        Ok(util::base64(&util::hmac_sha512(
            &secret,
            &[path.as_bytes(), inner.as_slice()],
        )))
    }

    /// Signs with a given nonce: what [`Signer::sign`] does with a nonce from the context.
    pub fn sign_with_nonce(
        &self,
        req: &mut reqwest::Request,
        cred: &Credential,
        nonce: u64,
    ) -> Result<(), SignError> {
        let secret = util::secret(cred, NAME)?;
        let key = util::sensitive_value(
            cred.expose_key(),
            NAME,
            "the key is not a valid header value",
        )?;
        if let Some(ct) = req.headers().get(CONTENT_TYPE) {
            let is_form = ct
                .to_str()
                .is_ok_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with(FORM));
            if !is_form {
                return Err(util::err(
                    NAME,
                    SignErrorKind::InvalidRequest(
                        "the body must be application/x-www-form-urlencoded",
                    ),
                ));
            }
        }
        let old = std::str::from_utf8(util::body_bytes(req, NAME)?).map_err(|_| {
            util::err(
                NAME,
                SignErrorKind::InvalidRequest("the form body is not UTF-8"),
            )
        })?;
        let rest = util::strip_params(old, &["nonce"]);
        let mut post_data = format!("nonce={nonce}");
        if !rest.is_empty() {
            post_data.push('&');
            post_data.push_str(&rest);
        }
        let signature = Self::signature(secret, req.url().path(), nonce, post_data.as_bytes())?;
        let signature = util::sensitive_value(&signature, NAME, "the signature is not valid")?;

        util::set_body(req, post_data.into_bytes());
        let headers = req.headers_mut();
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(FORM));
        }
        headers.insert(API_KEY_HEADER, key);
        headers.insert(API_SIGN_HEADER, signature);
        Ok(())
    }
}

impl Signer for KrakenSigner {
    fn name(&self) -> &str {
        NAME
    }

    fn sign(
        &self,
        req: &mut reqwest::Request,
        cred: &Credential,
        ctx: &SignContext<'_>,
    ) -> Result<(), SignError> {
        self.sign_with_nonce(req, cred, ctx.nonces.next(self.unit))
    }

    fn needs_body(&self, status: StatusCode, headers: &http::HeaderMap) -> bool {
        status == StatusCode::OK && util::json_or_untyped(headers)
    }

    fn classify(
        &self,
        status: StatusCode,
        _headers: &http::HeaderMap,
        body: Option<&[u8]>,
    ) -> Rejection {
        let errors = body
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .and_then(|v| v.get("error").cloned());
        if let Some(serde_json::Value::Array(errors)) = errors {
            for e in errors.iter().filter_map(|e| e.as_str()) {
                if e.starts_with("EAPI:Invalid key") || e.starts_with("EAPI:Invalid signature") {
                    return Rejection::Credential;
                }
                if e.starts_with("EAPI:Invalid nonce") {
                    return Rejection::Nonce;
                }
            }
        }
        super::classify_status(status)
    }

    fn time_endpoint(&self) -> Option<TimeEndpoint> {
        Some(TimeEndpoint {
            path: "/0/public/Time",
            pointer: "/result/unixtime",
            unit: TimeUnit::Seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::testutil::*;

    // The published example: https://docs.kraken.com/api/docs/guides/spot-rest-auth
    const SECRET: &str =
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
    const KEY: &str = "kraken-public-key";
    const NONCE: u64 = 1_616_492_376_594;
    const EXPECTED: &str =
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==";

    fn cred() -> Credential {
        Credential::new(KEY).with_secret(SECRET)
    }

    #[test]
    fn published_vector_core() {
        let sig = KrakenSigner::signature(
            SECRET,
            "/0/private/AddOrder",
            NONCE,
            b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25",
        )
        .expect("sign");
        assert_eq!(sig, EXPECTED);
    }

    #[test]
    fn published_vector_through_sign_with_nonce() {
        let mut req = request(
            "POST",
            "https://api.kraken.com/0/private/AddOrder",
            Some("ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"),
        );
        KrakenSigner::new()
            .sign_with_nonce(&mut req, &cred(), NONCE)
            .expect("sign");
        assert_eq!(
            body(&req),
            "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
        );
        assert_eq!(header(&req, "API-Sign"), EXPECTED);
        assert_eq!(header(&req, "API-Key"), KEY);
        assert_eq!(header(&req, "Content-Type"), FORM);
        // An existing nonce is replaced, wherever it was.
        let mut req = request(
            "POST",
            "https://api.kraken.com/0/private/AddOrder",
            Some("ordertype=limit&nonce=5&pair=XBTUSD&price=37500&type=buy&volume=1.25"),
        );
        KrakenSigner::new()
            .sign_with_nonce(&mut req, &cred(), NONCE)
            .expect("sign");
        assert_eq!(header(&req, "API-Sign"), EXPECTED);
    }

    #[test]
    fn signing_twice_uses_a_new_nonce_once() {
        let fx = Fixture::at(1_616_492_376_594);
        let signer = KrakenSigner::new();
        let mut req = request("POST", "https://api.kraken.com/0/private/Balance", None);
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        assert_eq!(body(&req), "nonce=1616492376594");
        let first = header(&req, "API-Sign").to_owned();
        // Same millisecond: the nonce still increases.
        signer.sign(&mut req, &cred(), &fx.ctx()).expect("sign");
        assert_eq!(body(&req), "nonce=1616492376595");
        assert_ne!(header(&req, "API-Sign"), first);
        assert_eq!(req.headers().get_all("API-Sign").iter().count(), 1);
        // Micros.
        let fx = Fixture::at(1_616_492_376_594);
        let mut req = request(
            "POST",
            "https://api.kraken.com/0/private/Balance",
            Some("asset=XBT"),
        );
        KrakenSigner::new()
            .nonce_unit(NonceUnit::Micros)
            .sign(&mut req, &cred(), &fx.ctx())
            .expect("sign");
        assert_eq!(body(&req), "nonce=1616492376594000&asset=XBT");
    }

    #[test]
    fn errors_never_show_secrets() {
        let signer = KrakenSigner::new();
        let url = "https://api.kraken.com/0/private/Balance";
        let e = signer
            .sign_with_nonce(&mut request("POST", url, None), &Credential::new(KEY), 1)
            .expect_err("no secret");
        assert_eq!(e.to_string(), "kraken: the credential has no secret");
        assert_no_leak(&e, &[KEY]);
        let not_b64 = "not*base64!secret";
        let e = signer
            .sign_with_nonce(
                &mut request("POST", url, None),
                &Credential::new(KEY).with_secret(not_b64),
                1,
            )
            .expect_err("bad secret");
        assert_eq!(e.to_string(), "kraken: the secret is not valid base64");
        assert_no_leak(&e, &[KEY, not_b64]);
        let mut json = request("POST", url, Some("{}"));
        json.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let e = signer
            .sign_with_nonce(&mut json, &cred(), 1)
            .expect_err("json");
        assert_no_leak(&e, &[KEY, SECRET]);
        let e = signer
            .sign_with_nonce(&mut streaming_request(url), &cred(), 1)
            .expect_err("stream");
        assert_eq!(e.kind(), SignErrorKind::StreamingBody);
        assert_no_leak(&e, &[KEY, SECRET]);
    }

    #[test]
    fn classification() {
        let s = KrakenSigner::new();
        let json = json_headers();
        assert!(s.needs_body(StatusCode::OK, &json));
        assert!(!s.needs_body(StatusCode::OK, &html_headers()));
        let c = |body: &str| s.classify(StatusCode::OK, &json, Some(body.as_bytes()));
        assert_eq!(
            c(r#"{"error":["EAPI:Invalid key"]}"#),
            Rejection::Credential
        );
        assert_eq!(
            c(r#"{"error":["EAPI:Invalid signature"]}"#),
            Rejection::Credential
        );
        assert_eq!(c(r#"{"error":["EAPI:Invalid nonce"]}"#), Rejection::Nonce);
        assert_eq!(
            c(r#"{"error":["EGeneral:Permission denied"]}"#),
            Rejection::None
        );
        assert_eq!(
            c(r#"{"error":[],"result":{"XXBT":"1.0"}}"#),
            Rejection::None
        );
        assert_eq!(c("garbage"), Rejection::None);
        assert_eq!(
            s.classify(StatusCode::UNAUTHORIZED, &json, None),
            Rejection::Credential
        );
        let ep = s.time_endpoint().expect("time");
        assert_eq!(
            ep.parse(br#"{"error":[],"result":{"unixtime":1616492376,"rfc1123":"Tue, 23 Mar 21 09:39:36 +0000"}}"#),
            Some(1_616_492_376_000)
        );
    }
}

//! Coinbase Advanced Trade (`api.coinbase.com/api/v3/brokerage/*`) ES256 JWT signing.
//!
//! <https://docs.cdp.coinbase.com/advanced-trade/docs/rest-api-auth>

use std::fmt;
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use http::header::AUTHORIZATION;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;

use super::error::{SignError, SignErrorKind};
use super::signer::{Rejection, SignContext, Signer};
use super::time_endpoint::{TimeEndpoint, TimeUnit};
use super::util;
use crate::Credential;
use crate::error::Error;

const NAME: &str = "coinbase";
const NOT_A_KEY: &str = "a PEM EC P-256 private key (SEC1 or PKCS#8)";

/// Coinbase Advanced Trade (Coinbase Developer Platform API keys, ECDSA/ES256).
///
/// Each attempt sends `Authorization: Bearer <jwt>`, a fresh JWT signed with ES256:
/// header `{"alg":"ES256","kid":<key name>,"nonce":<random hex>,"typ":"JWT"}`, claims
/// `{"sub":<key name>,"iss":"cdp","nbf":now,"exp":now+120,"uri":"<METHOD> <host><path>"}`
/// (`now` in seconds from the clock; the host carries `:port` only when the URL names a
/// non-default port; the query is not part of `uri`).
///
/// The credential's key is the key name (`organizations/{org}/apiKeys/{id}`), its secret the
/// PEM private key as Coinbase issues it (SEC1 `-----BEGIN EC PRIVATE KEY-----`, or PKCS#8
/// `-----BEGIN PRIVATE KEY-----`); newlines written as a literal `\n` (as in a JSON file) are
/// accepted. The parsed key is cached for the credential in use (by fingerprint), so a
/// rotation is picked up on the next request. Ed25519 keys are not supported.
///
/// Rejections: HTTP 401 → [`Rejection::Credential`] (an expired JWT also gets 401; with
/// the clock's offset applied and a 120 s lifetime this means a skew of minutes).
/// Server time: `GET /api/v3/brokerage/time` → `{"epochMillis": "ms"}`.
pub struct CoinbaseSigner {
    lifetime_secs: i64,
    cache: Mutex<Option<(u64, SigningKey)>>,
}

impl Default for CoinbaseSigner {
    fn default() -> Self {
        CoinbaseSigner::new()
    }
}

impl Clone for CoinbaseSigner {
    fn clone(&self) -> Self {
        CoinbaseSigner {
            lifetime_secs: self.lifetime_secs,
            cache: Mutex::new(None),
        }
    }
}

impl fmt::Debug for CoinbaseSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoinbaseSigner")
            .field("lifetime_secs", &self.lifetime_secs)
            .finish_non_exhaustive()
    }
}

impl CoinbaseSigner {
    /// Coinbase's JWT lifetime: 120 seconds.
    pub const DEFAULT_LIFETIME_SECS: i64 = 120;

    /// The longest JWT lifetime Coinbase accepts: 120 seconds.
    pub const MAX_LIFETIME_SECS: i64 = 120;

    /// A signer issuing JWTs valid for 120 seconds.
    pub fn new() -> Self {
        CoinbaseSigner {
            lifetime_secs: Self::DEFAULT_LIFETIME_SECS,
            cache: Mutex::new(None),
        }
    }

    /// Issues JWTs valid for this many seconds. Errors ([`Error::is_builder`]) name `lifetime`
    /// and the range: 1 to [`MAX_LIFETIME_SECS`](Self::MAX_LIFETIME_SECS).
    ///
    /// ```
    /// use keyswap::sign::CoinbaseSigner;
    /// assert_eq!(CoinbaseSigner::new().lifetime_secs(60)?.lifetime(), 60);
    /// let err = CoinbaseSigner::new().lifetime_secs(121).unwrap_err();
    /// assert_eq!(err.to_string(), "lifetime must be from 1 to 120 seconds (coinbase)");
    /// # Ok::<(), keyswap::Error>(())
    /// ```
    pub fn lifetime_secs(mut self, secs: i64) -> Result<Self, Error> {
        if !(1..=Self::MAX_LIFETIME_SECS).contains(&secs) {
            return Err(Error::builder(format!(
                "lifetime must be from 1 to {} seconds ({NAME})",
                Self::MAX_LIFETIME_SECS
            )));
        }
        self.lifetime_secs = secs;
        Ok(self)
    }

    /// The JWT lifetime in seconds.
    pub fn lifetime(&self) -> i64 {
        self.lifetime_secs
    }

    /// Parses a PEM EC P-256 private key (SEC1 or PKCS#8; literal `\n` accepted).
    pub fn parse_key(pem: &str) -> Result<SigningKey, SignError> {
        let normalized = pem.trim().replace("\\r\\n", "\n").replace("\\n", "\n");
        let invalid = || util::err(NAME, SignErrorKind::InvalidSecret(NOT_A_KEY));
        let secret = if normalized.contains("-----BEGIN EC PRIVATE KEY-----") {
            p256::SecretKey::from_sec1_pem(&normalized).map_err(|_| invalid())?
        } else if normalized.contains("-----BEGIN PRIVATE KEY-----") {
            p256::SecretKey::from_pkcs8_pem(&normalized).map_err(|_| invalid())?
        } else {
            return Err(invalid());
        };
        Ok(SigningKey::from(&secret))
    }

    fn key_for(&self, cred: &Credential) -> Result<SigningKey, SignError> {
        let fingerprint = cred.fingerprint();
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((fp, key)) = cache.as_ref() {
                if *fp == fingerprint {
                    return Ok(key.clone());
                }
            }
        }
        let key = Self::parse_key(util::secret(cred, NAME)?)?;
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((fingerprint, key.clone()));
        Ok(key)
    }

    /// The JWT `uri` claim for a request: `"<METHOD> <host><path>"`.
    pub fn uri_claim(req: &reqwest::Request) -> String {
        let url = req.url();
        let host = url.host_str().unwrap_or("");
        match url.port() {
            Some(port) => format!("{} {host}:{port}{}", req.method(), url.path()),
            None => format!("{} {host}{}", req.method(), url.path()),
        }
    }

    /// Signs with a given time (UNIX seconds) and JWT nonce: what [`Signer::sign`] does with
    /// the clock's time and a random nonce.
    pub fn sign_at(
        &self,
        req: &mut reqwest::Request,
        cred: &Credential,
        now_secs: i64,
        nonce: &str,
    ) -> Result<(), SignError> {
        let key = self.key_for(cred)?;
        let key_name = cred.expose_key();
        let header = serde_json::json!({
            "alg": "ES256",
            "kid": key_name,
            "nonce": nonce,
            "typ": "JWT",
        });
        let claims = serde_json::json!({
            "sub": key_name,
            "iss": "cdp",
            "nbf": now_secs,
            "exp": now_secs.saturating_add(self.lifetime_secs),
            "uri": Self::uri_claim(req),
        });
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut jwt = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let signature: Signature = key.try_sign(jwt.as_bytes()).map_err(|_| {
            util::err(
                NAME,
                SignErrorKind::InvalidRequest("the ES256 signature could not be computed"),
            )
        })?;
        jwt.push('.');
        jwt.push_str(&b64.encode(signature.to_bytes()));
        let value = util::sensitive_value(
            &format!("Bearer {jwt}"),
            NAME,
            "the key name is not valid in a JWT header",
        )?;
        req.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }
}

impl Signer for CoinbaseSigner {
    fn name(&self) -> &str {
        NAME
    }

    fn sign(
        &self,
        req: &mut reqwest::Request,
        cred: &Credential,
        ctx: &SignContext<'_>,
    ) -> Result<(), SignError> {
        let nonce = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        self.sign_at(req, cred, ctx.clock.now_ms().div_euclid(1_000), &nonce)
    }

    fn classify(
        &self,
        status: http::StatusCode,
        _headers: &http::HeaderMap,
        _body: Option<&[u8]>,
    ) -> Rejection {
        super::classify_status(status)
    }

    fn time_endpoint(&self) -> Option<TimeEndpoint> {
        Some(TimeEndpoint {
            path: "/api/v3/brokerage/time",
            pointer: "/epochMillis",
            unit: TimeUnit::Millis,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::testutil::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};

    const KEY_NAME: &str = "organizations/0f5e5a4c-1234/apiKeys/7c1d2e3f-5678";

    fn secret_key(seed: u8) -> p256::SecretKey {
        let mut bytes = [seed; 32];
        bytes[0] = 0x01;
        p256::SecretKey::from_slice(&bytes).expect("scalar")
    }

    fn sec1_pem(seed: u8) -> String {
        secret_key(seed)
            .to_sec1_pem(LineEnding::LF)
            .expect("pem")
            .to_string()
    }

    fn decode_json(part: &str) -> serde_json::Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("json")
    }

    /// Checks the JWT in the request with the public key and returns (header, claims).
    fn verify(req: &reqwest::Request, seed: u8) -> (serde_json::Value, serde_json::Value) {
        let auth = header(req, "Authorization");
        let jwt = auth.strip_prefix("Bearer ").expect("bearer");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let sig_bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("sig");
        assert_eq!(sig_bytes.len(), 64, "raw r||s");
        let sig = Signature::from_slice(&sig_bytes).expect("sig");
        let verifying = VerifyingKey::from(&SigningKey::from(&secret_key(seed)));
        verifying
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .expect("signature verifies with the public key");
        (decode_json(parts[0]), decode_json(parts[1]))
    }

    #[test]
    fn jwt_verifies_and_carries_the_documented_claims() {
        let cred = Credential::new(KEY_NAME).with_secret(sec1_pem(7));
        let mut req = request(
            "GET",
            "https://api.coinbase.com/api/v3/brokerage/accounts?limit=5",
            None,
        );
        CoinbaseSigner::new()
            .sign_at(&mut req, &cred, 1_700_000_000, "00ff")
            .expect("sign");
        let (h, c) = verify(&req, 7);
        assert_eq!(
            h,
            serde_json::json!({"alg":"ES256","kid":KEY_NAME,"nonce":"00ff","typ":"JWT"})
        );
        assert_eq!(
            c,
            serde_json::json!({
                "sub": KEY_NAME,
                "iss": "cdp",
                "nbf": 1_700_000_000,
                "exp": 1_700_000_120,
                "uri": "GET api.coinbase.com/api/v3/brokerage/accounts",
            })
        );
        assert!(req.headers()["authorization"].is_sensitive());
    }

    #[test]
    fn pkcs8_and_escaped_newlines_are_accepted() {
        let pkcs8 = secret_key(9)
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pkcs8")
            .to_string();
        let escaped = sec1_pem(9).replace('\n', "\\n");
        for secret in [pkcs8.clone(), escaped, pkcs8.replace('\n', "\\n")] {
            let cred = Credential::new(KEY_NAME).with_secret(secret);
            let mut req = request(
                "POST",
                "https://api.coinbase.com/api/v3/brokerage/orders",
                Some("{}"),
            );
            CoinbaseSigner::new()
                .sign_at(&mut req, &cred, 1, "ab")
                .expect("sign");
            let (_, c) = verify(&req, 9);
            assert_eq!(c["uri"], "POST api.coinbase.com/api/v3/brokerage/orders");
            assert_eq!(body(&req), "{}");
        }
        let mut req = request(
            "GET",
            "http://127.0.0.1:8080/api/v3/brokerage/accounts",
            None,
        );
        assert_eq!(
            CoinbaseSigner::uri_claim(&req),
            "GET 127.0.0.1:8080/api/v3/brokerage/accounts"
        );
        let cred = Credential::new(KEY_NAME).with_secret(sec1_pem(9));
        CoinbaseSigner::new()
            .lifetime_secs(60)
            .expect("in range")
            .sign_at(&mut req, &cred, 10, "n")
            .expect("sign");
        assert_eq!(verify(&req, 9).1["exp"], 70);
    }

    #[test]
    fn signing_twice_gives_a_new_jwt_and_rotation_is_picked_up() {
        let fx = Fixture::at(1_700_000_000_500);
        let signer = CoinbaseSigner::new();
        let cred = Credential::new(KEY_NAME).with_secret(sec1_pem(3));
        let mut req = request(
            "GET",
            "https://api.coinbase.com/api/v3/brokerage/accounts",
            None,
        );
        signer.sign(&mut req, &cred, &fx.ctx()).expect("sign");
        let first = header(&req, "Authorization").to_owned();
        let (h1, c1) = verify(&req, 3);
        assert_eq!(c1["nbf"], 1_700_000_000);
        fx.advance_ms(1_000);
        signer.sign(&mut req, &cred, &fx.ctx()).expect("sign");
        assert_ne!(header(&req, "Authorization"), first);
        assert_eq!(req.headers().get_all("authorization").iter().count(), 1);
        let (h2, c2) = verify(&req, 3);
        assert_eq!(c2["nbf"], 1_700_000_001);
        assert_ne!(h1["nonce"], h2["nonce"]);
        assert_eq!(h2["nonce"].as_str().map(str::len), Some(32));
        // A rotated credential uses the new key, not the cached one.
        let rotated = Credential::new(KEY_NAME).with_secret(sec1_pem(4));
        signer.sign(&mut req, &rotated, &fx.ctx()).expect("sign");
        verify(&req, 4);
    }

    #[test]
    fn errors_never_show_secrets() {
        let signer = CoinbaseSigner::new();
        let url = "https://api.coinbase.com/api/v3/brokerage/accounts";
        let e = signer
            .sign_at(
                &mut request("GET", url, None),
                &Credential::new(KEY_NAME),
                1,
                "n",
            )
            .expect_err("no secret");
        assert_eq!(e.to_string(), "coinbase: the credential has no secret");
        assert_no_leak(&e, &[KEY_NAME]);
        let pem = sec1_pem(5);
        let broken = pem.replace("-----END EC PRIVATE KEY-----", "");
        let body_line = pem.lines().nth(1).expect("body line").to_owned();
        for secret in ["plain-hmac-secret".to_owned(), broken] {
            let e = signer
                .sign_at(
                    &mut request("GET", url, None),
                    &Credential::new(KEY_NAME).with_secret(secret.clone()),
                    1,
                    "n",
                )
                .expect_err("bad key");
            assert_eq!(
                e.to_string(),
                "coinbase: the secret is not a PEM EC P-256 private key (SEC1 or PKCS#8)"
            );
            assert_no_leak(&e, &[KEY_NAME, &secret, &body_line]);
        }
    }

    #[test]
    fn classification() {
        let s = CoinbaseSigner::new();
        let json = json_headers();
        assert!(!s.needs_body(http::StatusCode::UNAUTHORIZED, &json));
        assert_eq!(
            s.classify(http::StatusCode::UNAUTHORIZED, &json, None),
            Rejection::Credential
        );
        assert_eq!(
            s.classify(http::StatusCode::FORBIDDEN, &json, None),
            Rejection::None
        );
        let ep = s.time_endpoint().expect("time");
        assert_eq!(
            ep.parse(br#"{"iso":"2023-05-04T19:20:21Z","epochSeconds":"1683228021","epochMillis":"1683228021123"}"#),
            Some(1_683_228_021_123)
        );
    }
}

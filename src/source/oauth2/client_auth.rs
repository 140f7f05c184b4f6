//! How the client proves who it is at the token endpoint (RFC 6749 §2.3.1, OpenID Connect Core
//! §9): `client_secret_basic`, `client_secret_post`, or `private_key_jwt` (RFC 7523), an ES256
//! assertion signed with a P-256 key.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;

/// The assertion's lifetime: long enough for clock skew, short enough to be useless if caught.
const ASSERTION_LIFETIME_SECS: u64 = 60;
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-encoded client id and secret (RFC 6749 §2.3.1). The default.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT assertion signed with the client's private key (RFC 7523; ES256, the secret
    /// source holds a PEM P-256 private key, SEC1 or PKCS#8).
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    /// The name used in OAuth2 metadata (`token_endpoint_auth_method`) and configuration
    /// strings.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parses a metadata name (`client_secret_basic`, `client_secret_post`, `private_key_jwt`;
    /// `basic`, `post` and `jwt` for short).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "client_secret_basic" | "basic" => ClientAuthMethod::ClientSecretBasic,
            "client_secret_post" | "post" => ClientAuthMethod::ClientSecretPost,
            "private_key_jwt" | "jwt" => ClientAuthMethod::PrivateKeyJwt,
            _ => return None,
        })
    }
}

/// What a token request carries to authenticate: an `Authorization` value and form fields.
pub(crate) struct Proof {
    pub(crate) basic: Option<String>,
    pub(crate) form: Vec<(&'static str, String)>,
}

/// The proof for `method` with `secret` (a client secret, or a PEM private key).
pub(crate) fn prove(
    method: ClientAuthMethod,
    client_id: &str,
    secret: &str,
    token_url: &str,
    key_id: Option<&str>,
) -> Result<Proof, String> {
    Ok(match method {
        ClientAuthMethod::ClientSecretBasic => {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(client_id), enc(secret));
            Proof {
                basic: Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )),
                form: Vec::new(),
            }
        }
        ClientAuthMethod::ClientSecretPost => Proof {
            basic: None,
            form: vec![
                ("client_id", client_id.to_owned()),
                ("client_secret", secret.to_owned()),
            ],
        },
        ClientAuthMethod::PrivateKeyJwt => {
            let key = parse_key(secret)?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let jwt = assertion(&key, client_id, token_url, key_id, now, &jti())?;
            Proof {
                basic: None,
                form: vec![
                    ("client_id", client_id.to_owned()),
                    ("client_assertion_type", ASSERTION_TYPE.to_owned()),
                    ("client_assertion", jwt),
                ],
            }
        }
    })
}

/// A PEM P-256 private key, SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
fn parse_key(pem: &str) -> Result<SigningKey, String> {
    let pem = pem.trim().replace("\\n", "\n");
    let not_a_key = || "the private key is not a PEM P-256 key (SEC1 or PKCS#8)".to_owned();
    let secret = if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
        p256::SecretKey::from_sec1_pem(&pem).map_err(|_| not_a_key())?
    } else if pem.contains("-----BEGIN PRIVATE KEY-----") {
        p256::SecretKey::from_pkcs8_pem(&pem).map_err(|_| not_a_key())?
    } else {
        return Err(not_a_key());
    };
    Ok(SigningKey::from(&secret))
}

/// 128 random bits, hex: the assertion's `jti` (servers refuse a replayed one).
fn jti() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// The RFC 7523 assertion: `iss` = `sub` = client id, `aud` = token endpoint, `exp` a minute on.
fn assertion(
    key: &SigningKey,
    client_id: &str,
    token_url: &str,
    key_id: Option<&str>,
    now: u64,
    jti: &str,
) -> Result<String, String> {
    let mut header = serde_json::json!({ "alg": "ES256", "typ": "JWT" });
    if let Some(kid) = key_id {
        header["kid"] = kid.into();
    }
    let claims = serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "jti": jti,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut jwt = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let signature: Signature = key
        .try_sign(jwt.as_bytes())
        .map_err(|_| "the ES256 signature could not be computed".to_owned())?;
    jwt.push('.');
    jwt.push_str(&b64.encode(signature.to_bytes()));
    Ok(jwt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};

    fn key_pem() -> (String, VerifyingKey) {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        (pem, VerifyingKey::from(&SigningKey::from(&secret)))
    }

    #[test]
    fn basic_encodes_id_and_secret_as_the_rfc_says() {
        let p = prove(
            ClientAuthMethod::ClientSecretBasic,
            "svc a",
            "p:w&d",
            "u",
            None,
        )
        .unwrap();
        let b64 = p.basic.unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "svc+a:p%3Aw%26d");
        assert!(p.form.is_empty());
    }

    #[test]
    fn the_assertion_verifies_with_the_public_key_and_names_client_and_endpoint() {
        let (pem, public) = key_pem();
        let key = parse_key(&pem).unwrap();
        let jwt = assertion(&key, "svc", "https://as/token", Some("k1"), 1_000, "j1").unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let sig = Signature::from_slice(&b64.decode(parts[2]).unwrap()).unwrap();
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "svc");
        assert_eq!(claims["sub"], "svc");
        assert_eq!(claims["aud"], "https://as/token");
        assert_eq!(claims["exp"], 1_060);
        let header: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["kid"], "k1");
        assert_eq!(header["alg"], "ES256");
    }

    #[test]
    fn a_bad_key_is_refused_without_showing_it() {
        let err = prove(
            ClientAuthMethod::PrivateKeyJwt,
            "svc",
            "not-a-key-XYZ",
            "u",
            None,
        )
        .err()
        .unwrap();
        assert!(
            err.contains("not a PEM P-256 key") && !err.contains("XYZ"),
            "{err}"
        );
        assert_ne!(jti(), jti());
    }
}

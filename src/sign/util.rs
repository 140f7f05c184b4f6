//! Helpers shared by the signers: credential parts, body and query handling, HMAC, time
//! formatting and JSON error codes. Nothing here formats secret material into an error.

use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use http::HeaderValue;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use sha2::{Sha256, Sha512};

use super::error::{SignError, SignErrorKind};
use crate::Credential;

pub(crate) fn err(signer: &str, kind: SignErrorKind) -> SignError {
    SignError::new(signer, kind)
}

/// The credential's secret, or a "no secret" error.
pub(crate) fn secret<'a>(cred: &'a Credential, signer: &str) -> Result<&'a str, SignError> {
    cred.expose_secret()
        .ok_or_else(|| err(signer, SignErrorKind::MissingSecret))
}

/// The credential's passphrase, or a "no passphrase" error.
pub(crate) fn passphrase<'a>(cred: &'a Credential, signer: &str) -> Result<&'a str, SignError> {
    cred.expose_passphrase()
        .ok_or_else(|| err(signer, SignErrorKind::MissingPassphrase))
}

/// A sensitive header value (kept out of reqwest's and hyper's `Debug`).
pub(crate) fn sensitive_value(
    text: &str,
    signer: &str,
    why: &'static str,
) -> Result<HeaderValue, SignError> {
    let mut value =
        HeaderValue::from_str(text).map_err(|_| err(signer, SignErrorKind::InvalidKey(why)))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A header value built from text this crate produced (timestamps, signatures, fixed values).
pub(crate) fn plain_value(text: &str, signer: &str) -> Result<HeaderValue, SignError> {
    HeaderValue::from_str(text).map_err(|_| {
        err(
            signer,
            SignErrorKind::InvalidRequest("a computed header value is not valid in a header"),
        )
    })
}

/// The request body's bytes (empty without a body); a streamed body cannot be signed.
pub(crate) fn body_bytes<'a>(
    req: &'a reqwest::Request,
    signer: &str,
) -> Result<&'a [u8], SignError> {
    match req.body() {
        None => Ok(&[]),
        Some(body) => body
            .as_bytes()
            .ok_or_else(|| err(signer, SignErrorKind::StreamingBody)),
    }
}

/// Replaces the body; a stale `Content-Length` is removed (the client computes it).
pub(crate) fn set_body(req: &mut reqwest::Request, bytes: Vec<u8>) {
    req.headers_mut().remove(CONTENT_LENGTH);
    *req.body_mut() = Some(reqwest::Body::from(bytes));
}

/// The `&`-separated pieces of a query or form string whose name is not in `names`, joined
/// again byte for byte.
pub(crate) fn strip_params(query: &str, names: &[&str]) -> String {
    let mut out = String::with_capacity(query.len());
    for piece in query.split('&') {
        if piece.is_empty() {
            continue;
        }
        let name = piece.split('=').next().unwrap_or(piece);
        if names.contains(&name) {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(piece);
    }
    out
}

/// Appends `name=value` to a query string (with `&` when it is not empty).
pub(crate) fn push_param(query: &mut String, name: &str, value: &str) {
    if !query.is_empty() {
        query.push('&');
    }
    query.push_str(name);
    query.push('=');
    query.push_str(value);
}

/// Sets the URL query (`None` for an empty one) and returns it as the URL now serializes it,
/// so that what is signed is exactly what is sent.
pub(crate) fn set_query(req: &mut reqwest::Request, query: &str) -> String {
    let url = req.url_mut();
    url.set_query(if query.is_empty() { None } else { Some(query) });
    url.query().unwrap_or("").to_owned()
}

pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it; the fallback only
    // satisfies the type and is never reached.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

pub(crate) fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match Hmac::<Sha512>::new_from_slice(key) {
        Ok(mut mac) => {
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// The latest instant an ISO 8601 timestamp is formatted for (9999-12-31T23:59:59.999Z).
const MAX_ISO_MS: i64 = 253_402_300_799_999;

/// UNIX milliseconds as ISO 8601 UTC with milliseconds (`2020-12-08T09:08:57.715Z`).
/// Values before 1970 or after 9999 are clamped to those bounds.
pub(crate) fn iso8601_millis(ms: i64) -> String {
    let ms = ms.clamp(0, MAX_ISO_MS);
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rest) = (in_day / 3_600_000, in_day % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1_000, rest % 1_000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A number from JSON: exact when it is an integer (as a number or a string).
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

pub(crate) fn json_number(value: &serde_json::Value) -> Option<Num> {
    match value {
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Num::Int(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Some(Num::Int(i128::from(u)))
            } else {
                n.as_f64().map(Num::Float)
            }
        }
        serde_json::Value::String(s) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i128>() {
                Some(Num::Int(i))
            } else {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| !f.is_nan())
                    .map(Num::Float)
            }
        }
        _ => None,
    }
}

/// An integer error code at `pointer` in a JSON body (a number or a string holding one).
pub(crate) fn json_code(body: &[u8], pointer: &str) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match json_number(value.pointer(pointer)?)? {
        Num::Int(i) => i64::try_from(i).ok(),
        Num::Float(_) => None,
    }
}

/// Whether a response is JSON or does not say what it is (so it may hold a JSON error).
pub(crate) fn json_or_untyped(headers: &http::HeaderMap) -> bool {
    match headers.get(CONTENT_TYPE) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|ct| {
            let ct = ct.trim_start().to_ascii_lowercase();
            ct.starts_with("application/json")
                || ct.contains("+json")
                || ct.starts_with("text/json")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(
            iso8601_millis(1_607_418_537_715),
            "2020-12-08T09:08:57.715Z"
        );
        assert_eq!(iso8601_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            iso8601_millis(1_709_251_199_999),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(iso8601_millis(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn strip_params_keeps_other_pieces_byte_for_byte() {
        assert_eq!(
            strip_params(
                "a=1&timestamp=5&b=%20x&signature=ff&c",
                &["timestamp", "signature"]
            ),
            "a=1&b=%20x&c"
        );
        assert_eq!(strip_params("", &["x"]), "");
        assert_eq!(strip_params("timestamp=1", &["timestamp"]), "");
        assert_eq!(strip_params("&&a=1&", &[]), "a=1");
    }

    #[test]
    fn json_codes_from_numbers_and_strings() {
        assert_eq!(
            json_code(br#"{"code":-1021,"msg":"x"}"#, "/code"),
            Some(-1021)
        );
        assert_eq!(json_code(br#"{"code":"50113"}"#, "/code"), Some(50113));
        assert_eq!(json_code(br#"{"code":1.5}"#, "/code"), None);
        assert_eq!(json_code(b"<html>", "/code"), None);
    }

    #[test]
    fn content_type_detection() {
        let mut h = http::HeaderMap::new();
        assert!(json_or_untyped(&h));
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=utf-8"),
        );
        assert!(json_or_untyped(&h));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        assert!(!json_or_untyped(&h));
    }
}

//! Turns the bytes of a file or variable into a credential: plain text (trimmed) or JSON.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use crate::credential::Credential;

/// Why content could not become a credential. Messages describe the content's shape, never
/// its bytes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("content is not valid UTF-8")]
    NotUtf8,
    #[error("content is empty")]
    Empty,
    #[error(
        "content looks like JSON but does not parse ({0}); a half-written file looks like this"
    )]
    Json(String),
    #[error("`expires_at` is neither unix seconds, unix milliseconds nor an RFC 3339 timestamp")]
    Expiry,
    #[error("`expires_at` is out of range (negative, not finite, or beyond what a clock holds)")]
    ExpiryRange,
    #[error("`version` is not a string or a number")]
    Version,
}

#[derive(Deserialize)]
struct JsonCredential {
    #[serde(alias = "api_key", alias = "apiKey")]
    key: String,
    #[serde(
        default,
        alias = "api_secret",
        alias = "secret_key",
        alias = "apiSecret"
    )]
    secret: Option<String>,
    #[serde(default, alias = "api_passphrase", alias = "apiPassphrase")]
    passphrase: Option<String>,
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(default)]
    expires_at: Option<serde_json::Value>,
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Credential, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotUtf8)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    if !text.starts_with('{') {
        return Ok(Credential::new(text));
    }
    // serde_json's messages quote no input, only line/column and the expected token.
    let json: JsonCredential =
        serde_json::from_str(text).map_err(|e| ParseError::Json(redacted_json_error(&e)))?;
    let mut cred = Credential::new(json.key);
    if let Some(secret) = json.secret {
        cred = cred.with_secret(secret);
    }
    if let Some(passphrase) = json.passphrase {
        cred = cred.with_passphrase(passphrase);
    }
    match json.version {
        Some(serde_json::Value::String(v)) => cred = cred.with_version(v),
        Some(serde_json::Value::Number(n)) => cred = cred.with_version(n.to_string()),
        None | Some(serde_json::Value::Null) => {}
        Some(_) => return Err(ParseError::Version),
    }
    if let Some(expiry) = json.expires_at {
        cred = cred.with_expiry(parse_expiry(&expiry)?);
    }
    Ok(cred)
}

/// Unix times above this are taken as milliseconds: as seconds they would be after the year
/// 5000, as milliseconds they are after 1973.
const MILLIS_ABOVE: f64 = 1e11;

/// 9999-12-31T23:59:59Z, the last instant RFC 3339 can write: later expiries are nonsense.
const LATEST_EXPIRY_SECS: f64 = 253_402_300_799.0;

/// An expiry as unix seconds, unix milliseconds (a number above 10^11), or an RFC 3339
/// timestamp. Anything out of range is an error, never a panic.
pub(crate) fn parse_expiry(value: &serde_json::Value) -> Result<SystemTime, ParseError> {
    match value {
        serde_json::Value::Number(n) => {
            let n = n.as_f64().ok_or(ParseError::ExpiryRange)?;
            unix_time(n)
        }
        serde_json::Value::String(s) => {
            humantime::parse_rfc3339_weak(s.trim()).map_err(|e| match e {
                humantime::TimestampError::OutOfRange => ParseError::ExpiryRange,
                humantime::TimestampError::InvalidDigit
                | humantime::TimestampError::InvalidFormat => ParseError::Expiry,
            })
        }
        _ => Err(ParseError::Expiry),
    }
}

/// Unix seconds or milliseconds as a `SystemTime`, checked.
pub(crate) fn unix_time(n: f64) -> Result<SystemTime, ParseError> {
    if !n.is_finite() || n < 0.0 {
        return Err(ParseError::ExpiryRange);
    }
    let secs = if n > MILLIS_ABOVE { n / 1000.0 } else { n };
    if secs > LATEST_EXPIRY_SECS {
        return Err(ParseError::ExpiryRange);
    }
    let since_epoch = Duration::try_from_secs_f64(secs).map_err(|_| ParseError::ExpiryRange)?;
    SystemTime::UNIX_EPOCH
        .checked_add(since_epoch)
        .ok_or(ParseError::ExpiryRange)
}

/// serde_json errors for a wrong type can quote a value ("invalid type: string \"abc\"").
/// Keep only the category and position.
fn redacted_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Eof => "unexpected end of input",
        Category::Syntax => "syntax error",
        Category::Data => "missing or mistyped field",
        Category::Io => "read error",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_trimmed() {
        let cred = parse(b"  key-123\n").unwrap();
        assert_eq!(cred.expose_key(), "key-123");
        assert!(!cred.has_secret());
    }

    #[test]
    fn json_with_every_field() {
        let cred =
            parse(br#"{"key":"k","secret":"s","version":7,"expires_at":"2999-01-01T00:00:00Z"}"#)
                .unwrap();
        assert_eq!(cred.expose_key(), "k");
        assert_eq!(cred.expose_secret(), Some("s"));
        assert_eq!(cred.version(), "7");
        assert!(cred.expires_at().unwrap() > SystemTime::now());
        let unix = parse(br#"{"api_key":"k","expires_at":32503680000}"#).unwrap();
        assert!(unix.expires_at().is_some());
    }

    #[test]
    fn bad_content_is_an_error_that_does_not_quote_it() {
        assert!(matches!(parse(b" \n\t"), Err(ParseError::Empty)));
        assert!(matches!(
            parse(&[0xff, 0xfe, 0x41]),
            Err(ParseError::NotUtf8)
        ));
        let half = parse(br#"{"key":"sup3rs3cret"#).unwrap_err();
        assert!(matches!(half, ParseError::Json(_)));
        let wrong = parse(br#"{"key": ["sup3rs3cret"]}"#)
            .unwrap_err()
            .to_string();
        assert!(!wrong.contains("sup3rs3cret"), "{wrong}");
        let expiry = parse(br#"{"key":"k","expires_at":"tomorrow"}"#).unwrap_err();
        assert!(matches!(expiry, ParseError::Expiry));
    }

    #[test]
    fn absurd_expiries_are_refused_not_panicked_on() {
        for absurd in [
            "1e20",
            "1e300",
            "-1",
            "18446744073709551616",
            "1.7976931348623157e308",
            r#""99999-01-01T00:00:00Z""#,
            r#""2026-13-45T99:00:00Z""#,
        ] {
            let text = format!(r#"{{"key":"k","expires_at":{absurd}}}"#);
            let err = parse(text.as_bytes()).unwrap_err();
            assert!(
                matches!(
                    err,
                    ParseError::Expiry | ParseError::ExpiryRange | ParseError::Json(_)
                ),
                "{absurd}: {err}"
            );
        }
    }

    #[test]
    fn expiry_in_seconds_milliseconds_or_rfc3339() {
        let secs = parse(br#"{"key":"k","expires_at":4102444800}"#).unwrap();
        let millis = parse(br#"{"key":"k","expires_at":4102444800000}"#).unwrap();
        let text = parse(br#"{"key":"k","expires_at":"2100-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(secs.expires_at(), millis.expires_at());
        assert_eq!(secs.expires_at(), text.expires_at());
    }

    #[test]
    fn a_version_must_be_a_string_or_a_number() {
        assert_eq!(
            parse(br#"{"key":"k","version":1e300}"#).unwrap().version(),
            "1e+300"
        );
        assert!(matches!(
            parse(br#"{"key":"k","version":{"a":1}}"#),
            Err(ParseError::Version)
        ));
    }
}

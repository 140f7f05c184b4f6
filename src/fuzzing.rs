//! Thin wrappers over keyswap's parsers for the cargo-fuzz targets in `fuzz/` (feature
//! `fuzzing`). Not a public API: no stability promise, hidden from the documentation.

use std::time::{Duration, SystemTime};

use crate::source::{self, Source};

/// File or environment content (bytes) through the same parser the file and env sources use,
/// then through the validation every loaded credential gets. `Err` carries the refusal.
pub fn parse_content(bytes: &[u8]) -> Result<(), String> {
    let cred = source::parse(bytes).map_err(|e| e.to_string())?;
    let _ = cred.fingerprint();
    cred.validate().map_err(str::to_owned)
}

/// A decode step of an endpoint source, applied before the pointers.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// `decode_json_at`: the string at the pointer is parsed as JSON.
    Json,
    /// `decode_base64_at`: the string at the pointer is base64-decoded to UTF-8 text.
    Base64,
}

/// The configuration of an endpoint source's extraction: decode steps, then pointers.
#[derive(Debug, Clone, Default)]
pub struct Pointers {
    /// Decode steps, in order.
    pub decode: Vec<(Step, String)>,
    /// Where the key is.
    pub key: String,
    /// Where the secret is, if configured.
    pub secret: Option<String>,
    /// Where the passphrase is, if configured.
    pub passphrase: Option<String>,
    /// Where the version is, if configured.
    pub version: Option<String>,
    /// Keep only the version's last `/` segment.
    pub version_last_segment: bool,
    /// Where the expiry is, if configured.
    pub expiry: Option<String>,
}

/// An endpoint source built from `pointers` through its public builder, whose extraction is
/// applied to `body` (no request is made), then validated. `Err` carries the refusal.
pub fn extract(pointers: &Pointers, body: &[u8]) -> Result<(), String> {
    let mut src = Source::http("http://127.0.0.1:1/fuzz").key_pointer(pointers.key.clone());
    for (step, at) in &pointers.decode {
        src = match step {
            Step::Json => src.decode_json_at(at.clone()),
            Step::Base64 => src.decode_base64_at(at.clone()),
        };
    }
    if let Some(at) = &pointers.secret {
        src = src.secret_pointer(at.clone());
    }
    if let Some(at) = &pointers.passphrase {
        src = src.passphrase_pointer(at.clone());
    }
    if let Some(at) = &pointers.version {
        src = if pointers.version_last_segment {
            src.version_pointer_last_segment(at.clone())
        } else {
            src.version_pointer(at.clone())
        };
    }
    if let Some(at) = &pointers.expiry {
        src = src.expiry_pointer(at.clone());
    }
    let cred = src.extract_body(body)?;
    let _ = cred.fingerprint();
    cred.validate().map_err(str::to_owned)
}

/// `bytes` as a JSON value, then as an `expires_at` (unix seconds, milliseconds or RFC 3339).
/// `Ok(None)` when the bytes are not JSON at all.
pub fn parse_expiry_json(bytes: &[u8]) -> Result<Option<SystemTime>, String> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(None);
    };
    source::parse_expiry(&value)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A `Retry-After` header value as the endpoint source reads it (uncapped).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    source::parse_retry_after(value)
}

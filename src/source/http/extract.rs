//! From a response body to a credential: decode steps, then JSON pointers.

use std::time::SystemTime;

use base64::Engine as _;
use serde_json::Value;

use crate::credential::Credential;
use crate::source::parse;

#[derive(Debug, Clone)]
pub(super) enum Decode {
    Json(String),
    Base64(String),
}

/// How a credential is taken out of a JSON document: decode steps, then pointers.
#[derive(Debug, Clone)]
pub(crate) struct Extract {
    pub(super) decode: Vec<Decode>,
    pub(super) key: String,
    pub(super) secret: Option<String>,
    pub(super) passphrase: Option<String>,
    pub(super) version: Option<String>,
    pub(super) version_last_segment: bool,
    pub(super) expiry: Option<String>,
}

impl Extract {
    pub(crate) fn new(key: impl Into<String>) -> Self {
        Extract {
            decode: Vec::new(),
            key: key.into(),
            secret: None,
            passphrase: None,
            version: None,
            version_last_segment: false,
            expiry: None,
        }
    }

    pub(crate) fn decode_json_at(&mut self, pointer: impl Into<String>) {
        self.decode.push(Decode::Json(pointer.into()));
    }

    pub(crate) fn key(&mut self, pointer: impl Into<String>) {
        self.key = pointer.into();
    }

    pub(crate) fn secret(&mut self, pointer: impl Into<String>) {
        self.secret = Some(pointer.into());
    }

    pub(crate) fn passphrase(&mut self, pointer: impl Into<String>) {
        self.passphrase = Some(pointer.into());
    }

    pub(crate) fn version(&mut self, pointer: impl Into<String>, last_segment: bool) {
        self.version = Some(pointer.into());
        self.version_last_segment = last_segment;
    }

    /// Applies the decode steps and pointers to `body`. Messages name pointers and shapes
    /// (configuration), never values.
    pub(crate) fn apply(&self, body: &[u8]) -> std::result::Result<Credential, String> {
        let mut doc: Value = serde_json::from_slice(body)
            .map_err(|e| format!("response is not JSON ({})", json_error_kind(&e)))?;
        self.apply_value(&mut doc)
    }

    pub(crate) fn apply_value(&self, doc: &mut Value) -> std::result::Result<Credential, String> {
        for step in &self.decode {
            match step {
                Decode::Json(ptr) => {
                    let at = doc.pointer_mut(ptr).ok_or_else(|| missing(ptr))?;
                    let text = at.as_str().ok_or_else(|| {
                        format!("value at {ptr} is not a string to decode as JSON")
                    })?;
                    let parsed: Value = serde_json::from_str(text).map_err(|e| {
                        format!("value at {ptr} is not JSON ({})", json_error_kind(&e))
                    })?;
                    *at = parsed;
                }
                Decode::Base64(ptr) => {
                    let at = doc.pointer_mut(ptr).ok_or_else(|| missing(ptr))?;
                    let text = at
                        .as_str()
                        .ok_or_else(|| format!("value at {ptr} is not a base64 string"))?;
                    let bytes = decode_base64(text)
                        .ok_or_else(|| format!("value at {ptr} is not valid base64"))?;
                    let text = String::from_utf8(bytes)
                        .map_err(|_| format!("value at {ptr} does not decode to UTF-8 text"))?;
                    *at = Value::String(text);
                }
            }
        }
        let key = string_at(doc, &self.key)?.ok_or_else(|| missing(&self.key))?;
        let mut cred = Credential::new(key.trim());
        if let Some(ptr) = &self.secret {
            let secret = string_at(doc, ptr)?.ok_or_else(|| missing(ptr))?;
            cred = cred.with_secret(secret.trim());
        }
        if let Some(ptr) = &self.passphrase {
            let passphrase = string_at(doc, ptr)?.ok_or_else(|| missing(ptr))?;
            cred = cred.with_passphrase(passphrase.trim());
        }
        if let Some(ptr) = &self.version {
            let version = match doc.pointer(ptr) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => return Err(format!("value at {ptr} is not a version string or number")),
            };
            if let Some(v) = version {
                let v = if self.version_last_segment {
                    v.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                } else {
                    v
                };
                if !v.is_empty() {
                    cred = cred.with_version(v);
                }
            }
        }
        if let Some(ptr) = &self.expiry {
            match doc.pointer(ptr) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    let at: SystemTime = parse::parse_expiry(v)
                        .map_err(|_| format!("value at {ptr} is not unix seconds or RFC 3339"))?;
                    cred = cred.with_expiry(at);
                }
            }
        }
        Ok(cred)
    }
}

fn missing(ptr: &str) -> String {
    format!("no value at JSON pointer {ptr:?}")
}

fn string_at(doc: &Value, ptr: &str) -> std::result::Result<Option<String>, String> {
    match doc.pointer(ptr) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "value at {ptr} is a JSON {}, not a string{}",
            json_type(other),
            if other.is_object() {
                " (decode it first, or point deeper)"
            } else {
                ""
            }
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// serde_json messages can quote input ("invalid type: string \"...\""): keep the category.
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Eof => "unexpected end of input",
        Category::Syntax => "syntax error",
        Category::Data => "unexpected data",
        Category::Io => "read error",
    }
}

/// Standard or URL-safe alphabet, padded or not (GCP sends standard, padded).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let text = text.trim();
    GeneralPurpose::new(&base64::alphabet::STANDARD, config)
        .decode(text)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(text))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction_decodes_then_points() {
        let mut ex = Extract::new("/SecretString/api_key");
        ex.decode_json_at("/SecretString");
        ex.secret("/SecretString/api_secret");
        ex.version("/VersionId", false);
        let cred = ex
            .apply(br#"{"SecretString":"{\"api_key\":\"k1\",\"api_secret\":\"s1\"}","VersionId":"v-1"}"#)
            .unwrap();
        assert_eq!(
            (cred.expose_key(), cred.expose_secret(), cred.version()),
            ("k1", Some("s1"), "v-1")
        );

        let mut gcp = Extract::new("/payload/data");
        gcp.decode.push(Decode::Base64("/payload/data".into()));
        gcp.version("/name", true);
        let cred = gcp
            .apply(
                br#"{"name":"projects/1/secrets/s/versions/7","payload":{"data":"a2V5LWdjcAo="}}"#,
            )
            .unwrap();
        assert_eq!((cred.expose_key(), cred.version()), ("key-gcp", "7"));
    }

    #[test]
    fn extraction_errors_name_pointers_never_values() {
        let ex = Extract::new("/data/key");
        let err = ex
            .apply(br#"{"data":{"other":"sup3rs3cret"}}"#)
            .unwrap_err();
        assert!(err.contains("/data/key"), "{err}");
        let err = ex
            .apply(br#"{"data":{"key":["sup3rs3cret"]}}"#)
            .unwrap_err();
        assert!(
            !err.contains("sup3rs3cret") && err.contains("array"),
            "{err}"
        );
        let err = ex.apply(br#"{"data":{"key":"sup3rs3cret""#).unwrap_err();
        assert!(!err.contains("sup3rs3cret"), "{err}");
        let mut j = Extract::new("/s/k");
        j.decode_json_at("/s");
        let err = j.apply(br#"{"s":"sup3rs3cret"}"#).unwrap_err();
        assert!(
            !err.contains("sup3rs3cret") && err.contains("not JSON"),
            "{err}"
        );
    }
}

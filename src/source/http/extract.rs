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

/// Property tests: whatever an endpoint answers and however the pointers and decode steps are
/// configured, extraction answers `Ok` or an error naming pointers and shapes, never a value,
/// and never panics.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::source::parse::properties::{arb_field_text, arb_json, marker};
    use proptest::prelude::*;
    use serde_json::json;

    fn arb_pointer() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec![
                "", "/", "/key", "/secret", "/data", "/data/key", "/data/data/key", "/0",
                "/data/0", "/data/-", "/~0", "/~1", "/a~1b", "/~", "/~2", "key", "/SecretString",
                "/SecretString/api_key", "/payload/data", "/enc", "/b64", "/enc/key", "/b64/key",
                "/00", "/18446744073709551616", "/expires_at", "/version",
            ])
            .prop_map(str::to_owned),
            2 => "(/[a-z0-9~_-]{0,4}){0,4}",
            1 => any::<String>(),
        ]
    }

    fn arb_decode() -> impl Strategy<Value = Decode> {
        prop_oneof![
            arb_pointer().prop_map(Decode::Json),
            arb_pointer().prop_map(Decode::Base64),
        ]
    }

    fn arb_extract() -> impl Strategy<Value = Extract> {
        (
            prop::collection::vec(arb_decode(), 0..4),
            arb_pointer(),
            prop::option::of(arb_pointer()),
            prop::option::of(arb_pointer()),
            prop::option::of(arb_pointer()),
            any::<bool>(),
            prop::option::of(arb_pointer()),
        )
            .prop_map(
                |(decode, key, secret, passphrase, version, version_last_segment, expiry)| {
                    Extract {
                        decode,
                        key,
                        secret,
                        passphrase,
                        version,
                        version_last_segment,
                        expiry,
                    }
                },
            )
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// A document shaped like what the pointers look for: nested data, a JSON-encoded string
    /// and a base64 string, each holding anything.
    fn arb_shaped_body() -> impl Strategy<Value = Vec<u8>> {
        (
            arb_json(),
            arb_json(),
            arb_field_text(),
            prop::collection::vec(any::<u8>(), 0..16),
        )
            .prop_map(|(data, enc, expires, raw)| {
                let doc = json!({
                    "data": data,
                    "enc": enc.to_string(),
                    "b64": b64(enc.to_string().as_bytes()),
                    "raw": b64(&raw),
                    "key": "k",
                    "version": "projects/p/secrets/s/versions/3",
                });
                let text = doc.to_string();
                // A raw literal serde_json may refuse, spliced in as the expiry.
                format!("{},\"expires_at\":{}}}", &text[..text.len() - 1], expires).into_bytes()
            })
    }

    fn arb_body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            arb_json().prop_map(|v| v.to_string().into_bytes()),
            arb_shaped_body(),
        ]
    }

    /// The shapes an extraction error may take: each names a pointer or a JSON type.
    fn names_its_cause(msg: &str) -> bool {
        msg.starts_with("response is not JSON (")
            || msg.starts_with("no value at JSON pointer ")
            || msg.starts_with("value at ")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_body_any_configuration_never_panics(ex in arb_extract(), body in arb_body()) {
            match ex.apply(&body) {
                Ok(cred) => {
                    let _ = cred.validate();
                }
                Err(msg) => prop_assert!(names_its_cause(&msg), "{msg}"),
            }
        }

        /// An error names pointers and shapes, never the key, secret or passphrase it saw.
        #[test]
        fn errors_never_quote_values(
            ex in arb_extract(),
            key in marker(),
            secret in marker(),
            passphrase in marker(),
            shape in 0usize..6,
            cut in any::<prop::sample::Index>(),
        ) {
            let wrapped = |s: &str| match shape {
                0 => json!(s),
                1 => json!([s]),
                2 => json!({ "key": s }),
                3 => json!(format!("{{\"key\":\"{s}\"")), // half a JSON document
                4 => json!(b64(s.as_bytes())),
                _ => json!(b64(&[s.as_bytes(), &[0xff]].concat())), // base64 of non-UTF-8
            };
            let inner = json!({ "key": wrapped(&key), "secret": wrapped(&secret), "passphrase": passphrase });
            let doc = json!({
                "key": wrapped(&key),
                "secret": wrapped(&secret),
                "data": inner,
                "enc": inner.to_string(),
                "b64": b64(inner.to_string().as_bytes()),
                "version": wrapped(&passphrase),
                "expires_at": wrapped(&secret),
            });
            let text = doc.to_string();
            for body in [text.as_bytes(), &text.as_bytes()[..cut.index(text.len())]] {
                if let Err(msg) = ex.apply(body) {
                    prop_assert!(names_its_cause(&msg), "{msg}");
                    for material in [&key, &secret, &passphrase] {
                        prop_assert!(!msg.contains(material.as_str()), "{msg}");
                        prop_assert!(!msg.contains(&material[5..11]), "{msg}");
                        prop_assert!(!msg.contains(&b64(material.as_bytes())[8..16]), "{msg}");
                    }
                }
            }
        }

        /// Values put where the pointers look, through JSON-in-a-string and base64 layers,
        /// come back trimmed, with the version's last segment and the expiry.
        #[test]
        fn extraction_round_trips(
            key in "[ \t\n]{0,2}[!-~]{1,64}[ \t\n]{0,2}",
            secret in prop::option::of(any::<String>()),
            passphrase in prop::option::of("\\PC{1,40}"),
            version in prop::option::of("[a-zA-Z0-9._-]{1,32}"),
            last_segment in any::<bool>(),
            expiry in prop::option::of(0u64..=100_000_000_000),
            layers in 0usize..3,
        ) {
            let mut inner = serde_json::Map::new();
            inner.insert("api_key".into(), json!(key));
            let mut ex = Extract::new("/SecretString/api_key");
            if let Some(s) = &secret {
                inner.insert("api_secret".into(), json!(s));
                ex.secret("/SecretString/api_secret");
            }
            if let Some(p) = &passphrase {
                inner.insert("api_passphrase".into(), json!(p));
                ex.passphrase("/SecretString/api_passphrase");
            }
            let inner = Value::Object(inner);
            let secret_string = match layers {
                0 => inner,
                1 => {
                    ex.decode_json_at("/SecretString");
                    json!(inner.to_string())
                }
                _ => {
                    ex.decode.push(Decode::Base64("/SecretString".into()));
                    ex.decode_json_at("/SecretString");
                    json!(b64(inner.to_string().as_bytes()))
                }
            };
            let mut doc = json!({ "SecretString": secret_string });
            if let Some(v) = &version {
                doc["VersionId"] = if last_segment {
                    json!(format!("projects/1/secrets/s/versions/{v}/"))
                } else {
                    json!(v)
                };
                ex.version("/VersionId", last_segment);
            }
            if let Some(secs) = expiry {
                doc["ExpiresAt"] = json!(secs);
                ex.expiry = Some("/ExpiresAt".into());
            }
            let cred = ex
                .apply(doc.to_string().as_bytes())
                .map_err(TestCaseError::fail)?;
            prop_assert_eq!(cred.expose_key(), key.trim());
            prop_assert_eq!(cred.expose_secret(), secret.as_deref().map(str::trim));
            prop_assert_eq!(cred.expose_passphrase(), passphrase.as_deref().map(str::trim));
            let mut expected = Credential::new(key.trim());
            if let Some(s) = &secret {
                expected = expected.with_secret(s.trim());
            }
            if let Some(p) = &passphrase {
                expected = expected.with_passphrase(p.trim());
            }
            prop_assert_eq!(cred.fingerprint(), expected.fingerprint());
            prop_assert_eq!(cred.version(), version.as_deref().unwrap_or(expected.version()));
            prop_assert_eq!(
                cred.expires_at(),
                expiry.map(|s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s))
            );
        }
    }
}

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
        serde_json::Value::Number(n) => match n.as_u64() {
            // Whole numbers exactly (milliseconds through f64 would be off by microseconds).
            Some(whole) => unix_time_whole(whole),
            None => unix_time(n.as_f64().ok_or(ParseError::ExpiryRange)?),
        },
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

/// Whole unix seconds or milliseconds as a `SystemTime`, exactly, checked.
fn unix_time_whole(n: u64) -> Result<SystemTime, ParseError> {
    let since_epoch = if n as f64 > MILLIS_ABOVE {
        Duration::from_millis(n)
    } else {
        Duration::from_secs(n)
    };
    if since_epoch.as_secs_f64() > LATEST_EXPIRY_SECS {
        return Err(ParseError::ExpiryRange);
    }
    SystemTime::UNIX_EPOCH
        .checked_add(since_epoch)
        .ok_or(ParseError::ExpiryRange)
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

/// Property tests: whatever a file or variable holds, `parse` answers `Ok` or a refusal that
/// names the cause without quoting the content, and never panics. The strategies are shared
/// with the endpoint extraction's properties.
#[cfg(test)]
pub(in crate::source) mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Number, Value, json};

    /// Numbers that stress conversions: extremes, signed zero, subnormals, integers past
    /// `u64`/`i64` and `f64` (as raw JSON text, since `Value` cannot hold them).
    pub(in crate::source) const RAW_NUMBERS: &[&str] = &[
        "0",
        "-0",
        "-0.0",
        "1e308",
        "-1e308",
        "1.7976931348623157e308",
        "1e309",
        "-1e309",
        "1e400",
        "1e-320",
        "4.9e-324",
        "-1e-320",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "340282366920938463463374607431768211456",
        "100000000000",
        "100000000000.0001",
        "253402300799",
        "253402300800",
        "253402300799999",
        "253402300800000",
        "9007199254740993",
        "1e11",
        "NaN",
        "Infinity",
        "-Infinity",
        "0x10",
        "01",
        "1.",
        ".5",
        "+1",
    ];

    /// Strings that stress parsers: control characters, lone escapes, RFC 3339 edge cases.
    fn tricky_string() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[\\x00-\\x1f\\x7f\"\\\\ ]{0,8}",
            "[0-9]{1,6}-[0-9]{1,3}-[0-9]{1,3}[Tt ][0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,12})?(Z|z|[+-][0-9]{2}:[0-9]{2})?",
            Just("9999-12-31T23:59:59Z".to_owned()),
            Just("10000-01-01T00:00:00Z".to_owned()),
            Just("0000-01-01T00:00:00Z".to_owned()),
            Just("1969-12-31T23:59:59Z".to_owned()),
            Just("2100-02-29T00:00:00Z".to_owned()),
            Just("2000-02-29T24:00:00Z".to_owned()),
            Just("2026-01-01T00:00:60Z".to_owned()),
            (0usize..70_000).prop_map(|n| "k".repeat(n)),
        ]
    }

    /// A JSON number as `Value` can hold it.
    pub(in crate::source) fn arb_number() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<u64>().prop_map(Number::from),
            any::<i64>().prop_map(Number::from),
            any::<f64>().prop_filter_map("finite", Number::from_f64),
            prop::sample::select(vec![
                1e308,
                -1e308,
                f64::MAX,
                f64::MIN_POSITIVE,
                5e-324,
                1e-320,
                -0.0,
                1e11,
                1e11 + 1.0,
                253_402_300_799.0,
                253_402_300_800.0,
                253_402_300_799_999.0,
                253_402_300_800_000.0,
            ])
            .prop_filter_map("finite", Number::from_f64),
        ]
    }

    /// Any JSON value, nested a few levels.
    pub(in crate::source) fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            arb_number().prop_map(Value::Number),
            tricky_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        prop::sample::select(vec![
                            "key",
                            "secret",
                            "passphrase",
                            "version",
                            "expires_at",
                            "data",
                        ])
                        .prop_map(str::to_owned),
                        any::<String>(),
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// A field value as JSON text: a generated value, or a raw number literal `Value` cannot
    /// hold.
    pub(in crate::source) fn arb_field_text() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => arb_json().prop_map(|v| v.to_string()),
            1 => prop::sample::select(RAW_NUMBERS).prop_map(str::to_owned),
        ]
    }

    const FIELDS: &[&str] = &[
        "key",
        "api_key",
        "apiKey",
        "secret",
        "api_secret",
        "secret_key",
        "apiSecret",
        "passphrase",
        "api_passphrase",
        "apiPassphrase",
        "version",
        "expires_at",
        "unknown",
    ];

    /// A credential-shaped JSON object whose fields hold anything, as text.
    fn arb_credential_text() -> impl Strategy<Value = String> {
        prop::collection::vec((prop::sample::select(FIELDS), arb_field_text()), 0..7).prop_map(
            |fields| {
                let body: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name:?}:{value}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            },
        )
    }

    /// A distinctive secret that a refusal must never quote.
    pub(in crate::source) fn marker() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]{6}".prop_map(|s| format!("MARK-{s}-SECRET"))
    }

    /// The message a refusal starts with, per cause.
    fn names_its_cause(err: &ParseError) -> bool {
        let msg = err.to_string();
        match err {
            ParseError::NotUtf8 => msg == "content is not valid UTF-8",
            ParseError::Empty => msg == "content is empty",
            ParseError::Json(_) => msg.starts_with("content looks like JSON but does not parse ("),
            ParseError::Expiry | ParseError::ExpiryRange => msg.starts_with("`expires_at` is"),
            ParseError::Version => msg.starts_with("`version` is not"),
        }
    }

    /// What a parser must never do with content: panic, or a refusal that does not name
    /// its cause; an accepted credential must survive validation without panicking.
    fn check_any(bytes: &[u8]) -> Result<(), TestCaseError> {
        match parse(bytes) {
            Ok(cred) => {
                let _ = cred.validate();
                let _ = cred.fingerprint();
            }
            Err(err) => prop_assert!(names_its_cause(&err), "{err}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            check_any(&bytes)?;
            // The same bytes behind an opening brace take the JSON path.
            let mut json = b"{".to_vec();
            json.extend_from_slice(&bytes);
            check_any(&json)?;
        }

        #[test]
        fn arbitrary_json_never_panics(value in arb_json()) {
            check_any(value.to_string().as_bytes())?;
            check_any(serde_json::to_string_pretty(&value).unwrap().as_bytes())?;
        }

        #[test]
        fn credential_shaped_json_never_panics(
            text in arb_credential_text(),
            cut in any::<prop::sample::Index>(),
            junk in prop::collection::vec(any::<u8>(), 0..4),
        ) {
            check_any(text.as_bytes())?;
            // Half-written: cut anywhere (a byte cut may split a UTF-8 sequence).
            check_any(&text.as_bytes()[..cut.index(text.len() + 1)])?;
            // Followed by junk, possibly not UTF-8.
            let mut tail = text.into_bytes();
            tail.extend_from_slice(&junk);
            check_any(&tail)?;
        }

        /// A refusal names the cause and never quotes key, secret or passphrase material.
        #[test]
        fn refusals_never_quote_secrets(
            key in marker(),
            secret in marker(),
            passphrase in marker(),
            wrap in 0usize..5,
            version in arb_json(),
            expires_at in arb_field_text(),
            cut in any::<prop::sample::Index>(),
        ) {
            let wrapped = |s: &str| match wrap {
                0 => json!(s),
                1 => json!([s]),
                2 => json!({ "value": s }),
                3 => json!([[s], { "k": s }]),
                _ => json!(s.len()),
            };
            let text = format!(
                r#"{{"key":{},"secret":{},"passphrase":{},"version":{},"expires_at":{}}}"#,
                wrapped(&key),
                json!(secret),
                wrapped(&passphrase),
                version,
                expires_at
            );
            for bytes in [text.as_bytes(), &text.as_bytes()[..cut.index(text.len())]] {
                if let Err(err) = parse(bytes) {
                    let msg = err.to_string();
                    prop_assert!(names_its_cause(&err), "{msg}");
                    for material in [&key, &secret, &passphrase] {
                        prop_assert!(!msg.contains(material.as_str()), "{msg}");
                        // Not even a recognisable part of it.
                        prop_assert!(!msg.contains(&material[5..11]), "{msg}");
                    }
                }
            }
            if wrap == 0 {
                // With a well-formed key, the refusal's cause is the field that is wrong.
                let expect_version_error = !matches!(
                    version,
                    Value::Null | Value::String(_) | Value::Number(_)
                );
                if let Err(err) = parse(text.as_bytes()) {
                    match err {
                        ParseError::Version => prop_assert!(expect_version_error),
                        ParseError::Expiry | ParseError::ExpiryRange => {
                            prop_assert!(!expect_version_error)
                        }
                        // A raw literal serde_json refuses (1e400, NaN, 0x10, …).
                        ParseError::Json(_) => prop_assert!(
                            RAW_NUMBERS.contains(&expires_at.as_str()),
                            "{expires_at}"
                        ),
                        other => prop_assert!(false, "{other}"),
                    }
                } else {
                    prop_assert!(!expect_version_error);
                }
            }
        }

        /// JSON written by a serializer parses back to the same credential.
        #[test]
        fn json_credentials_round_trip(
            key in "[!-~]{1,64}",
            key_name in prop::sample::select(vec!["key", "api_key", "apiKey"]),
            secret in prop::option::of(any::<String>().prop_filter("non-empty", |s| !s.is_empty())),
            secret_name in prop::sample::select(
                vec!["secret", "api_secret", "secret_key", "apiSecret"]
            ),
            passphrase in prop::option::of("\\PC{1,40}"),
            version in prop::option::of(prop_oneof![
                "[^\\p{Cc}]{1,64}".prop_map(Value::String),
                any::<u64>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
            ]),
            pretty in any::<bool>(),
        ) {
            let mut doc = Map::new();
            doc.insert(key_name.into(), json!(key));
            if let Some(s) = &secret {
                doc.insert(secret_name.into(), json!(s));
            }
            if let Some(p) = &passphrase {
                doc.insert("passphrase".into(), json!(p));
            }
            if let Some(v) = &version {
                doc.insert("version".into(), v.clone());
            }
            let doc = Value::Object(doc);
            let text = if pretty {
                serde_json::to_string_pretty(&doc).unwrap()
            } else {
                doc.to_string()
            };
            let cred = parse(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;

            let mut expected = Credential::new(key.clone());
            if let Some(s) = &secret {
                expected = expected.with_secret(s.clone());
            }
            if let Some(p) = &passphrase {
                expected = expected.with_passphrase(p.clone());
            }
            prop_assert_eq!(cred.expose_key(), key.as_str());
            prop_assert_eq!(cred.expose_secret(), secret.as_deref());
            prop_assert_eq!(cred.expose_passphrase(), passphrase.as_deref());
            prop_assert_eq!(cred.fingerprint(), expected.fingerprint());
            match &version {
                Some(Value::String(v)) => prop_assert_eq!(cred.version(), v.as_str()),
                Some(Value::Number(n)) => prop_assert_eq!(cred.version(), n.to_string()),
                _ => prop_assert_eq!(cred.version(), expected.version()),
            }
            let version_fits = cred.version().len() <= 256;
            prop_assert_eq!(cred.validate().is_ok(), version_fits, "{:?}", cred.validate());
        }

        /// A plain-text key parses back trimmed, whatever whitespace surrounds it.
        #[test]
        fn plain_text_keys_round_trip_trimmed(
            key in "[!-z|~][!-~]{0,63}",
            before in "[ \t\r\n\u{0b}\u{0c}\u{a0}\u{2003}\u{3000}]{0,4}",
            after in "[ \t\r\n\u{0b}\u{0c}\u{a0}\u{2003}\u{3000}]{0,4}",
        ) {
            let cred = parse(format!("{before}{key}{after}").as_bytes())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(cred.expose_key(), key.as_str());
            prop_assert_eq!(cred.fingerprint(), Credential::new(key.clone()).fingerprint());
            prop_assert!(cred.validate().is_ok());
        }

        /// Seconds, milliseconds and RFC 3339 of the same instant agree (where the form can
        /// say it: seconds up to 10^11, milliseconds above 10^11 ms).
        #[test]
        fn expiry_forms_agree(secs in 0u64..=253_402_300_799, millis in 0u64..1000) {
            let at = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let rfc3339 = humantime::format_rfc3339(at).to_string();
            prop_assert_eq!(parse_expiry(&json!(rfc3339)).ok(), Some(at));
            prop_assert_eq!(parse_expiry(&json!(rfc3339.replace('Z', "+00:00"))).ok(), Some(at));
            if secs as f64 <= MILLIS_ABOVE {
                prop_assert_eq!(parse_expiry(&json!(secs)).ok(), Some(at));
            }
            let ms = secs * 1000 + millis;
            if ms as f64 > MILLIS_ABOVE {
                let at_ms = at + Duration::from_millis(millis);
                let from_text =
                    parse_expiry(&json!(humantime::format_rfc3339_millis(at_ms).to_string()));
                prop_assert_eq!(from_text.ok(), Some(at_ms));
                let from_ms = parse_expiry(&json!(ms)).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(from_ms, at_ms);
            }
        }

        /// Any number is an instant or an `ExpiryRange` error, never a panic, and in range
        /// exactly when it is a time between 1970 and 9999.
        #[test]
        fn expiry_numbers_in_range_or_refused(n in arb_number()) {
            let f = n.as_f64().unwrap();
            let secs = if f > MILLIS_ABOVE { f / 1000.0 } else { f };
            let in_range = f >= 0.0 && secs <= LATEST_EXPIRY_SECS;
            match parse_expiry(&Value::Number(n)) {
                Ok(at) => {
                    prop_assert!(in_range, "{f}");
                    prop_assert!(at <= SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800));
                }
                Err(err) => {
                    prop_assert!(!in_range, "{f}: {err}");
                    prop_assert!(matches!(err, ParseError::ExpiryRange));
                }
            }
        }

        /// Any value, in any field: an instant or an error, never a panic.
        #[test]
        fn expiry_of_anything_never_panics(value in arb_json(), raw in prop::sample::select(RAW_NUMBERS)) {
            let _ = parse_expiry(&value);
            if let Ok(value) = serde_json::from_str::<Value>(raw) {
                let _ = parse_expiry(&value);
            }
        }
    }

    /// Found by `expiry_forms_agree`: integer milliseconds once went through an f64 and
    /// came out microseconds off (`68719476736376` by 7.08 µs); integers are now exact.
    #[test]
    fn millisecond_expiries_are_exact() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(68_719_476_736_376);
        assert_eq!(parse_expiry(&json!(68_719_476_736_376u64)).unwrap(), at);
        let now_ish = SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_225_600_123);
        assert_eq!(parse_expiry(&json!(1_767_225_600_123u64)).unwrap(), now_ish);
    }

    /// Inputs the properties and the fuzzer have exercised, kept as fixed regressions.
    #[test]
    fn edge_cases_from_fuzzing() {
        for text in [
            r#"{"key":"k","expires_at":-0}"#,
            r#"{"key":"k","expires_at":1e-320}"#,
            r#"{"key":"k","expires_at":1e20}"#,
            r#"{"key":"k","expires_at":"+10000-01-01T00:00:00Z"}"#,
            r#"{"key":"k","expires_at":"0000-01-01T00:00:00Z"}"#,
        ] {
            if let Ok(cred) = parse(text.as_bytes()) {
                let _ = cred.validate();
            }
        }
        // -0 is the epoch: accepted by the parser, refused by validation as expired.
        let zero = parse(br#"{"key":"k","expires_at":-0}"#).unwrap();
        assert_eq!(zero.expires_at(), Some(SystemTime::UNIX_EPOCH));
        assert!(zero.validate().is_err());
    }
}

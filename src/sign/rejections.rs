//! [`Rejections`]: how an API reports a rejected credential, timestamp or nonce, as a table
//! (statuses, and error codes read from a JSON body).

use http::StatusCode;

use super::signer::Rejection;
use super::util;

/// How an API says it rejected a request: the HTTP statuses that mean a rejected credential,
/// and optionally an error code in the JSON body, read for some statuses, with what each code
/// means.
///
/// A code in the table wins over the status (OKX answers 401 for a skewed clock with code
/// 50102, and 401 with 50110 for an IP outside the key's whitelist, which a new key would
/// not fix: [`Rejection::None`]). Without a listed code, a status in
/// [`credential_statuses`](Rejections::credential_statuses) means [`Rejection::Credential`].
///
/// ```
/// use keyswap::reqwest::StatusCode;
/// use keyswap::sign::{Rejection, Rejections};
///
/// // Binance: a JSON `code` in 400 and 401 bodies.
/// let table = Rejections::new()
///     .codes_at("/code", [StatusCode::BAD_REQUEST, StatusCode::UNAUTHORIZED])
///     .code(-1021, Rejection::Timestamp)
///     .code(-2015, Rejection::Credential);
/// assert_eq!(
///     table.classify(StatusCode::BAD_REQUEST, Some(br#"{"code":-1021}"#)),
///     Rejection::Timestamp
/// );
/// assert_eq!(table.classify(StatusCode::UNAUTHORIZED, None), Rejection::Credential);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejections {
    credential_statuses: Vec<StatusCode>,
    code_pointer: Option<String>,
    read_on: Vec<StatusCode>,
    codes: Vec<(i64, Rejection)>,
}

impl Default for Rejections {
    fn default() -> Self {
        Rejections::new()
    }
}

impl Rejections {
    /// HTTP 401 means a rejected credential; no body is read.
    pub fn new() -> Self {
        Rejections {
            credential_statuses: vec![StatusCode::UNAUTHORIZED],
            code_pointer: None,
            read_on: Vec::new(),
            codes: Vec::new(),
        }
    }

    /// The statuses that mean [`Rejection::Credential`] when the body has no listed code
    /// (default: 401).
    pub fn credential_statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.credential_statuses = statuses.into_iter().collect();
        self
    }

    /// Reads the error code at `pointer` (an RFC 6901 JSON pointer; the value a JSON number or
    /// a string holding one) in the bodies of responses with these statuses that are JSON or
    /// untyped.
    pub fn codes_at(
        mut self,
        pointer: impl Into<String>,
        read_on: impl IntoIterator<Item = StatusCode>,
    ) -> Self {
        self.code_pointer = Some(pointer.into());
        self.read_on = read_on.into_iter().collect();
        self
    }

    /// What the error code `code` means (see [`codes_at`](Rejections::codes_at)).
    pub fn code(mut self, code: i64, meaning: Rejection) -> Self {
        self.codes.retain(|(c, _)| *c != code);
        self.codes.push((code, meaning));
        self
    }

    /// Whether a response with this status and these headers may carry a listed code.
    pub fn needs_body(&self, status: StatusCode, headers: &http::HeaderMap) -> bool {
        self.code_pointer.is_some()
            && self.read_on.contains(&status)
            && util::json_or_untyped(headers)
    }

    /// What a response means: its listed code, else its status.
    pub fn classify(&self, status: StatusCode, body: Option<&[u8]>) -> Rejection {
        let listed = match (&self.code_pointer, body) {
            (Some(pointer), Some(body)) => util::json_code(body, pointer)
                .and_then(|code| self.codes.iter().find(|(c, _)| *c == code))
                .map(|(_, meaning)| *meaning),
            _ => None,
        };
        match listed {
            Some(meaning) => meaning,
            None if self.credential_statuses.contains(&status) => Rejection::Credential,
            None => Rejection::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::testutil::{html_headers, json_headers};

    #[test]
    fn a_listed_code_wins_over_the_status_and_unlisted_codes_fall_back_to_it() {
        let t = Rejections::new()
            .codes_at("/code", [StatusCode::UNAUTHORIZED])
            .code(50102, Rejection::Timestamp)
            .code(50110, Rejection::None);
        let c = |body: &str| t.classify(StatusCode::UNAUTHORIZED, Some(body.as_bytes()));
        assert_eq!(c(r#"{"code":"50102"}"#), Rejection::Timestamp);
        assert_eq!(c(r#"{"code":50110}"#), Rejection::None);
        assert_eq!(c(r#"{"code":"1"}"#), Rejection::Credential);
        assert_eq!(c("<html>"), Rejection::Credential);
        assert_eq!(
            t.classify(StatusCode::OK, Some(br#"{"code":50102}"#)),
            Rejection::Timestamp,
            "a code is a code whatever the status, once the body was read"
        );
        assert_eq!(t.classify(StatusCode::OK, None), Rejection::None);
    }

    #[test]
    fn bodies_are_read_only_for_listed_statuses_that_may_hold_json() {
        let t = Rejections::new().codes_at("/retCode", [StatusCode::OK]);
        assert!(t.needs_body(StatusCode::OK, &json_headers()));
        assert!(t.needs_body(StatusCode::OK, &http::HeaderMap::new()));
        assert!(!t.needs_body(StatusCode::OK, &html_headers()));
        assert!(!t.needs_body(StatusCode::UNAUTHORIZED, &json_headers()));
        assert!(!Rejections::new().needs_body(StatusCode::OK, &json_headers()));
    }

    #[test]
    fn statuses_are_configurable_and_a_code_listed_twice_keeps_the_last_meaning() {
        let t = Rejections::new()
            .credential_statuses([StatusCode::FORBIDDEN])
            .codes_at("/c", [StatusCode::BAD_REQUEST])
            .code(7, Rejection::Nonce)
            .code(7, Rejection::Credential);
        assert_eq!(
            t.classify(StatusCode::FORBIDDEN, None),
            Rejection::Credential
        );
        assert_eq!(t.classify(StatusCode::UNAUTHORIZED, None), Rejection::None);
        assert_eq!(
            t.classify(StatusCode::BAD_REQUEST, Some(br#"{"c":7}"#)),
            Rejection::Credential
        );
    }
}

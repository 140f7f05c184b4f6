//! The token request of the client credentials grant (RFC 6749 §4.4) and what its answer means:
//! a token (§5.1), an error (§5.2; `invalid_client` sets off the client secret's rotation), a
//! rate limit (`Retry-After`), or nonsense, refused with a message naming what was wrong.
//! Nothing here ever repeats the body, the token or the client's secret.

use std::time::Duration;

use reqwest::header::{ACCEPT, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::windows::MAX_TOKEN_LIFETIME;
use crate::source::http::{describe_reqwest, parse_retry_after, read_capped};

/// The largest token response read; a bigger one is refused while streaming.
pub(crate) const MAX_TOKEN_RESPONSE: usize = 64 * 1024;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Text the server chose (an error code, a token type) is shown at most this long.
const MAX_SHOWN: usize = 64;

/// A token as the endpoint issued it.
pub(crate) struct Token {
    pub(crate) access_token: String,
    /// `expires_in`, when the response had one.
    pub(crate) lifetime: Option<Duration>,
}

/// Why a grant failed.
#[derive(Clone, Debug)]
pub(crate) struct GrantFailure {
    pub(crate) why: String,
    pub(crate) retry_after: Option<Duration>,
    /// The endpoint refused the client's authentication (`invalid_client`, or a 401).
    pub(crate) invalid_client: bool,
}

impl GrantFailure {
    pub(crate) fn new(why: impl Into<String>) -> Self {
        GrantFailure {
            why: why.into(),
            retry_after: None,
            invalid_client: false,
        }
    }
}

/// Sends `form` (grant type, scope, client authentication) to `url` and reads the answer.
pub(crate) async fn request_token(
    http: &reqwest::Client,
    url: Url,
    basic: Option<String>,
    form: &[(&str, &str)],
    timeout: Duration,
) -> Result<Token, GrantFailure> {
    let mut request = http
        .post(url)
        .timeout(timeout)
        .header(ACCEPT, "application/json")
        .form(form);
    if let Some(basic) = basic {
        let mut value = reqwest::header::HeaderValue::from_str(&basic)
            .map_err(|_| GrantFailure::new("the client id or secret cannot be sent in a header"))?;
        value.set_sensitive(true);
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let resp = request
        .send()
        .await
        .map_err(|e| GrantFailure::new(format!("token endpoint: {}", describe_reqwest(e).why())))?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
        .map(|d| d.min(MAX_RETRY_AFTER));
    let body = read_capped(resp, MAX_TOKEN_RESPONSE)
        .await
        .map_err(|f| GrantFailure::new(format!("token endpoint: {}", f.why())))?;
    if status.is_success() {
        return parse_token(&body)
            .map_err(|why| GrantFailure::new(format!("token response: {why}")));
    }
    Err(refusal(status, &body, retry_after))
}

/// A non-success answer: the §5.2 error code when there is one, `Retry-After` on 429 and 503.
pub(crate) fn refusal(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GrantFailure {
    let code = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(shown));
    let mut why = format!("token endpoint answered {status}");
    if let Some(code) = &code {
        why.push_str(&format!(" ({code})"));
    }
    let rate_limited =
        status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
    let retry_after = retry_after.filter(|_| rate_limited);
    if let Some(after) = retry_after {
        why.push_str(&format!(", Retry-After {}s", after.as_secs()));
    }
    GrantFailure {
        why,
        retry_after,
        invalid_client: code.as_deref() == Some("invalid_client")
            || status == StatusCode::UNAUTHORIZED,
    }
}

/// A successful answer (§5.1): a JSON object with a string `access_token`, `token_type`
/// Bearer (or absent), and `expires_in` (absent, or seconds in `(0, 1 year]`, as a number or
/// a numeric string as some servers send it).
pub(crate) fn parse_token(body: &[u8]) -> Result<Token, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        // serde_json's syntax errors name a position, never the input.
        format!("not JSON ({e})")
    })?;
    let Some(object) = value.as_object() else {
        return Err("not a JSON object".into());
    };
    let access_token = match object.get("access_token") {
        None | Some(serde_json::Value::Null) => return Err("no access_token".into()),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => return Err("access_token is not a string".into()),
    };
    if access_token.is_empty() {
        return Err("access_token is empty".into());
    }
    if !access_token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("access_token contains characters a header cannot carry".into());
    }
    match object.get("token_type") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        Some(serde_json::Value::String(t)) => {
            return Err(format!(
                "token_type is {:?}; only Bearer tokens are supported",
                shown(t)
            ));
        }
        Some(_) => return Err("token_type is not a string".into()),
    }
    let lifetime = match object.get("expires_in") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(lifetime(v)?),
    };
    Ok(Token {
        access_token,
        lifetime,
    })
}

/// The shortest token lifetime accepted (from `expires_in` or as the default lifetime).
pub(crate) const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(1);

fn lifetime(v: &serde_json::Value) -> Result<Duration, String> {
    let secs = match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .ok_or_else(|| "expires_in is not a number".to_owned())?;
    let max = MAX_TOKEN_LIFETIME.as_secs();
    // A token that is gone before it can be used would cost a grant per request.
    let min = MIN_TOKEN_LIFETIME.as_secs_f64();
    if !secs.is_finite() || secs < min || secs > max as f64 {
        return Err(format!(
            "expires_in is {secs}: expected seconds, at least {min} and at most {max} (a year)"
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("expires_in is {secs}: out of range"))
}

/// Server-chosen text as shown in errors: printable ASCII, bounded.
fn shown(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_SHOWN)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        match parse_token(body.as_bytes()) {
            Ok(_) => panic!("accepted {body}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_bearer_token_with_its_lifetime_is_accepted() {
        let t = parse_token(br#"{"access_token":"abc.def","token_type":"bearer","expires_in":2}"#)
            .unwrap();
        assert_eq!(t.access_token, "abc.def");
        assert_eq!(t.lifetime, Some(Duration::from_secs(2)));
        let t = parse_token(br#"{"access_token":"x","expires_in":"3600"}"#).unwrap();
        assert_eq!(t.lifetime, Some(Duration::from_secs(3600)));
        let t = parse_token(br#"{"access_token":"x","token_type":"Bearer"}"#).unwrap();
        assert_eq!(t.lifetime, None);
    }

    #[test]
    fn nonsense_is_refused_naming_what_is_wrong_and_never_the_token() {
        assert!(err("{oops").starts_with("not JSON"));
        assert_eq!(err("[1]"), "not a JSON object");
        assert_eq!(err(r#"{"token_type":"Bearer"}"#), "no access_token");
        assert_eq!(
            err(r#"{"access_token":42}"#),
            "access_token is not a string"
        );
        assert_eq!(err(r#"{"access_token":""}"#), "access_token is empty");
        assert!(err(r#"{"access_token":"se cret"}"#).contains("characters"));
        let mac = err(r#"{"access_token":"secret-tok","token_type":"mac"}"#);
        assert!(
            mac.contains("only Bearer") && !mac.contains("secret-tok"),
            "{mac}"
        );
        for absurd in ["-5", "0", "1e20", "\"soon\"", "true", "31536001"] {
            let body = format!(r#"{{"access_token":"secret-tok","expires_in":{absurd}}}"#);
            let e = err(&body);
            assert!(e.starts_with("expires_in"), "{absurd}: {e}");
            assert!(!e.contains("secret-tok"), "{e}");
        }
    }

    #[test]
    fn invalid_client_and_rate_limits_are_recognised() {
        let f = refusal(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_client","error_description":"client authentication failed"}"#,
            None,
        );
        assert!(f.invalid_client);
        assert_eq!(
            f.why,
            "token endpoint answered 400 Bad Request (invalid_client)"
        );
        assert!(refusal(StatusCode::UNAUTHORIZED, b"", None).invalid_client);
        let f = refusal(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_scope"}"#,
            Some(Duration::from_secs(5)),
        );
        assert!(!f.invalid_client && f.retry_after.is_none());
        let f = refusal(
            StatusCode::TOO_MANY_REQUESTS,
            b"slow down",
            Some(Duration::from_secs(7)),
        );
        assert_eq!(f.retry_after, Some(Duration::from_secs(7)));
        assert!(
            f.why.contains("429") && f.why.contains("Retry-After 7s"),
            "{}",
            f.why
        );
    }
}

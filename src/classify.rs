//! What a response says about the request's credential: the one place that decides, for every
//! skin. Status and headers decide for plain placements (no body is touched: the zero-copy
//! path); an exchange signer or a body rule may read a bounded body, after which the caller
//! still gets a response whose body reads exactly as the server sent it.
//!
//! gRPC answers a rejected call with HTTP 200 and the gRPC status in `grpc-status`. When the
//! server rejects before sending any message (an auth interceptor does), that status is in the
//! response's headers (a "trailers-only" response) and is read here like an HTTP status, mapped
//! as the gRPC spec maps HTTP statuses to gRPC codes: UNAUTHENTICATED (16) counts as 401,
//! PERMISSION_DENIED (7) as 403. So the statuses of the [`RejectionPolicy`] decide for gRPC
//! too (by default 401: UNAUTHENTICATED). A `grpc-status` sent in real trailers, after the
//! response's messages, is not seen: it arrives after the body, when the caller reads it.

use std::sync::Arc;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName};
use reqwest::{Response, StatusCode};

use crate::rejection_policy::RejectionPolicy;
use crate::response::{MAX_CLASSIFIED_BODY, buffered};
use crate::sign::{Rejection, Signer};

/// The engine's verdict on a response it returned, carried in the response's extensions so
/// that no skin classifies again (see [`verdict`]). Set only when it is not
/// [`Rejection::None`]: accepted responses carry nothing (no allocation on the steady path).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Verdict(pub(crate) Rejection);

/// What the engine concluded about the response a request returned: the same classifier the
/// recover path acts on (the rejection statuses, the exchange signer, the body rule), decided
/// once, when the response arrived. [`Rejection::Credential`] means the recover path could not
/// absorb the rejection: the credential itself is bad. [`Rejection::None`] for an accepted
/// response and for one that never carried the credential (another origin).
///
/// ```
/// # async fn demo(client: keyswap::Client) -> keyswap::Result<()> {
/// let resp = client.get("https://api.example.com/v1/me").send().await?;
/// if keyswap::verdict(&resp) == keyswap::Rejection::Credential {
///     eprintln!("the credential is refused for good");
/// }
/// # Ok(()) }
/// ```
pub fn verdict(resp: &Response) -> Rejection {
    resp.extensions()
        .get::<Verdict>()
        .map_or(Rejection::None, |v| v.0)
}

pub(crate) struct Classifier {
    pub(crate) policy: RejectionPolicy,
    pub(crate) signer: Option<Arc<dyn Signer>>,
}

impl Classifier {
    /// The verdict from status and headers alone (the [`RejectionPolicy`]'s statuses and test, and
    /// what a signer can tell without the body).
    pub(crate) fn by_head(&self, resp: &Response) -> Rejection {
        if let Some(signer) = &self.signer {
            let verdict = signer.classify(resp.status(), resp.headers(), None);
            if verdict != Rejection::None {
                return verdict;
            }
        }
        if self.rejects(resp) {
            Rejection::Credential
        } else {
            Rejection::None
        }
    }

    /// "Credential rejected" by status (or, for gRPC, the HTTP status its code stands for) or
    /// by the policy's test on status and headers.
    fn rejects(&self, resp: &Response) -> bool {
        let status = resp.status();
        self.policy.statuses.contains(&status)
            || (status == StatusCode::OK
                && grpc_as_http(resp.headers()).is_some_and(|s| self.policy.statuses.contains(&s)))
            || self.policy.predicate.as_ref().is_some_and(|p| p(resp))
    }

    /// Whether classifying `resp` reads its body: a signer asks for it, or a body rule is set and
    /// the body is textual. Otherwise [`by_head`](Self::by_head) decides alone.
    pub(crate) fn needs_body(&self, resp: &Response) -> bool {
        let (status, headers) = (resp.status(), resp.headers());
        let signer_reads = self
            .signer
            .as_ref()
            .is_some_and(|s| s.needs_body(status, headers));
        signer_reads || (self.policy.body_rule.is_some() && textual(headers))
    }

    /// The verdict, reading the body (at most [`MAX_CLASSIFIED_BODY`] bytes) only when a signer
    /// or a body rule asks for it.
    pub(crate) async fn classify(&self, resp: Response) -> (Rejection, Response) {
        if !self.needs_body(&resp) {
            let verdict = self.by_head(&resp);
            return (verdict, resp);
        }
        let (resp, body) = buffered(resp, MAX_CLASSIFIED_BODY).await;
        let (status, headers) = (resp.status(), resp.headers());
        if let Some(signer) = &self.signer {
            let verdict = signer.classify(status, headers, body.as_deref());
            if verdict != Rejection::None {
                return (verdict, resp);
            }
        }
        if self.rejects(&resp) {
            return (Rejection::Credential, resp);
        }
        if let (Some(rule), Some(body)) = (&self.policy.body_rule, &body) {
            let verdict = rule(status, headers, body);
            return (verdict, resp);
        }
        (Rejection::None, resp)
    }
}

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// The HTTP status a gRPC trailers-only answer's code stands for, for the codes that concern
/// credentials: UNAUTHENTICATED (16) → 401, PERMISSION_DENIED (7) → 403. `None` for any other
/// answer (one lookup of an absent header on a plain HTTP response).
fn grpc_as_http(headers: &HeaderMap) -> Option<StatusCode> {
    let code = headers.get(GRPC_STATUS)?;
    let http = match code.as_bytes() {
        b"16" => StatusCode::UNAUTHORIZED,
        b"7" => StatusCode::FORBIDDEN,
        _ => return None,
    };
    // `application/grpc`, `application/grpc+proto`, `application/grpc-web`, …
    let grpc = headers.get(CONTENT_TYPE).is_some_and(|ct| {
        ct.as_bytes()
            .get(..16)
            .is_some_and(|t| t.eq_ignore_ascii_case(b"application/grpc"))
    });
    grpc.then_some(http)
}

/// A body worth reading for a rule: JSON or text, or untyped.
fn textual(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.contains("json") || ct.starts_with("text/")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn grpc_trailers_only_codes_map_to_http() {
        let grpc = |code| headers(&[("content-type", "application/grpc"), ("grpc-status", code)]);
        assert_eq!(grpc_as_http(&grpc("16")), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(grpc_as_http(&grpc("7")), Some(StatusCode::FORBIDDEN));
        assert_eq!(grpc_as_http(&grpc("0")), None);
        assert_eq!(grpc_as_http(&grpc("14")), None);
        let web = headers(&[
            ("content-type", "application/grpc-web+proto"),
            ("grpc-status", "16"),
        ]);
        assert_eq!(grpc_as_http(&web), Some(StatusCode::UNAUTHORIZED));
        // Not gRPC: a `grpc-status` header on some other answer means nothing here.
        let json = headers(&[("content-type", "application/json"), ("grpc-status", "16")]);
        assert_eq!(grpc_as_http(&json), None);
        assert_eq!(grpc_as_http(&headers(&[("grpc-status", "16")])), None);
        assert_eq!(grpc_as_http(&HeaderMap::new()), None);
    }
}

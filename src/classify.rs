//! What a response says about the request's credential: the one place that decides, for every
//! skin. Status and headers decide for plain placements (no body is touched: the zero-copy
//! path); an exchange signer or a body rule may read a bounded body, after which the caller
//! still gets a response whose body reads exactly as the server sent it.

use std::sync::Arc;

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Response, StatusCode};

use crate::response::{MAX_CLASSIFIED_BODY, buffered};
use crate::sign::{Rejection, Signer};

pub(crate) type ResponsePredicate = Arc<dyn Fn(&Response) -> bool + Send + Sync>;
pub(crate) type BodyRule = Arc<dyn Fn(StatusCode, &HeaderMap, &[u8]) -> Rejection + Send + Sync>;

pub(crate) struct Classifier {
    pub(crate) statuses: Vec<StatusCode>,
    pub(crate) predicate: Option<ResponsePredicate>,
    pub(crate) body_rule: Option<BodyRule>,
    pub(crate) signer: Option<Arc<dyn Signer>>,
}

impl Classifier {
    /// The verdict from status and headers alone (`retry_on_status`, `retry_on`, and what a
    /// signer can tell without the body).
    pub(crate) fn by_head(&self, resp: &Response) -> Rejection {
        if let Some(signer) = &self.signer {
            let verdict = signer.classify(resp.status(), resp.headers(), None);
            if verdict != Rejection::None {
                return verdict;
            }
        }
        if self.statuses.contains(&resp.status())
            || self.predicate.as_ref().is_some_and(|p| p(resp))
        {
            Rejection::Credential
        } else {
            Rejection::None
        }
    }

    /// Whether classifying `resp` reads its body: a signer asks for it, or a body rule is set and
    /// the body is textual. Otherwise [`by_head`](Self::by_head) decides alone.
    pub(crate) fn needs_body(&self, resp: &Response) -> bool {
        let (status, headers) = (resp.status(), resp.headers());
        let signer_reads = self
            .signer
            .as_ref()
            .is_some_and(|s| s.needs_body(status, headers));
        signer_reads || (self.body_rule.is_some() && textual(headers))
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
        if self.statuses.contains(&status) || self.predicate.as_ref().is_some_and(|p| p(&resp)) {
            return (Rejection::Credential, resp);
        }
        if let (Some(rule), Some(body)) = (&self.body_rule, &body) {
            let verdict = rule(status, headers, body);
            return (verdict, resp);
        }
        (Rejection::None, resp)
    }
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

//! The recover path after an authentication failure: what to retry with, and whether to wait.

use std::sync::Arc;

use reqwest::{Request, Response};

use crate::client::Shared;
use crate::credential::Credential;
use crate::error::Result;
use crate::refresh::Failed;
use crate::request_path::Attempt;
use crate::transport::Transport;

impl Shared {
    /// After `failed` was rejected: (1) the credential requests use now if it is another one
    /// (a watcher delivered it, a hold started, a rejected previous was retired), else a
    /// single-flight refresh; (2) the previous credential inside its overlap window, tried by
    /// one request at a time until the server has accepted it; (3) if nothing newer exists, a
    /// bounded wait for the source to rotate. At most one retry with a newer credential and one
    /// with the previous; otherwise the server's response stands.
    pub(crate) async fn recover<T: Transport>(
        &self,
        transport: &T,
        template: &Request,
        failed: u64,
        when: Failed,
        resp: Response,
    ) -> Result<Response> {
        self.store.rejected(failed);
        let mut last = resp;
        let mut tried = vec![failed];

        let fresh = self.other_than(failed, when).await;
        if let Some(cred) = &fresh {
            match self.retry(transport, template, cred).await? {
                Attempt::Accepted(resp) | Attempt::Resign(_, resp) => {
                    self.store.accepted(cred.fingerprint());
                    return Ok(resp);
                }
                Attempt::Rejected(resp) => {
                    self.store.rejected(cred.fingerprint());
                    tried.push(cred.fingerprint());
                    last = resp;
                }
            }
        }

        if let Some((prev, _testing)) = self.fallback(&tried).await {
            self.counters.fallbacks.inc();
            self.metrics.fallback();
            // `_testing` (held for an untried previous) keeps other requests from sending it
            // until this attempt has decided.
            match self.retry(transport, template, &prev).await? {
                Attempt::Accepted(resp) | Attempt::Resign(_, resp) => {
                    self.store.hold_on_previous(prev.fingerprint());
                    return Ok(resp);
                }
                Attempt::Rejected(resp) => {
                    // Revoked: spare every later request the same wasted attempt.
                    self.store.rejected(prev.fingerprint());
                    tried.push(prev.fingerprint());
                    last = resp;
                }
            }
        }

        if fresh.is_none() {
            if let Some(cred) = self.await_rotation(failed, when).await {
                if !tried.contains(&cred.fingerprint()) {
                    return Ok(match self.retry(transport, template, &cred).await? {
                        Attempt::Accepted(resp) | Attempt::Resign(_, resp) => {
                            self.store.accepted(cred.fingerprint());
                            resp
                        }
                        Attempt::Rejected(resp) => {
                            self.store.rejected(cred.fingerprint());
                            resp
                        }
                    });
                }
            }
        }
        Ok(last)
    }

    async fn other_than(&self, failed: u64, when: Failed) -> Option<Arc<Credential>> {
        let current = self.store.current();
        if current.fingerprint() != failed {
            return Some(current);
        }
        let refreshed = self.refresh_shared(when).await;
        (refreshed.fingerprint() != failed).then_some(refreshed)
    }

    /// The previous credential, if it may be tried. One that the server has not accepted since
    /// the newest was rejected is tried by one request at a time: if the server rejects it,
    /// the others never send it: the guard returned with it is held for the attempt.
    async fn fallback(
        &self,
        tried: &[u64],
    ) -> Option<(Arc<Credential>, Option<tokio::sync::MutexGuard<'_, ()>>)> {
        let (prev, verified) = self
            .store
            .previous()
            .filter(|(p, _)| !tried.contains(&p.fingerprint()))?;
        if verified {
            return Some((prev, None));
        }
        let gate = self.refresher.fallback_gate.lock().await;
        // Decided while this request queued: accepted (go on, concurrently), retired (skip),
        // or still untried (this request tries it, holding the gate).
        let (again, verified) = self
            .store
            .previous()
            .filter(|(p, _)| p.fingerprint() == prev.fingerprint())?;
        Some((again, (!verified).then_some(gate)))
    }
}

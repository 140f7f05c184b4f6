//! A credential that never changes.

use super::credential_source::{BoxFuture, CredentialSource};
use crate::credential::Credential;
use crate::error::Result;

/// A fixed credential; create with [`Source::fixed`](crate::Source::fixed). For tests, and for
/// deployments that rotate by restarting.
#[derive(Debug, Clone)]
pub struct FixedSource {
    credential: Credential,
}

impl FixedSource {
    pub(crate) fn new(credential: Credential) -> Self {
        FixedSource { credential }
    }
}

impl CredentialSource for FixedSource {
    fn name(&self) -> String {
        "fixed".to_owned()
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential>> {
        let credential = self.credential.clone();
        Box::pin(async move { Ok(credential) })
    }
}

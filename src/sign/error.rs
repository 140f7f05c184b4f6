//! [`SignError`]: why a signer could not sign, naming the signer and the cause, never a key,
//! secret, passphrase or signature.

use std::fmt;

/// Why a request could not be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignErrorKind {
    /// The credential has no secret, and the scheme needs one.
    #[error("the credential has no secret")]
    MissingSecret,
    /// The credential has no passphrase, and the scheme needs one.
    #[error("the credential has no passphrase")]
    MissingPassphrase,
    /// The secret has the wrong form for the scheme (the text says which).
    #[error("the secret is not {0}")]
    InvalidSecret(&'static str),
    /// The key (or passphrase) cannot be sent as the scheme requires (the text says why).
    #[error("{0}")]
    InvalidKey(&'static str),
    /// The request body is a stream: its bytes are not known before sending, so they cannot
    /// be signed.
    #[error("the request body is a stream and cannot be signed")]
    StreamingBody,
    /// The request cannot be signed as it is (the text says why).
    #[error("{0}")]
    InvalidRequest(&'static str),
}

/// A request could not be signed. The message names the signer and the cause
/// (`"binance: the credential has no secret"`) and never contains key, secret, passphrase or
/// signature: every cause is a fixed text.
#[derive(Clone, PartialEq, Eq)]
pub struct SignError {
    signer: String,
    kind: SignErrorKind,
}

impl SignError {
    /// An error of `signer` (its [`Signer::name`](super::Signer::name)) for `kind`.
    pub fn new(signer: impl Into<String>, kind: SignErrorKind) -> Self {
        SignError {
            signer: signer.into(),
            kind,
        }
    }

    /// The name of the signer that failed.
    pub fn signer(&self) -> &str {
        &self.signer
    }

    /// The cause.
    pub fn kind(&self) -> SignErrorKind {
        self.kind
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.signer, self.kind)
    }
}

impl fmt::Debug for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignError")
            .field("signer", &self.signer)
            .field("kind", &self.kind)
            .finish()
    }
}

impl std::error::Error for SignError {}

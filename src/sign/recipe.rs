//! What an HMAC signing recipe is made of: the pieces of the signed text, the hash, the
//! encodings, the timestamp format, and where each value goes on the request.

use http::HeaderName;

/// The hash function of the HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashAlg {
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How the signature bytes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigEncoding {
    /// Lower-case hexadecimal.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// How the credential's secret becomes the HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretEncoding {
    /// The secret's UTF-8 bytes.
    Raw,
    /// The secret is standard base64: the decoded bytes.
    Base64,
}

/// How the timestamp is written (in its header or parameter and in the signed text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampFormat {
    /// Whole seconds since the UNIX epoch.
    UnixSeconds,
    /// Milliseconds since the UNIX epoch.
    UnixMillis,
    /// ISO 8601 UTC with milliseconds: `2020-12-08T09:08:57.715Z`.
    Iso8601Millis,
}

/// One piece of the text that is signed; the pieces are concatenated with nothing between
/// them (use [`Part::Literal`] for separators).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The timestamp, as sent.
    Timestamp,
    /// The HTTP method, upper case (`GET`).
    Method,
    /// The URL path (`/api/v5/account/balance`).
    Path,
    /// The query string without `?`, as sent: with the signer's own parameters (timestamp,
    /// key, fixed parameters) but without the signature.
    Query,
    /// The path, plus `?` and the query when there is one.
    PathAndQuery,
    /// The request body's bytes (empty without a body).
    Body,
    /// The query for `GET`, the body for other methods (Bybit's rule).
    QueryOrBody,
    /// The credential's key.
    Key,
    /// The receive window in milliseconds as sent (`5000`), or nothing when the signer sends
    /// none (see [`HmacSigner::recv_window_ms`](super::HmacSigner::recv_window_ms)).
    RecvWindow,
    /// Fixed text (a separator such as `"\n"`).
    Literal(String),
}

/// Where a value the signer adds goes: a header, or a query parameter (percent-encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Placement {
    Header(HeaderName),
    Query(String),
}

/// A receive window: where it goes, its value (`None`: not sent), and the largest value the
/// API accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RecvWindow {
    pub(super) placement: Placement,
    pub(super) ms: Option<u64>,
    pub(super) max_ms: u64,
}

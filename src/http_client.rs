//! The default HTTP client, built once per process and shared by every keyswap client and
//! endpoint source that was not given one: building a `reqwest::Client` loads and parses the
//! system's TLS roots, which costs milliseconds and memory per client. Clones share one
//! connection pool.

use std::sync::OnceLock;

/// The shared default: reqwest's defaults with redirects off (keyswap follows redirects itself,
/// deciding per hop whether the credential goes along; an endpoint source never follows one).
pub(crate) fn shared_default() -> Result<reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        })
        .clone()
}

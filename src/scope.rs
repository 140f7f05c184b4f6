//! Which requests may carry the credential: in-scope origins only, and never in clear text
//! to a host that is not this machine.

use std::net::IpAddr;

use reqwest::Url;
use url::Origin;

use crate::error::{Error, Kind, Result};

#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// Configured origins; only scheme, host and port of these URLs are compared.
    origins: Vec<Url>,
    allow_insecure_http: bool,
}

impl Scope {
    pub(crate) fn new(origins: &[Url], allow_insecure_http: bool) -> Self {
        Scope {
            origins: origins.to_vec(),
            allow_insecure_http,
        }
    }

    /// Whether a request to `url` gets the credential. With no origins configured, the origin
    /// of the request the caller made is the scope (`first`, known once a redirect happened;
    /// `None` on the caller's own request): a redirect elsewhere loses the credential.
    /// Compares without allocating: this runs on every request.
    pub(crate) fn admits(&self, url: &Url, first: Option<&Origin>) -> bool {
        if self.origins.is_empty() {
            return first.is_none_or(|first| &url.origin() == first);
        }
        self.origins.iter().any(|o| {
            o.scheme() == url.scheme()
                && o.host() == url.host()
                && o.port_or_known_default() == url.port_or_known_default()
        })
    }

    /// Refuses to put a credential on a plain-HTTP request to a host that is not loopback.
    pub(crate) fn check_transport(&self, url: &Url) -> Result<()> {
        if url.scheme() != "http" || self.allow_insecure_http || is_loopback(url) {
            return Ok(());
        }
        Err(Error::new(
            Kind::Insecure,
            format!(
                "refusing to send the credential over plain http to {}; use https, or allow it with \
                 ClientBuilder::allow_insecure_http(true)",
                url.host_str().unwrap_or("?")
            ),
        ))
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => {
            // Without allocating: this runs on every plain-HTTP request.
            const SUFFIX: &str = ".localhost";
            d.eq_ignore_ascii_case("localhost")
                || (d.len() > SUFFIX.len()
                    && d.is_char_boundary(d.len() - SUFFIX.len())
                    && d[d.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX))
        }
        None => false,
    }
}

/// A URL as it may be shown: no query (it can hold the key), no fragment, no password.
pub(crate) fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn configured_origins_decide() {
        let scope = Scope::new(&[url("https://api.example.com/base/")], false);
        let first = url("https://other.example").origin();
        assert!(scope.admits(&url("https://api.example.com/v1?x=1"), None));
        assert!(scope.admits(&url("https://API.example.com:443/v1"), Some(&first)));
        assert!(!scope.admits(&url("https://api.example.com:8443/v1"), None));
        assert!(!scope.admits(&url("http://api.example.com/v1"), None));
        assert!(!scope.admits(&url("https://evil.example/v1"), None));
        assert!(!scope.admits(&url("https://api.example.com.evil.example/v1"), None));
    }

    #[test]
    fn without_configuration_the_first_origin_is_the_scope() {
        let scope = Scope::default();
        let first = url("https://a.example").origin();
        assert!(
            scope.admits(&url("https://b.example/x"), None),
            "the caller's own request"
        );
        assert!(scope.admits(&url("https://a.example/x"), Some(&first)));
        assert!(!scope.admits(&url("https://b.example/x"), Some(&first)));
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        let strict = Scope::default();
        assert!(
            strict
                .check_transport(&url("http://127.0.0.1:8080/"))
                .is_ok()
        );
        assert!(strict.check_transport(&url("http://[::1]:8080/")).is_ok());
        assert!(strict.check_transport(&url("http://localhost/")).is_ok());
        assert!(
            strict
                .check_transport(&url("http://api.LOCALHOST/"))
                .is_ok()
        );
        assert!(
            strict
                .check_transport(&url("http://localhost.example/"))
                .is_err()
        );
        assert!(
            strict
                .check_transport(&url("https://api.example.com/"))
                .is_ok()
        );
        let err = strict
            .check_transport(&url("http://api.example.com/"))
            .unwrap_err();
        assert!(err.is_insecure());
        assert!(err.to_string().contains("api.example.com"));
        let relaxed = Scope::new(&[], true);
        assert!(
            relaxed
                .check_transport(&url("http://api.example.com/"))
                .is_ok()
        );
    }

    #[test]
    fn display_url_drops_the_query() {
        assert_eq!(
            display_url(&url("https://u:pw@a.example/p?api_key=SECRET#f")),
            "https://u@a.example/p"
        );
    }
}

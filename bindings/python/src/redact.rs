//! The one place the bindings shorten a URL for display (a repr, an exception message): no
//! password, no query, no fragment, any of which can hold a credential. The core has the same
//! rule (`scope::display_url`), not public yet: this follows it until it is.

/// `url` as it may be shown.
pub(crate) fn shown_url(url: &str) -> String {
    match keyswap::reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    }
}

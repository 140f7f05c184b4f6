//! OAuth2 client credentials (RFC 6749 §4.4): a source whose credential is an access token,
//! obtained from a token endpoint with a client id and a client secret (or private key) that is
//! itself a keyswap [`Source`], and renewed before it expires.
//!
//! - [`grant`]: the token request and what its answer means;
//! - [`client_auth`]: `client_secret_basic`, `client_secret_post`, `private_key_jwt`;
//! - [`windows`]: the advisory and mandatory windows before expiry.
//!
//! The lifecycle lives where it always does: the client's driver renews in the advisory window
//! (see [`RefreshWindows`](crate::RefreshWindows)), the request path waits in the mandatory
//! one, the refresh path answers a 401. What this source adds is one token request in flight
//! at a time (everyone else gets its token), the token kept for whoever asks while it is
//! fresh, the second level of rotation (the client secret, re-read when the endpoint answers
//! `invalid_client`) and a spacing between failed attempts.

mod client_auth;
mod grant;
mod windows;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;

use super::credential_source::{BoxFuture, CredentialSource};
use super::http::check_transport;
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::scope::display_url;

pub use client_auth::ClientAuthMethod;
use grant::GrantFailure;
pub(crate) use windows::{
    DEFAULT_ADVISORY_MARGIN, DEFAULT_MANDATORY_MARGIN, DEFAULT_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME,
};

/// Default for [`OAuth2ClientCredentials::timeout`]: the bound on one token request.
pub(crate) const DEFAULT_TOKEN_TIMEOUT: Duration = Duration::from_secs(2);
/// Default for [`OAuth2ClientCredentials::await_secret`]: how long a grant refused with
/// `invalid_client` waits for the client secret's source to deliver a new secret (the same
/// bound as [`RotationPolicy::DEFAULT_AWAIT_ROTATION`](crate::RotationPolicy::DEFAULT_AWAIT_ROTATION) for keys).
pub(crate) const DEFAULT_AWAIT_SECRET: Duration = Duration::from_secs(1);
/// Default for [`OAuth2ClientCredentials::retry_spacing`]: after a failed token request, no new
/// one before this has passed (or the endpoint's longer `Retry-After`).
pub(crate) const DEFAULT_RETRY_SPACING: Duration = Duration::from_secs(1);
/// While waiting for a new client secret, how often its source is read.
const SECRET_POLL_STEP: Duration = Duration::from_millis(100);

/// OAuth2 client credentials: the credential is an access token from `token_url`; create with
/// [`Source::oauth2_client_credentials`](crate::Source::oauth2_client_credentials) and send it
/// with [`Auth::bearer`](crate::Auth::bearer) (the default).
///
/// ```no_run
/// use std::time::Duration;
/// use keyswap::{Client, ClientAuthMethod, Source};
///
/// # async fn run() -> Result<(), keyswap::Error> {
/// let token = Source::oauth2_client_credentials(
///     "https://login.example.com/oauth2/token",
///     "billing-service",
///     Source::file("/run/secrets/oauth_client_secret"), // re-read when refused
/// )
/// .auth_method(ClientAuthMethod::ClientSecretBasic)
/// .scope("invoices:read invoices:write")
/// .advisory_margin(Duration::from_secs(300));
/// let client = Client::builder()
///     .source(token)
///     .base_url("https://api.example.com")
///     .build()
///     .await?;
/// let resp = client.get("/v1/invoices").send().await?;
/// # let _ = resp; Ok(()) }
/// ```
///
/// Behaviour:
/// - **Renewal**: a token with `expires_in` = L is renewed in the background from
///   L − min([`advisory_margin`](Self::advisory_margin), L/20) on (requests keep using it;
///   a failure changes nothing), and requests wait for the new one from
///   L − min([`mandatory_margin`](Self::mandatory_margin), L/40) on. Once it has expired with
///   no new one to be had, requests fail with an error naming the cause. A 401 from the API
///   gets a new token. Lifetimes are measured from when the token request was sent.
/// - **One token request in flight** per source, however many requests see the expiry or a
///   401 at once: they wait for it and share its token.
/// - **The client secret rotates too**: it is read from its source once and kept; when the
///   endpoint answers `invalid_client` (or 401) it is read again, and the grant retried once
///   with the new secret; if the source still has the old one, it is read every 100 ms for up
///   to [`await_secret`](Self::await_secret). A token obtained with the old secret keeps
///   serving until it expires or is refused.
/// - **Faults**: 429 and 503 with `Retry-After` are honoured (no request before it has passed);
///   after any failure no new request for [`retry_spacing`](Self::retry_spacing); a
///   [timeout](Self::timeout) per request; a response that is not JSON, has no string
///   `access_token`, a non-Bearer `token_type` or an absurd `expires_in` (not a number, ≤ 0,
///   more than a year) is refused with a message saying which. `https` is required except to
///   loopback; redirects are not followed.
/// - **Secrets stay secret**: errors, logs and `Debug` show the endpoint, the client id and the
///   secret's source name, never a token, secret or response body.
pub struct OAuth2ClientCredentials {
    token_url: std::result::Result<Url, String>,
    client_id: String,
    /// The client secret's source (a [`Source`](crate::Source)'s inside).
    secret: Arc<dyn CredentialSource>,
    method: ClientAuthMethod,
    scope: Option<String>,
    audience: Option<String>,
    resource: Option<String>,
    extra: Vec<(String, String)>,
    key_id: Option<String>,
    advisory: Duration,
    mandatory: Duration,
    default_lifetime: Duration,
    timeout: Duration,
    await_secret: Duration,
    retry_spacing: Duration,
    http: Option<reqwest::Client>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The last token and when its answer arrived.
    token: Option<(Credential, Instant)>,
    /// The client secret (or private key) last read from its source.
    secret: Option<Credential>,
    /// No token request before this instant: the last one failed so.
    not_before: Option<(Instant, GrantFailure)>,
}

impl OAuth2ClientCredentials {
    /// Default for [`OAuth2ClientCredentials::timeout`]: the bound on one token request.
    pub const DEFAULT_TOKEN_TIMEOUT: Duration = DEFAULT_TOKEN_TIMEOUT;
    /// Default for [`OAuth2ClientCredentials::await_secret`]: how long a grant refused with
    /// `invalid_client` waits for the client secret's source to deliver a new secret (the same
    /// bound as [`RotationPolicy::DEFAULT_AWAIT_ROTATION`](crate::RotationPolicy::DEFAULT_AWAIT_ROTATION) for keys).
    pub const DEFAULT_AWAIT_SECRET: Duration = DEFAULT_AWAIT_SECRET;
    /// Default for [`OAuth2ClientCredentials::retry_spacing`]: after a failed token request, no new
    /// one before this has passed (or the endpoint's longer `Retry-After`).
    pub const DEFAULT_RETRY_SPACING: Duration = DEFAULT_RETRY_SPACING;
    /// Default for [`OAuth2ClientCredentials::advisory_margin`](super::OAuth2ClientCredentials::advisory_margin).
    pub const DEFAULT_ADVISORY_MARGIN: Duration = DEFAULT_ADVISORY_MARGIN;
    /// Default for [`OAuth2ClientCredentials::mandatory_margin`](super::OAuth2ClientCredentials::mandatory_margin).
    pub const DEFAULT_MANDATORY_MARGIN: Duration = DEFAULT_MANDATORY_MARGIN;
    /// Default for [`OAuth2ClientCredentials::default_lifetime`](super::OAuth2ClientCredentials::default_lifetime):
    /// the lifetime assumed when a token response has no `expires_in` (aws-smithy assumes the same).
    pub const DEFAULT_TOKEN_LIFETIME: Duration = DEFAULT_TOKEN_LIFETIME;
    /// The longest `expires_in` accepted (a year): anything longer is a broken server.
    pub const MAX_TOKEN_LIFETIME: Duration = MAX_TOKEN_LIFETIME;

    pub(crate) fn new(
        token_url: &str,
        client_id: impl Into<String>,
        secret: Arc<dyn CredentialSource>,
    ) -> Self {
        let token_url = Url::parse(token_url).map_err(|e| {
            format!(
                "invalid token URL {:?}: {e}",
                token_url.split(['?', '#']).next().unwrap_or_default()
            )
        });
        OAuth2ClientCredentials {
            token_url,
            client_id: client_id.into(),
            secret,
            method: ClientAuthMethod::default(),
            scope: None,
            audience: None,
            resource: None,
            extra: Vec::new(),
            key_id: None,
            advisory: DEFAULT_ADVISORY_MARGIN,
            mandatory: DEFAULT_MANDATORY_MARGIN,
            default_lifetime: DEFAULT_TOKEN_LIFETIME,
            timeout: DEFAULT_TOKEN_TIMEOUT,
            await_secret: DEFAULT_AWAIT_SECRET,
            retry_spacing: DEFAULT_RETRY_SPACING,
            http: None,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// How the client authenticates. Default: [`ClientAuthMethod::ClientSecretBasic`].
    pub fn auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.method = method;
        self
    }

    /// The `scope` parameter (space-separated scopes). Default: none sent.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The `audience` parameter (Auth0, Okta and others name the API with it). Default: none.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The `resource` parameter (RFC 8707 resource indicator). Default: none.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Adds a form parameter to every token request. Default: none.
    pub fn form_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    /// The `kid` header of `private_key_jwt` assertions. Default: none.
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        self.key_id = Some(kid.into());
        self
    }

    /// How long before expiry the token is renewed in the background, at most (a twentieth of the
    /// token's lifetime when that is shorter). Default: [`OAuth2ClientCredentials::DEFAULT_ADVISORY_MARGIN`](crate::OAuth2ClientCredentials::DEFAULT_ADVISORY_MARGIN) (5 min).
    pub fn advisory_margin(mut self, margin: Duration) -> Self {
        self.advisory = margin;
        self
    }

    /// How long before expiry requests wait for a new token, at most (a fortieth of the
    /// token's lifetime when that is shorter, and never more than the advisory margin).
    /// Default: [`OAuth2ClientCredentials::DEFAULT_MANDATORY_MARGIN`](crate::OAuth2ClientCredentials::DEFAULT_MANDATORY_MARGIN) (1 min).
    pub fn mandatory_margin(mut self, margin: Duration) -> Self {
        self.mandatory = margin;
        self
    }

    /// The lifetime assumed when a token response has no `expires_in` (1 s to a year, clamped). Default:
    /// [`OAuth2ClientCredentials::DEFAULT_TOKEN_LIFETIME`](crate::OAuth2ClientCredentials::DEFAULT_TOKEN_LIFETIME) (15 min).
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime.clamp(grant::MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME);
        self
    }

    /// The bound on one token request (connect to last byte). Default:
    /// [`OAuth2ClientCredentials::DEFAULT_TOKEN_TIMEOUT`](crate::OAuth2ClientCredentials::DEFAULT_TOKEN_TIMEOUT) (2 s). The client's
    /// [`load_timeout`](crate::ClientBuilder::load_timeout) bounds a whole renewal.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a grant refused with `invalid_client` waits for a new client secret.
    /// Default: [`OAuth2ClientCredentials::DEFAULT_AWAIT_SECRET`](crate::OAuth2ClientCredentials::DEFAULT_AWAIT_SECRET) (1 s).
    pub fn await_secret(mut self, wait: Duration) -> Self {
        self.await_secret = wait;
        self
    }

    /// After a failed token request, how long before the next may be sent (a longer
    /// `Retry-After` wins). Default: [`OAuth2ClientCredentials::DEFAULT_RETRY_SPACING`](crate::OAuth2ClientCredentials::DEFAULT_RETRY_SPACING) (1 s).
    pub fn retry_spacing(mut self, spacing: Duration) -> Self {
        self.retry_spacing = spacing;
        self
    }

    /// The HTTP client for token requests. Default: keyswap's shared one (rustls, redirects
    /// off). A client of yours should not follow redirects either.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    fn source_name(&self) -> String {
        match &self.token_url {
            Ok(url) => format!("oauth2:{} (client_id {})", display_url(url), self.client_id),
            Err(_) => "oauth2:<invalid URL>".to_owned(),
        }
    }

    fn error(&self, failure: &GrantFailure) -> Error {
        let err = Error::source(&self.source_name(), failure.why.clone());
        match failure.retry_after {
            Some(after) => err.with_retry_after(after),
            None => err,
        }
    }

    /// The token for a load: the one held if it is fresh enough (before its advisory window;
    /// for a request sent at `since` and rejected, a token that arrived after `since`), else a
    /// new one. The lock makes this one token request in flight, its token handed to the
    /// callers queued behind it.
    ///
    /// Why arrival and not departure for `since`: every grant issues a new token, so a token
    /// that arrived after a request was sent cannot be the one that request carried, even if
    /// its token request left earlier. A storm of requests still going out with the old token
    /// while the new one is on its way is answered by that one token request.
    async fn token(&self, since: Option<Instant>) -> Result<Credential> {
        let mut state = self.state.lock().await;
        let now = SystemTime::now();
        if let Some((held, arrived)) = &state.token {
            let fresh = match since {
                None => held.refresh_windows().is_some_and(|w| now < w.advisory),
                Some(since) => *arrived > since && held.expires_at().is_some_and(|at| now < at),
            };
            if fresh {
                return Ok(held.clone());
            }
        }
        if let Some((until, failure)) = &state.not_before {
            if Instant::now() < *until {
                return Err(self.error(failure));
            }
        }
        match self.grant(&mut state).await {
            Ok(cred) => {
                state.token = Some((cred.clone(), Instant::now()));
                state.not_before = None;
                Ok(cred)
            }
            Err(failure) => {
                let pause = failure
                    .retry_after
                    .unwrap_or_default()
                    .max(self.retry_spacing);
                let err = self.error(&failure);
                state.not_before = Some((crate::time::after(pause), failure));
                Err(err)
            }
        }
    }

    /// One grant; if the client's authentication is refused, once more with a new secret.
    async fn grant(&self, state: &mut State) -> std::result::Result<Credential, GrantFailure> {
        let secret = match &state.secret {
            Some(secret) => secret.clone(),
            None => {
                let secret = self.read_secret().await?;
                state.secret = Some(secret.clone());
                secret
            }
        };
        match self.request(&secret).await {
            Err(refused) if refused.invalid_client => {
                tracing::info!(source = %self.source_name(), "client authentication refused; re-reading the client secret");
                let fresh = self
                    .await_new_secret(secret.fingerprint())
                    .await
                    .map_err(|why| GrantFailure {
                        why: format!("{}, and {why}", refused.why),
                        ..refused.clone()
                    })?;
                state.secret = Some(fresh.clone());
                self.request(&fresh).await
            }
            outcome => outcome,
        }
    }

    /// Sends one token request with `secret`.
    async fn request(&self, secret: &Credential) -> std::result::Result<Credential, GrantFailure> {
        let url = self.token_url.clone().map_err(GrantFailure::new)?;
        check_transport(&url).map_err(|f| GrantFailure::new(f.why().to_owned()))?;
        let http = match &self.http {
            Some(client) => client.clone(),
            None => crate::http_client::shared_default().map_err(GrantFailure::new)?,
        };
        let proof = client_auth::prove(
            self.method,
            &self.client_id,
            secret.expose_key(),
            url.as_str(),
            self.key_id.as_deref(),
        )
        .map_err(GrantFailure::new)?;
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        for (name, value) in [
            ("scope", &self.scope),
            ("audience", &self.audience),
            ("resource", &self.resource),
        ] {
            if let Some(value) = value {
                form.push((name, value));
            }
        }
        form.extend(self.extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        form.extend(proof.form.iter().map(|(n, v)| (*n, v.as_str())));
        let sent = SystemTime::now();
        let token = grant::request_token(&http, url, proof.basic, &form, self.timeout).await?;
        let lifetime = token.lifetime.unwrap_or(self.default_lifetime);
        let (expires_at, windows) = windows::windows(sent, lifetime, self.advisory, self.mandatory);
        Ok(Credential::new(token.access_token)
            .with_expiry(expires_at)
            .with_refresh_windows(windows))
    }

    /// Reads the client secret (or private key) from its source; `since`: not from a read that
    /// began earlier.
    async fn read_secret_since(
        &self,
        since: Option<Instant>,
    ) -> std::result::Result<Credential, GrantFailure> {
        let load = match since {
            Some(since) => self.secret.load_since(since),
            None => self.secret.load(),
        };
        let secret = tokio::time::timeout(self.timeout, load)
            .await
            .map_err(|_| {
                GrantFailure::new(format!(
                    "reading the client secret from {} timed out",
                    self.secret.name()
                ))
            })?
            .map_err(|e| GrantFailure::new(format!("cannot read the client secret: {e}")))?;
        if secret.expose_key().is_empty() {
            return Err(GrantFailure::new(format!(
                "the client secret from {} is empty",
                self.secret.name()
            )));
        }
        Ok(secret)
    }

    async fn read_secret(&self) -> std::result::Result<Credential, GrantFailure> {
        self.read_secret_since(None).await
    }

    /// Reads the secret until it differs from the one refused (fingerprint `refused`), for up
    /// to [`await_secret`](Self::await_secret).
    async fn await_new_secret(&self, refused: u64) -> std::result::Result<Credential, String> {
        let deadline = crate::time::after(self.await_secret);
        loop {
            match self.read_secret_since(Some(Instant::now())).await {
                Ok(secret) if secret.fingerprint() != refused => return Ok(secret),
                Ok(_) => {}
                Err(f) if Instant::now() >= deadline => return Err(f.why),
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the client secret from {} has not changed within {:?}",
                    self.secret.name(),
                    self.await_secret
                ));
            }
            tokio::time::sleep(SECRET_POLL_STEP).await;
        }
    }
}

impl CredentialSource for OAuth2ClientCredentials {
    fn name(&self) -> String {
        self.source_name()
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential>> {
        Box::pin(self.token(None))
    }

    fn load_since(&self, since: Instant) -> BoxFuture<'_, Result<Credential>> {
        Box::pin(self.token(Some(since)))
    }
}

impl fmt::Debug for OAuth2ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2ClientCredentials")
            .field("token_url", &self.token_url.as_ref().map(display_url).ok())
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.name())
            .field("auth_method", &self.method.as_str())
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

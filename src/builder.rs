//! `ClientBuilder`: every setting, its default, and the fail-fast first load.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use crate::auth::Auth;
use crate::classify::Classifier;
use crate::client::Client;
use crate::engine::{Engine, Parts};
use crate::error::{Error, Result};
use crate::rejection_policy::RejectionPolicy;
use crate::rotation_policy::RotationPolicy;
use crate::scope::Scope;
use crate::source::Source;
use crate::stats::{RotateHook, Rotation};
use crate::store::{Etiquette, Store};
use crate::time::{AsyncSleep, Time, TimeSource};

/// Configures and builds a [`Client`]; from [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    source: Option<Source>,
    auth: Auth,
    http: Option<reqwest::Client>,
    base_url: Option<String>,
    allowed_origins: Vec<String>,
    allow_insecure_http: bool,
    rejection: Option<RejectionPolicy>,
    sync_clock: bool,
    rotation: RotationPolicy,
    load_timeout: Duration,
    max_redirects: usize,
    hooks: Vec<RotateHook>,
    time_source: Option<Arc<dyn TimeSource>>,
    sleep: Option<Arc<dyn AsyncSleep>>,
    /// mTLS (see `tls/`): the identity, the server's CA bundle, the generations' settings.
    identity: Option<crate::tls::IdentitySource>,
    trust: Option<crate::tls::TrustSource>,
    tls_http: Option<crate::tls::Configure>,
}

impl Client {
    /// Starts configuring a client. A [source](ClientBuilder::source) is required.
    //
    // Here rather than in client.rs: the builder depends on the client it builds, never the
    // reverse (the module graph stays acyclic).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// Default of [`load_timeout`](Self::load_timeout): 5 s.
    pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default of [`max_redirects`](Self::max_redirects): 10.
    pub const DEFAULT_MAX_REDIRECTS: usize = 10;

    pub(crate) fn new() -> Self {
        ClientBuilder {
            source: None,
            auth: Auth::default(),
            http: None,
            base_url: None,
            allowed_origins: Vec::new(),
            allow_insecure_http: false,
            rejection: None,
            sync_clock: true,
            rotation: RotationPolicy::default(),
            load_timeout: Self::DEFAULT_LOAD_TIMEOUT,
            max_redirects: Self::DEFAULT_MAX_REDIRECTS,
            hooks: Vec::new(),
            time_source: None,
            sleep: None,
            identity: None,
            trust: None,
            tls_http: None,
        }
    }

    /// Where credentials come from. Required: [`Source::file`], [`Source::env`],
    /// [`Source::fixed`], or your own [`CredentialSource`](crate::CredentialSource).
    pub fn source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// How the credential is attached. Default: [`Auth::bearer`].
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Sends through this `reqwest::Client` (proxies, timeouts, TLS roots, pool settings).
    /// Default: one client per Tokio runtime (the one current at build; outside any runtime,
    /// one for the process), with reqwest's defaults but redirects turned off, shared by every
    /// keyswap client and endpoint source not given one (one connection pool, TLS roots parsed
    /// once); per runtime because a pooled connection is a task of the runtime that opened it.
    ///
    /// Build it with `redirect(reqwest::redirect::Policy::none())`: keyswap follows redirects
    /// itself and decides per hop whether the credential goes along. A client that follows
    /// redirects on its own would carry a header or query credential to wherever it is sent.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The API's base URL: relative URLs given to [`Client::get`] and friends are joined to it,
    /// and its origin is added to the origins that receive the credential. Default: none
    /// (URLs must be absolute, and the credential goes only to the origin of each call).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Adds an origin (`https://host[:port]`) that receives the credential. Once any origin
    /// is configured (here or by [`base_url`](Self::base_url)), requests to other origins are
    /// sent without it. Default: none.
    pub fn allow_origin(mut self, url: impl Into<String>) -> Self {
        self.allowed_origins.push(url.into());
        self
    }

    /// Allows sending the credential over plain `http://` to hosts that are not loopback.
    /// Default: `false` (such requests fail with [`Error::is_insecure`]).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// With an [exchange signer](Auth::signer): whether to learn the server's clock from the
    /// exchange's time endpoint when the client is built (with a [base URL](Self::base_url);
    /// without one, before the first request, from its origin). The offset is kept up to date
    /// from `Date` headers and re-learned when the exchange rejects a timestamp, whatever this
    /// says. Default: `true`.
    pub fn sync_clock(mut self, sync: bool) -> Self {
        self.sync_clock = sync;
        self
    }

    /// Which answers mean "the credential was rejected" and start the recover path (refresh,
    /// retry, fallback, bounded wait): statuses, a test on status and headers, a test on the
    /// body. An [exchange signer](Auth::signer) brings its own rules on top. Default:
    /// [`RejectionPolicy::default`] (401); with an [identity](Self::identity), 401 and 403.
    pub fn rejection_policy(mut self, policy: RejectionPolicy) -> Self {
        self.rejection = Some(policy);
        self
    }

    /// How the client rides out a rotation: the fallback to the previous credential, the
    /// propagation hold and its probes, the bounded wait for a source that lags. Default:
    /// [`RotationPolicy::default`].
    pub fn rotation_policy(mut self, policy: RotationPolicy) -> Self {
        self.rotation = policy;
        self
    }

    /// The bound on one load of the source. Default:
    /// [`DEFAULT_LOAD_TIMEOUT`](Self::DEFAULT_LOAD_TIMEOUT) (5 s).
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        self.load_timeout = timeout;
        self
    }

    /// How many redirects one request may follow; zero returns 3xx responses as they are.
    /// Default: [`DEFAULT_MAX_REDIRECTS`](Self::DEFAULT_MAX_REDIRECTS) (10).
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// The clock every timing decision of this client reads: the rotation wait's deadline, the
    /// overlap window, the propagation hold and its probes, burst gathering, health timestamps,
    /// the background timers' expiry schedule (see [`crate::time`]). Give a
    /// [`ManualTime`](crate::time::ManualTime) here and to [`sleep_impl`](Self::sleep_impl) to
    /// test exact timings without real sleeps. Default: [`SystemClock`](crate::time::SystemClock).
    pub fn time_source(mut self, time: impl TimeSource) -> Self {
        self.time_source = Some(Arc::new(time));
        self
    }

    /// How this client waits (the rotation wait, load timeouts, burst gathering, the background
    /// driver's poll, debounce and backoff timers). Give it the same
    /// [`ManualTime`](crate::time::ManualTime) as [`time_source`](Self::time_source).
    /// Default: [`TokioSleep`](crate::time::TokioSleep).
    pub fn sleep_impl(mut self, sleep: impl AsyncSleep) -> Self {
        self.sleep = Some(Arc::new(sleep));
        self
    }

    /// Calls `hook` after every rotation with the old and new versions (never the keys).
    /// Runs on the task that installed the credential, after the swap and outside any lock
    /// (a hook may call back into the client): keep it short. Default: none.
    pub fn on_rotate<F>(mut self, hook: F) -> Self
    where
        F: Fn(&Rotation) + Send + Sync + 'static,
    {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// A client certificate (mTLS) that rotates like a key: each new TLS connection presents
    /// the identity current at its handshake; a new identity gets a new connection pool and
    /// session cache (none of the old identity's connections or sessions carries a request
    /// again); a certificate alert from the server (`bad_certificate`, `certificate_revoked`,
    /// `certificate_expired`, `unknown_ca`, `access_denied`) or a 401/403 refreshes the
    /// identity once for all callers and retries on a new connection, with the same bounded
    /// [`await_rotation`](RotationPolicy::await_rotation) as keys. With an identity the default
    /// [`rejection_policy`](Self::rejection_policy) is 401 and 403. Without a
    /// [`source`](Self::source), the identity is the only credential (and [`Auth::none`] the
    /// default). Requests go through a `reqwest::Client` keyswap builds per identity:
    /// [`http_client`](Self::http_client) does not apply to them, [`tls_http`](Self::tls_http)
    /// does. Default: none.
    ///
    /// ```no_run
    /// # async fn demo() -> keyswap::Result<()> {
    /// use keyswap::Client;
    /// use keyswap::tls::{IdentitySource, TrustSource};
    /// let client = Client::builder()
    ///     .identity(IdentitySource::kubernetes("/var/run/tls")) // tls.crt + tls.key
    ///     .trust(TrustSource::kubernetes("/var/run/tls"))       // ca.crt
    ///     .base_url("https://payments.internal")
    ///     .build()
    ///     .await?;
    /// let resp = client.get("/v1/balance").send().await?;
    /// # drop(resp); Ok(()) }
    /// ```
    pub fn identity(mut self, identity: crate::tls::IdentitySource) -> Self {
        self.identity = Some(identity);
        self
    }

    /// With an [`identity`](Self::identity): the CA bundle that verifies the server, re-read
    /// when its file changes. Default: the platform's trust store.
    pub fn trust(mut self, trust: crate::tls::TrustSource) -> Self {
        self.trust = Some(trust);
        self
    }

    /// With an [`identity`](Self::identity): settings for the `reqwest::Client` keyswap builds
    /// for each identity (timeouts, default headers, proxies). keyswap sets the TLS
    /// configuration and turns redirects off before `configure` runs: leave both alone.
    /// Default: reqwest's defaults.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = keyswap::Client::builder()
    ///     .tls_http(|b| b.timeout(Duration::from_secs(10)).pool_idle_timeout(Duration::from_secs(30)));
    /// ```
    pub fn tls_http<F>(mut self, configure: F) -> Self
    where
        F: Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync + 'static,
    {
        self.tls_http = Some(Arc::new(configure));
        self
    }

    /// Loads the first credential and starts watching the source. Fails, naming the source
    /// and the cause, when no valid credential can be loaded. Must run inside a Tokio runtime.
    /// The same as [`build_lazy`](Self::build_lazy) followed by [`Client::ready`].
    pub async fn build(self) -> Result<Client> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::builder(
                "keyswap::Client must be built inside a Tokio runtime",
            ));
        }
        let client = self.build_lazy()?;
        client.ready().await?;
        Ok(client)
    }

    /// Builds the client without loading anything and without a runtime, as reqwest's
    /// `Client::build` does: it checks the settings only. The first load (and the start of the
    /// background watch) happens on first use — the first request, [`Client::refresh`] or
    /// [`Client::ready`] — inside whatever Tokio runtime runs it; until it succeeds, requests
    /// fail with the source's error and [`Client::health`] says `Failing`. Call
    /// [`Client::ready`] for the fail-fast check of [`build`](Self::build).
    ///
    /// ```
    /// use keyswap::{Client, Source};
    /// // In a `static`, in `main` before the runtime exists, in a sync constructor…
    /// let client = Client::builder().source(Source::env("API_KEY")).build_lazy()?;
    /// # Ok::<(), keyswap::Error>(())
    /// ```
    pub fn build_lazy(self) -> Result<Client> {
        if self.trust.is_some() && self.identity.is_none() {
            return Err(Error::builder(
                "a CA bundle (trust) is used with a client identity: call ClientBuilder::identity",
            ));
        }
        // An identity without a key: the certificate is the only credential.
        let identity_only = self.source.is_none() && self.identity.is_some();
        let (source, auth) = match self.source {
            Some(source) => (source, self.auth),
            None if identity_only => (
                Source::from(Source::fixed(
                    crate::Credential::new("mtls").with_version("identity-only"),
                )),
                Auth::none(),
            ),
            None => {
                return Err(Error::builder(
                    "no credential source: call ClientBuilder::source",
                ));
            }
        };
        let rejection = match self.rejection {
            Some(policy) => policy,
            None if self.identity.is_some() => RejectionPolicy::for_identity(),
            None => RejectionPolicy::default(),
        };
        let tls = self.identity.map(|identity| {
            Arc::new(crate::tls::Tls::new(
                identity,
                self.trust,
                self.tls_http,
                self.load_timeout,
                self.rotation.await_rotation,
                identity_only,
            ))
        });
        let base_url = self.base_url.as_deref().map(parse_url).transpose()?;
        let mut origins: Vec<Url> = base_url.iter().cloned().collect();
        for url in &self.allowed_origins {
            origins.push(parse_url(url)?);
        }
        let http = match self.http {
            Some(http) => http,
            None => crate::http_client::shared_default().map_err(Error::builder)?,
        };
        let source_name = source.name();
        let time = match (self.time_source, self.sleep) {
            (None, None) => Time::default(),
            (clock, sleep) => {
                let defaults = Time::default();
                Time::new(
                    clock.unwrap_or_else(|| defaults.clock()),
                    sleep.unwrap_or_else(|| defaults.sleeper()),
                )
            }
        };
        let engine = Engine::new(Parts {
            http,
            store: Store::unloaded(
                Etiquette {
                    overlap: self.rotation.overlap_window,
                    hold: self.rotation.propagation_hold,
                    probe_every: self.rotation.probe_interval,
                },
                self.hooks,
                source_name,
                time.clone(),
            ),
            source,
            classifier: Classifier {
                policy: rejection,
                signer: auth.as_signer().cloned(),
            },
            auth,
            sync_clock: self.sync_clock,
            scope: Scope::new(&origins, self.allow_insecure_http),
            base_url,
            await_rotation: self.rotation.await_rotation,
            load_timeout: self.load_timeout,
            max_redirects: self.max_redirects,
            time,
            tls,
        });
        Ok(Client::new(engine))
    }
}

fn parse_url(url: &str) -> Result<Url> {
    Url::parse(url).map_err(|e| Error::builder(format!("invalid URL {url:?}: {e}")))
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("source", &self.source)
            .field("auth", &self.auth)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

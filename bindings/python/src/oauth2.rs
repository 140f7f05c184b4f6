//! `OAuth2ClientCredentials`: the core's OAuth2 client-credentials source for Python.

use std::path::PathBuf;

use keyswap::ClientAuthMethod;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::convert::seconds;
use crate::errors::config_error;
use crate::http_sources::{FromEnv, FromFile};
use crate::sources::Source;

/// OAuth2 client credentials (RFC 6749 §4.4): the credential is an access token obtained from
/// ``token_url`` with ``client_id`` and a client secret, renewed before it expires. Use it as
/// ``source=`` of :class:`Client` or :class:`AsyncClient`; the token goes out as
/// ``Authorization: Bearer`` (the default ``auth``).
///
/// ``client_secret`` says where the secret is, never the secret itself: a ``str`` path of a
/// file, :class:`FromFile`, :class:`FromEnv`, or any :class:`Source` (for example a
/// :class:`VaultSource`). It is read once, and again when the token endpoint answers
/// ``invalid_client`` (the grant is then retried once with the new secret; if the source still
/// has the old one it is re-read every 100 ms for up to ``await_secret`` seconds). With
/// ``auth_method="private_key_jwt"`` it holds a PEM P-256 private key (ES256 assertions,
/// RFC 7523).
///
/// Renewal: a token living L seconds is renewed in the background from
/// ``L - min(advisory_margin, L/20)`` on (requests keep using it; failures change nothing), and
/// requests wait for the new one from ``L - min(mandatory_margin, L/40)`` on. Once expired with
/// no new one to be had, requests raise :class:`SourceError` naming the cause. One token
/// request in flight at a time, however many requests see the expiry or a 401 at once.
/// ``Retry-After`` on 429/503 is honoured; after any failure no new token request for
/// ``retry_spacing`` seconds.
///
/// Defaults: ``auth_method="client_secret_basic"``, no ``scope``/``audience``/``resource``,
/// ``advisory_margin=300``, ``mandatory_margin=60``, ``default_lifetime=900`` (when the
/// response has no ``expires_in``), ``timeout=2``, ``await_secret=1``, ``retry_spacing=1``.
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct OAuth2ClientCredentials {
    client_id: String,
}

#[pymethods]
impl OAuth2ClientCredentials {
    #[new]
    #[pyo3(signature = (
        token_url, *, client_id, client_secret, scope=None, audience=None, resource=None,
        auth_method="client_secret_basic", extra_params=None, key_id=None,
        advisory_margin=300.0, mandatory_margin=60.0, default_lifetime=900.0, timeout=2.0,
        await_secret=1.0, retry_spacing=1.0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        token_url: &str,
        client_id: String,
        client_secret: &Bound<'_, PyAny>,
        scope: Option<String>,
        audience: Option<String>,
        resource: Option<String>,
        auth_method: &str,
        extra_params: Option<Vec<(String, String)>>,
        key_id: Option<String>,
        advisory_margin: f64,
        mandatory_margin: f64,
        default_lifetime: f64,
        timeout: f64,
        await_secret: f64,
        retry_spacing: f64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let method = ClientAuthMethod::parse(auth_method).ok_or_else(|| {
            config_error(format!(
                "auth_method must be 'client_secret_basic', 'client_secret_post' or \
                 'private_key_jwt', got {auth_method:?}"
            ))
        })?;
        let secret = secret_source(client_secret)?;
        let mut inner =
            keyswap::Source::oauth2_client_credentials(token_url, client_id.clone(), secret)
                .auth_method(method)
                .advisory_margin(seconds("advisory_margin", advisory_margin)?)
                .mandatory_margin(seconds("mandatory_margin", mandatory_margin)?)
                .default_lifetime(seconds("default_lifetime", default_lifetime)?)
                .timeout(seconds("timeout", timeout)?)
                .await_secret(seconds("await_secret", await_secret)?)
                .retry_spacing(seconds("retry_spacing", retry_spacing)?);
        if let Some(scope) = scope {
            inner = inner.scope(scope);
        }
        if let Some(audience) = audience {
            inner = inner.audience(audience);
        }
        if let Some(resource) = resource {
            inner = inner.resource(resource);
        }
        if let Some(kid) = key_id {
            inner = inner.key_id(kid);
        }
        for (name, value) in extra_params.unwrap_or_default() {
            inner = inner.form_param(name, value);
        }
        let inner = keyswap::Source::from(inner);
        let repr = format!(
            "OAuth2ClientCredentials({:?}, client_id={client_id:?}, auth_method={:?})",
            inner.name(),
            method.as_str()
        );
        Ok(Source::initializer(inner, repr).add_subclass(OAuth2ClientCredentials { client_id }))
    }

    /// The client id.
    #[getter]
    fn client_id(&self) -> &str {
        &self.client_id
    }
}

/// Where the client secret is: a path, :class:`FromFile`, :class:`FromEnv` or a :class:`Source`.
fn secret_source(obj: &Bound<'_, PyAny>) -> PyResult<keyswap::Source> {
    if let Ok(path) = obj.cast::<PyString>() {
        return Ok(keyswap::Source::file(PathBuf::from(path.to_cow()?.as_ref())).into());
    }
    if obj.is_instance_of::<FromFile>() {
        let path: PathBuf = obj.getattr("path")?.extract()?;
        return Ok(keyswap::Source::file(path).into());
    }
    if obj.is_instance_of::<FromEnv>() {
        let name: String = obj.getattr("name")?.extract()?;
        return Ok(keyswap::Source::env(name).into());
    }
    if let Ok(source) = obj.cast::<Source>() {
        return Ok(source.get().inner.clone());
    }
    Err(config_error(
        "client_secret must say where the secret is: a file path (str), keyswap.FromFile, \
         keyswap.FromEnv or a keyswap source",
    ))
}

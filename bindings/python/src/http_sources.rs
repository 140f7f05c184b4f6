//! Endpoint sources: wrappers of `keyswap::HttpSource` and its presets (Vault KV v2, the AWS
//! Secrets Manager Agent, GCP Secret Manager, Azure Key Vault).

use std::path::PathBuf;

use keyswap::{HeaderValueFrom, HttpSource as RustHttpSource};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::convert::{opt_seconds, seconds};
use crate::errors::config_error;
use crate::sources::Source;

/// A request-header value read from a file on every fetch (trimmed): for a token that is
/// itself rotated, such as a Vault Agent sink file. Use in ``headers=`` / ``token=``.
#[pyclass(frozen, module = "keyswap")]
pub struct FromFile {
    path: PathBuf,
}

#[pymethods]
impl FromFile {
    #[new]
    fn new(path: PathBuf) -> Self {
        FromFile { path }
    }

    /// The path read.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    fn __repr__(&self) -> String {
        format!("FromFile({:?})", self.path.display().to_string())
    }
}

/// A request-header value read from an environment variable on every fetch (trimmed). Use in
/// ``headers=`` / ``token=``.
#[pyclass(frozen, module = "keyswap")]
pub struct FromEnv {
    name: String,
}

#[pymethods]
impl FromEnv {
    #[new]
    fn new(name: String) -> Self {
        FromEnv { name }
    }

    /// The variable's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    fn __repr__(&self) -> String {
        format!("FromEnv({:?})", self.name)
    }
}

/// A header value given as ``str`` (a literal, never shown), :class:`FromFile` or
/// :class:`FromEnv`.
fn value_from(v: &Bound<'_, PyAny>, what: &str) -> PyResult<HeaderValueFrom> {
    if let Ok(f) = v.cast::<FromFile>() {
        return Ok(HeaderValueFrom::file(f.get().path.clone()));
    }
    if let Ok(e) = v.cast::<FromEnv>() {
        return Ok(HeaderValueFrom::env(e.get().name.clone()));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(HeaderValueFrom::literal(s.to_cow()?.into_owned()));
    }
    Err(config_error(format!(
        "{what} must be a str, keyswap.FromFile or keyswap.FromEnv"
    )))
}

/// The options an endpoint source's own arguments set; the ones every endpoint source takes are
/// added by `endpoint_source!`.
#[derive(Default)]
struct Extra<'py> {
    headers: Option<Bound<'py, PyDict>>,
    secret_pointer: Option<String>,
    base_url: Option<String>,
}

impl Extra<'_> {
    fn apply(
        self,
        mut src: RustHttpSource,
        poll_interval: Option<f64>,
        timeout: f64,
        max_body_bytes: usize,
        reuse_window: f64,
    ) -> PyResult<RustHttpSource> {
        if let Some(headers) = self.headers {
            for (k, v) in headers.iter() {
                let name: String = k
                    .extract()
                    .map_err(|_| config_error("header names must be str"))?;
                let value = value_from(&v, &format!("the value of header {name}"))?;
                src = src.header(name, value);
            }
        }
        if let Some(p) = self.secret_pointer {
            src = src.secret_pointer(p);
        }
        src = src
            .poll_interval(opt_seconds("poll_interval", poll_interval)?)
            .timeout(seconds("timeout", timeout)?)
            .max_body_bytes(max_body_bytes)
            .reuse_window(seconds("reuse_window", reuse_window)?);
        if let Some(base) = self.base_url {
            src = src.base_url(&base);
        }
        Ok(src)
    }
}

fn init(src: RustHttpSource, class: &str) -> PyClassInitializer<Source> {
    let repr = format!(
        "{class}({:?})",
        src.url().unwrap_or_else(|| "<invalid URL>".into())
    );
    Source::initializer(keyswap::Source::from(src), repr)
}

/// The `#[pymethods]` of an endpoint source class (PyO3 expands no macros inside `#[pymethods]`,
/// so the block is generated whole). Its `#[new]` takes the class's own parameters, then the
/// options every endpoint source takes (`poll_interval`, `timeout`, `max_body_bytes`,
/// `reuse_window`, with their defaults), then those given after `then` (HttpSource's
/// `base_url`). The body turns the class's own parameters into the Rust source and its `Extra`
/// options; the shared options are applied after it.
macro_rules! endpoint_source {
    (
        $class:ident($($sig:tt)*) $(then ($($tail_sig:tt)*))?;
        fn new($($param:ident: $ty:ty),* $(,)?) $(then ($($tail:ident: $tail_ty:ty),* $(,)?))?
        $body:block
    ) => {
        #[pymethods]
        impl $class {
            #[new]
            #[pyo3(signature = ($($sig)*, poll_interval=Some(300.0), timeout=5.0,
                max_body_bytes=1048576, reuse_window=0.25 $(, $($tail_sig)*)?))]
            #[allow(clippy::too_many_arguments)]
            fn new<'py>(
                $($param: $ty,)*
                poll_interval: Option<f64>,
                timeout: f64,
                max_body_bytes: usize,
                reuse_window: f64,
                $($($tail: $tail_ty,)*)?
            ) -> PyResult<PyClassInitializer<Self>> {
                let (src, extra): (RustHttpSource, Extra<'py>) = $body;
                let src = extra.apply(src, poll_interval, timeout, max_body_bytes, reuse_window)?;
                Ok(init(src, stringify!($class)).add_subclass($class))
            }
        }
    };
}

/// A credential held by an HTTP endpoint that answers JSON. Each fetch is a ``GET`` with
/// ``headers`` (values: ``str``, :class:`FromFile` or :class:`FromEnv`, the latter two read
/// again on every fetch); the answer goes through the ``decode`` steps in order
/// (``("json", pointer)`` parses the string at ``pointer`` as JSON, ``("base64", pointer)``
/// decodes it), then RFC 6901 pointers pick the key and optionally the secret
/// (``secret_pointer``), passphrase (``passphrase_pointer``), version and expiry.
///
/// The endpoint is polled every ``poll_interval`` seconds (``None``: only on authentication
/// failures and before expiry), once per process however many clients share the source;
/// ETags make an unchanged secret cost a 304, ``Retry-After`` is honoured, ``https`` is
/// required except to loopback. Errors name the URL without its query, never a header value
/// or the body.
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct HttpSource;

endpoint_source! {
    HttpSource(url, *, key_pointer="".to_owned(), headers=None, bearer=None, secret_pointer=None,
        version_pointer=None, version_last_segment=false, expiry_pointer=None, decode=Vec::new(),
        passphrase_pointer=None)
        then (base_url=None);
    fn new(
        url: &str,
        key_pointer: String,
        headers: Option<Bound<'py, PyDict>>,
        bearer: Option<Bound<'py, PyAny>>,
        secret_pointer: Option<String>,
        version_pointer: Option<String>,
        version_last_segment: bool,
        expiry_pointer: Option<String>,
        decode: Vec<(String, String)>,
        passphrase_pointer: Option<String>,
    ) then (base_url: Option<String>) {
        let mut src = keyswap::Source::http(url);
        for (kind, pointer) in decode {
            src = match kind.as_str() {
                "json" => src.decode_json_at(pointer),
                "base64" => src.decode_base64_at(pointer),
                other => {
                    return Err(config_error(format!(
                        "decode steps are (\"json\" | \"base64\", pointer), got {other:?}"
                    )));
                }
            };
        }
        src = src.key_pointer(key_pointer);
        if let Some(token) = bearer {
            src = src.bearer(value_from(&token, "bearer")?);
        }
        if let Some(p) = version_pointer {
            src = if version_last_segment {
                src.version_pointer_last_segment(p)
            } else {
                src.version_pointer(p)
            };
        }
        if let Some(p) = expiry_pointer {
            src = src.expiry_pointer(p);
        }
        if let Some(p) = passphrase_pointer {
            src = src.passphrase_pointer(p);
        }
        (src, Extra { headers, secret_pointer, base_url })
    }
}

/// HashiCorp Vault KV v2: ``GET {addr}/v1/{mount}/data/{path}`` with ``X-Vault-Token``; the
/// key is ``data.data[field]``, the version ``data.metadata.version``. ``token`` defaults to
/// the ``VAULT_TOKEN`` variable; pass :class:`FromFile` to follow a Vault Agent sink file.
/// ``secret_field`` names a signing secret in the same secret; ``namespace`` sets
/// ``X-Vault-Namespace`` (Vault Enterprise). Other options as for :class:`HttpSource`.
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct VaultSource;

endpoint_source! {
    VaultSource(addr, path, *, field="api_key".to_owned(), mount="secret".to_owned(), token=None,
        secret_field=None, namespace=None, headers=None);
    fn new(
        addr: &str,
        path: &str,
        field: String,
        mount: String,
        token: Option<Bound<'py, PyAny>>,
        secret_field: Option<String>,
        namespace: Option<String>,
        headers: Option<Bound<'py, PyDict>>,
    ) {
        let token = match token {
            Some(t) => value_from(&t, "token")?,
            None => HeaderValueFrom::env("VAULT_TOKEN"),
        };
        let mut src = keyswap::Source::vault_kv2(addr, &mount, path, &field, token);
        if let Some(ns) = namespace {
            src = src.header("X-Vault-Namespace", HeaderValueFrom::literal(ns));
        }
        let secret_pointer =
            secret_field.map(|f| format!("/data/data/{}", f.replace('~', "~0").replace('/', "~1")));
        (src, Extra { headers, secret_pointer, base_url: None })
    }
}

/// The AWS Secrets Manager Agent / Lambda extension on ``localhost:2773``
/// (``base_url`` moves it). The key is ``SecretString`` (or ``SecretString[json_key]`` when the
/// secret is JSON and ``json_key`` is given), the version ``VersionId``. The token header
/// defaults to ``AWS_SESSION_TOKEN``; override it with
/// ``headers={"X-Aws-Parameters-Secrets-Token": FromFile(...)}``.
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct AwsSecretsManagerAgentSource;

endpoint_source! {
    AwsSecretsManagerAgentSource(secret_id, *, json_key=None, json_secret_key=None, headers=None,
        base_url=None);
    fn new(
        secret_id: &str,
        json_key: Option<String>,
        json_secret_key: Option<String>,
        headers: Option<Bound<'py, PyDict>>,
        base_url: Option<String>,
    ) {
        let mut src = keyswap::Source::aws_secrets_manager_agent(secret_id);
        let escape = |f: &str| f.replace('~', "~0").replace('/', "~1");
        if json_key.is_some() || json_secret_key.is_some() {
            src = src.decode_json_at("/SecretString");
        }
        if let Some(k) = &json_key {
            src = src.key_pointer(format!("/SecretString/{}", escape(k)));
        }
        let secret_pointer = json_secret_key.map(|k| format!("/SecretString/{}", escape(&k)));
        (src, Extra { headers, secret_pointer, base_url })
    }
}

/// Google Cloud Secret Manager, latest version: bearer ``token`` (``str``, :class:`FromFile`,
/// :class:`FromEnv`); ``payload.data`` is base64-decoded into the key, the version is the last
/// segment of ``name``.
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct GcpSecretManagerSource;

endpoint_source! {
    GcpSecretManagerSource(project, secret, *, token, base_url=None);
    fn new(project: &str, secret: &str, token: Bound<'py, PyAny>, base_url: Option<String>) {
        let token = value_from(&token, "token")?;
        let src = keyswap::Source::gcp_secret_manager(project, secret, token);
        (src, Extra { base_url, ..Extra::default() })
    }
}

/// Azure Key Vault, current version of secret ``name`` in ``vault_url``
/// (``https://my-vault.vault.azure.net``) with a bearer ``token``; the key is ``value``, the
/// version the last segment of ``id``, the expiry ``attributes.exp``.
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct AzureKeyVaultSource;

endpoint_source! {
    AzureKeyVaultSource(vault_url, name, *, token);
    fn new(vault_url: &str, name: &str, token: Bound<'py, PyAny>) {
        let token = value_from(&token, "token")?;
        (keyswap::Source::azure_key_vault(vault_url, name, token), Extra::default())
    }
}

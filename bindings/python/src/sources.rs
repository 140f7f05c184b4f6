//! Credential sources and the credential type, wrapping `keyswap::Source` and friends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keyswap::{BoxFuture, CredentialSource};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::convert::{opt_seconds, seconds};
use crate::errors::config_error;

/// One API credential: a key, an optional signing secret, a version and an optional expiry.
///
/// The key and secret are never shown by ``repr()`` or in error messages; read them explicitly
/// with :meth:`expose_key` / :meth:`expose_secret` (for example inside a :class:`Sign` callback).
#[pyclass(frozen, module = "keyswap")]
pub struct Credential {
    pub(crate) inner: keyswap::Credential,
}

#[pymethods]
impl Credential {
    /// Creates a credential. ``passphrase`` is the one some exchanges (OKX) issue with a key
    /// pair; it rotates with the pair. ``version`` defaults to a hash of the content; ``expires_at`` is
    /// in Unix seconds (a negative, NaN, infinite or unrepresentable value raises
    /// :class:`ConfigError`, a ``ValueError``).
    #[new]
    #[pyo3(signature = (key, *, secret=None, version=None, expires_at=None, passphrase=None))]
    fn new(
        key: String,
        secret: Option<String>,
        version: Option<String>,
        expires_at: Option<f64>,
        passphrase: Option<String>,
    ) -> PyResult<Self> {
        let mut cred = keyswap::Credential::new(key);
        if let Some(secret) = secret {
            cred = cred.with_secret(secret);
        }
        if let Some(passphrase) = passphrase {
            cred = cred.with_passphrase(passphrase);
        }
        if let Some(version) = version {
            cred = cred.with_version(version);
        }
        if let Some(at) = expires_at {
            let at = SystemTime::UNIX_EPOCH
                .checked_add(seconds("expires_at", at)?)
                .ok_or_else(|| config_error(format!("expires_at is out of range: {at}")))?;
            cred = cred.with_expiry(at);
        }
        Ok(Credential { inner: cred })
    }

    /// The version label: from the source when it has one, else ``auto:`` and 8 hex digits (keyed per process)
    /// of a hash of the content.
    #[getter]
    fn version(&self) -> &str {
        self.inner.version()
    }

    /// Whether a signing secret is present.
    #[getter]
    fn has_secret(&self) -> bool {
        self.inner.has_secret()
    }

    /// Whether a passphrase is present.
    #[getter]
    fn has_passphrase(&self) -> bool {
        self.inner.expose_passphrase().is_some()
    }

    /// Expiry in Unix seconds, or ``None``.
    #[getter]
    fn expires_at(&self) -> Option<f64> {
        self.inner
            .expires_at()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    }

    /// The key. Handle with care: what you do with it is outside keyswap's redaction.
    fn expose_key(&self) -> &str {
        self.inner.expose_key()
    }

    /// The signing secret, or ``None``.
    fn expose_secret(&self) -> Option<&str> {
        self.inner.expose_secret()
    }

    /// The passphrase, or ``None``.
    fn expose_passphrase(&self) -> Option<&str> {
        self.inner.expose_passphrase()
    }

    fn __repr__(&self) -> String {
        format!(
            "Credential(version={:?}, has_secret={})",
            self.inner.version(),
            if self.inner.has_secret() {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// Base class of credential sources: where a client's credential comes from.
///
/// Use one of :class:`FileSource`, :class:`EnvSource`, :class:`FixedSource`,
/// :class:`CustomSource`.
#[pyclass(subclass, frozen, module = "keyswap")]
pub struct Source {
    pub(crate) inner: keyswap::Source,
    repr: String,
}

#[pymethods]
impl Source {
    /// The source's name as errors and logs show it (``file:/path``, ``env:NAME``, ...). Never a
    /// secret.
    #[getter]
    fn name(&self) -> String {
        self.inner.name()
    }

    fn __repr__(&self) -> String {
        self.repr.clone()
    }
}

impl Source {
    pub(crate) fn initializer(inner: keyswap::Source, repr: String) -> PyClassInitializer<Source> {
        PyClassInitializer::from(Source { inner, repr })
    }
}

fn source(inner: impl Into<keyswap::Source>, repr: String) -> PyClassInitializer<Source> {
    Source::initializer(inner.into(), repr)
}

/// A credential in a file: the key alone (whitespace trimmed), or JSON
/// ``{"key": ..., "secret": ..., "passphrase": ..., "version": ..., "expires_at": ...}``
/// (key, secret and passphrase are one credential: they rotate together).
///
/// The directory is watched so all real update patterns are seen (rename over the file,
/// rewrite in place, the Kubernetes secret-volume ``..data`` symlink swap); events are
/// debounced, half-written content is waited out, and the file is also polled every
/// ``poll_interval`` seconds (``None`` turns polling off).
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct FileSource {
    path: PathBuf,
}

#[pymethods]
impl FileSource {
    #[new]
    #[pyo3(signature = (path, *, watch=true, poll_interval=Some(10.0), debounce=0.025))]
    fn new(
        path: PathBuf,
        watch: bool,
        poll_interval: Option<f64>,
        debounce: f64,
    ) -> PyResult<PyClassInitializer<Self>> {
        let inner = keyswap::Source::file(path.clone())
            .watch(watch)
            .poll_interval(opt_seconds("poll_interval", poll_interval)?.filter(|d| !d.is_zero()))
            .debounce(seconds("debounce", debounce)?);
        let repr = format!("FileSource({:?})", path.display().to_string());
        Ok(source(inner, repr).add_subclass(FileSource { path }))
    }

    /// The path read.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }
}

/// A credential in an environment variable (plain key or JSON, as for files), read again on
/// every load: set ``os.environ[name]`` and call ``client.refresh()`` (or let the next 401 do
/// it) to switch keys.
///
/// Thread safety: assigning to ``os.environ`` calls C ``setenv``, and loads read the variable
/// with C ``getenv`` on keyswap's worker threads. glibc's ``getenv``/``setenv`` are not
/// thread-safe (true of C libraries generally): changing ``os.environ`` while a client may be
/// loading from an ``EnvSource`` on another thread (a 401-triggered refresh, a rotation wait)
/// can crash the process or read a torn value. Safe ways: set the variable before any client
/// starts, and after a change call ``client.refresh()`` from the same thread, with no
/// requests in flight; or keep the key in a file (:class:`FileSource`, watched); or feed it
/// from Python with :class:`CustomSource` (``load`` is a Python callable returning the key,
/// e.g. from a variable your code updates under a lock).
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct EnvSource {
    var: String,
}

#[pymethods]
impl EnvSource {
    #[new]
    fn new(name: String) -> PyResult<PyClassInitializer<Self>> {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(config_error(format!(
                "invalid environment variable name {name:?}"
            )));
        }
        let repr = format!("EnvSource({name:?})");
        Ok(source(keyswap::Source::env(name.clone()), repr).add_subclass(EnvSource { var: name }))
    }

    /// The variable's name.
    #[getter]
    fn var(&self) -> &str {
        &self.var
    }
}

/// A credential that never changes: for tests, and for keys rotated by restarting.
/// ``key`` is a ``str`` or a :class:`Credential`.
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct FixedSource;

#[pymethods]
impl FixedSource {
    #[new]
    #[pyo3(signature = (key, *, secret=None, version=None, passphrase=None))]
    fn new(
        key: &Bound<'_, PyAny>,
        secret: Option<String>,
        version: Option<String>,
        passphrase: Option<String>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let mut cred = if let Ok(c) = key.cast::<Credential>() {
            c.get().inner.clone()
        } else if let Ok(s) = key.cast::<PyString>() {
            keyswap::Credential::new(s.to_cow()?.into_owned())
        } else {
            return Err(config_error("FixedSource takes a str key or a Credential"));
        };
        if let Some(secret) = secret {
            cred = cred.with_secret(secret);
        }
        if let Some(passphrase) = passphrase {
            cred = cred.with_passphrase(passphrase);
        }
        if let Some(version) = version {
            cred = cred.with_version(version);
        }
        let repr = format!("FixedSource(version={:?})", cred.version());
        Ok(source(keyswap::Source::fixed(cred), repr).add_subclass(FixedSource))
    }
}

/// A source of your own: ``load()`` is called (in a worker thread, holding the GIL) whenever
/// the client needs the credential — at construction, after an authentication failure, and
/// every ``poll_interval`` seconds if given. It returns a ``str`` key or a :class:`Credential`;
/// an exception it raises becomes a :class:`SourceError` (keep secrets out of its message).
/// ``name`` is shown in errors and logs.
#[pyclass(extends = Source, frozen, module = "keyswap")]
pub struct CustomSource;

#[pymethods]
impl CustomSource {
    #[new]
    #[pyo3(signature = (load, *, name="custom".to_owned(), poll_interval=None))]
    fn new(
        load: &Bound<'_, PyAny>,
        name: String,
        poll_interval: Option<f64>,
    ) -> PyResult<PyClassInitializer<Self>> {
        if !load.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "load must be callable",
            ));
        }
        let src = PySource {
            name: name.clone(),
            load: Arc::new(load.clone().unbind()),
            poll: opt_seconds("poll_interval", poll_interval)?.filter(|d| !d.is_zero()),
        };
        let repr = format!("CustomSource(name={name:?})");
        Ok(source(keyswap::Source::custom(src), repr).add_subclass(CustomSource))
    }
}

struct PySource {
    name: String,
    load: Arc<Py<PyAny>>,
    poll: Option<Duration>,
}

impl PySource {
    fn call(name: &str, load: &Py<PyAny>) -> keyswap::Result<keyswap::Credential> {
        Python::try_attach(|py| {
            let out = load.call0(py).map_err(|e| {
                let ty = e
                    .get_type(py)
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "Exception".into());
                let msg = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
                keyswap::Error::source(name, format!("load() raised {ty}: {msg}"))
            })?;
            let out = out.bind(py);
            if let Ok(c) = out.cast::<Credential>() {
                Ok(c.get().inner.clone())
            } else if let Ok(s) = out.extract::<String>() {
                Ok(keyswap::Credential::new(s))
            } else {
                Err(keyswap::Error::source(
                    name,
                    "load() must return a str or a keyswap.Credential",
                ))
            }
        })
        .unwrap_or_else(|| {
            Err(keyswap::Error::source(
                name,
                "the Python interpreter is shutting down",
            ))
        })
    }
}

impl CredentialSource for PySource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn load(&self) -> BoxFuture<'_, keyswap::Result<keyswap::Credential>> {
        let load = Arc::clone(&self.load);
        let name = self.name.clone();
        Box::pin(async move {
            let task_name = name.clone();
            tokio::task::spawn_blocking(move || PySource::call(&task_name, &load))
                .await
                .map_err(|e| keyswap::Error::source(&name, format!("load task failed: {e}")))?
        })
    }

    fn poll_interval(&self) -> Option<Duration> {
        self.poll
    }
}

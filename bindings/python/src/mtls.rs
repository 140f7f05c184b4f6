//! `cert=` and `verify=` of `Client` and `AsyncClient`, in the words of requests and httpx:
//! `cert=("tls.crt", "tls.key")`, `cert="combined.pem"`, `verify="ca.crt"`; a directory stands
//! for a Kubernetes TLS secret (`tls.crt`, `tls.key`, `ca.crt`). The paths are watched and
//! rotated by the core (`keyswap::tls`).

use std::path::PathBuf;
use std::sync::Arc;

use keyswap::tls::{IdentitySource, TrustSource};
use pyo3::prelude::*;

use crate::errors::config_error;
use crate::pools::HttpConfig;

fn path_of(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<PathBuf> {
    obj.extract::<PathBuf>()
        .map_err(|_| config_error(format!("{what} takes a path (str or os.PathLike)")))
}

/// `cert=`: `(cert, key)`, one combined PEM path, or a Kubernetes TLS-secret directory.
pub(crate) fn identity_of(cert: Option<&Bound<'_, PyAny>>) -> PyResult<Option<IdentitySource>> {
    let Some(cert) = cert.filter(|c| !c.is_none()) else {
        return Ok(None);
    };
    if let Ok((chain, key)) = cert.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() {
        if !cert.is_instance_of::<pyo3::types::PyString>() {
            return Ok(Some(IdentitySource::pem_files(
                path_of(&chain, "cert=(cert, key)")?,
                path_of(&key, "cert=(cert, key)")?,
            )));
        }
    }
    if let Ok(s) = cert.extract::<String>() {
        // A configuration string: CERT,KEY, a combined PEM, or a directory.
        return IdentitySource::parse(&s)
            .map(Some)
            .map_err(|e| config_error(format!("cert=: {e}")));
    }
    let path = path_of(cert, "cert=")?;
    Ok(Some(if path.is_dir() {
        IdentitySource::kubernetes(path)
    } else {
        IdentitySource::pem_file(path)
    }))
}

/// `verify=`: a CA bundle path (a directory means its `ca.crt`); `True` or `None`: the
/// platform's trust store. `False` is refused: keyswap always verifies the server.
pub(crate) fn trust_of(verify: Option<&Bound<'_, PyAny>>) -> PyResult<Option<TrustSource>> {
    let Some(verify) = verify.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(flag) = verify.extract::<bool>() {
        return if flag {
            Ok(None)
        } else {
            Err(config_error(
                "verify=False is not supported: keyswap always verifies the server",
            ))
        };
    }
    let path = path_of(verify, "verify=")?;
    Ok(Some(if path.is_dir() {
        TrustSource::kubernetes(path)
    } else {
        TrustSource::pem_file(path)
    }))
}

/// The settings of the client's HTTP config, for the `reqwest::Client` of each identity.
pub(crate) fn configure(
    config: &Arc<HttpConfig>,
) -> impl Fn(keyswap::reqwest::ClientBuilder) -> keyswap::reqwest::ClientBuilder + Send + Sync + 'static
{
    let config = Arc::clone(config);
    move |b| config.apply(b)
}

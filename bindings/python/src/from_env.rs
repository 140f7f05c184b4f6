//! `Client.from_env(**overrides)` / `AsyncClient.from_env(**overrides)`: the constructor, with
//! what the caller leaves out taken from the core's reading of the `KEYSWAP_*` variables
//! (`keyswap::EnvConfig`: the values `Client::from_env` uses, each checked by the core, its
//! errors naming the variable, never the value).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use crate::client_options::{Construction, constructing};
use crate::errors::to_py;

pub(crate) fn client_from_env<'py>(
    cls: &Bound<'py, PyType>,
    overrides: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let kwargs = match overrides {
        Some(d) => d.copy()?,
        None => PyDict::new(py),
    };
    let mut env = keyswap::EnvConfig::read().map_err(to_py)?;
    // A keyword argument replaces its variable (even as `None`: `source=None` with `cert=`).
    let given = |name: &str| kwargs.contains(name);
    if given("source")? {
        env.source = None;
    }
    if given("auth")? {
        env.auth = None;
    }
    if given("base_url")? {
        env.base_url = None;
    }
    if given("cert")? {
        env.identity = None;
    }
    if given("verify")? {
        env.trust = None;
    }
    if !given("source")? && !given("cert")? {
        // The environment alone says where the credential is: the core's rules and messages.
        env.check_complete().map_err(to_py)?;
    }
    let how = Construction {
        env: Some(env),
        ..Construction::default()
    };
    constructing(how, || cls.call((), Some(&kwargs))).0
}

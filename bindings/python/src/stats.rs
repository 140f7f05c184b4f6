//! `stats()`: the core's counters (`keyswap::Client::stats`, `tls_stats`) as a Python dict.

use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyDict};

/// A snapshot of `client`'s counters.
pub(crate) fn stats_dict<'py>(
    py: Python<'py>,
    client: &keyswap::Client,
) -> PyResult<Bound<'py, PyDict>> {
    let s = client.stats();
    let d = [
        ("requests", s.requests),
        ("auth_failures", s.auth_failures),
        ("retries", s.retries),
        ("refreshes", s.refreshes),
        ("rotations", s.rotations),
        ("fallbacks", s.fallbacks),
        ("rotation_waits", s.rotation_waits),
        ("source_errors", s.source_errors),
        ("probes", s.probes),
        ("resigns", s.resigns),
        ("background_failures", s.background_failures),
    ]
    .into_py_dict(py)?;
    if let Some(t) = client.tls_stats() {
        let tls = [
            ("handshakes", t.handshakes),
            ("identity_rotations", t.identity_rotations),
            ("identity_rejections", t.identity_rejections),
            ("identity_errors", t.identity_errors),
            ("generations", t.generations),
            ("trust_rotations", t.trust_rotations),
        ]
        .into_py_dict(py)?;
        d.set_item("tls", tls)?;
    }
    Ok(d)
}

//! Where the event-loop bridge (`bridge.rs`, Unix: a pipe the loop watches) is not available:
//! the same interface over `pyo3_async_runtimes::tokio::future_into_py`, which completes the
//! asyncio future from the Tokio worker (taking the GIL there). No fork to survive on these
//! platforms.

use pyo3::prelude::*;

use crate::errors::to_py;
use crate::response::Response;

/// What a finished task hands back: turned into the future's result with the GIL.
pub(crate) type Outcome = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// The outcome of a request.
pub(crate) fn response(outcome: keyswap::Result<Response>) -> Outcome {
    Box::new(move |py| match outcome {
        Ok(resp) => Ok(Py::new(py, resp)?.into_any()),
        Err(e) => Err(to_py(e)),
    })
}

/// Runs `fut`; returns an awaitable of its outcome.
pub(crate) fn spawn<F>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: std::future::Future<Output = Outcome> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let outcome = fut.await;
        Python::attach(|py| outcome(py))
    })
}

/// Runs `fut`; returns an awaitable of its value.
pub(crate) fn spawn_value<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: std::future::Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, fut)
}

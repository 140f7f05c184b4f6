//! Reading a response body: at once, or (`stream=True`) from its connection chunk by chunk,
//! with the GIL released while waiting. A blocking `Client`'s stream is read on the runtime of
//! the thread that sent it (where its connection lives), an `AsyncClient`'s on the shared one.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py;
use crate::shared_runtime::with_runtime;
use crate::signals::{interruptible, is_main_thread};
use crate::sync_runtime::SyncRuntime;

/// The body of a `stream=True` response, still with its connection.
pub(crate) struct Stream {
    pub(crate) resp: keyswap::reqwest::Response,
    /// Sent by the blocking `Client`: the runtime of the thread that sent it, where its
    /// connection lives. `None`: the shared runtime (`AsyncClient`).
    pub(crate) rt: Option<Arc<SyncRuntime>>,
    /// Bytes read from the connection so far, shared with the response
    /// (`num_bytes_downloaded`).
    pub(crate) downloaded: Arc<AtomicU64>,
}

impl Stream {
    fn count(&self, bytes: &[u8]) {
        self.downloaded.fetch_add(bytes.len() as u64, Relaxed);
    }

    /// Waits for `fut` with the GIL released, on the runtime this stream's connection lives
    /// on; on the main thread a signal handler (Ctrl-C) gets to run meanwhile.
    fn wait<F>(py: Python<'_>, rt: Option<&SyncRuntime>, fut: F) -> PyResult<F::Output>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let main = is_main_thread(py);
        py.detach(move || {
            let fut = interruptible(fut, main);
            match rt {
                Some(rt) => rt.block_on(fut),
                None => with_runtime(|rt| rt.block_on(fut))?,
            }
        })
    }

    /// The next chunk as it arrives, waited for with the GIL released; `None` at the end.
    fn next_chunk(&mut self, py: Python<'_>) -> PyResult<Option<bytes::Bytes>> {
        let chunk = Self::wait(py, self.rt.as_deref(), self.resp.chunk())?
            .map_err(|e| to_py(keyswap::Error::from(e)))?;
        if let Some(c) = &chunk {
            self.count(c);
        }
        Ok(chunk)
    }

    /// The rest of the body, read with the GIL released.
    pub(crate) fn read_all(self, py: Python<'_>) -> PyResult<bytes::Bytes> {
        let bytes = Self::wait(py, self.rt.as_deref(), self.resp.bytes())?
            .map_err(|e| to_py(keyswap::Error::from(e)))?;
        self.downloaded.fetch_add(bytes.len() as u64, Relaxed);
        Ok(bytes)
    }

    /// The next chunk from an async task; `None` at the end.
    async fn next_chunk_async(&mut self) -> keyswap::Result<Option<bytes::Bytes>> {
        let chunk = match &self.rt {
            // A blocking `Client`'s stream: read on its thread's runtime, where its connection
            // lives (this worker blocks meanwhile).
            Some(rt) => tokio::task::block_in_place(|| rt.block_on(self.resp.chunk()))?,
            None => self.resp.chunk().await?,
        };
        if let Some(c) = &chunk {
            self.count(c);
        }
        Ok(chunk)
    }

    /// The rest of the body, from an async task (`Response.aread`).
    pub(crate) async fn read_all_async(mut self) -> keyswap::Result<bytes::Bytes> {
        let mut all = bytes::BytesMut::new();
        while let Some(chunk) = self.next_chunk_async().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }
}

/// A response body: read, or still streaming (`stream=True`).
pub(crate) enum ResponseBody {
    Read(bytes::Bytes),
    Stream(Stream),
}

pub(crate) fn consumed() -> PyErr {
    PyRuntimeError::new_err(
        "the body of this stream=True response was already consumed by iter_bytes() or closed",
    )
}

/// What `iter_bytes` walks: a body in memory, or a stream.
pub(crate) enum Walk {
    Memory(bytes::Bytes),
    Stream(Stream),
    /// Taken by a thread reading the next chunk (another thread then gets an error).
    Busy,
    Done,
}

/// The iterator :meth:`Response.iter_bytes` returns.
#[pyclass(frozen, module = "keyswap")]
pub struct ByteStream {
    walk: Mutex<Walk>,
    chunk_size: Option<usize>,
    buf: Mutex<Vec<u8>>,
}

impl ByteStream {
    pub(crate) fn new(walk: Walk, chunk_size: Option<usize>) -> ByteStream {
        ByteStream {
            walk: Mutex::new(walk),
            chunk_size,
            buf: Mutex::new(Vec::new()),
        }
    }

    /// The next piece of the body as it comes, `None` at the end.
    fn raw(&self, py: Python<'_>) -> PyResult<Option<bytes::Bytes>> {
        let taken = std::mem::replace(
            &mut *self.walk.lock().unwrap_or_else(|p| p.into_inner()),
            Walk::Busy,
        );
        let (next, rest) = match taken {
            Walk::Memory(mut b) => {
                let n = self.chunk_size.unwrap_or(b.len()).max(1).min(b.len());
                if b.is_empty() {
                    (None, Walk::Done)
                } else {
                    let head = b.split_to(n);
                    (Some(head), Walk::Memory(b))
                }
            }
            Walk::Stream(mut s) => match s.next_chunk(py) {
                Ok(Some(c)) => (Some(c), Walk::Stream(s)),
                Ok(None) => (None, Walk::Done),
                Err(e) => {
                    *self.walk.lock().unwrap_or_else(|p| p.into_inner()) = Walk::Done;
                    return Err(e);
                }
            },
            Walk::Busy => {
                return Err(PyRuntimeError::new_err(
                    "iter_bytes() is being iterated by another thread",
                ));
            }
            Walk::Done => (None, Walk::Done),
        };
        *self.walk.lock().unwrap_or_else(|p| p.into_inner()) = rest;
        Ok(next)
    }
}

#[pymethods]
impl ByteStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        loop {
            if let Some(n) = self.chunk_size {
                let mut buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
                if buf.len() >= n {
                    let rest = buf.split_off(n);
                    let head = std::mem::replace(&mut *buf, rest);
                    return Ok(Some(PyBytes::new(py, &head)));
                }
            }
            match self.raw(py)? {
                Some(c) if c.is_empty() => continue,
                Some(c) if self.chunk_size.is_none() => return Ok(Some(PyBytes::new(py, &c))),
                Some(c) => self
                    .buf
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&c),
                None => {
                    let rest =
                        std::mem::take(&mut *self.buf.lock().unwrap_or_else(|p| p.into_inner()));
                    return Ok((!rest.is_empty()).then(|| PyBytes::new(py, &rest)));
                }
            }
        }
    }
}

/// The async iterator :meth:`Response.aiter_bytes` returns (for :class:`AsyncClient`).
#[pyclass(frozen, module = "keyswap")]
pub struct AsyncByteStream {
    state: Arc<tokio::sync::Mutex<(Walk, Vec<u8>)>>,
    chunk_size: Option<usize>,
}

impl AsyncByteStream {
    pub(crate) fn new(walk: Walk, chunk_size: Option<usize>) -> AsyncByteStream {
        AsyncByteStream {
            state: Arc::new(tokio::sync::Mutex::new((walk, Vec::new()))),
            chunk_size,
        }
    }
}

/// The next piece of an async walk: chunks as received, or exactly `chunk_size` bytes.
async fn next_async(
    state: &mut (Walk, Vec<u8>),
    chunk_size: Option<usize>,
) -> keyswap::Result<Option<Vec<u8>>> {
    let (walk, buf) = state;
    loop {
        if let Some(n) = chunk_size {
            if buf.len() >= n {
                let rest = buf.split_off(n);
                return Ok(Some(std::mem::replace(buf, rest)));
            }
        }
        let piece = match walk {
            Walk::Memory(b) if b.is_empty() => None,
            Walk::Memory(b) => {
                let n = chunk_size.unwrap_or(b.len()).min(b.len());
                Some(b.split_to(n))
            }
            Walk::Stream(s) => match s.next_chunk_async().await {
                Ok(c) => c,
                Err(e) => {
                    *walk = Walk::Done;
                    return Err(e);
                }
            },
            Walk::Busy | Walk::Done => None,
        };
        match piece {
            Some(c) if c.is_empty() => continue,
            Some(c) if chunk_size.is_none() => return Ok(Some(c.to_vec())),
            Some(c) => buf.extend_from_slice(&c),
            None => {
                *walk = Walk::Done;
                let rest = std::mem::take(buf);
                return Ok((!rest.is_empty()).then_some(rest));
            }
        }
    }
}

#[pymethods]
impl AsyncByteStream {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = Arc::clone(&self.state);
        let chunk_size = self.chunk_size;
        let next = async move {
            let mut state = state.lock().await;
            match next_async(&mut state, chunk_size).await.map_err(to_py)? {
                Some(v) => Ok(std::borrow::Cow::<'static, [u8]>::Owned(v)),
                None => Err(pyo3::exceptions::PyStopAsyncIteration::new_err(())),
            }
        };
        crate::bridge::spawn_value(py, next)
    }
}

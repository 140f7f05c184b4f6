//! `Headers`: a response's headers as Python sees them, a read-only case-insensitive mapping
//! (as httpx's, without the mutation: they are what the server sent).

use std::sync::Arc;

use keyswap::reqwest::header::HeaderMap;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// Response headers: a read-only, case-insensitive mapping. A name sent several times maps to
/// its values joined by ``", "``; :meth:`get_list` returns them apart.
#[pyclass(frozen, module = "keyswap", mapping)]
pub struct Headers {
    /// (lower-case name, value), in the order received.
    items: Arc<Vec<(String, String)>>,
}

impl Headers {
    /// The headers of `map` in the order received (values not valid UTF-8 shown lossily).
    pub(crate) fn new(map: &HeaderMap) -> Headers {
        let items = map
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Headers {
            items: Arc::new(items),
        }
    }

    fn values_of(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.items
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for (k, _) in self.items.iter() {
            if !names.contains(&k.as_str()) {
                names.push(k);
            }
        }
        names
    }
}

#[pymethods]
impl Headers {
    fn __getitem__(&self, name: &str) -> PyResult<String> {
        let values = self.values_of(name);
        if values.is_empty() {
            return Err(PyKeyError::new_err(name.to_owned()));
        }
        Ok(values.join(", "))
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.extract::<String>()
            .map(|n| !self.values_of(&n).is_empty())
            .unwrap_or(false)
    }

    fn __len__(&self) -> usize {
        self.names().len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.names())?
            .into_any()
            .try_iter()?
            .into_any())
    }

    /// The value of ``name`` (values joined by ``", "``), or ``default``.
    #[pyo3(signature = (name, default=None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        let values = self.values_of(name);
        if values.is_empty() {
            return Ok(default.unwrap_or_else(|| py.None()));
        }
        Ok(values.join(", ").into_pyobject(py)?.into_any().unbind())
    }

    /// Every value of ``name``, in order; ``[]`` when absent. With ``split_commas=True`` (as
    /// httpx's) a value holding a comma-separated list is split into its items, trimmed.
    #[pyo3(signature = (name, split_commas=false))]
    fn get_list(&self, name: &str, split_commas: bool) -> Vec<String> {
        let values = self.values_of(name).into_iter();
        if split_commas {
            values
                .flat_map(|v| v.split(','))
                .map(|v| v.trim().to_owned())
                .collect()
        } else {
            values.map(str::to_owned).collect()
        }
    }

    /// The distinct header names (lower-case), in order.
    fn keys(&self) -> Vec<String> {
        self.names().into_iter().map(str::to_owned).collect()
    }

    /// The values, one per distinct name (joined by ``", "``).
    fn values(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .map(|n| self.values_of(n).join(", "))
            .collect()
    }

    /// ``(name, value)`` pairs, one per distinct name.
    fn items(&self) -> Vec<(String, String)> {
        self.names()
            .into_iter()
            .map(|n| (n.to_owned(), self.values_of(n).join(", ")))
            .collect()
    }

    /// Every ``(name, value)`` pair as received, repeated names included.
    fn multi_items(&self) -> Vec<(String, String)> {
        self.items.to_vec()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(h) = other.cast::<Headers>() {
            return Ok(self.items() == h.get().items());
        }
        let Ok(len) = other.len() else {
            return Ok(false);
        };
        if len != self.__len__() {
            return Ok(false);
        }
        for (k, v) in self.items() {
            match other.get_item(&k) {
                Ok(o) if o.extract::<String>().is_ok_and(|o| o == v) => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    fn __repr__(&self) -> String {
        let inner: Vec<String> = self
            .items()
            .iter()
            .map(|(k, v)| format!("{k:?}: {v:?}"))
            .collect();
        format!("Headers({{{}}})", inner.join(", "))
    }
}

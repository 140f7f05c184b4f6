//! Ctrl-C during a blocking call: Python runs signal handlers on its main thread only, and only
//! when that thread holds the GIL, which a waiting request has released.

use pyo3::prelude::*;

/// How often a blocking call on the main thread lets Python's signal handlers run.
const SIGNAL_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether this is Python's main thread, where signal handlers run (cached per thread).
pub(crate) fn is_main_thread(py: Python<'_>) -> bool {
    thread_local! {
        static MAIN: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
    }
    if let Some(main) = MAIN.get() {
        return main;
    }
    let main = (|| -> PyResult<bool> {
        let threading = py.import("threading")?;
        let main = threading.call_method0("main_thread")?.getattr("ident")?;
        let me = threading.call_method0("get_ident")?;
        main.eq(me)
    })()
    .unwrap_or(false);
    MAIN.set(Some(main));
    main
}

/// `fut`, abandoned when a Python signal handler raises (Ctrl-C: `KeyboardInterrupt`) while it
/// waits. On the main thread (`main`), every `SIGNAL_CHECK` the wait takes the GIL for a moment
/// and runs pending handlers; elsewhere handlers cannot run and `fut` is awaited as is.
pub(crate) async fn interruptible<F: std::future::Future>(
    fut: F,
    main: bool,
) -> PyResult<F::Output> {
    if !main {
        return Ok(fut.await);
    }
    let mut fut = std::pin::pin!(fut);
    loop {
        tokio::select! {
            biased;
            out = &mut fut => return Ok(out),
            () = tokio::time::sleep(SIGNAL_CHECK) => {
                Python::attach(|py| py.check_signals())?;
            }
        }
    }
}

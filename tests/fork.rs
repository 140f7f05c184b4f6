//! A forked child rebuilds keyswap's background work: the parent's background thread, reader
//! threads and directory watcher are not there (only the forking thread is), yet a client built
//! in the child loads its key and follows a rotation through its own watch.
//!
//! One test in its own binary: `fork()` copies only the calling thread, and no other test may
//! hold a lock at that moment.

#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{eventually, version_of, write_atomic};
use keyswap::{Client, Source};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// What the child does; its exit status reports the outcome (0: all good).
fn child(path: &std::path::Path) -> i32 {
    let rt = runtime();
    rt.block_on(async {
        let built = tokio::time::timeout(
            Duration::from_secs(5),
            Client::builder()
                .source(Source::file(path).poll_interval(None))
                .build(),
        )
        .await;
        let client = match built {
            Ok(Ok(client)) => client,
            Ok(Err(_)) => return 2, // the load failed
            Err(_) => return 3,     // the load hung
        };
        if client.credential_version() != version_of("k1") {
            return 4;
        }
        // Seen only through this process's own watch (polling is off).
        write_atomic(path, b"k2");
        let seen = eventually(Duration::from_secs(5), || {
            client.credential_version() == version_of("k2")
        })
        .await;
        if seen { 0 } else { 5 }
    })
}

#[test]
fn a_forked_child_rebuilds_background_work_and_follows_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api_key");
    std::fs::write(&path, "k0").unwrap();
    let rt = runtime();
    // The parent's background thread, readers and watch exist and have done their work.
    let parent = rt
        .block_on(
            Client::builder()
                .source(Source::file(&path).poll_interval(None))
                .build(),
        )
        .unwrap();
    write_atomic(&path, b"k1");
    assert!(rt.block_on(eventually(Duration::from_secs(5), || {
        parent.credential_version() == version_of("k1")
    })));

    // SAFETY: the child only runs `child` (which builds its own runtime) and leaves through
    // `_exit`, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(|| child(&path)).unwrap_or(6);
        // SAFETY: ends the child at once, without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut status = 0;
    loop {
        // SAFETY: waits for the child forked above.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: the child forked above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the child hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(libc::WIFEXITED(status), "the child died: {status}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "2: load failed, 3: load hung, 4: wrong key, 5: rotation not seen"
    );
    // The parent is unaffected: its own watch sees the child's write.
    assert!(rt.block_on(eventually(Duration::from_secs(5), || {
        parent.credential_version() == version_of("k2")
    })));
}

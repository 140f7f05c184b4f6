//! One read of a key file per change per process, however many clients use it; a change to
//! one file of a directory re-reads that file only; rotations do not grow the thread count.
//! One test function: `file_reads()` is process-wide.

mod common;

use std::time::Duration;

use common::{eventually, version_of, write_atomic};
use keyswap::{Client, Source, file_reads};

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

async fn client(path: &std::path::Path) -> Client {
    Client::builder()
        .source(Source::file(path).debounce(Duration::from_millis(5)))
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_shared_per_change_and_dispatched_per_file() {
    // Many clients on one shared file (the bot farm).
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared_key");
    write_atomic(&shared, b"farm-0");
    let mut farm = Vec::new();
    for _ in 0..200 {
        farm.push(client(&shared).await);
    }
    let before = file_reads();
    write_atomic(&shared, b"farm-1");
    assert!(
        eventually(Duration::from_secs(5), || farm
            .iter()
            .all(|c| c.credential_version() == version_of("farm-1")))
        .await
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reads = file_reads() - before;
    assert!(
        reads <= 3,
        "{reads} reads for one change seen by 200 clients"
    );

    // One file per tenant in one directory: a change to one re-reads that one only.
    let tenants_dir = tempfile::tempdir().unwrap();
    let mut tenants = Vec::new();
    for n in 0..100 {
        let path = tenants_dir.path().join(format!("tenant-{n}"));
        write_atomic(&path, format!("t{n}-0").as_bytes());
        tenants.push((path.clone(), client(&path).await));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = file_reads();
    write_atomic(&tenants[7].0, b"t7-1");
    assert!(
        eventually(Duration::from_secs(5), || tenants[7].1.credential_version()
            == version_of("t7-1"))
        .await
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reads = file_reads() - before;
    assert!(reads <= 3, "{reads} reads for a change to one file of 100");

    // A rotation of every tenant at once: all follow, and the thread count stays flat.
    let threads_before = threads();
    for (n, (path, _)) in tenants.iter().enumerate() {
        write_atomic(path, format!("t{n}-2").as_bytes());
    }
    assert!(
        eventually(Duration::from_secs(5), || tenants.iter().enumerate().all(
            |(n, (_, c))| c.credential_version() == version_of(&format!("t{n}-2"))
        ))
        .await
    );
    let added = threads().saturating_sub(threads_before);
    assert!(
        added <= 8,
        "{added} threads added by a rotation of 100 files"
    );
    drop(farm);
}

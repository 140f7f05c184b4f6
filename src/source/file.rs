//! A credential in a file: plain text or JSON, watched for the three real update patterns.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::change_signal::Changes;
use super::credential_source::{BoxFuture, CredentialSource};
use super::parse;
use super::read::{MAX_CREDENTIAL_BYTES, describe_io, read_capped};
use super::shared_file::{self, SharedFile};
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::time::AsyncSleep;

/// Default time between polls of a file whose change events may be lost (NFS, some FUSE
/// mounts, a full inotify queue). Events make rotation near-instant; the poll bounds the delay
/// when they do not arrive.
pub(crate) const DEFAULT_FILE_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Default quiet time after a file event before re-reading: writers that truncate and then
/// write raise several events, and a read on the first can see an empty file.
pub(crate) const DEFAULT_FILE_DEBOUNCE: Duration = Duration::from_millis(25);

/// How long apart the two reads are that must agree before content is trusted.
const STABLE_READ_GAP: Duration = Duration::from_millis(5);
/// A file not modified for this long before it is read has no writer at work: one read will do.
const QUIET_BEFORE_READ: Duration = Duration::from_millis(100);
/// How many reads a load may take while waiting for content to stop changing.
const STABLE_READ_ATTEMPTS: usize = 6;

/// A credential read from a file; create with [`Source::file`](crate::Source::file).
///
/// Content is either the key alone (surrounding whitespace trimmed) or a JSON object
/// `{"key": "...", "secret": "...", "passphrase": "...", "version": "...", "expires_at": ...}`
/// (`api_key`/`api_secret` are accepted too; `expires_at` is RFC 3339, unix seconds or unix
/// milliseconds).
///
/// Only a regular file of at most [`MAX_CREDENTIAL_BYTES`](crate::Source::MAX_CREDENTIAL_BYTES) is
/// read: a FIFO, a device, a directory or a bigger file is refused (checked before reading),
/// and opening never blocks.
///
/// The parent directory is watched (inotify, FSEvents, …) so the three ways files are really
/// updated are all seen: write to a temporary file and rename over, truncate and rewrite in
/// place, and the Kubernetes secret volume (`..data` symlink swapped by rename). Events are
/// debounced; a load reads until two reads a few milliseconds apart agree, so a half-written
/// file is not taken; a slow poll catches what events miss.
///
/// Shared per process: one watcher per directory (events go only to the files they name), and
/// per file one poll ticker and one read per change, fanned out to every client of the file
/// (see [`file_reads`](crate::file_reads)).
#[derive(Clone)]
pub struct FileSource {
    path: PathBuf,
    watch: bool,
    poll_interval: Option<Duration>,
    debounce: Duration,
    /// How the poll ticker waits (`None`: tokio's).
    sleep: Option<Arc<dyn AsyncSleep>>,
    /// What every source of this path (with these settings) in the process shares: the change
    /// signal and the reads. Set on first use, once the settings are final.
    shared: OnceLock<Arc<SharedFile>>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("watch", &self.watch)
            .field("poll_interval", &self.poll_interval)
            .field("debounce", &self.debounce)
            .finish()
    }
}

impl FileSource {
    /// Default time between polls of a file whose change events may be lost (NFS, some FUSE
    /// mounts, a full inotify queue). Events make rotation near-instant; the poll bounds the delay
    /// when they do not arrive.
    pub const DEFAULT_POLL_INTERVAL: Duration = DEFAULT_FILE_POLL_INTERVAL;
    /// Default quiet time after a file event before re-reading: writers that truncate and then
    /// write raise several events, and a read on the first can see an empty file.
    pub const DEFAULT_DEBOUNCE: Duration = DEFAULT_FILE_DEBOUNCE;

    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        FileSource {
            path: path.into(),
            watch: true,
            poll_interval: Some(DEFAULT_FILE_POLL_INTERVAL),
            debounce: DEFAULT_FILE_DEBOUNCE,
            sleep: None,
            shared: OnceLock::new(),
        }
    }

    fn shared(&self) -> &Arc<SharedFile> {
        self.shared.get_or_init(|| {
            shared_file::shared(
                &self.path,
                self.watch,
                self.poll_interval,
                self.sleep.clone(),
            )
        })
    }

    async fn load_from(&self, since: Option<Instant>) -> Result<Credential> {
        let name = self.name();
        let read = self.shared().read(since, read_stable, describe_io).await;
        let bytes = read.outcome.map_err(|f| Error::source(&name, f.0))?;
        parse::parse(&bytes).map_err(|e| Error::source(&name, e.to_string()))
    }

    /// Whether to watch the directory for change events. Default: `true`. Without events the
    /// file is still polled and re-read on authentication failures.
    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }

    /// How often to re-read the file regardless of events; `None` turns polling off.
    /// Default: [`FileSource::DEFAULT_POLL_INTERVAL`](crate::FileSource::DEFAULT_POLL_INTERVAL) (10 s).
    pub fn poll_interval(mut self, interval: Option<Duration>) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Quiet time after an event before re-reading. Default: [`FileSource::DEFAULT_DEBOUNCE`](crate::FileSource::DEFAULT_DEBOUNCE) (25 ms).
    pub fn debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// How the poll ticker of this file waits between polls: give the same
    /// [`ManualTime`](crate::time::ManualTime) as the client's
    /// [`sleep_impl`](crate::ClientBuilder::sleep_impl) to test polling without real sleeps.
    /// Sources of one path share one ticker when their settings (this one included) are equal.
    /// Default: [`TokioSleep`](crate::time::TokioSleep).
    pub fn sleep_impl(mut self, sleep: impl AsyncSleep) -> Self {
        self.sleep = Some(Arc::new(sleep));
        self
    }

    /// The path read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CredentialSource for FileSource {
    fn name(&self) -> String {
        format!("file:{}", self.path.display())
    }

    fn load(&self) -> BoxFuture<'_, Result<Credential>> {
        Box::pin(self.load_from(None))
    }

    fn load_since(&self, since: Instant) -> BoxFuture<'_, Result<Credential>> {
        Box::pin(self.load_from(Some(since)))
    }

    fn changes(&self) -> Option<Changes> {
        Some(self.shared().changes()?.with_debounce(self.debounce))
    }

    fn poll_interval(&self) -> Option<Duration> {
        // One poll ticker per file feeds every client's change signal; only without a runtime
        // to run it in does each client's driver poll on its own.
        if self.shared().polled() {
            None
        } else {
            self.poll_interval
        }
    }
}

/// Reads until two reads `STABLE_READ_GAP` apart return the same bytes, so a writer caught
/// half-way is waited out instead of trusted — unless the file was last modified long enough
/// before the read ([`QUIET_BEFORE_READ`]): no writer is busy, one read is enough (a client
/// built on an untouched file costs one read, not two and a pause), or the last change was
/// atomic (a rename into place, a Kubernetes `..data` swap).
fn read_stable(path: &Path, atomic: bool) -> io::Result<Vec<u8>> {
    let first = read_capped(path, MAX_CREDENTIAL_BYTES)?;
    // The last change was a rename into place: the new file was complete before it appeared.
    if atomic {
        return Ok(first);
    }
    let quiet = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|at| std::time::SystemTime::now().duration_since(at).ok())
        .is_some_and(|age| age >= QUIET_BEFORE_READ);
    if quiet {
        return Ok(first);
    }
    let mut first = Some(first);
    read_until_stable(
        || match first.take() {
            Some(bytes) => Ok(bytes),
            None => read_capped(path, MAX_CREDENTIAL_BYTES),
        },
        || std::thread::sleep(STABLE_READ_GAP),
    )
}

fn read_until_stable(
    mut read: impl FnMut() -> io::Result<Vec<u8>>,
    mut pause: impl FnMut(),
) -> io::Result<Vec<u8>> {
    let mut last = read()?;
    for _ in 1..STABLE_READ_ATTEMPTS {
        pause();
        let again = read()?;
        if again == last {
            return Ok(again);
        }
        last = again;
    }
    Err(io::Error::other("content kept changing between reads"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads that return the given contents in turn (the last one repeats).
    fn reads(contents: &[&str]) -> impl FnMut() -> io::Result<Vec<u8>> {
        let mut seq: Vec<Vec<u8>> = contents.iter().map(|c| c.as_bytes().to_vec()).collect();
        seq.reverse();
        move || {
            Ok(if seq.len() > 1 {
                seq.pop().unwrap()
            } else {
                seq[0].clone()
            })
        }
    }

    #[test]
    fn content_is_taken_once_two_reads_agree() {
        let read = read_until_stable(reads(&["k2-ha", "k2-half", "k2-half"]), || {});
        assert_eq!(
            read.unwrap(),
            b"k2-half",
            "not the first read, which was mid-write"
        );
        let mut pauses = 0;
        read_until_stable(reads(&["k1"]), || pauses += 1).unwrap();
        assert_eq!(pauses, 1, "a stable file costs one pause");
    }

    #[test]
    fn content_that_keeps_changing_is_not_trusted() {
        let changing: Vec<String> = (0..STABLE_READ_ATTEMPTS + 1)
            .map(|n| format!("k-{n}"))
            .collect();
        let changing: Vec<&str> = changing.iter().map(String::as_str).collect();
        let err = read_until_stable(reads(&changing), || {}).unwrap_err();
        assert!(err.to_string().contains("kept changing"), "{err}");
    }
}

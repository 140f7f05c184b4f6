//! A credential in a file: plain text or JSON, watched for the three real update patterns.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::read::{MAX_CREDENTIAL_BYTES, describe_io, read_capped};
use super::{BoxFuture, Changes, CredentialSource, dir_watch, parse};
use crate::credential::Credential;
use crate::error::{Error, Result};

/// Default time between polls of a file whose change events may be lost (NFS, some FUSE
/// mounts, a full inotify queue). Events make rotation near-instant; the poll bounds the delay
/// when they do not arrive.
pub const DEFAULT_FILE_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// Default quiet time after a file event before re-reading: writers that truncate and then
/// write raise several events, and a read on the first can see an empty file.
pub const DEFAULT_FILE_DEBOUNCE: Duration = Duration::from_millis(25);

/// How long apart the two reads are that must agree before content is trusted.
const STABLE_READ_GAP: Duration = Duration::from_millis(5);
/// How many reads a load may take while waiting for content to stop changing.
const STABLE_READ_ATTEMPTS: usize = 6;

/// A credential read from a file; create with [`Source::file`](crate::Source::file).
///
/// Content is either the key alone (surrounding whitespace trimmed) or a JSON object
/// `{"key": "...", "secret": "...", "passphrase": "...", "version": "...", "expires_at": ...}`
/// (`api_key`/`api_secret` are accepted too; `expires_at` is RFC 3339, unix seconds or unix
/// milliseconds).
///
/// Only a regular file of at most [`MAX_CREDENTIAL_BYTES`](crate::MAX_CREDENTIAL_BYTES) is
/// read: a FIFO, a device, a directory or a bigger file is refused (checked before reading),
/// and opening never blocks.
///
/// The parent directory is watched (inotify, FSEvents, …) so the three ways files are really
/// updated are all seen: write to a temporary file and rename over, truncate and rewrite in
/// place, and the Kubernetes secret volume (`..data` symlink swapped by rename). Events are
/// debounced; a load reads until two reads a few milliseconds apart agree, so a half-written
/// file is not taken; a slow poll catches what events miss. One watcher per directory is
/// shared by every client of the process.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    watch: bool,
    poll_interval: Option<Duration>,
    debounce: Duration,
}

impl FileSource {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        FileSource {
            path: path.into(),
            watch: true,
            poll_interval: Some(DEFAULT_FILE_POLL_INTERVAL),
            debounce: DEFAULT_FILE_DEBOUNCE,
        }
    }

    /// Whether to watch the directory for change events. Default: `true`. Without events the
    /// file is still polled and re-read on authentication failures.
    pub fn watch(mut self, watch: bool) -> Self {
        self.watch = watch;
        self
    }

    /// How often to re-read the file regardless of events; `None` turns polling off.
    /// Default: [`DEFAULT_FILE_POLL_INTERVAL`] (10 s).
    pub fn poll_interval(mut self, interval: Option<Duration>) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Quiet time after an event before re-reading. Default: [`DEFAULT_FILE_DEBOUNCE`] (25 ms).
    pub fn debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
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
        let path = self.path.clone();
        Box::pin(async move {
            let name = format!("file:{}", path.display());
            let bytes = tokio::task::spawn_blocking(move || read_stable(&path))
                .await
                .map_err(|e| Error::source(&name, format!("read task failed: {e}")))?
                .map_err(|e| Error::source(&name, describe_io(&e)))?;
            parse::parse(&bytes).map_err(|e| Error::source(&name, e.to_string()))
        })
    }

    fn changes(&self) -> Option<Changes> {
        if !self.watch {
            return None;
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        match dir_watch::subscribe(dir) {
            Ok(changes) => Some(changes.with_debounce(self.debounce)),
            Err(err) => {
                tracing::warn!(
                    source = %self.name(),
                    error = %err,
                    "cannot watch the directory; relying on polling"
                );
                None
            }
        }
    }

    fn poll_interval(&self) -> Option<Duration> {
        self.poll_interval
    }
}

/// Reads until two reads `STABLE_READ_GAP` apart return the same bytes, so a writer caught
/// half-way is waited out instead of trusted.
fn read_stable(path: &Path) -> io::Result<Vec<u8>> {
    read_until_stable(
        || read_capped(path, MAX_CREDENTIAL_BYTES),
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

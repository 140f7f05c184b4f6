//! One read of a key file per change per process, however many clients use it.
//!
//! Every file source of a path (with the same settings) shares a [`SharedFile`]: one change
//! signal (directory events naming the file, events that concern every file, and one poll
//! ticker per file, not per client), and the last read. A load is answered by the last read
//! when the file is provably the same as when that read began: same device, inode, length and
//! modification time (one `stat`, no read; not a signal count, since an event may still be on
//! its way when a load starts). Otherwise it reads, and concurrent loads share that read
//! ([`SingleFlight`]). At most [`MAX_CONCURRENT_READS`] reads run at once in the process, so a
//! rotation of ten thousand files does not grow the blocking thread pool.
//!
//! Correct while clients of one file are built and dropped concurrently: the registry holds
//! weak references only; a `SharedFile` lives while a source or a change subscription of it
//! does, and its ticker and directory registration end with it.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::change_signal::Changes;
use super::dir_watch::{self, DirWatch, Signal};
use crate::fork::PerProcess;
use crate::single_flight::{Flight, SingleFlight};
use crate::time::{AsyncSleep, TokioSleep};

/// The key-file reader threads of the process (reads run on them, not on async workers).
pub(crate) const MAX_CONCURRENT_READS: usize = 4;

/// The longest a load waits for a writer at work in place to close the file (a writer that
/// keeps it open longer is read anyway, with the stable-read check).
const WRITER_GRACE: Duration = Duration::from_millis(200);

/// Key-file reads this process made (loads answered by a shared read do not count).
static READS: AtomicU64 = AtomicU64::new(0);

/// How many times this process read a key file (see the crate docs on shared reads): with
/// many clients on one file, it grows by one per change, not by one per client.
pub fn file_reads() -> u64 {
    READS.load(Ordering::Relaxed)
}

/// What one read produced, and what the file looked like when it began.
#[derive(Clone)]
pub(super) struct Read {
    identity: Option<Identity>,
    pub(super) outcome: Result<Arc<[u8]>, Failure>,
}

/// What tells two versions of a file apart without reading it.
#[derive(Clone, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

fn identity(path: &Path) -> Option<Identity> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (dev, ino) = {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    };
    #[cfg(not(unix))]
    let (dev, ino) = (0, 0);
    Some(Identity {
        dev,
        ino,
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// A failed read: the kind (for messages) and its description.
#[derive(Clone)]
pub(super) struct Failure(pub(super) String);

#[derive(Hash, PartialEq, Eq, Clone)]
struct Key {
    path: PathBuf,
    watch: bool,
    poll: Option<Duration>,
    /// The ticker's sleep, by address (0: tokio's): sources with another clock get their own.
    sleep: usize,
}

pub(super) struct SharedFile {
    path: PathBuf,
    key: Key,
    sleep: Arc<dyn AsyncSleep>,
    /// The watch, ticker and reads of this process: a forked child starts its own.
    state: PerProcess<FileState>,
}

/// What one process runs for a file: its change signal, its watch and ticker, its reads.
struct FileState {
    signal: Arc<Signal>,
    /// Whether anything bumps the signal (else no client gets change events).
    signalled: bool,
    flight: SingleFlight<Read>,
    _dir: Option<Arc<DirWatch>>,
    ticker: Option<tokio::task::AbortHandle>,
}

impl Drop for FileState {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
    }
}

type Registry = Mutex<HashMap<Key, Weak<SharedFile>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The shared state of `path` for these settings, created on first use. The directory watch
/// and the poll ticker start on first use in each process (the ticker on keyswap's background
/// runtime, so it outlives the runtime of whichever client asked first).
pub(super) fn shared(
    path: &Path,
    watch: bool,
    poll: Option<Duration>,
    sleep: Option<Arc<dyn AsyncSleep>>,
) -> Arc<SharedFile> {
    let key = Key {
        path: absolute(path),
        watch,
        poll: poll.filter(|p| !p.is_zero()),
        sleep: sleep
            .as_ref()
            .map_or(0, |s| Arc::as_ptr(s) as *const () as usize),
    };
    let mut files = registry().lock().unwrap_or_else(|p| p.into_inner());
    files.retain(|_, f| f.strong_count() > 0);
    if let Some(existing) = files.get(&key).and_then(Weak::upgrade) {
        return existing;
    }
    let file = Arc::new(SharedFile {
        path: path.to_path_buf(),
        key: key.clone(),
        sleep: sleep.unwrap_or_else(|| Arc::new(TokioSleep)),
        state: PerProcess::new(),
    });
    files.insert(key, Arc::downgrade(&file));
    file
}

fn absolute(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match path.file_name() {
        Some(name) => dir.join(name),
        None => path.to_path_buf(),
    }
}

impl FileState {
    fn start(path: &Path, key: &Key, sleep: &Arc<dyn AsyncSleep>) -> Self {
        let signal = Arc::new(watch::channel(0u64).0);
        let dir = if key.watch {
            let parent = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            match (dir_watch::watch_dir(parent), path.file_name()) {
                (Ok(dir), Some(name)) => {
                    dir.listen(name.to_os_string(), &signal);
                    Some(dir)
                }
                (Err(err), _) => {
                    tracing::warn!(source = %format!("file:{}", path.display()), error = %err, "cannot watch the directory; relying on polling");
                    None
                }
                (Ok(_), None) => None,
            }
        } else {
            None
        };
        let ticker = key.poll.and_then(|interval| {
            let weak = Arc::downgrade(&signal);
            let sleep = Arc::clone(sleep);
            crate::background::spawn(async move {
                loop {
                    sleep.sleep(crate::jitter::jittered(interval)).await;
                    let Some(signal) = weak.upgrade() else {
                        return;
                    };
                    super::change_signal::signal(&signal, false);
                }
            })
        });
        FileState {
            signalled: dir.is_some() || ticker.is_some(),
            signal,
            flight: SingleFlight::new(crate::time::Time::default()),
            _dir: dir,
            ticker,
        }
    }
}

impl SharedFile {
    /// This process's state of the file, started on first use here.
    fn state(&self) -> Arc<FileState> {
        self.state
            .get_or_init(|| FileState::start(&self.path, &self.key, &self.sleep))
    }

    /// A change signal for one client: every directory event naming the file (or concerning
    /// every file) and every poll tick.
    pub(super) fn changes(self: &Arc<Self>) -> Option<Changes> {
        let state = self.state();
        if !state.signalled {
            return None;
        }
        Some(Changes {
            rx: state.signal.subscribe(),
            debounce: Duration::ZERO,
            _keep_alive: Some(Arc::clone(self) as Arc<dyn std::any::Any + Send + Sync>),
        })
    }

    /// Whether a poll ticker drives this file's signal (the client's driver then need not poll).
    pub(super) fn polled(&self) -> bool {
        self.state().ticker.is_some()
    }

    /// Waits, at most [`WRITER_GRACE`], while a writer is at work on the file in place: a
    /// read now would catch it half-way (a truncate, half the key, a pause, the rest), and
    /// its close says when the content is complete.
    async fn writer_done(state: &FileState) {
        let mut rx = state.signal.subscribe();
        let done = rx.wait_for(|v| !super::change_signal::writing(*v));
        let _ = tokio::time::timeout(WRITER_GRACE, done).await;
    }

    /// The file's content: the last read if the file is still the one it read, else a new
    /// read shared by every concurrent caller. A failed read is never reused.
    pub(super) async fn read(
        &self,
        since: Option<Instant>,
        read: fn(&Path, bool) -> io::Result<Vec<u8>>,
        describe: fn(&io::Error) -> String,
    ) -> Read {
        let state = self.state();
        if super::change_signal::writing(*state.signal.borrow()) {
            Self::writer_done(&state).await;
        }
        let now = identity(&self.path);
        let reuse =
            |f: &Flight<Read>| f.value.outcome.is_ok() && now.is_some() && f.value.identity == now;
        state
            .flight
            .run(since, reuse, |_| async {
                // Taken before reading: a change during the read makes the next load read again.
                let identity = identity(&self.path);
                // The last change signalled was atomic: no writer can be half-way.
                let atomic = *state.signal.borrow() & 1 == 1;
                let outcome = read_limited(&self.path, atomic, read, describe).await;
                Read { identity, outcome }
            })
            .await
    }
}

async fn read_limited(
    path: &Path,
    atomic: bool,
    read: fn(&Path, bool) -> io::Result<Vec<u8>>,
    describe: fn(&io::Error) -> String,
) -> Result<Arc<[u8]>, Failure> {
    READS.fetch_add(1, Ordering::Relaxed);
    let path = path.to_path_buf();
    let (done, outcome) = tokio::sync::oneshot::channel();
    readers().submit(Box::new(move || {
        let result = std::panic::catch_unwind(|| read(&path, atomic));
        let _ = done.send(result);
    }))?;
    match outcome.await {
        Ok(Ok(Ok(bytes))) => Ok(Arc::from(bytes)),
        Ok(Ok(Err(err))) => Err(Failure(describe(&err))),
        Ok(Err(_)) => Err(Failure("the read panicked".into())),
        Err(_) => Err(Failure("the read was dropped".into())),
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of [`MAX_CONCURRENT_READS`] reader threads, started on first use. Not tokio's
/// blocking pool: that one grows a thread whenever none is idle at the instant a task arrives,
/// so a burst of ten thousand short reads grows it well past the number running at once. The
/// threads are detached: process exit never waits for a read in progress.
struct Readers {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Readers {
    fn submit(&self, job: Job) -> Result<(), Failure> {
        self.jobs
            .send(job)
            .map_err(|_| Failure("the reader threads are gone".into()))
    }
}

/// The reader threads of this process (a forked child starts its own: the parent's are not
/// there).
fn readers() -> Arc<Readers> {
    static READERS: PerProcess<Readers> = PerProcess::new();
    READERS.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..MAX_CONCURRENT_READS {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("keyswap-read-{n}"))
                .spawn(move || {
                    loop {
                        let job = {
                            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                            queue.recv()
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a key-file reader thread");
            }
        }
        Readers { jobs }
    })
}

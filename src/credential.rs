//! The credential model: what a source produces and what a request carries.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};

/// The longest version label accepted from a source.
const MAX_VERSION_LEN: usize = 256;
/// How a version label derived from the content starts.
const DERIVED_PREFIX: &str = "auto:";

/// The key of this process's fingerprints (and so of derived version labels): random, from the
/// operating system, drawn once. A forked child inherits it, and its labels match the parent's.
fn process_key() -> &'static std::collections::hash_map::RandomState {
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    KEY.get_or_init(std::collections::hash_map::RandomState::new)
}

/// One API credential: a key, an optional signing secret, a version and an optional expiry.
///
/// The key and the secret are held in [`secrecy`] types: they are zeroized on drop and never
/// appear in `Debug` output, error messages or tracing. Reading them is explicit
/// ([`Credential::expose_key`], [`Credential::expose_secret`]) so that a signer doing so stands
/// out in review.
///
/// Two credentials are *the same credential* when key and secret are equal (a keyed digest of
/// them decides, not the version label), so a source that re-labels an unchanged key does not
/// cause a rotation.
#[derive(Clone)]
pub struct Credential {
    key: SecretString,
    secret: Option<SecretString>,
    passphrase: Option<SecretString>,
    version: String,
    expires_at: Option<SystemTime>,
    windows: Option<RefreshWindows>,
    fingerprint: u64,
    previous: Option<Arc<Credential>>,
}

/// When a short-lived credential (an OAuth2 access token) is renewed, as its source decides
/// (see [`Credential::with_refresh_windows`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshWindows {
    /// From this moment the client renews the credential in the background; requests keep
    /// using it meanwhile, and if renewing fails it stays in use until `mandatory`.
    pub advisory: SystemTime,
    /// From this moment requests wait for a renewed credential before they are sent; if none
    /// can be had, they go on with this one until it expires, and then fail with an error
    /// naming the cause.
    pub mandatory: SystemTime,
}

impl Credential {
    /// A credential holding only a key. Its version is derived from the content: `auto:` and 8
    /// hex digits of a digest of the credential keyed per process, so a
    /// label shown in logs, metrics and `health()` cannot confirm a guessed secret (an unkeyed
    /// hash of a low-entropy secret, a Basic-auth password, would). Labels therefore differ
    /// between processes: give the credential a [version](Credential::with_version) of its
    /// own (Vault's, AWS's `VersionId`, a `version` field in the file) to compare across a
    /// fleet.
    pub fn new(key: impl Into<String>) -> Self {
        let key: String = key.into();
        let mut cred = Credential {
            key: SecretString::from(key),
            secret: None,
            passphrase: None,
            version: String::new(),
            expires_at: None,
            windows: None,
            fingerprint: 0,
            previous: None,
        };
        cred.rehash();
        cred
    }

    /// Adds the secret used by signing schemes (HMAC key of an exchange API, …).
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(SecretString::from(secret.into()));
        self.rehash();
        self
    }

    /// Adds the passphrase some exchanges (OKX, Coinbase Exchange, KuCoin) issue with a key
    /// pair. It rotates with the pair: key, secret and passphrase are one credential, and a
    /// request is never signed with parts of two rotations.
    pub fn with_passphrase(mut self, passphrase: impl Into<String>) -> Self {
        self.passphrase = Some(SecretString::from(passphrase.into()));
        self.rehash();
        self
    }

    /// Sets the version label the source gave this credential (Vault version, AWS version id, …).
    /// Without one the version is derived from the content.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the moment after which the credential is no longer valid.
    pub fn with_expiry(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets when the client renews this credential: in the background from `advisory` on,
    /// before sending any request from `mandatory` on (botocore's advisory and mandatory
    /// refresh windows). Without windows, a credential with an expiry is renewed ahead of it by
    /// the client's own rule and requests never wait for it.
    pub fn with_refresh_windows(mut self, windows: RefreshWindows) -> Self {
        self.windows = Some(windows);
        self
    }

    /// The refresh windows the source set (see [`Credential::with_refresh_windows`]).
    pub fn refresh_windows(&self) -> Option<RefreshWindows> {
        self.windows
    }

    /// Attaches the credential the source itself says was current before this one, such as
    /// the `AWSPREVIOUS` version of an AWS secret.
    ///
    /// Why: the client keeps the replaced credential as an overlap fallback (tried when the new
    /// one is rejected by a server still propagating it), but only for rotations it saw
    /// happen. A process that starts, or first loads, just after a rotation saw none, and would
    /// have no fallback exactly when one is needed. When the credential that becomes current
    /// carries a previous one, the client uses it as the fallback for the overlap window. It
    /// does not take part in the credential's identity or validation.
    pub fn with_previous(mut self, previous: Credential) -> Self {
        self.previous = Some(Arc::new(previous.without_previous()));
        self
    }

    /// The previous credential the source reported (see [`Credential::with_previous`]).
    pub fn previous(&self) -> Option<&Credential> {
        self.previous.as_deref()
    }

    /// Removes and returns the source-reported previous credential (the store keeps it apart).
    pub(crate) fn take_previous(&mut self) -> Option<Arc<Credential>> {
        self.previous.take()
    }

    fn without_previous(mut self) -> Self {
        self.previous = None;
        self
    }

    /// The key. Handle with care: whatever you do with it is outside keyswap's redaction.
    pub fn expose_key(&self) -> &str {
        self.key.expose_secret()
    }

    /// The signing secret, if the source provided one.
    pub fn expose_secret(&self) -> Option<&str> {
        self.secret.as_ref().map(|s| s.expose_secret())
    }

    /// The passphrase, if the source provided one.
    pub fn expose_passphrase(&self) -> Option<&str> {
        self.passphrase.as_ref().map(|s| s.expose_secret())
    }

    /// The version label: from the source when it has one, else derived from the content.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// When the credential expires, if the source said.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Whether a signing secret is present.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// A 64-bit digest of key, secret and passphrase: equal fingerprints mean the same
    /// credential, within this process. Keyed with a random key of the process (SipHash), so it
    /// neither reveals the key nor lets anyone who sees it confirm a guessed key offline; the
    /// same credential has another fingerprint in another process.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Checks that the credential can be used at all; a source's output that fails here never
    /// replaces a good credential.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        let key = self.expose_key();
        if key.is_empty() {
            return Err("the key is empty");
        }
        // Keys travel in headers and query strings: visible ASCII only.
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the key contains whitespace, control or non-ASCII characters");
        }
        if self.expose_secret().is_some_and(str::is_empty) {
            return Err("the secret is empty");
        }
        if self.expose_passphrase().is_some_and(str::is_empty) {
            return Err("the passphrase is empty");
        }
        // The version is shown in logs, metrics and errors: a line break in it could forge log
        // lines, and a huge one would bloat every message.
        if self.version.len() > MAX_VERSION_LEN {
            return Err("the version label is longer than 256 bytes");
        }
        if self.version.chars().any(char::is_control) {
            return Err("the version label contains control characters");
        }
        if let Some(at) = self.expires_at {
            if at <= SystemTime::now() {
                return Err("the credential has already expired");
            }
        }
        Ok(())
    }

    fn rehash(&mut self) {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = process_key().build_hasher();
        hasher.write(self.key.expose_secret().as_bytes());
        if let Some(secret) = &self.secret {
            // A separator that cannot occur in a validated key keeps ("ab","c") != ("a","bc").
            hasher.write_u8(0);
            hasher.write(secret.expose_secret().as_bytes());
        }
        if let Some(passphrase) = &self.passphrase {
            // A different separator: a secret and a passphrase never hash alike.
            hasher.write_u8(1);
            hasher.write(passphrase.expose_secret().as_bytes());
        }
        self.fingerprint = hasher.finish();
        let derived = self.version.is_empty() || self.version.starts_with(DERIVED_PREFIX);
        if derived {
            self.version = format!("{DERIVED_PREFIX}{:08x}", (self.fingerprint >> 32) as u32);
        }
    }

    /// Time left before expiry; `None` when the credential has no expiry.
    pub fn time_to_expiry(&self) -> Option<Duration> {
        self.time_to_expiry_at(SystemTime::now())
    }

    /// Time left before expiry as of `now`.
    pub(crate) fn time_to_expiry_at(&self, now: SystemTime) -> Option<Duration> {
        self.expires_at
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("key", &"[REDACTED]")
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "[REDACTED]"),
            )
            .field("version", &self.version)
            .field("expires_at", &self.expires_at)
            .field("refresh_windows", &self.windows)
            .field("previous", &self.previous.as_ref().map(|p| p.version()))
            .finish()
    }
}

impl From<&str> for Credential {
    fn from(key: &str) -> Self {
        Credential::new(key)
    }
}

impl From<String> for Credential {
    fn from(key: String) -> Self {
        Credential::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_or_secret() {
        let cred = Credential::new("k-123456789").with_secret("s-abcdefgh");
        let shown = format!("{cred:?} {cred:#?}");
        assert!(!shown.contains("k-123456789"), "{shown}");
        assert!(!shown.contains("s-abcdefgh"), "{shown}");
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn fingerprint_depends_on_key_and_secret_not_version() {
        let a = Credential::new("abc").with_version("1");
        let b = Credential::new("abc").with_version("2");
        let c = Credential::new("abc").with_secret("x");
        let d = Credential::new("ab").with_secret("cx");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_ne!(c.fingerprint(), d.fingerprint());
    }

    #[test]
    fn derived_version_follows_content_and_explicit_version_sticks() {
        let a = Credential::new("abc");
        assert!(a.version().starts_with("auto:"));
        assert_ne!(a.version(), Credential::new("abd").version());
        let b = Credential::new("abc").with_version("v7").with_secret("s");
        assert_eq!(b.version(), "v7");
    }

    #[test]
    fn validation_rejects_unusable_credentials() {
        assert!(Credential::new("").validate().is_err());
        assert!(Credential::new("a b").validate().is_err());
        assert!(Credential::new("a\u{7}").validate().is_err());
        assert!(Credential::new("ok").with_secret("").validate().is_err());
        let past = SystemTime::now() - Duration::from_secs(1);
        assert!(Credential::new("ok").with_expiry(past).validate().is_err());
        assert!(Credential::new("ok").validate().is_ok());
    }

    #[test]
    fn derived_labels_cannot_be_recomputed_from_a_guessed_secret() {
        use sha2::{Digest, Sha256};
        let password = "hunter2";
        let label = Credential::new(password).version().to_owned();
        // What an unkeyed label would be: anyone could check a dictionary against it.
        let unkeyed = format!("auto:{}", hex::encode(&Sha256::digest(password)[..4]));
        assert_ne!(label, unkeyed);
        assert_ne!(
            label.trim_start_matches("auto:"),
            hex::encode(&Sha256::digest(password)[..4])
        );
        // Stable within the process, distinct across contents.
        assert_eq!(label, Credential::new(password).version());
        assert_ne!(label, Credential::new("hunter3").version());
    }

    #[test]
    fn the_process_key_differs_between_processes() {
        // Two processes label the same secret differently: run this test binary again as a
        // child and compare what it prints.
        if let Ok(key) = std::env::var("KEYSWAP_PRINT_LABEL_OF") {
            println!("LABEL={}", Credential::new(key).version());
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let label_in_child = || {
            let out = std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "credential::tests::the_process_key_differs_between_processes",
                    "--nocapture",
                ])
                .env("KEYSWAP_PRINT_LABEL_OF", "hunter2")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("LABEL=").map(str::to_owned))
                .unwrap_or_else(|| panic!("no label printed: {text}"))
        };
        let (a, b) = (label_in_child(), label_in_child());
        assert!(a.starts_with("auto:") && b.starts_with("auto:"));
        assert_ne!(
            a, b,
            "a label that is the same in every process is a dictionary oracle"
        );
    }
}

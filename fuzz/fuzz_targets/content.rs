//! Key file / environment variable content: plain text or JSON, then validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The refusals a parser or validation may give; anything else is a bug (a refusal that
/// does not name its cause, or one that could quote content).
const CAUSES: &[&str] = &[
    "content is not valid UTF-8",
    "content is empty",
    "content looks like JSON but does not parse (",
    "`expires_at` is",
    "`version` is not",
    "the key is empty",
    "the key contains",
    "the secret is empty",
    "the passphrase is empty",
    "the version label",
    "the credential has already expired",
];

fuzz_target!(|data: &[u8]| {
    if let Err(why) = keyswap::fuzzing::parse_content(data) {
        assert!(
            CAUSES.iter().any(|c| why.starts_with(c)),
            "refusal without a known cause: {why:?}"
        );
    }
});

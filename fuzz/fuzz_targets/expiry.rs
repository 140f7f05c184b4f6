//! `expires_at` values: any JSON (numbers of any size, strings of any shape).
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(at)) = keyswap::fuzzing::parse_expiry_json(data) {
        // Accepted: between the epoch and the end of 9999 (RFC 3339's last second, plus
        // the fraction a millisecond or nanosecond form may add).
        let latest = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert!(at >= SystemTime::UNIX_EPOCH && at <= latest, "{at:?}");
    }
});

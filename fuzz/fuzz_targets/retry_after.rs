//! `Retry-After` header values: delta-seconds or an IMF-fixdate, or anything else.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(after) = keyswap::fuzzing::parse_retry_after(value) {
        if value.trim().parse::<u64>().is_err() {
            // A date: no later than the end of 9999.
            let latest = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800);
            let left = latest.duration_since(SystemTime::now()).unwrap();
            assert!(after <= left, "{value:?} -> {after:?}");
        }
    }
});

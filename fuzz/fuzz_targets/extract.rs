//! An endpoint source's extraction: fuzz-chosen decode steps and JSON pointers applied to a
//! fuzz-chosen body.
//!
//! Input: a configuration, a `0xFF` byte (never in UTF-8, so never in a JSON body), the body.
//! The configuration is lines of `name=pointer`, in order: `json=` / `base64=` (decode
//! steps), `key=`, `secret=`, `passphrase=`, `version=`, `version_last=`, `expiry=`. Unknown
//! lines are ignored. Without `0xFF` the whole input is the body and the key is at `/key`.
#![no_main]

use libfuzzer_sys::fuzz_target;

use keyswap::fuzzing::{Pointers, Step};

fn configure(config: &[u8]) -> Pointers {
    let mut p = Pointers {
        key: "/key".to_owned(),
        ..Pointers::default()
    };
    for line in String::from_utf8_lossy(config).split('\n') {
        let Some((name, at)) = line.split_once('=') else {
            continue;
        };
        let at = at.to_owned();
        match name {
            "json" if p.decode.len() < 8 => p.decode.push((Step::Json, at)),
            "base64" if p.decode.len() < 8 => p.decode.push((Step::Base64, at)),
            "key" => p.key = at,
            "secret" => p.secret = Some(at),
            "passphrase" => p.passphrase = Some(at),
            "version" => p.version = Some(at),
            "version_last" => {
                p.version = Some(at);
                p.version_last_segment = true;
            }
            "expiry" => p.expiry = Some(at),
            _ => {}
        }
    }
    p
}

fuzz_target!(|data: &[u8]| {
    let (config, body) = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&[][..], data),
    };
    let pointers = configure(config);
    if let Err(why) = keyswap::fuzzing::extract(&pointers, body) {
        assert!(!why.is_empty());
    }
});

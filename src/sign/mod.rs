//! Exchange request signers: pure, per-attempt signing of a [`reqwest::Request`] with a
//! [`Credential`](crate::Credential), plus the pieces every signer needs (a server-time [`Clock`], strictly
//! increasing [`Nonces`]) and a description of how each exchange reports a rejected credential
//! ([`Rejection`]).
//!
//! A [`Signer`] is called afresh on every attempt with a [`SignContext`]: it reads the current
//! (server-adjusted) time from [`SignContext::clock`] and, where the exchange wants one, a new
//! nonce from [`SignContext::nonces`]. Signing is idempotent: the parameters a signer adds are
//! replaced, never duplicated, when the same request is signed again.
//!
//! Signers shipped here: [`HmacSigner`], one HMAC engine that runs a recipe (what is signed,
//! encoded how, sent where; a [`Rejections`] table for what the API's answers mean), with the
//! exchange recipes [`HmacSigner::binance`], [`HmacSigner::bybit`] and [`HmacSigner::okx`];
//! [`KrakenSigner`] (a nonce in the form body and a hash inside the HMAC) and
//! [`CoinbaseSigner`] (ES256 JWT), which are code.
//!
//! Errors ([`SignError`]) name the signer and the cause; they never contain the key, the
//! secret, the passphrase or a signature.

mod binance;
mod bybit;
mod clock;
mod coinbase;
mod error;
mod hmac;
mod kraken;
mod nonce;
mod okx;
mod recipe;
mod rejections;
mod signer;
mod time_endpoint;
mod util;

pub use clock::{Clock, DEFAULT_CLOCK_SAMPLES};
pub use coinbase::CoinbaseSigner;
pub use error::{SignError, SignErrorKind};
pub use hmac::HmacSigner;
pub use kraken::KrakenSigner;
pub use nonce::{NonceUnit, Nonces};
pub use recipe::{HashAlg, Part, SecretEncoding, SigEncoding, TimestampFormat};
pub use rejections::Rejections;
pub use signer::{Rejection, SignContext, Signer, classify_status};
pub use time_endpoint::{TimeEndpoint, TimeUnit};

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Credential;

    #[test]
    fn classify_status_maps_401_only() {
        assert_eq!(
            classify_status(http::StatusCode::UNAUTHORIZED),
            Rejection::Credential
        );
        assert_eq!(
            classify_status(http::StatusCode::FORBIDDEN),
            Rejection::None
        );
        assert_eq!(classify_status(http::StatusCode::OK), Rejection::None);
    }

    #[test]
    fn time_endpoint_parses_numbers_strings_and_units() {
        let ep = TimeEndpoint {
            path: "/t",
            pointer: "/data/0/ts",
            unit: TimeUnit::Millis,
        };
        assert_eq!(
            ep.parse(br#"{"code":"0","data":[{"ts":"1597026383085"}]}"#),
            Some(1_597_026_383_085)
        );
        let secs = TimeEndpoint {
            path: "/t",
            pointer: "/result/unixtime",
            unit: TimeUnit::Seconds,
        };
        assert_eq!(
            secs.parse(br#"{"error":[],"result":{"unixtime":1688669448,"rfc1123":"x"}}"#),
            Some(1_688_669_448_000)
        );
        let nanos = TimeEndpoint {
            path: "/t",
            pointer: "/n",
            unit: TimeUnit::Nanos,
        };
        assert_eq!(
            nanos.parse(br#"{"n":"1688639403423213947"}"#),
            Some(1_688_639_403_423)
        );
        assert_eq!(ep.parse(b"not json"), None);
        assert_eq!(ep.parse(br#"{"data":[{"ts":"abc"}]}"#), None);
        assert_eq!(ep.parse(br#"{"data":[]}"#), None);
        // Absurd values saturate instead of overflowing.
        assert_eq!(
            secs.parse(br#"{"result":{"unixtime":1e300}}"#),
            Some(i64::MAX)
        );
        assert_eq!(
            secs.parse(br#"{"result":{"unixtime":-1e300}}"#),
            Some(i64::MIN)
        );
    }

    #[test]
    fn signers_are_usable_as_shared_trait_objects() {
        use std::sync::Arc;
        let signers: Vec<Arc<dyn Signer>> = vec![
            Arc::new(HmacSigner::binance()),
            Arc::new(KrakenSigner::new()),
            Arc::new(CoinbaseSigner::new()),
            Arc::new(HmacSigner::okx()),
            Arc::new(HmacSigner::bybit()),
            Arc::new(HmacSigner::default()),
        ];
        let names: Vec<&str> = signers.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            ["binance", "kraken", "coinbase", "okx", "bybit", "hmac"]
        );
        let fx = testutil::Fixture::at(1_700_000_000_000);
        let cred = Credential::new("key")
            .with_secret("c2VjcmV0")
            .with_passphrase("p");
        for s in &signers {
            let mut req = testutil::request("POST", "https://api.example.com/x", Some(""));
            let result = s.sign(&mut req, &cred, &fx.ctx());
            if s.name() == "coinbase" {
                // Not a PEM key: a clean error, no panic.
                let e = result.expect_err("coinbase needs a PEM key");
                testutil::assert_no_leak(&e, &["c2VjcmV0"]);
            } else {
                result.expect("sign");
            }
            let _ = s.needs_body(http::StatusCode::OK, &http::HeaderMap::new());
            let _ = s.classify(http::StatusCode::OK, &http::HeaderMap::new(), Some(b"\xff"));
        }
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Clock>();
        assert_send_sync::<Nonces>();
        assert_send_sync::<SignError>();
    }

    #[test]
    fn sign_error_message_names_signer_and_cause() {
        let e = SignError::new("binance", SignErrorKind::MissingSecret);
        assert_eq!(e.to_string(), "binance: the credential has no secret");
        assert_eq!(e.signer(), "binance");
        assert_eq!(e.kind(), SignErrorKind::MissingSecret);
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
        assert!(boxed.to_string().starts_with("binance:"));
    }
}

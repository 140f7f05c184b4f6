#![allow(dead_code)] // shared by tests and the trading_bot example, which use different parts
//! Local mock exchanges (Binance- and Kraken-shaped) that verify every signature server-side
//! with the secret of the key the request names, keep their own clock (possibly skewed from
//! the host's), and answer rejections the way the real exchanges document them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub fn host_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the exchange saw.
#[derive(Default, Debug, Clone)]
pub struct Ledger {
    pub accepted: u64,
    pub bad_key: u64,
    pub bad_signature: u64,
    pub bad_timestamp: u64,
    pub bad_nonce: u64,
    /// Every signature received, to check none is ever replayed.
    pub signatures: Vec<String>,
}

#[derive(Clone, Default)]
pub struct Exchange {
    /// key → (secret, passphrase): the key pairs the exchange honours now.
    pairs: Arc<Mutex<HashMap<String, String>>>,
    pub ledger: Arc<Mutex<Ledger>>,
    /// Exchange clock minus host clock, in ms.
    skew_ms: Arc<Mutex<i64>>,
    last_nonce: Arc<Mutex<HashMap<String, u64>>>,
    /// Refuse the next request's nonce whatever it is (another process just used a larger one).
    refuse_next_nonce: Arc<std::sync::atomic::AtomicBool>,
}

impl Exchange {
    pub fn honour_only(&self, pairs: &[(&str, &str)]) {
        *self.pairs.lock().unwrap() = pairs
            .iter()
            .map(|(k, s)| (k.to_string(), s.to_string()))
            .collect();
    }

    pub fn set_skew_ms(&self, skew: i64) {
        *self.skew_ms.lock().unwrap() = skew;
    }

    pub fn now_ms(&self) -> i64 {
        host_ms() + *self.skew_ms.lock().unwrap()
    }

    pub fn ledger(&self) -> Ledger {
        self.ledger.lock().unwrap().clone()
    }

    fn secret_of(&self, key: Option<&str>) -> Option<String> {
        self.pairs.lock().unwrap().get(key?).cloned()
    }

    pub async fn start(self, flavour: Flavour) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(Mocked {
                exchange: self,
                flavour,
            })
            .mount(&server)
            .await;
        server
    }
}

#[derive(Clone, Copy)]
pub enum Flavour {
    Binance,
    Kraken,
}

struct Mocked {
    exchange: Exchange,
    flavour: Flavour,
}

impl Respond for Mocked {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let resp = match self.flavour {
            Flavour::Binance => self.binance(req),
            Flavour::Kraken => self.kraken(req),
        };
        // The exchange's own clock in `Date`, as a real one sends it.
        let now = UNIX_EPOCH + std::time::Duration::from_millis(self.exchange.now_ms() as u64);
        resp.insert_header("date", httpdate::fmt_http_date(now).as_str())
    }
}

impl Mocked {
    fn binance(&self, req: &Request) -> ResponseTemplate {
        let ex = &self.exchange;
        if req.url.path() == "/api/v3/time" {
            return ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "serverTime": ex.now_ms() }));
        }
        let key = req
            .headers
            .get("x-mbx-apikey")
            .and_then(|v| v.to_str().ok());
        let mut ledger = ex.ledger.lock().unwrap();
        let Some(secret) = ex.secret_of(key) else {
            ledger.bad_key += 1;
            return ResponseTemplate::new(401).set_body_json(serde_json::json!({
                "code": -2015, "msg": "Invalid API-key, IP, or permissions for action."
            }));
        };
        let query = req.url.query().unwrap_or_default();
        let Some((signed, signature)) = query.rsplit_once("&signature=") else {
            ledger.bad_signature += 1;
            return binance_error(-1022, "Signature for this request is not valid.");
        };
        ledger.signatures.push(signature.to_owned());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(signed.as_bytes());
        mac.update(&req.body);
        if hex(&mac.finalize().into_bytes()) != signature {
            ledger.bad_signature += 1;
            return binance_error(-1022, "Signature for this request is not valid.");
        }
        let param = |name: &str| {
            url::form_urlencoded::parse(signed.as_bytes())
                .chain(url::form_urlencoded::parse(&req.body))
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse::<i64>().ok())
        };
        let (ts, window) = (
            param("timestamp").unwrap_or(0),
            param("recvWindow").unwrap_or(5000),
        );
        let now = ex.now_ms();
        if ts > now + 1000 || now - ts > window {
            ledger.bad_timestamp += 1;
            return binance_error(
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            );
        }
        ledger.accepted += 1;
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"orderId": ledger.accepted, "status": "NEW"}))
    }

    fn kraken(&self, req: &Request) -> ResponseTemplate {
        let ex = &self.exchange;
        let path = req.url.path();
        if path == "/0/public/Time" {
            let now = ex.now_ms() / 1000;
            return ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "error": [], "result": {"unixtime": now, "rfc1123": "Mon, 23 Nov 26 12:00:00 +0000"}
            }));
        }
        let key = req.headers.get("api-key").and_then(|v| v.to_str().ok());
        let mut ledger = ex.ledger.lock().unwrap();
        // Every error comes with HTTP 200.
        let error =
            |e: &str| ResponseTemplate::new(200).set_body_json(serde_json::json!({"error": [e]}));
        let Some(secret) = ex.secret_of(key) else {
            ledger.bad_key += 1;
            return error("EAPI:Invalid key");
        };
        let sign = req
            .headers
            .get("api-sign")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        ledger.signatures.push(sign.clone());
        let nonce = url::form_urlencoded::parse(&req.body)
            .find(|(k, _)| k == "nonce")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut sha = Sha256::new();
        sha.update(nonce.as_bytes());
        sha.update(&req.body);
        let mut mac = Hmac::<Sha512>::new_from_slice(&b64.decode(&secret).unwrap()).unwrap();
        mac.update(path.as_bytes());
        mac.update(&sha.finalize());
        if b64.encode(mac.finalize().into_bytes()) != sign {
            ledger.bad_signature += 1;
            return error("EAPI:Invalid signature");
        }
        let nonce: u64 = nonce.parse().unwrap_or(0);
        let mut last = ex.last_nonce.lock().unwrap();
        let seen = last.entry(key.unwrap().to_owned()).or_insert(0);
        let refuse = ex
            .refuse_next_nonce
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        if refuse || nonce <= *seen {
            ledger.bad_nonce += 1;
            return error("EAPI:Invalid nonce");
        }
        *seen = nonce;
        ledger.accepted += 1;
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "error": [], "result": {"XXBT": "1.5", "ZUSD": "1000.0"}
        }))
    }
}

impl Exchange {
    /// The next request's nonce is refused, whatever it is (another process sharing the key
    /// just used a larger one).
    pub fn refuse_next_nonce(&self) {
        self.refuse_next_nonce
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn binance_error(code: i64, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(serde_json::json!({ "code": code, "msg": msg }))
}

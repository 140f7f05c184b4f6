//! [`Auth::parse`]: how the credential is sent, from a configuration string (`bearer`,
//! `header:NAME`, `binance?recv_window=MS`, …). The signers' ranges are checked by their own
//! constructors, so a string and code obey one rule.

use std::str::FromStr;

use super::Auth;
use crate::config::grammar::{Cx, Opts, number};
use crate::error::{Error, Result};
use crate::sign::{CoinbaseSigner, HmacSigner, KrakenSigner, NonceUnit};

const AUTH_KINDS: &str = "bearer, header:NAME, query:NAME, basic:USER, binance, bybit, coinbase, \
                          kraken, okx";

impl Auth {
    /// How the credential is sent, from a configuration string such as `header:X-API-Key`.
    ///
    /// | form | auth |
    /// |---|---|
    /// | `bearer` | [`Auth::bearer`] |
    /// | `header:NAME` | [`Auth::header`] |
    /// | `query:NAME` | [`Auth::query`] |
    /// | `basic:USER` | [`Auth::basic`] (the key is the password) |
    /// | `binance[?recv_window=MS]` | [`HmacSigner::binance`] (1 to 60000 ms; `recv_window=none` sends none) |
    /// | `bybit[?recv_window=MS]` | [`HmacSigner::bybit`] (1 to 3600000 ms) |
    /// | `coinbase[?lifetime=SECS]` | [`CoinbaseSigner`] (1 to 120 s) |
    /// | `kraken[?nonce=ms\|us]` | [`KrakenSigner`] |
    /// | `okx` | [`HmacSigner::okx`] |
    ///
    /// Names (`bearer`, `binance`, …) are case-insensitive; surrounding whitespace is ignored.
    /// Errors are [`Error::is_builder`] and never repeat values from the string.
    ///
    /// ```
    /// use keyswap::Auth;
    ///
    /// let auth = Auth::parse("header:X-API-Key")?;
    /// assert_eq!(format!("{auth:?}"), "Auth::header(x-api-key)");
    /// let signed: Auth = "binance?recv_window=10000".parse()?;
    /// assert_eq!(format!("{signed:?}"), "Auth::signer(binance)");
    /// # Ok::<(), keyswap::Error>(())
    /// ```
    pub fn parse(s: &str) -> Result<Auth> {
        parse_auth(s)
    }
}

impl FromStr for Auth {
    type Err = Error;

    /// See [`Auth::parse`].
    fn from_str(s: &str) -> Result<Auth> {
        parse_auth(s)
    }
}

fn parse_auth(input: &str) -> Result<Auth> {
    let s = input.trim();
    let any = Cx::any("auth");
    if s.is_empty() {
        return Err(any.err(
            "kind",
            format!("empty string; expected one of {AUTH_KINDS}"),
        ));
    }
    // `kind:arg` or `kind[?options]`.
    let (kind, arg) = match s.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (s, None),
    };
    let (kind, query) = match (arg, kind.split_once('?')) {
        (None, Some((k, q))) => (k, Some(q)),
        _ => (kind, None),
    };
    let kind_lower = kind.to_ascii_lowercase();
    let known: Option<&'static str> = [
        "bearer", "header", "query", "basic", "binance", "bybit", "coinbase", "kraken", "okx",
    ]
    .into_iter()
    .find(|k| *k == kind_lower);
    let Some(kind) = known else {
        return Err(any.err("kind", format!("unknown; expected one of {AUTH_KINDS}")));
    };
    let cx = Cx::auth(kind);
    let takes_arg = matches!(kind, "header" | "query" | "basic");
    let arg = match (takes_arg, arg) {
        (true, None) | (true, Some("")) => {
            return Err(cx.err("argument", format!("missing; write {kind}:NAME")));
        }
        (false, Some(_)) => {
            return Err(cx.err("argument", format!("{kind} takes no `:` argument")));
        }
        (_, a) => a.unwrap_or_default(),
    };
    let opts = |allowed: &[&str]| -> Result<Opts<'_>> {
        Opts::parse_opt(cx, "option", query.filter(|q| !q.is_empty()), allowed)
    };
    Ok(match kind {
        "bearer" => {
            opts(&[])?;
            Auth::bearer()
        }
        "header" => {
            Auth::try_header(arg).map_err(|_| cx.err("argument", "not a valid HTTP header name"))?
        }
        "query" => {
            if arg
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || "&=#?".contains(c))
            {
                return Err(cx.err(
                    "argument",
                    "a query parameter name without spaces, control characters or &=#?",
                ));
            }
            Auth::query(arg)
        }
        "basic" => {
            if arg.contains(':') || arg.chars().any(char::is_control) {
                return Err(cx.err(
                    "argument",
                    "a basic-auth user name contains no `:` or control characters (the key is \
                     the password, never part of the string)",
                ));
            }
            Auth::basic(arg)
        }
        "binance" => Auth::signer(binance(cx, &opts(&["recv_window"])?)?),
        "bybit" => Auth::signer(bybit(cx, &opts(&["recv_window"])?)?),
        "coinbase" => Auth::signer(coinbase(cx, &opts(&["lifetime"])?)?),
        "kraken" => Auth::signer(kraken(cx, &opts(&["nonce"])?)?),
        "okx" => {
            opts(&[])?;
            Auth::signer(HmacSigner::okx())
        }
        _ => return Err(cx.err("kind", "not a known authentication kind")),
    })
}

fn binance(cx: Cx, opts: &Opts<'_>) -> Result<HmacSigner> {
    recv_window(cx, HmacSigner::binance(), opts, true)
}

fn bybit(cx: Cx, opts: &Opts<'_>) -> Result<HmacSigner> {
    recv_window(cx, HmacSigner::bybit(), opts, false)
}

/// `recv_window=MS` (or `none`, where `none_allowed`) applied to a preset.
fn recv_window(
    cx: Cx,
    signer: HmacSigner,
    opts: &Opts<'_>,
    none_allowed: bool,
) -> Result<HmacSigner> {
    match opts.get("recv_window") {
        None => Ok(signer),
        Some(v) if none_allowed && v.eq_ignore_ascii_case("none") => {
            Ok(signer.without_recv_window())
        }
        Some(v) => signer
            .recv_window_ms(number(cx, "recv_window", v, "milliseconds")?)
            .map_err(|e| cx.err("option `recv_window`", e)),
    }
}

fn coinbase(cx: Cx, opts: &Opts<'_>) -> Result<CoinbaseSigner> {
    let signer = CoinbaseSigner::new();
    match opts.get("lifetime") {
        None => Ok(signer),
        Some(v) => signer
            .lifetime_secs(number(cx, "lifetime", v, "seconds")?)
            .map_err(|e| cx.err("option `lifetime`", e)),
    }
}

fn kraken(cx: Cx, opts: &Opts<'_>) -> Result<KrakenSigner> {
    Ok(match opts.get("nonce") {
        None => KrakenSigner::new(),
        Some(v) if v.eq_ignore_ascii_case("ms") => KrakenSigner::new(),
        Some(v) if v.eq_ignore_ascii_case("us") => {
            KrakenSigner::new().nonce_unit(NonceUnit::Micros)
        }
        Some(_) => return Err(cx.err("option `nonce`", "expected ms or us")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_options() {
        let cx = Cx::auth("binance");
        let parse = |q: &'static str| Opts::parse(cx, "option", q, &["recv_window"]).unwrap();
        assert_eq!(
            binance(cx, &parse("recv_window=10000")).unwrap(),
            HmacSigner::binance().recv_window_ms(10_000).unwrap()
        );
        assert_eq!(
            binance(cx, &parse("recv_window=none")).unwrap(),
            HmacSigner::binance().without_recv_window()
        );
        assert_eq!(binance(cx, &Opts::none()).unwrap(), HmacSigner::binance());
        // The range is the signer's own.
        let e = binance(cx, &parse("recv_window=60001")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid auth string (binance): option `recv_window`: recv_window must be from 1 \
             to 60000 milliseconds (binance)"
        );
        assert_eq!(
            bybit(cx, &parse("recv_window=3600000")).unwrap(),
            HmacSigner::bybit().recv_window_ms(3_600_000).unwrap()
        );
        assert!(bybit(cx, &parse("recv_window=3600001")).is_err());
        let nonce = Opts::parse(cx, "option", "nonce=us", &["nonce"]).unwrap();
        assert_eq!(
            kraken(cx, &nonce).unwrap(),
            KrakenSigner::new().nonce_unit(NonceUnit::Micros)
        );
        let life = Opts::parse(cx, "option", "lifetime=60", &["lifetime"]).unwrap();
        assert_eq!(
            format!("{:?}", coinbase(cx, &life).unwrap()),
            format!("{:?}", CoinbaseSigner::new().lifetime_secs(60).unwrap())
        );
    }
}

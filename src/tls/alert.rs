//! Telling "the server refused our certificate" apart from every other TLS or connection
//! failure. Only the first is a rejection (refresh the identity, retry on a new connection);
//! the others are never retried.

use std::error::Error as StdError;

use rustls::AlertDescription;

/// The alerts a server sends when it does not accept the client's certificate.
fn refuses_identity(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::BadCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateRequired
            | AlertDescription::CertificateUnknown
    )
}

/// What in a transport error says the server refused the client's certificate: the alert,
/// or — when the connection closed right after the handshake, before the request could be
/// written, and the alert was read by the connection's task and lost — nothing more than that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Alert(AlertDescription),
    /// hyper's "canceled": the request was never sent (so a retry cannot duplicate it).
    ClosedBeforeSending,
}

/// The refusal in `err`'s chain, if any. TLS 1.3 servers check the client's certificate after
/// the client has finished its handshake, so the alert often surfaces on the first read of the
/// response, wrapped in an I/O error — or closes a new connection before the request went out.
pub(crate) fn identity_refusal(err: &(dyn StdError + 'static)) -> Option<Refusal> {
    if let Some(alert) = identity_alert(err) {
        return Some(Refusal::Alert(alert));
    }
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
        {
            return Some(Refusal::ClosedBeforeSending);
        }
        cur = e.source();
    }
    None
}

/// The alert in `err`'s chain that refuses the client's certificate, if any.
fn identity_alert(err: &(dyn StdError + 'static)) -> Option<AlertDescription> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(rustls::Error::AlertReceived(alert)) = e.downcast_ref::<rustls::Error>() {
            return refuses_identity(*alert).then_some(*alert);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        cur = e.source();
    }
    None
}

/// The cause carried by a keyswap error when the server refused the client certificate:
/// which generation of the identity it refused, and with which alert.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) generation: u64,
    /// The refused identity's version.
    pub(crate) version: String,
    /// When the refusal was seen.
    pub(crate) at: std::time::Instant,
    pub(crate) alert: Refusal,
    pub(crate) source: Box<dyn StdError + Send + Sync>,
}

impl Refused {
    /// The request's error with this refusal as its cause, marked so that
    /// [`Error::is_certificate_rejected`](crate::Error::is_certificate_rejected) says so: the
    /// one way such an error is made.
    pub(crate) fn into_error(self, message: impl Into<String>) -> crate::Error {
        crate::Error::new(crate::error::Kind::Request, message)
            .with_cause(self)
            .certificate_rejected()
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.alert {
            Refusal::Alert(alert) => write!(
                f,
                "the server refused the client certificate (TLS alert {})",
                alert_name(alert)
            ),
            Refusal::ClosedBeforeSending => f.write_str(
                "the server closed the connection after the handshake, before the request was sent (a refused client certificate)",
            ),
        }
    }
}

impl StdError for Refused {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// How an error message names the refusal.
pub(crate) fn refusal_name(refusal: Refusal) -> String {
    match refusal {
        Refusal::Alert(alert) => format!("TLS alert {}", alert_name(alert)),
        Refusal::ClosedBeforeSending => {
            "connection closed after the handshake, before the request was sent".to_owned()
        }
    }
}

/// The alert's name as RFC 8446 spells it.
fn alert_name(alert: AlertDescription) -> String {
    match alert {
        AlertDescription::BadCertificate => "bad_certificate".into(),
        AlertDescription::CertificateRevoked => "certificate_revoked".into(),
        AlertDescription::CertificateExpired => "certificate_expired".into(),
        AlertDescription::UnknownCA => "unknown_ca".into(),
        AlertDescription::AccessDenied => "access_denied".into(),
        AlertDescription::CertificateRequired => "certificate_required".into(),
        AlertDescription::CertificateUnknown => "certificate_unknown".into(),
        other => format!("{other:?}"),
    }
}

/// The refusal in `err`'s chain, if the error is one.
pub(crate) fn refusal(err: &crate::Error) -> Option<&Refused> {
    let mut cur: Option<&(dyn StdError + 'static)> = StdError::source(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

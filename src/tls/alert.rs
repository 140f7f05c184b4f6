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

/// The alert in `err`'s chain that refuses the client's certificate, if any. TLS 1.3 servers
/// send it after the client has finished its handshake, so it often surfaces on the first read
/// of the response, wrapped in an I/O error.
pub(crate) fn identity_alert(err: &(dyn StdError + 'static)) -> Option<AlertDescription> {
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
    pub(crate) alert: AlertDescription,
    pub(crate) source: Box<dyn StdError + Send + Sync>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server refused the client certificate (TLS alert {})",
            alert_name(self.alert)
        )
    }
}

impl StdError for Refused {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// The alert's name as RFC 8446 spells it.
pub(crate) fn alert_name(alert: AlertDescription) -> String {
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

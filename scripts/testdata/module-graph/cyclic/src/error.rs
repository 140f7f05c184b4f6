// `crate::tls::refusal` is re-exported by tls/mod.rs from tls/alert.rs: the edge goes to
// alert.rs, whose `crate::Error` (re-exported by lib.rs) comes back here.
pub struct Error;

pub fn classify() {
    crate::tls::refusal();
}

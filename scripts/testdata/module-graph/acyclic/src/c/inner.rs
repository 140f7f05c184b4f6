// `pub(in crate::c)` restricts visibility; it uses nothing.
pub(in crate::c) fn g() {
    super::f();
    let _ = super::Local;
}

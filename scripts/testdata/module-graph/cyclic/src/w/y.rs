pub fn f() {
    let _ = super::super::z::Z;
}

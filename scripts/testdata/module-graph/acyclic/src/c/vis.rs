pub(in crate::c) fn v() {}

// A parent that only declares its child does not use it: `mod inner;` is no edge, so the
// child's `super::f` makes no cycle. vis.rs names this module only in `pub(in crate::c)`.
mod inner;
mod vis;

use vis::v;

pub fn f() {
    v();
}

pub(crate) struct Local;

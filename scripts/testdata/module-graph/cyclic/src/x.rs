// A nested use tree with `self as` binds a module alias; only the path through the alias
// reaches w/y.rs: x -> w::y -> z -> x.
use crate::{w::{self as why}};

pub struct X;

pub fn f() {
    why::y::f();
}

// A `use` one way and a path in code the other: client <-> builder. An inline module and its
// parent calling each other: client <-> client::last_url.
use crate::builder::Builder;

pub struct Client(Builder);

pub fn helper() {}

fn h() {
    last_url::g();
}

mod last_url {
    pub fn g() {
        super::helper();
    }
}

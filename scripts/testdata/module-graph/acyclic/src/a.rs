// `crate::Other` is b's (re-exported by lib.rs): an edge to b, not to lib.rs.
use crate::Other;

pub struct Thing(Other);

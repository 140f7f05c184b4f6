// A tree without a cycle, though lib.rs re-exports everything and children reach back up.
mod a;
mod b;
mod c;
mod source;

pub use a::Thing;
pub use b::{Other, helper as other_helper};
pub use c::*;

// A parent that re-exports its child, whose `super::Level` uses the parent: tls <-> alert.
mod alert;

pub use alert::refusal;

pub struct Level;

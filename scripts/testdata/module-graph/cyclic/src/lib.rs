// Each kind of edge the checker must see closes one cycle here.
mod builder;
mod client;
mod error;
mod tls;
mod x;
mod w;
mod z;

pub use error::Error;

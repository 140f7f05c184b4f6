pub mod y;

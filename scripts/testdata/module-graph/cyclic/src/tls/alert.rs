use super::Level;
use crate::Error;

pub fn refusal() -> (Error, Level) {
    (Error, Level)
}

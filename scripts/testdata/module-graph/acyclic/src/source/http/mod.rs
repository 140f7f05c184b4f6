use super::Shared;

pub fn shared() -> Shared {
    Shared
}

// a uses b; every `crate::a` here is in a comment, a string or a char literal's shadow, so
// none of them is an edge back.
use crate::c;

/// Not code: crate::a::Thing.
pub struct Other;

pub fn helper<'a>(x: &'a str) -> &'a str {
    c::f();
    /* a nested /* comment */ naming crate::a::Thing */
    x
}

pub fn text() -> &'static str {
    let _quote = '"';
    let _brace = '{';
    "crate::a::Thing is in a string, r\"crate::a\" too"
}

pub fn raw() -> &'static [u8] {
    br#"" crate::a::Thing ""#
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t() {
        helper("x");
    }
}

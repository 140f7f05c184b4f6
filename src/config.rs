//! Configuration by string: the grammar the string forms share ([`grammar`]), and
//! [`Client::from_env`](crate::Client::from_env) ([`from_env`]). The forms themselves live
//! next to what they build: [`Source::parse`](crate::Source::parse) with the source presets
//! (`source::presets`), [`Auth::parse`](crate::Auth::parse) with `Auth` (`auth::parse`).

mod from_env;
pub(crate) mod grammar;

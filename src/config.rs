//! Configuration by string: the grammar the string forms share ([`grammar`]). The forms
//! themselves live next to what they build: [`Source::parse`](crate::Source::parse) with the
//! source presets (`source::presets`), [`Auth::parse`](crate::Auth::parse) with `Auth`
//! (`auth::parse`); [`Client::from_env`](crate::Client::from_env), which uses them all, in
//! `from_env.rs`, above them (the grammar depends on none of them).

pub(crate) mod grammar;

//! The bot's words: one Project Fluent catalogue per language (`en.ftl`, `ru.ftl`, `es.ftl`,
//! `pt.ftl` beside this file, embedded at build time), read into bundles once per process.
//!
//! [`t`] and [`tr`] give a message by key; a key missing in a language falls back to English
//! (the tests below fail first: every language has exactly English's keys and variables).
//! Which language a user gets is decided elsewhere ([`of_update`], [`stored`]).
use std::sync::LazyLock;

mod users;
pub use users::{of_update, project_default, stored};

use fluent_bundle::{FluentArgs, FluentResource, FluentValue, concurrent::FluentBundle};
use serde::{Deserialize, Serialize};

/// A language the bot speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Ru,
    Es,
    Pt,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Ru, Lang::Es, Lang::Pt];

    /// The stored code: `en`, `ru`, `es`, `pt`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
            Lang::Es => "es",
            Lang::Pt => "pt",
        }
    }

    /// One of our codes exactly (a project setting); None for anything else.
    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// A Telegram `language_code` (an IETF tag such as `pt-BR`) by its primary subtag,
    /// ignoring case; None when we do not have that language.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        Lang::parse(&primary)
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("en.ftl"),
            Lang::Ru => include_str!("ru.ftl"),
            Lang::Es => include_str!("es.ftl"),
            Lang::Pt => include_str!("pt.ftl"),
        }
    }

    fn index(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::Ru => 1,
            Lang::Es => 2,
            Lang::Pt => 3,
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

type Bundle = FluentBundle<FluentResource>;

/// The four bundles, built on first use and kept for the life of the process.
static BUNDLES: LazyLock<Vec<Bundle>> = LazyLock::new(|| Lang::ALL.map(bundle).into());

fn bundle(lang: Lang) -> Bundle {
    let res = match FluentResource::try_new(lang.source().to_string()) {
        Ok(r) => r,
        // The catalogue is part of the binary and parsed by the tests: a parse error here is
        // a build that should never have passed them. Keep the entries that did parse.
        Err((r, errors)) => {
            tracing::error!(lang = %lang, ?errors, "message catalogue has syntax errors");
            r
        }
    };
    let id: unic_langid::LanguageIdentifier = lang.code().parse().expect("a valid language id");
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // Telegram shows text as given: no bidi isolation marks around values.
    b.set_use_isolating(false);
    if let Err(errors) = b.add_resource(res) {
        tracing::error!(lang = %lang, ?errors, "message catalogue has duplicate keys");
    }
    b
}

/// The message `key` in `lang`, without variables.
pub fn t(lang: Lang, key: &str) -> String {
    tr(lang, key, &[])
}

/// The message `key` in `lang` with its variables, e.g.
/// `tr(lang, "redeem-accepted", &[("plan", name.into()), ("until", until.into())])`.
pub fn tr(lang: Lang, key: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    let mut fa = FluentArgs::new();
    for (k, v) in args {
        fa.set(*k, v.clone());
    }
    let fa = (!args.is_empty()).then_some(&fa);
    if let Some(s) = format(&BUNDLES[lang.index()], key, fa) {
        return s;
    }
    if lang != Lang::En
        && let Some(s) = format(&BUNDLES[Lang::En.index()], key, fa)
    {
        tracing::error!(lang = %lang, key, "message missing in a language; English used");
        return s;
    }
    tracing::error!(key, "message missing from the catalogue");
    key.to_string()
}

fn format(b: &Bundle, key: &str, args: Option<&FluentArgs<'_>>) -> Option<String> {
    let pattern = b.get_message(key)?.value()?;
    let mut errors = vec![];
    let s = b.format_pattern(pattern, args, &mut errors);
    if !errors.is_empty() {
        tracing::error!(key, ?errors, "formatting a message failed");
    }
    Some(s.into_owned())
}

#[cfg(test)]
mod tests;

//! Every language has exactly English's keys, and each message uses only variables its
//! English message uses.
use std::collections::{BTreeMap, BTreeSet};

use fluent_syntax::ast;

use super::*;

/// Key → the variables its message uses, for one catalogue.
fn keys(src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let res = fluent_syntax::parser::parse(src).unwrap_or_else(|(_, errors)| {
        panic!("catalogue does not parse: {errors:?}");
    });
    let mut out = BTreeMap::new();
    for e in res.body {
        match e {
            ast::Entry::Message(m) => {
                let mut vars = BTreeSet::new();
                if let Some(p) = &m.value {
                    pattern_vars(p, &mut vars);
                }
                assert!(
                    out.insert(m.id.name.to_string(), vars).is_none(),
                    "duplicate key {}",
                    m.id.name
                );
            }
            ast::Entry::Junk { content } => panic!("unparsable entry: {content}"),
            _ => {}
        }
    }
    out
}

fn pattern_vars(p: &ast::Pattern<&str>, out: &mut BTreeSet<String>) {
    for el in &p.elements {
        if let ast::PatternElement::Placeable { expression } = el {
            expr_vars(expression, out);
        }
    }
}

fn expr_vars(e: &ast::Expression<&str>, out: &mut BTreeSet<String>) {
    match e {
        ast::Expression::Inline(i) => inline_vars(i, out),
        ast::Expression::Select { selector, variants } => {
            inline_vars(selector, out);
            for v in variants {
                pattern_vars(&v.value, out);
            }
        }
    }
}

fn inline_vars(i: &ast::InlineExpression<&str>, out: &mut BTreeSet<String>) {
    match i {
        ast::InlineExpression::VariableReference { id } => {
            out.insert(id.name.to_string());
        }
        ast::InlineExpression::Placeable { expression } => expr_vars(expression, out),
        ast::InlineExpression::FunctionReference { arguments, .. } => {
            for a in &arguments.positional {
                inline_vars(a, out);
            }
        }
        _ => {}
    }
}

/// What is wrong with `other` against English: keys it lacks, keys English lacks, and
/// variables English's message does not use.
fn problems(en: &str, other: &str) -> Vec<String> {
    let (en, other) = (keys(en), keys(other));
    let mut out = vec![];
    for k in en.keys().filter(|k| !other.contains_key(*k)) {
        out.push(format!("missing key {k}"));
    }
    for (k, vars) in &other {
        match en.get(k) {
            None => out.push(format!("key {k} is not in English")),
            Some(en_vars) => {
                for v in vars.difference(en_vars) {
                    out.push(format!("key {k} uses ${v}, which English does not"));
                }
            }
        }
    }
    out
}

#[test]
fn every_language_has_exactly_the_english_keys_and_variables() {
    for lang in Lang::ALL {
        let p = problems(Lang::En.source(), lang.source());
        assert!(p.is_empty(), "{lang}.ftl: {p:#?}");
    }
}

#[test]
fn the_check_catches_a_missing_key_an_extra_key_and_an_unknown_variable() {
    let en = "a = A { $x }\nb = B\n";
    assert_eq!(problems(en, "a = A { $x }\n"), ["missing key b"]);
    assert_eq!(
        problems(en, "a = A\nb = B\nc = C\n"),
        ["key c is not in English"]
    );
    assert_eq!(
        problems(
            en,
            "a = A { $y ->\n    [one] { $x }\n   *[other] X\n}\nb = B\n"
        ),
        ["key a uses $y, which English does not"]
    );
}

#[test]
fn every_bundle_formats_every_key_without_errors() {
    for lang in Lang::ALL {
        let b = &BUNDLES[lang.index()];
        for (k, vars) in keys(lang.source()) {
            let mut fa = FluentArgs::new();
            for v in &vars {
                fa.set(v.clone(), 2);
            }
            let msg = b
                .get_message(&k)
                .unwrap_or_else(|| panic!("{lang}: {k} not in bundle"));
            let mut errors = vec![];
            let s = b.format_pattern(msg.value().expect("a value"), Some(&fa), &mut errors);
            assert!(errors.is_empty(), "{lang}: {k}: {errors:?}");
            assert!(!s.trim().is_empty(), "{lang}: {k} is empty");
        }
    }
}

#[test]
fn languages_are_matched_on_the_primary_subtag() {
    assert_eq!(Lang::from_tag("pt-BR"), Some(Lang::Pt));
    assert_eq!(Lang::from_tag("RU"), Some(Lang::Ru));
    assert_eq!(Lang::from_tag("es_419"), Some(Lang::Es));
    assert_eq!(Lang::from_tag("de"), None);
    assert_eq!(Lang::from_tag(""), None);
    assert_eq!(Lang::parse("pt-BR"), None);
}

#[test]
fn english_texts_carry_no_isolation_marks() {
    let s = tr(Lang::En, "my-asked-too-often", &[("secs", 5.into())]);
    assert!(s.contains("Send /my again in 5 seconds"), "{s}");
}

#[test]
fn multiline_messages_keep_their_line_breaks() {
    let s = t(Lang::En, "help-body");
    assert!(s.starts_with("/start — plans"), "{s:?}");
    assert!(
        s.contains("access\n/my — your subscriptions\n/help"),
        "{s:?}"
    );
    let n = [
        "plan",
        "quantity",
        "expiry",
        "activations",
        "free_left",
        "free",
        "overage",
        "fee",
    ]
    .map(|k| (k, FluentValue::from(1)));
    let s = tr(Lang::En, "nc-preview", &n);
    assert!(s.starts_with("Preview\nPlan: 1\n"), "{s:?}");
    assert!(s.ends_with("Fee: 1\n\nGenerate these codes?"), "{s:?}");
}

//! `docs/architecture.md` lists every workspace crate and every top-level `domain` module,
//! one line each, and nothing that is gone: a newcomer's map cannot drift from the code.
use std::{collections::BTreeSet, fs, path::Path};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The backticked names that open the bullets of one `## <heading>` section.
fn listed(doc: &str, heading: &str) -> BTreeSet<String> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("docs/architecture.md has no `## {heading}` section"));
    section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_domain_module_is_described_once() {
    let doc = fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let lib = fs::read_to_string(root().join("domain/src/lib.rs")).unwrap();
    let modules: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').trim().to_owned())
        .collect();
    let documented = listed(&doc, "Domain modules");
    let missing: Vec<_> = modules.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&modules).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/architecture.md `Domain modules`: missing {missing:?}, no longer in domain {stale:?}"
    );
}

#[test]
fn every_crate_is_described_once() {
    let doc = fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let top = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let members = top
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = ["))
        .expect("the workspace's members");
    let dirs = std::iter::once(".").chain(members.split('"').skip(1).step_by(2));
    let crates: BTreeSet<String> = dirs
        .map(|dir| {
            let manifest = fs::read_to_string(root().join(dir).join("Cargo.toml")).unwrap();
            manifest
                .lines()
                .skip_while(|l| l.trim() != "[package]")
                .find_map(|l| l.trim().strip_prefix("name = \""))
                .unwrap_or_else(|| panic!("{dir}/Cargo.toml has no package name"))
                .trim_end_matches('"')
                .to_owned()
        })
        .collect();
    let documented = listed(&doc, "Crates");
    assert_eq!(
        documented, crates,
        "docs/architecture.md `Crates` vs the workspace"
    );
}

//! The crate rules of the workspace, read from the manifests and the sources: the edges
//! (`api`, `web`, `bot-router`, `worker`) depend on `domain` and never on `entity` (only
//! `domain`, `migration` and the test harness touch the entities), never on each other, and
//! `domain` depends on no edge. Only the binary (`src/`) and the tests put edges together.
use std::{collections::BTreeSet, fs, path::Path};

const EDGES: [&str; 4] = ["api", "web", "bot-router", "worker"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The workspace crates a manifest depends on (normal, dev and build dependencies alike).
fn workspace_deps(dir: &str) -> BTreeSet<String> {
    let manifest = fs::read_to_string(root().join(dir).join("Cargo.toml")).unwrap();
    let mut section = String::new();
    let mut out = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        if !section.contains("dependencies") {
            continue;
        }
        let Some((name, spec)) = line.split_once('=') else {
            continue;
        };
        if spec.contains("path =") || spec.contains("path=") {
            out.insert(name.trim().to_owned());
        }
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push((p.display().to_string(), fs::read_to_string(&p).unwrap()));
        }
    }
}

#[test]
fn edges_depend_on_domain_only() {
    for edge in EDGES {
        let deps = workspace_deps(edge);
        assert!(deps.contains("domain"), "{edge} does not depend on domain");
        let wrong: Vec<_> = deps
            .iter()
            .filter(|d| *d == "entity" || EDGES.contains(&d.as_str()))
            .collect();
        assert!(
            wrong.is_empty(),
            "{edge} depends on {wrong:?}: edges reach entities and each other only through domain"
        );
    }
}

#[test]
fn edges_never_name_entities_in_their_code() {
    for edge in EDGES {
        let mut files = Vec::new();
        sources(&root().join(edge).join("src"), &mut files);
        for (path, src) in files {
            for (n, line) in src.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                assert!(
                    !code.contains("entity::") && !code.contains("sea_orm::entity"),
                    "{path}:{}: an edge names an entity; call a domain use case instead",
                    n + 1
                );
            }
        }
    }
}

#[test]
fn domain_depends_on_no_edge() {
    let deps = workspace_deps("domain");
    let wrong: Vec<_> = deps
        .iter()
        .filter(|d| EDGES.contains(&d.as_str()))
        .collect();
    assert!(wrong.is_empty(), "domain depends on {wrong:?}");
}

/// A domain file past this many lines is split into a folder module, one file per use case.
const MAX_DOMAIN_FILE_LINES: usize = 600;

#[test]
fn no_domain_file_grows_past_the_limit() {
    let mut files = Vec::new();
    sources(&root().join("domain").join("src"), &mut files);
    let long: Vec<_> = files
        .iter()
        .map(|(path, src)| (path, src.lines().count()))
        .filter(|(_, n)| *n > MAX_DOMAIN_FILE_LINES)
        .collect();
    assert!(
        long.is_empty(),
        "domain files over {MAX_DOMAIN_FILE_LINES} lines (split them by use case): {long:?}"
    );
}

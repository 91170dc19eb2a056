//! The module graph inside `domain` has no cycles. Each top-level module (a file or a folder
//! under `src/`) is a node; an edge is any `crate::<module>` path or `use crate::{<module>, …}`
//! item in its sources. A cycle fails the test and names the modules in it.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

fn sources(dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(fs::read_to_string(&p).unwrap());
        }
    }
}

/// Module names a source refers to through `crate::`.
fn deps(src: &str) -> BTreeSet<String> {
    let code: String = src
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The top-level items of a `crate::{…}` group.
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(word(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.insert(word(item.trim()));
        } else {
            out.insert(word(rest));
        }
    }
    out
}

#[test]
fn domain_modules_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" {
            continue;
        }
        let mut files = vec![];
        if p.is_dir() {
            sources(&p, &mut files);
        } else {
            files.push(fs::read_to_string(&p).unwrap());
        }
        let entry = graph.entry(name.clone()).or_default();
        for f in files {
            entry.extend(deps(&f));
        }
        entry.remove(&name);
    }
    let names: BTreeSet<String> = graph.keys().cloned().collect();
    for d in graph.values_mut() {
        d.retain(|m| names.contains(m));
    }
    assert!(
        graph.len() > 10,
        "the domain's modules were found: {graph:?}"
    );
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == m) {
            panic!("import cycle: {} -> {m}", path[i..].join(" -> "));
        }
        if done.contains(m) {
            return;
        }
        path.push(m.to_string());
        for d in &g[m] {
            visit(d, g, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut vec![], &mut done);
    }
    // The leaves the rest of the domain stands on import nothing of it but errors (and the
    // fault points, a leaf too).
    assert!(
        graph["tenancy"].is_empty(),
        "tenancy: {:?}",
        graph["tenancy"]
    );
    for leaf in ["tiers", "telegram"] {
        assert!(
            graph[leaf]
                .iter()
                .all(|d| ["error", "ctx", "config", "clock", "faults"].contains(&d.as_str())),
            "{leaf} imports {:?}",
            graph[leaf]
        );
    }
}

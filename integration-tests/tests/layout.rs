//! The house rules, checked on the sources so that they stay kept: only the ledger
//! crate names a storage engine, no crate's modules depend on each other in a
//! circle, the server names none of its tools, and no source file grows past the
//! size a reader takes in at once. `docs/ARCHITECTURE.md` says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds this crate")
        .to_owned()
}

/// The crates of the workspace (folders with a `src/`).
const CRATES: [&str; 7] = [
    "proto",
    "adapters",
    "ledger",
    "pki",
    "gateway",
    "tools",
    "integration-tests",
];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code of a source file without comments and without its unit tests (a
/// `tests.rs` file is a module's unit tests whole).
fn code(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).expect("readable source");
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file of `src` belongs to (`""`: the crate root).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a file");
    let name = first.as_os_str().to_string_lossy();
    let name = name.trim_end_matches(".rs");
    match name {
        "lib" | "main" => String::new(),
        other => other.to_owned(),
    }
}

/// The top-level modules named after `crate::` in `code` (also inside `crate::{…}`).
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        // `lienthong_crate::` and the like are other crates.
        if code[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group
                .split('}')
                .next()
                .unwrap_or_default()
                .split(',')
                .collect(),
            None => vec![rest],
        };
        for name in names {
            let name: String = name
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                out.insert(name);
            }
        }
    }
    out
}

/// A circle in `graph`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn modules_of_a_crate_never_depend_on_each_other_in_a_circle() {
    for krate in CRATES {
        let src = root().join(krate).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in sources(&src) {
            let from = module_of(&src, &file);
            let names = named_modules(&code(&file));
            let edges = graph.entry(from.clone()).or_default();
            edges.extend(names.into_iter().filter(|n| *n != from));
        }
        let known: BTreeSet<String> = graph.keys().cloned().collect();
        for edges in graph.values_mut() {
            edges.retain(|n| known.contains(n));
        }
        assert_eq!(circle(&graph), None, "a circle in {krate}/src");
    }
}

#[test]
fn the_circle_finder_finds_circles() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry((*a).into()).or_default().insert((*b).into());
            g.entry((*b).into()).or_default();
        }
        g
    };
    assert_eq!(circle(&graph(&[("a", "b"), ("b", "c")])), None);
    let found = circle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).unwrap();
    assert_eq!(found.first(), found.last());
    assert_eq!(found.len(), 4);
    assert_eq!(
        named_modules("use crate::{audit::Log, Error, sync};\nlet x = crate::clock::now();"),
        ["audit", "clock", "sync"].map(String::from).into()
    );
    assert!(named_modules("use lienthong_crate::x;").is_empty());
}

#[test]
fn only_the_ledger_names_a_storage_engine() {
    for krate in CRATES.iter().filter(|k| **k != "ledger") {
        let dir = root().join(krate);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
        assert!(
            !manifest.lines().any(|l| l.starts_with("redb")),
            "{krate}/Cargo.toml depends on redb"
        );
        for file in sources(&dir.join("src")) {
            assert!(
                !code(&file).contains("redb::"),
                "{} names redb",
                file.display()
            );
        }
    }
}

#[test]
fn the_server_names_none_of_its_tools() {
    let manifest =
        std::fs::read_to_string(root().join("gateway/Cargo.toml")).expect("gateway manifest");
    for tool in ["clap", "lienthong.workspace", "criterion"] {
        let in_dependencies = manifest
            .split("[dev-dependencies]")
            .next()
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with(tool));
        assert!(!in_dependencies, "the server depends on {tool}");
    }
    for file in sources(&root().join("gateway/src")) {
        let code = code(&file);
        for tool in ["crate::cli", "crate::client", "crate::bench", "lienthong::"] {
            assert!(!code.contains(tool), "{} names {tool}", file.display());
        }
    }
}

#[test]
fn source_files_stay_small_enough_to_read_at_once() {
    const MAX_LINES: usize = 420;
    for krate in CRATES {
        for file in sources(&root().join(krate).join("src")) {
            let lines = std::fs::read_to_string(&file)
                .expect("source")
                .lines()
                .count();
            assert!(
                lines <= MAX_LINES,
                "{} has {lines} lines: split it by concept (at most {MAX_LINES})",
                file.display()
            );
        }
    }
}

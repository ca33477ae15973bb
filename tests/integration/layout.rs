//! The layout rule of `docs/architecture.md`, checked: no import circle between the
//! top-level modules of `host/src`, none between the files of `runtime/`, and no source file
//! (host, SDK, runners, plugins or tests) over the size a reader can hold.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module names `text` reaches through `prefix` (`crate::`, `super::`), braces included.
fn reached(text: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        rest = &rest[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = part.trim().split("::").next().unwrap_or_default();
                names.push(name.to_string());
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            names.push(rest[..end].to_string());
        }
    }
    names
}

/// Every cycle's members in `graph` (node → the nodes it uses).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(node) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == to {
                    return true;
                }
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        false
    };
    let mut found = Vec::new();
    for (from, tos) in graph {
        for to in tos {
            if from < to && reaches(to, from) {
                found.push((from.clone(), to.clone()));
            }
        }
    }
    found
}

/// The module a file under `dir` belongs to: its first path component, without `.rs`.
fn module_of(dir: &Path, file: &Path) -> String {
    let first = file.strip_prefix(dir).unwrap().components().next().unwrap();
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

#[test]
fn no_import_circle_between_the_top_level_modules() {
    let dir = src();
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&dir, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&dir, file);
        for to in reached(&code(file), "crate::") {
            if to != from && modules.contains(&to) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(
        graph.contains_key("api"),
        "the scan found the modules: {graph:?}"
    );
    assert_eq!(
        circles(&graph),
        Vec::<(String, String)>::new(),
        "{graph:#?}"
    );
}

#[test]
fn no_import_circle_inside_the_runtime() {
    let dir = src().join("runtime");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&dir, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&dir, file);
        if from == "mod" {
            continue; // it only declares and re-exports
        }
        let text = code(file);
        let nested = file.parent() != Some(dir.as_path());
        let mut names = reached(&text, "crate::runtime::");
        if !nested {
            names.extend(reached(&text, "super::"));
        }
        for to in names {
            let to = if modules.contains(&to) {
                to
            } else {
                "mod".to_string()
            };
            if to != from {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(
        graph.contains_key("engine"),
        "the scan found the files: {graph:?}"
    );
    let reaching_mod: Vec<&String> = graph
        .iter()
        .filter(|(_, to)| to.contains("mod"))
        .map(|(from, _)| from)
        .collect();
    assert!(
        reaching_mod.is_empty(),
        "{reaching_mod:?} reach runtime/mod.rs, which only re-exports: name the file instead"
    );
    assert_eq!(
        circles(&graph),
        Vec::<(String, String)>::new(),
        "{graph:#?}"
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "host/src",
        "sdk/src",
        "sdk/macros/src",
        "runners",
        "plugins",
        "tests",
    ] {
        let dir = root.join(dir);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
    }
    files.retain(|f| !f.components().any(|c| c.as_os_str() == "target"));
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(
        files.len() > 100,
        "the scan found the sources: {}",
        files.len()
    );
    assert!(long.is_empty(), "split these by what they own: {long:?}");
}

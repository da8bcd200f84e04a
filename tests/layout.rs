//! The layout rules of ARCHITECTURE.md, checked on the source itself: at most 12 files at `src/`'s
//! root, no `#[path]`, no function over 100 lines, and no import circle between modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![root];
    let mut out = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

/// `src/aws/catalog.rs` -> `aws::catalog`; `src/cmd/mod.rs` -> `cmd`; `src/lib.rs` -> `crate`.
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src")).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    if parts.is_empty() {
        "crate".into()
    } else {
        parts.join("::")
    }
}

/// The shipped code of a file: its `#[cfg(test)] mod tests` left out.
fn shipped(text: &str) -> &str {
    text.split("#[cfg(test)]\nmod tests").next().unwrap()
}

#[test]
fn at_most_twelve_files_at_the_root_and_no_path_attributes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let at_root = sources().iter().filter(|(p, _)| p.parent() == Some(root.as_path())).count();
    assert!(at_root <= 12, "{at_root} .rs files directly in src/");
    for (path, text) in sources() {
        assert!(!text.contains("#[path"), "{}: #[path] hides where a module lives", path.display());
    }
}

#[test]
fn no_function_over_one_hundred_lines() {
    let mut long = Vec::new();
    for (path, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let is_fn =
                ["fn ", "pub fn ", "async fn ", "pub async fn ", "pub(crate) fn ", "pub(super) fn ", "const fn "]
                    .iter()
                    .any(|p| trimmed.starts_with(p))
                    || (trimmed.starts_with("pub(") && (trimmed.contains(") fn ") || trimmed.contains(") async fn ")));
            if !is_fn || line.trim_end().ends_with(';') {
                continue;
            }
            let close = format!("{indent}}}");
            let end = lines[i + 1..].iter().position(|l| *l == close).map(|n| i + 1 + n).unwrap_or(i);
            if end - i + 1 > 100 {
                long.push(format!("{}:{} ({} lines)", path.display(), i + 1, end - i + 1));
            }
        }
    }
    assert!(long.is_empty(), "functions over 100 lines: {long:#?}");
}

#[test]
fn no_import_circle_and_no_arrow_back_to_the_crate_root() {
    let files = sources();
    let modules: BTreeSet<String> = files.iter().map(|(p, _)| module_of(p)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in &files {
        let from = module_of(path);
        let deps = edges.entry(from.clone()).or_default();
        for (i, _) in shipped(text).match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let path: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == ':').collect();
            let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            // The longest prefix that is a module; an item of lib.rs itself is the crate root.
            let target = (1..=parts.len())
                .rev()
                .map(|k| parts[..k].join("::"))
                .find(|m| modules.contains(m))
                .unwrap_or_else(|| "crate".into());
            if target != from {
                deps.insert(target);
            }
        }
    }
    for (from, deps) in &edges {
        assert!(
            !(from.starts_with("cmd") && deps.contains("crate")),
            "{from} imports from lib.rs: what commands share belongs in cmd/shared/"
        );
    }
    // Depth-first search for a cycle, reporting its path.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_owned());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(cycle) = visit(m, &edges, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", cycle.join(" -> "));
        }
    }
}

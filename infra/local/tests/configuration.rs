//! `docs/configuration.md` lists every environment variable Aloft's code reads, and only
//! those: a table row per variable (`` | `NAME` | … ``).
//!
//! The code reads configuration through `aloft_config::Env` (and, in two places,
//! `std::env::var`), always by a literal name, often through a small local helper
//! (`seconds("AI_DEADLINE_SECONDS", …)`). So: every UPPER_SNAKE string literal in the
//! non-test code of a source file that reads configuration is a variable, unless listed
//! in [`NOT_VARIABLES`]; and every documented variable appears as a literal somewhere in
//! the functions' or shared crates' code.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic with the value is the report"
)]

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// UPPER_SNAKE literals in configuration-reading files that are not variables.
const NOT_VARIABLES: [&str; 5] = [
    // Error codes the API and the WebSocket route send.
    "BAD_REQUEST",
    "VALIDATION_ERROR",
    "FORBIDDEN_CHANNEL",
    "INTERNAL_ERROR",
    // Set by cargo at compile time (`env!`).
    "CARGO_PKG_VERSION",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The code of every function and shared crate, without tests: each crate's `src/`,
/// cut at its first `#[cfg(test)]` (test modules close a file here). The testkit is
/// test code throughout.
fn code() -> Vec<(PathBuf, String)> {
    let root = root();
    let mut files = Vec::new();
    for floor in ["functions", "shared"] {
        for krate in std::fs::read_dir(root.join(floor)).unwrap().flatten() {
            let src = krate.path().join("src");
            if src.is_dir() && !krate.path().ends_with("testkit") {
                sources(&src, &mut files);
            }
        }
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .to_owned();
            (path, code)
        })
        .collect()
}

/// `"UPPER_SNAKE"` literals of `code`: at least one underscore, letters and digits.
fn literals(code: &str) -> BTreeSet<String> {
    code.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.contains('_')
                && s.starts_with(|c: char| c.is_ascii_uppercase())
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

/// `Env` as a word (not `Envelope`).
fn mentions_env(code: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    code.match_indices("Env").any(|(at, _)| {
        !word(code[..at].chars().next_back()) && !word(code[at + 3..].chars().next())
    })
}

/// The variables the tables of `docs/configuration.md` list.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    doc.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .filter(|name| literals(&format!("\"{name}\"")).contains(name))
        .collect()
}

#[test]
fn the_configuration_table_lists_exactly_the_variables_the_code_reads() {
    let documented = documented();
    let code = code();
    let mut read: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut anywhere = BTreeSet::new();
    for (path, text) in &code {
        let names = literals(text);
        let reads_configuration = mentions_env(text) || text.contains("env::var");
        if reads_configuration {
            let file = path
                .strip_prefix(root())
                .unwrap_or(path)
                .display()
                .to_string();
            for name in names
                .iter()
                .filter(|n| !NOT_VARIABLES.contains(&n.as_str()))
            {
                read.entry(name.clone()).or_default().insert(file.clone());
            }
        }
        anywhere.extend(names);
    }
    let undocumented: Vec<String> = read
        .iter()
        .filter(|(name, _)| !documented.contains(*name))
        .map(|(name, files)| format!("{name} (read in {files:?})"))
        .collect();
    let unread: Vec<&String> = documented
        .iter()
        .filter(|n| !anywhere.contains(*n))
        .collect();
    assert!(
        undocumented.is_empty(),
        "read by the code, missing from docs/configuration.md:\n  {}",
        undocumented.join("\n  ")
    );
    assert!(
        unread.is_empty(),
        "in docs/configuration.md, read by no code: {unread:?}"
    );
    assert!(
        documented.len() > 50,
        "only {} variables documented",
        documented.len()
    );
}

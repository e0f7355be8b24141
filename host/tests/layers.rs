//! The layer order of ARCHITECTURE.md, checked: a module of `host/src` may
//! use (`crate::X`) only modules of its own layer or below. Comments are not
//! read. Imports against the order that are still to be removed are listed
//! in `KNOWN`; a new one fails this test, and so does a `KNOWN` entry that is
//! gone (so the list only shrinks).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level modules by layer, lowest first (ARCHITECTURE.md, "Layers").
const LAYERS: [&[&str]; 8] = [
    &[
        "body",
        "error",
        "pem",
        "normalize",
        "forwarding",
        "token",
        "logging",
        "access_log",
    ],
    &["config"],
    &["cache", "origin", "plugin", "tls", "metrics", "demo_origin"],
    &["pipeline", "state"],
    &["server"],
    &["node"],
    &["admin", "fleet", "control"],
    &["cli", "main"],
];

/// Imports against the order that are still there (issue 15): none left.
const KNOWN: [(&str, &str); 0] = [];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `X` of every `crate::X` outside comments.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn modules_import_only_from_their_layer_or_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = BTreeSet::new();
    let mut unknown_modules = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a path")
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" {
            continue;
        }
        let Some(from) = layer(&top) else {
            unknown_modules.insert(top);
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read a source file");
        for used in imports(&text) {
            if used == top {
                continue;
            }
            let Some(to) = layer(&used) else {
                unknown_modules.insert(used);
                continue;
            };
            if to > from {
                found.insert((top.clone(), used, rel.display().to_string()));
            }
        }
    }
    assert!(
        unknown_modules.is_empty(),
        "modules missing from LAYERS (and ARCHITECTURE.md): {unknown_modules:?}"
    );
    let new: Vec<_> = found
        .iter()
        .filter(|(a, b, _)| !KNOWN.contains(&(a.as_str(), b.as_str())))
        .collect();
    assert!(new.is_empty(), "imports against the layer order: {new:#?}");
    let pairs: BTreeSet<(&str, &str)> = found
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    let gone: Vec<_> = KNOWN.iter().filter(|k| !pairs.contains(k)).collect();
    assert!(
        gone.is_empty(),
        "remove these from KNOWN (and ARCHITECTURE.md), they are fixed: {gone:?}"
    );
}

//! The direction of dependencies between lookout's top-level modules, kept by a test.
//!
//! A module may use modules of lower layers only: never its own layer's, never a higher
//! one's, so there is no import cycle and each layer can be read, tested and changed
//! knowing only what is below it. ARCHITECTURE.md ("Layers") draws the same picture;
//! change both together. The check reads `crate::` paths in the code (comments left out;
//! `#[cfg(test)] mod tests` blocks at the end of a file, which may reach anywhere, too).

/// Lowest first.
pub const LAYERS: &[&[&str]] = &[
    // Leaves: values and pure functions, no I/O of their own.
    &[
        "alerts",
        "clock",
        "ids",
        "memory",
        "nesting",
        "pointer",
        "signature",
        "watch",
    ],
    &["secrets", "tls"],
    // Every setting, typed; imports no module that runs with them.
    &["config"],
    // Certificates kept current: ACME orders and renewals, OCSP staples; no HTTP routes.
    &["acme", "ocsp"],
    // Port events: parsed and normalised; no HTTP, no SQL.
    &["events"],
    // Rules know no HTTP and no SQL; the store knows no rule runs.
    &["rules", "store"],
    &["metrics", "replay"],
    // A fleet's revisions followed from the store; candidates run in the shadow.
    &["fleet"],
    // The only module that knows status codes; the viewer is inside it.
    &["http"],
    &["app"],
    &["cli"],
    // Test and fuzzing support.
    &["fuzzing", "testkit"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules a file's code names (`crate::x`, `use crate::{x, y::z}`).
fn used_modules(text: &str) -> Vec<String> {
    let code = match text.find("\n#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    let code: String = code
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        // `$crate::` and `lookout_crate::` are not ours.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: at brace depth 0 after each `{` or `,`.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        rest = &group[i..];
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => {
                        let name: String = group[i..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        used.push(name);
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.push(name);
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn modules_use_only_lower_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut paths = Vec::new();
        files(&src, &mut paths);
        let mut wrong = Vec::new();
        let mut seen = 0;
        for path in paths {
            let rel = path.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if matches!(top.as_str(), "lib" | "main" | "layers") {
                continue;
            }
            let Some(own) = layer_of(&top) else {
                wrong.push(format!("{top} is in no layer: add it to layers::LAYERS"));
                continue;
            };
            seen += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for used in used_modules(&text) {
                if used == top || used == "init_logging" {
                    continue;
                }
                match layer_of(&used) {
                    Some(layer) if layer < own => {}
                    Some(_) => wrong.push(format!(
                        "{} uses crate::{used}: {top} may use only lower layers",
                        rel.display()
                    )),
                    None => {
                        wrong.push(format!("{} uses crate::{used}, in no layer", rel.display()))
                    }
                }
            }
        }
        assert!(seen > 40, "only {seen} files read");
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_reader_finds_paths_and_groups_and_skips_comments() {
        let text = "use crate::rules::{self, Pool};\nuse crate::{alerts::Wire, store,\n    http::{a, b}};\n// crate::cli in a comment\nfn f() { crate::clock::now_micros(); $crate::x; }\n\n#[cfg(test)]\nmod tests { use crate::app; }\n";
        assert_eq!(
            used_modules(text),
            ["rules", "alerts", "store", "http", "clock"]
        );
    }
}

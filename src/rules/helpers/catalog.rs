//! The helpers as rule authors read about them: each one's signatures, what it does
//! and an example, by category, read from the manual itself (`rules/README.md`,
//! "Helpers"), so `lookout helpers`, the workbench and the manual cannot drift apart.
//! A test holds every registered helper to having an entry, and every entry to naming
//! a helper the engine has.

use std::sync::OnceLock;

use serde::Serialize;

const MANUAL: &str = include_str!("../../../rules/README.md");

#[derive(Debug, Clone, Serialize)]
pub struct Helper {
    /// `Dates and times`, `Numbers`, ...
    pub category: String,
    /// `add_days(date, days)`, `sub_days(date, days)`, ...
    pub signatures: Vec<String>,
    /// What it does, in the manual's words.
    pub summary: String,
    /// The manual's example, as code.
    pub example: String,
}

impl Helper {
    /// The function names it documents (`add_days`, `sub_days`).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .signatures
            .iter()
            .map(|s| s.split('(').next().unwrap_or(s).trim())
            .collect();
        names.dedup();
        names
    }
}

/// Every helper, in the manual's order.
pub fn catalog() -> &'static [Helper] {
    static CATALOG: OnceLock<Vec<Helper>> = OnceLock::new();
    CATALOG.get_or_init(|| parse(MANUAL))
}

/// The helpers of a manual's "## Helpers" section: each paragraph that starts with
/// bold code (`**`name(args)`**`), its text up to the blank line, and the code block
/// that follows it.
fn parse(manual: &str) -> Vec<Helper> {
    let Some(start) = manual.find("\n## Helpers\n") else {
        return Vec::new();
    };
    let section = &manual[start + 1..];
    let section = match section[3..].find("\n## ") {
        Some(end) => &section[..end + 3],
        None => section,
    };
    let mut helpers: Vec<Helper> = Vec::new();
    let mut category = String::new();
    let mut lines = section.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(title) = line.strip_prefix("### ") {
            category = title.trim().to_string();
            continue;
        }
        if line.starts_with("```") {
            // A code block: the example of the helper just described, if it has none yet.
            let mut code = Vec::new();
            for inner in lines.by_ref() {
                if inner.starts_with("```") {
                    break;
                }
                code.push(inner);
            }
            if let Some(last) = helpers.last_mut() {
                if last.example.is_empty() {
                    last.example = code.join("\n");
                }
            }
            continue;
        }
        if !line.starts_with("**`") {
            continue;
        }
        let mut paragraph = line.to_string();
        while let Some(next) = lines.peek() {
            if next.trim().is_empty() || next.starts_with("```") {
                break;
            }
            paragraph.push(' ');
            paragraph.push_str(next.trim());
            lines.next();
        }
        // The bold code spans before the first `: ` after them are the signatures
        // (`**`min_of(items, path)`** / **`max_of(items, path)`** (and without a path): ...`).
        let first_end = paragraph.find("`**").unwrap_or(0);
        let (head, summary) = match paragraph[first_end..].find(": ") {
            Some(at) => (
                &paragraph[..first_end + at],
                paragraph[first_end + at + 2..].trim(),
            ),
            None => (paragraph.as_str(), ""),
        };
        let signatures: Vec<String> = head
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|code| code.contains('('))
            .map(str::to_string)
            .collect();
        helpers.push(Helper {
            category: category.clone(),
            signatures,
            summary: summary.to_string(),
            example: String::new(),
        });
    }
    helpers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manual_documents_every_helper_and_only_helpers() {
        let catalog = catalog();
        assert!(catalog.len() >= 20, "{catalog:#?}");
        let documented: std::collections::BTreeSet<&str> =
            catalog.iter().flat_map(|h| h.names()).collect();
        // Every function the helpers register has an entry.
        let sources = [
            include_str!("args.rs"),
            include_str!("dates.rs"),
            include_str!("lists.rs"),
            include_str!("numbers.rs"),
            include_str!("paths.rs"),
            include_str!("text.rs"),
        ];
        let mut registered = std::collections::BTreeSet::new();
        for source in sources {
            let mut rest = source;
            while let Some(at) = rest.find("register_fn(") {
                rest = &rest[at + "register_fn(".len()..];
                let name: String = rest
                    .trim_start()
                    .strip_prefix('"')
                    .map(|r| r.chars().take_while(|c| *c != '"').collect())
                    .unwrap_or_default();
                if !name.is_empty() {
                    registered.insert(name);
                }
            }
        }
        assert!(registered.len() >= 20, "{registered:?}");
        let missing: Vec<&String> = registered
            .iter()
            .filter(|n| !documented.contains(n.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "helpers without a manual entry: {missing:?}"
        );
        // Every entry names a function the engine has with that many arguments: a call
        // with `()` for each gets the helper's own complaint, never "not found".
        let engine = crate::rules::sandbox::engine(&crate::rules::sandbox::Limits::default());
        for helper in catalog {
            assert!(
                !helper.summary.is_empty() && !helper.example.is_empty(),
                "{helper:#?}"
            );
            for signature in &helper.signatures {
                let name = signature.split('(').next().unwrap();
                let args = signature
                    .split('(')
                    .nth(1)
                    .map(|a| a.trim_end_matches(')'))
                    .filter(|a| !a.trim().is_empty())
                    .map_or(0, |a| a.split(',').count());
                let call = format!("{name}({})", vec!["()"; args].join(", "));
                let outcome = engine.eval::<rhai::Dynamic>(&call);
                let not_found = matches!(
                    outcome.as_ref().map_err(|e| e.unwrap_inner()),
                    Err(rhai::EvalAltResult::ErrorFunctionNotFound(sig, _)) if sig.starts_with(&format!("{name} ("))
                );
                // Rhai's own `parse_float`/`parse_int` take text or numbers, not ().
                if !matches!(name, "parse_float" | "parse_int") {
                    assert!(!not_found, "`{signature}` in the manual: {outcome:?}");
                }
            }
        }
        let get = catalog.iter().find(|h| h.names().contains(&"get")).unwrap();
        assert_eq!(get.category, "Reading fields");
        assert_eq!(
            get.signatures,
            ["get(value, path)", "get(value, path, default)"]
        );
        assert!(get.example.starts_with("let speed = get(estimate"));
    }
}

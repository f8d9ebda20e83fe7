//! `lookout helpers`: the helpers rules can call, as the manual describes them
//! (`rules::helpers::catalog`), by category, optionally filtered by name, or as JSON.

use std::io::Write;

use crate::rules::helpers::catalog::{catalog, Helper};

pub fn run(name: Option<&str>, json: bool) -> anyhow::Result<u8> {
    let wanted = |h: &&Helper| name.is_none_or(|n| h.names().iter().any(|m| m.contains(n)));
    let found: Vec<&Helper> = catalog().iter().filter(wanted).collect();
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &found)?;
        writeln!(out)?;
        return Ok(super::OK);
    }
    if found.is_empty() {
        eprintln!(
            "no helper's name contains `{}`; `lookout helpers` lists them all",
            name.unwrap_or_default()
        );
        return Ok(super::FOUND);
    }
    let mut category = "";
    for helper in found {
        if helper.category != category {
            category = &helper.category;
            writeln!(out, "\n{category}\n")?;
        }
        for signature in &helper.signatures {
            writeln!(out, "  {signature}")?;
        }
        for line in wrap(&helper.summary, 76) {
            writeln!(out, "      {line}")?;
        }
        for line in helper.example.lines() {
            writeln!(out, "      | {line}")?;
        }
        writeln!(out)?;
    }
    Ok(super::OK)
}

/// Words joined into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

//! Text: comparisons ignoring case and spacing, word search, quoting.

use rhai::{Dynamic, Engine, ImmutableString};

use super::*;
use crate::rules::json::runtime_error;
use crate::rules::sandbox::check_limits;

pub(super) fn register_text(engine: &mut Engine) {
    engine
        .register_fn("same_text", |a: Dynamic, b: Dynamic| -> Res<bool> {
            check_limits()?;
            let h = "same_text(a, b)";
            let a = optional_text(h, "a", &a)?;
            let b = optional_text(h, "b", &b)?;
            Ok(match (a, b) {
                (Some(a), Some(b)) => same_text(&a, &b),
                _ => false,
            })
        })
        .register_fn(
            "contains_any",
            |text: Dynamic, words: Dynamic| -> Res<bool> {
                let h = "contains_any(text, words)";
                check_limits()?;
                let text = optional_text(h, "text", &text)?;
                // One pass over the text for all the words (Aho-Corasick): the call is
                // O(text + words) however they are made, never text × words.
                let Some(text) = text.map(|t| Folded::new(&t)) else {
                    return Ok(false);
                };
                if let Some(word) = words.read_lock::<ImmutableString>() {
                    return Ok(text.contains_any(&[text.fold(&word)]));
                }
                let mut folded = Vec::new();
                let mut total = 0usize;
                each_leaf(h, "words", &words, &[], |i, _, word| {
                    let Some(w) = word.with_text(|w| text.fold(w)) else {
                        return Err(runtime_error(format!(
                            "{h}: {} must be a string, got {}",
                            at("words", i, ""),
                            word.describe()
                        )));
                    };
                    total += w.len();
                    if total > MAX_WORDS_BYTES {
                        return Err(runtime_error(format!(
                            "{h}: the words hold more than {} MiB of text; look for fewer",
                            MAX_WORDS_BYTES >> 20
                        )));
                    }
                    folded.push(w);
                    Ok(true)
                })?;
                check_limits()?;
                let found = text.contains_any(&folded);
                Ok(found)
            },
        );
}

/// Equal ignoring case (any alphabet) and spaces at either end.
pub(super) fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.len() == b.len() && a.eq_ignore_ascii_case(b) {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Most text `contains_any` searches for at once.
pub(super) const MAX_WORDS_BYTES: usize = 16 << 20;

/// A text lower-cased once, to search for words in it ignoring case.
pub(super) struct Folded {
    text: String,
    ascii: bool,
}

impl Folded {
    pub(super) fn new(text: &str) -> Folded {
        Folded {
            ascii: text.is_ascii(),
            text: if text.is_ascii() {
                text.to_ascii_lowercase()
            } else {
                text.to_lowercase()
            },
        }
    }

    /// `word` lower-cased the way the text was.
    pub(super) fn fold(&self, word: &str) -> String {
        if self.ascii && word.is_ascii() {
            word.to_ascii_lowercase()
        } else {
            word.to_lowercase()
        }
    }

    /// Whether the text contains one of `words` (folded); an empty word is in nothing.
    /// One Aho-Corasick pass: linear in the text and the words together.
    pub(super) fn contains_any(&self, words: &[String]) -> bool {
        let mut words: Vec<&str> = words
            .iter()
            .map(String::as_str)
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() {
            return false;
        }
        words.sort_unstable();
        words.dedup();
        // The NFA builds in time linear in the words; a DFA (what `new` may pick) can
        // take far longer to build for words made to be hard, with no deadline check.
        aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::NoncontiguousNFA))
            .build(&words)
            .map(|finder| finder.is_match(&self.text))
            .unwrap_or(false)
    }
}

//! The nesting depth of JSON from outside, checked on the raw bytes before any
//! recursive code sees them.
//!
//! sonic-rs's DOM parser, serde_json's serialiser, `Drop` of a parsed tree and the
//! viewer's pretty printer all recurse once per level: a 20 KB body of 10,000 `[`
//! overflows a thread's stack and aborts the whole process. So every place that takes
//! JSON from outside (webhook and event bodies, stored bodies read back, test, facts and
//! data files) runs [`check`] first, through `rules::json::parse` or
//! [`from_str`], and refuses a text nested deeper than [`MAX_DEPTH`].
//!
//! The scan is one pass over the bytes with no allocation and no recursion: it counts
//! `[`/`{` against `]`/`}` outside strings and skips strings with `memchr`. It does not
//! validate the JSON (the parser that follows does); on any text it either finds the
//! depth bound respected or names the byte where it is passed.

/// How deeply arrays and objects may nest (`[]` is depth 1). An estimate is about
/// 6 deep; 128 is serde_json's own default recursion limit.
pub const MAX_DEPTH: usize = 128;

/// A text nested deeper than [`MAX_DEPTH`]: where the first level too many opens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("JSON nested more than {MAX_DEPTH} levels deep at line {line} column {column}")]
pub struct TooDeep {
    /// Byte offset of the `[` or `{` that opens level `MAX_DEPTH + 1`.
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

/// `Ok` when no array or object in `bytes` is nested deeper than [`MAX_DEPTH`].
pub fn check(bytes: &[u8]) -> Result<(), TooDeep> {
    check_at(bytes, MAX_DEPTH)
}

fn check_at(bytes: &[u8], max: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip the string: the next unescaped quote ends it.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                        None => return Ok(()), // unterminated: the parser will say so
                        Some(at) if bytes[i + at] == b'\\' => i += at + 2,
                        Some(at) => {
                            i += at;
                            break;
                        }
                    }
                    if i >= bytes.len() {
                        return Ok(());
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Err(too_deep(bytes, i));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn too_deep(bytes: &[u8], offset: usize) -> TooDeep {
    let before = &bytes[..offset];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |n| n + 1);
    // Columns count characters, as serde_json's do.
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    TooDeep {
        offset,
        line,
        column,
    }
}

/// Why a text from outside could not be read as a `T`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    TooDeep(#[from] TooDeep),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Error {
    pub fn line(&self) -> usize {
        match self {
            Error::TooDeep(e) => e.line,
            Error::Json(e) => e.line(),
        }
    }

    pub fn column(&self) -> usize {
        match self {
            Error::TooDeep(e) => e.column,
            Error::Json(e) => e.column(),
        }
    }

    /// The message without its " at line L column C" part, for callers that put the
    /// position in front (`path:line:col: message`).
    pub fn message(&self) -> String {
        let text = self.to_string();
        let suffix = format!(" at line {} column {}", self.line(), self.column());
        match text.find(&suffix) {
            Some(at) => format!("{}{}", &text[..at], &text[at + suffix.len()..]),
            None => text,
        }
    }
}

/// serde_json's `from_str`, after [`check`].
pub fn from_str<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, Error> {
    check(text.as_bytes())?;
    Ok(serde_json::from_str(text)?)
}

/// serde_json's `from_slice`, after [`check`].
pub fn from_slice<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    check(bytes)?;
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn the_limit_holds_at_its_edge() {
        assert_eq!(check(nested(MAX_DEPTH).as_bytes()), Ok(()));
        let err = check(nested(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert_eq!(
            (err.offset, err.line, err.column),
            (MAX_DEPTH, 1, MAX_DEPTH + 1)
        );
        // Far past it: found at the first level too many, long before the end.
        assert_eq!(
            check(nested(100_000).as_bytes()).unwrap_err().offset,
            MAX_DEPTH
        );
    }

    /// Each case: a text, the depth allowed, and whether it passes, with the reason.
    #[test]
    fn brackets_count_only_outside_strings() {
        let cases: &[(&str, usize, bool, &str)] = &[
            (r#"{"a": {"b": 1}}"#, 2, true, "two objects"),
            (r#"{"a": {"b": 1}}"#, 1, false, "two objects, one allowed"),
            (r#"{"a": "[[[[{{{{"}"#, 1, true, "brackets inside a string"),
            (
                r#"{"a": "\"[[["}"#,
                1,
                true,
                "an escaped quote does not end the string",
            ),
            (
                r#"{"a": "\\", "b": [[]]}"#,
                2,
                false,
                "an escaped backslash does end it",
            ),
            (r#"[[], [], [[]]]"#, 3, true, "siblings do not add up"),
            (r#"]]]][[["#, 3, true, "closing first never goes below zero"),
            (
                r#"["unterminated [[[["#,
                1,
                true,
                "an unterminated string is the parser's to refuse",
            ),
            (
                r#""ends in a backslash \"#,
                0,
                true,
                "an escape at the very end",
            ),
            ("", 0, true, "nothing at all"),
        ];
        for (text, max, passes, reason) in cases {
            assert_eq!(
                check_at(text.as_bytes(), *max).is_ok(),
                *passes,
                "{reason}: {text}"
            );
        }
    }

    #[test]
    fn the_position_counts_lines_and_characters() {
        let text = format!("{{\n  \"é\": {}", "[".repeat(MAX_DEPTH));
        let err = check(text.as_bytes()).unwrap_err();
        assert_eq!((err.line, err.column), (2, 8 + MAX_DEPTH - 1));
        let err = from_str::<serde_json::Value>(&text).unwrap_err();
        assert_eq!(err.message(), "JSON nested more than 128 levels deep");
    }
}

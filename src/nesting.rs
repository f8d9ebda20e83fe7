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
//! `[`/`{` against `]`/`}` outside strings. It does not validate the JSON (the parser
//! that follows does); on any text it either finds the depth bound respected or names
//! the byte where it is passed. On x86_64 it reads 64 bytes at a time, as simdjson's
//! first stage does: SSE2 compares give bit masks of quotes, backslashes, openers and
//! closers; escaped characters and the inside of strings come from carries and a
//! prefix XOR over those masks; and a block whose openers cannot pass the bound (nearly
//! all of them) costs two population counts. Elsewhere a byte loop that skips strings
//! with `memchr` does the same. The two agree on every text in which no backslash stands
//! outside a string (there the parser stops first anyway); a test holds them to it.

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
    #[cfg(target_arch = "x86_64")]
    let found = blocks::check(bytes, max);
    #[cfg(not(target_arch = "x86_64"))]
    let found = check_bytes(bytes, max);
    found.map_err(|offset| too_deep(bytes, offset))
}

/// [`check`] by the byte loop alone (on x86_64 `check` reads 64-byte blocks): for the
/// benchmark that compares the two.
#[doc(hidden)]
pub fn check_bytewise(bytes: &[u8]) -> Result<(), TooDeep> {
    check_bytes(bytes, MAX_DEPTH).map_err(|offset| too_deep(bytes, offset))
}

/// The byte loop: `Err` holds the offset of the first opener past `max`.
fn check_bytes(bytes: &[u8], max: usize) -> Result<(), usize> {
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
                    return Err(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// 64 bytes at a time (simdjson's stage 1, cut down to what a depth count needs).
#[cfg(target_arch = "x86_64")]
mod blocks {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    /// Bits at odd positions: where a run of backslashes that starts at an even bit
    /// ends with an escape.
    const ODD_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;

    /// The scan's state between blocks.
    #[derive(Default)]
    struct Scan {
        depth: usize,
        /// 1 when the block's first byte is escaped (the last one before was a lone `\`).
        next_is_escaped: u64,
        /// All ones when the block starts inside a string.
        in_string: u64,
    }

    pub(super) fn check(bytes: &[u8], max: usize) -> Result<(), usize> {
        let mut scan = Scan::default();
        let mut chunks = bytes.chunks_exact(64);
        let mut base = 0;
        for chunk in &mut chunks {
            scan.block(chunk.try_into().expect("chunks of 64"), base, max)?;
            base += 64;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Spaces after the end change neither strings nor depth.
            let mut last = [b' '; 64];
            last[..rest.len()].copy_from_slice(rest);
            scan.block(&last, base, max)?;
        }
        Ok(())
    }

    impl Scan {
        fn block(&mut self, block: &[u8; 64], base: usize, max: usize) -> Result<(), usize> {
            let [quote, backslash, open, close] = masks(block);
            let quotes = quote & !self.escaped(backslash);
            let in_string = prefix_xor(quotes) ^ self.in_string;
            self.in_string = 0u64.wrapping_sub(in_string >> 63);
            let opens = open & !in_string;
            let closes = close & !in_string;
            let (o, c) = (opens.count_ones() as usize, closes.count_ones() as usize);
            if self.depth + o <= max && self.depth >= c {
                // Even all the openers first cannot pass the bound, nor the closers
                // first go below zero: only the sum matters.
                self.depth = self.depth + o - c;
                return Ok(());
            }
            let mut bits = opens | closes;
            while bits != 0 {
                let at = bits.trailing_zeros();
                if opens & (1 << at) != 0 {
                    self.depth += 1;
                    if self.depth > max {
                        return Err(base + at as usize);
                    }
                } else {
                    self.depth = self.depth.saturating_sub(1);
                }
                bits &= bits - 1;
            }
            Ok(())
        }

        /// The characters a backslash escapes (simdjson's `json_escape_scanner`): in a
        /// run of backslashes every second one escapes the character after it.
        fn escaped(&mut self, backslash: u64) -> u64 {
            if backslash == 0 {
                return std::mem::take(&mut self.next_is_escaped);
            }
            let potential = backslash & !self.next_is_escaped;
            let maybe_escaped = potential << 1;
            let code = ((maybe_escaped | ODD_BITS).wrapping_sub(potential)) ^ ODD_BITS;
            let escaped = code ^ (backslash | self.next_is_escaped);
            self.next_is_escaped = (code & backslash) >> 63;
            escaped
        }
    }

    /// Bit i of each mask: byte i is `"`, `\\`, `[` or `{`, `]` or `}`.
    #[inline(always)]
    fn masks(block: &[u8; 64]) -> [u64; 4] {
        let mut out = [0u64; 4];
        // SAFETY: SSE2 is part of x86_64's baseline, and each unaligned load reads 16
        // bytes at offsets 0, 16, 32, 48 of the 64-byte array.
        unsafe {
            let wanted = [
                _mm_set1_epi8(b'"' as i8),
                _mm_set1_epi8(b'\\' as i8),
                _mm_set1_epi8(b'{' as i8),
                _mm_set1_epi8(b'}' as i8),
            ];
            // `[` and `]` are `{` and `}` less 0x20, and no other byte is.
            let fold = _mm_set1_epi8(0x20);
            for part in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * part) as *const __m128i);
                let folded = _mm_or_si128(v, fold);
                let shift = 16 * part;
                for (k, w) in wanted.iter().enumerate() {
                    let v = if k < 2 { v } else { folded };
                    let bits = _mm_movemask_epi8(_mm_cmpeq_epi8(v, *w)) as u32 as u64;
                    out[k] |= bits << shift;
                }
            }
        }
        out
    }

    /// Bit i is the XOR of bits 0..=i: inside a string between an opening quote (set)
    /// and its closing one (clear).
    #[inline(always)]
    fn prefix_xor(mut x: u64) -> u64 {
        x ^= x << 1;
        x ^= x << 2;
        x ^= x << 4;
        x ^= x << 8;
        x ^= x << 16;
        x ^= x << 32;
        x
    }
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

/// Whether `bytes` are JSON by serde_json (the arbiter), within the depth limit. A
/// `Value`, not `IgnoredAny`: skipping a string does not check its escapes.
pub fn is_json(bytes: &[u8]) -> bool {
    check(bytes).is_ok() && serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
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

    /// Makes every backslash outside a string (as the byte loop reads the text) a letter.
    fn no_stray_backslash(text: &mut [u8]) {
        let (mut in_string, mut i) = (false, 0);
        while i < text.len() {
            match (in_string, text[i]) {
                (true, b'\\') => i += 1,
                (_, b'"') => in_string = !in_string,
                (false, b'\\') => text[i] = b'a',
                _ => {}
            }
            i += 1;
        }
    }

    /// The 64-byte blocks and the byte loop find the same thing on every text without
    /// a backslash outside a string: random texts of brackets, quotes, backslashes (in
    /// strings) and letters, of every length around the block edges, at several bounds.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_blocks_agree_with_the_byte_loop() {
        const ALPHABET: &[u8] = b"[]{}\"\\\\a,";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut with_escapes = 0;
        for round in 0..40_000 {
            let len = match round % 4 {
                0 => (next() % 130) as usize,
                1 => 60 + (next() % 10) as usize,
                _ => (next() % 700) as usize,
            };
            // Mostly openers in some texts, so the bound is reached inside a block.
            let bias = next() % 3;
            let mut text: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if bias == 0 && r % 2 == 0 {
                        b'['
                    } else {
                        ALPHABET[(r >> 8) as usize % ALPHABET.len()]
                    }
                })
                .collect();
            no_stray_backslash(&mut text);
            for max in [0, 1, 3, 17, 128] {
                assert_eq!(
                    blocks::check(&text, max),
                    check_bytes(&text, max),
                    "max {max}: {}",
                    String::from_utf8_lossy(&text)
                );
            }
            if text.contains(&b'\\') {
                with_escapes += 1;
            }
        }
        assert!(
            with_escapes > 10_000,
            "only {with_escapes} texts with escapes"
        );
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

//! "Text anywhere in the estimate": a case-insensitive substring search over the
//! recorded request bodies, newest first, a window of calls at a time.
//!
//! Nothing is indexed at write time: recording stays cheap on the busy path (an index
//! of a 100 KB estimate's text cost more than compressing it), and searching is the
//! rare path. A page of results reads at most [`TEXT_SCAN_WINDOW`] calls (of
//! those the other filters let through) and then answers with what it found and a
//! cursor to search on (`Page.searched_to`).
//!
//! ASCII letters match in any case; other letters match as typed.

use super::{Blob, Page, Query, StoreError, Summary};

/// A search term, prepared once per query.
pub struct Needle {
    lower: Vec<u8>,
    finder: memchr::memmem::Finder<'static>,
}

impl Needle {
    pub fn new(text: &str) -> Needle {
        let lower = text.as_bytes().to_ascii_lowercase();
        let finder = memchr::memmem::Finder::new(&lower).into_owned();
        Needle { lower, finder }
    }

    pub fn is_empty(&self) -> bool {
        self.lower.is_empty()
    }

    /// Whether the body (as stored) contains the needle.
    pub fn found_in(&self, body: &Blob) -> Result<bool, StoreError> {
        let bytes = body.decode()?;
        Ok(self.found_in_bytes(&bytes))
    }

    pub fn found_in_bytes(&self, bytes: &[u8]) -> bool {
        if self.lower.is_empty() {
            return true;
        }
        if bytes.len() < self.lower.len() {
            return false;
        }
        let lowered = bytes.to_ascii_lowercase();
        self.finder.find(&lowered).is_some()
    }
}

/// How many of the newest calls a text search reads per page before it answers with
/// what it found and a cursor to go on: a search never scans a million records at once
/// (see this module).
pub const TEXT_SCAN_WINDOW: usize = 5_000;

/// Calls a text search fetches from the database at a time.
const TEXT_SCAN_CHUNK: usize = 200;

/// One call as a text search reads it: its summary, its stored request body and the
/// base that body is a difference from, if any.
pub(crate) struct Scanned {
    pub summary: Summary,
    pub body: Blob,
    pub base: Option<String>,
}

/// A chunk of a text search: the calls, and the stored bases their bodies name.
pub(crate) type Chunk = (Vec<Scanned>, Vec<(String, Blob)>);

/// One page of a text search, the same for every backend. `floor` is the oldest call
/// of this page's window (`None` when the window reaches the oldest call); `fetch`
/// returns up to `n` calls that pass the other filters, newest first, older than
/// `cursor` when given and not older than the floor, with their stored request bodies
/// and the bases those name.
pub(crate) fn text_page(
    query: &Query,
    needle: &Needle,
    floor: Option<(String, i64)>,
    mut fetch: impl FnMut(Option<&str>, usize) -> Result<Chunk, StoreError>,
) -> Result<Page, StoreError> {
    let limit = query.limit.clamp(1, 1000);
    let mut cursor = query.before.clone();
    let mut calls = Vec::new();
    'scan: loop {
        let (rows, stored_bases) = fetch(cursor.as_deref(), TEXT_SCAN_CHUNK)?;
        let last_chunk = rows.len() < TEXT_SCAN_CHUNK;
        // Each base decoded once per chunk, not once per call that names it.
        let mut bases = std::collections::HashMap::new();
        for (id, blob) in stored_bases {
            bases.insert(id, blob.decode()?);
        }
        for Scanned {
            summary,
            body,
            base,
        } in rows
        {
            cursor = Some(summary.id.clone());
            let base = base
                .as_ref()
                .and_then(|id| bases.get(id))
                .map(Vec::as_slice);
            let bytes = body.decode_on(base, &summary.id)?;
            if needle.found_in_bytes(&bytes) {
                calls.push(summary);
                if calls.len() > limit {
                    break 'scan;
                }
            }
        }
        if last_chunk {
            break;
        }
    }
    Ok(if calls.len() > limit {
        calls.truncate(limit);
        Page {
            next: calls.last().map(|c| c.id.clone()),
            calls,
            searched_to: None,
        }
    } else if let Some((id, at)) = floor {
        Page {
            calls,
            next: Some(id),
            searched_to: Some(at),
        }
    } else {
        Page {
            calls,
            next: None,
            searched_to: None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_text_in_any_ascii_case_in_compressed_bodies() {
        use super::super::{Compression, Encoding, Packer};
        let body = br#"{"vesselName": "Ocean STAR", "port": "Saint-Nazaire"}"#.repeat(30);
        for (compression, encoding) in [
            (Compression::Lz4, Encoding::Lz4),
            (Compression::Zstd, Encoding::Zstd),
            (Compression::None, Encoding::Identity),
        ] {
            let blob = Blob::encode(&body, &mut Packer::new(compression));
            assert_eq!(blob.encoding, encoding);
            assert!(Needle::new("ocean star").found_in(&blob).unwrap());
            assert!(Needle::new("SAINT-nazaire").found_in(&blob).unwrap());
            assert!(!Needle::new("rotterdam").found_in(&blob).unwrap());
        }
        assert!(Needle::new("").found_in_bytes(b""));
        assert!(!Needle::new("x").found_in_bytes(b""));
    }
}

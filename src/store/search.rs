//! "Text anywhere in the estimate": a case-insensitive substring search over the
//! recorded request bodies, newest first, a window of calls at a time.
//!
//! Nothing is indexed at write time: recording stays cheap on the busy path (an index
//! of a 100 KB estimate's text cost more than compressing it), and searching is the
//! rare path. A page of results reads at most [`super::TEXT_SCAN_WINDOW`] calls (of
//! those the other filters let through) and then answers with what it found and a
//! cursor to search on (`Page.searched_to`).
//!
//! ASCII letters match in any case; other letters match as typed.

use super::{Blob, StoreError};

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

//! Request bodies stored as a difference from an earlier body of the same estimate.
//!
//! The Voyage Estimator POSTs the whole estimate on every edit, so the calls of one
//! estimate differ by a few values (or by a run of dates that an edit shifted). The
//! recorder keeps, per rule set and estimate, the body it last stored in full (a
//! *base*, in the `bodies` table); later calls of that estimate store only how they
//! differ from it:
//!
//! - the bytes they share with the base at the start and at the end (a length each),
//! - the middle, raw when it is short, otherwise zstd-compressed with the base's middle
//!   as a prefix (zstd finds the unchanged runs between the changed values).
//!
//! An identical re-send is a few bytes; an edit of one value about twenty. Computing it
//! costs a comparison of the two bodies (about 5 µs for 100 KB) and, when the middle is
//! long, a zstd frame over the middle (about 40–50 µs for an edit that shifts the dates
//! of 40 port calls), against about 60 µs to LZ4 the whole body and writing 24 KB.
//!
//! A base is used for [`BASE_MAX_AGE_US`] after the call that stored it; after that, or
//! when a difference grows past an eighth of the body, the next call stores a new base.
//! Retention relies on that window (see `Backend::retain`): a base is referenced only by
//! calls received within it, so bases older than the oldest kept call (less a margin)
//! are garbage.

use std::collections::HashMap;

use super::StoreError;

/// How long after the call that stored it a base may be referenced (microseconds).
pub const BASE_MAX_AGE_US: i64 = 10 * 60 * 1_000_000;
/// Retention removes a base once it is this much older than the oldest call kept: far
/// more than [`BASE_MAX_AGE_US`], so clock steps and queueing never orphan a call.
pub const BASE_GRACE_US: i64 = 60 * 60 * 1_000_000;
/// Bodies shorter than this are stored whole: a difference saves little.
pub const DELTA_FROM: usize = 4096;
/// Estimates whose base is kept in memory, at most, and their bytes.
const MAX_BASES: usize = 256;
const MAX_BASE_BYTES: usize = 64 << 20;
/// Middles up to this long are stored raw.
const RAW_MIDDLE: usize = 64;
/// A largest middle a difference may decode to (a body is at most `max_request_bytes`).
const MAX_MIDDLE: usize = 64 << 20;

const RAW: u8 = 0;
const ZSTD: u8 = 1;

/// The difference of `body` from `base`.
pub fn diff(base: &[u8], body: &[u8]) -> Vec<u8> {
    let (prefix, suffix) = common_ends(base, body);
    let middle = &body[prefix..body.len() - suffix];
    let base_middle = &base[prefix..base.len() - suffix];
    let mut out = Vec::with_capacity(32 + middle.len().min(4096));
    let packed = (middle.len() > RAW_MIDDLE && !base_middle.is_empty())
        .then(|| zstd_against(base_middle, middle))
        .flatten()
        .filter(|packed| packed.len() < middle.len());
    out.push(if packed.is_some() { ZSTD } else { RAW });
    for n in [base.len(), prefix, suffix, middle.len()] {
        put_varint(&mut out, n as u64);
    }
    out.extend_from_slice(packed.as_deref().unwrap_or(middle));
    out
}

/// The difference that says "the base, whole": what the call that stores a base keeps.
pub fn whole(base_len: usize) -> Vec<u8> {
    let mut out = vec![RAW];
    for n in [base_len, base_len, 0, 0] {
        put_varint(&mut out, n as u64);
    }
    out
}

/// The body that `delta` was made from, given its base.
pub fn apply(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, StoreError> {
    let corrupt =
        |what: String| StoreError::Corrupt(format!("a stored difference does not apply: {what}"));
    let (&kind, mut rest) = delta
        .split_first()
        .ok_or_else(|| corrupt("it is empty".into()))?;
    let mut fields = [0usize; 4];
    for field in &mut fields {
        let (n, after) = take_varint(rest).ok_or_else(|| corrupt("it is cut short".into()))?;
        *field = usize::try_from(n).map_err(|_| corrupt("a length is out of range".into()))?;
        rest = after;
    }
    let [base_len, prefix, suffix, middle_len] = fields;
    if base_len != base.len() {
        return Err(corrupt(format!(
            "it was made from a base of {base_len} bytes, the stored base has {}",
            base.len()
        )));
    }
    if prefix
        .checked_add(suffix)
        .is_none_or(|kept| kept > base_len)
        || middle_len > MAX_MIDDLE
    {
        return Err(corrupt("its lengths do not fit its base".into()));
    }
    let base_middle = &base[prefix..base_len - suffix];
    let middle = match kind {
        RAW => rest.to_vec(),
        ZSTD => {
            let mut out = Vec::with_capacity(middle_len);
            let mut dctx = zstd::zstd_safe::DCtx::create();
            dctx.ref_prefix(base_middle)
                .and_then(|_| dctx.decompress(&mut out, rest))
                .map_err(|code| corrupt(zstd::zstd_safe::get_error_name(code).to_string()))?;
            out
        }
        other => return Err(corrupt(format!("unknown kind {other}"))),
    };
    if middle.len() != middle_len {
        return Err(corrupt(format!(
            "its middle is {} bytes where it claims {middle_len}",
            middle.len()
        )));
    }
    let mut body = Vec::with_capacity(prefix + middle_len + suffix);
    body.extend_from_slice(&base[..prefix]);
    body.extend_from_slice(&middle);
    body.extend_from_slice(&base[base_len - suffix..]);
    Ok(body)
}

/// The lengths of the longest common start and (not overlapping it) common end.
fn common_ends(a: &[u8], b: &[u8]) -> (usize, usize) {
    const STEP: usize = 64;
    let n = a.len().min(b.len());
    let mut prefix = 0;
    while prefix + STEP <= n && a[prefix..prefix + STEP] == b[prefix..prefix + STEP] {
        prefix += STEP;
    }
    while prefix < n && a[prefix] == b[prefix] {
        prefix += 1;
    }
    let room = n - prefix;
    let (a_end, b_end) = (a.len(), b.len());
    let mut suffix = 0;
    while suffix + STEP <= room
        && a[a_end - suffix - STEP..a_end - suffix] == b[b_end - suffix - STEP..b_end - suffix]
    {
        suffix += STEP;
    }
    while suffix < room && a[a_end - suffix - 1] == b[b_end - suffix - 1] {
        suffix += 1;
    }
    (prefix, suffix)
}

/// A zstd frame of `middle` with `base_middle` as its prefix, or `None` if zstd fails.
fn zstd_against(base_middle: &[u8], middle: &[u8]) -> Option<Vec<u8>> {
    use zstd::zstd_safe::{CCtx, CParameter};
    // A fresh context per frame (about 10 µs): a kept one would have to outlive the
    // bases it is pointed at.
    let mut cctx = CCtx::create();
    let window = (usize::BITS - (base_middle.len() + middle.len()).leading_zeros()).clamp(10, 27);
    cctx.set_parameter(CParameter::CompressionLevel(1)).ok()?;
    cctx.set_parameter(CParameter::WindowLog(window)).ok()?;
    cctx.ref_prefix(base_middle).ok()?;
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(middle.len()));
    cctx.compress2(&mut out, middle).ok()?;
    Some(out)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, &bytes[i + 1..]));
        }
    }
    None
}

/// The recorder's bases: per (rule set, estimate), the body last stored in full.
#[derive(Default)]
pub struct Bases {
    entries: HashMap<(String, String), Base>,
    bytes: usize,
}

struct Base {
    /// The id of its row in `bodies` (the id of the call that stored it).
    id: String,
    received_at: i64,
    body: Vec<u8>,
}

/// How a call's request body is stored.
pub enum Stored {
    /// Against an existing base: its id and the difference.
    Delta { base: String, delta: Vec<u8> },
    /// As a new base (the caller stores the body under the call's id).
    NewBase,
}

impl Bases {
    /// How to store `body` of a call of `estimate` received at `received_at`.
    pub fn store(
        &mut self,
        ruleset: &str,
        estimate: &str,
        received_at: i64,
        body: &[u8],
    ) -> Stored {
        let key = (ruleset.to_string(), estimate.to_string());
        if let Some(base) = self.entries.get(&key) {
            if (received_at - base.received_at).abs() <= BASE_MAX_AGE_US {
                let delta = diff(&base.body, body);
                if delta.len() <= body.len() / 8 {
                    return Stored::Delta {
                        base: base.id.clone(),
                        delta,
                    };
                }
            }
        }
        Stored::NewBase
    }

    /// Remembers `body`, just stored in full by call `id`, as the base of its estimate.
    pub fn remember(
        &mut self,
        ruleset: &str,
        estimate: &str,
        id: &str,
        received_at: i64,
        body: &[u8],
    ) {
        if body.len() > MAX_BASE_BYTES / 4 {
            return;
        }
        let key = (ruleset.to_string(), estimate.to_string());
        if let Some(old) = self.entries.remove(&key) {
            self.bytes -= old.body.len();
        }
        while self.entries.len() >= MAX_BASES || self.bytes + body.len() > MAX_BASE_BYTES {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, b)| b.received_at)
                .map(|(k, _)| k.clone());
            let Some(oldest) = oldest else { break };
            if let Some(gone) = self.entries.remove(&oldest) {
                self.bytes -= gone.body.len();
            }
        }
        self.bytes += body.len();
        self.entries.insert(
            key,
            Base {
                id: id.to_string(),
                received_at,
                body: body.to_vec(),
            },
        );
    }

    /// Forgets every base (a batch that stored some was not written).
    pub fn forget(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(ports: usize, shift: u32, price: &str) -> Vec<u8> {
        let mut s = String::from(r#"{"estimateID":"EST-1","ports":["#);
        for i in 0..ports {
            let day = if i >= ports / 3 {
                i as u32 + shift
            } else {
                i as u32
            };
            s.push_str(&format!(
                r#"{{"seq":{i},"port":"PORT{i}","arrival":"2027-01-{:02}T10:00:00Z","bunkers":[{{"fuel":"LSF","price":{}}}]}},"#,
                1 + day % 28,
                if i == ports / 2 { price } else { "577.09" }
            ));
        }
        s.pop();
        s.push_str(r#"],"results":{"tce":12405.49}}"#);
        s.into_bytes()
    }

    #[track_caller]
    fn round_trip(base: &[u8], body: &[u8]) -> usize {
        let delta = diff(base, body);
        assert_eq!(apply(base, &delta).unwrap(), body);
        delta.len()
    }

    #[test]
    fn differences_give_back_the_exact_body() {
        let base = estimate(400, 0, "577.09");
        assert!(base.len() > 40_000);
        // identical, one value, a run of shifted dates, longer, shorter, unrelated, empty
        assert!(round_trip(&base, &base) <= 16);
        assert!(round_trip(&base, &estimate(400, 0, "581.25")) <= 32);
        let shifted = estimate(400, 1, "577.09");
        let n = round_trip(&base, &shifted);
        assert!(n < shifted.len() / 20, "{n} bytes for shifted dates");
        round_trip(&base, &estimate(420, 0, "577.09"));
        round_trip(&base, &estimate(380, 0, "577.09"));
        round_trip(&base, b"something else entirely");
        round_trip(&base, b"");
        round_trip(b"", &base);
        round_trip(b"abc", b"abcabc");
        round_trip(b"aaaa", b"aa");
        round_trip(b"aa", b"aaaa");
        assert_eq!(apply(&base, &whole(base.len())).unwrap(), base);
    }

    #[test]
    fn a_damaged_difference_is_an_error_not_a_panic() {
        let base = estimate(100, 0, "577.09");
        let body = estimate(100, 3, "600");
        let delta = diff(&base, &body);
        assert_eq!(delta[0], ZSTD, "the middle is long enough to compress");
        for cut in 0..delta.len() {
            // every prefix of a valid difference either fails or (by luck) decodes;
            // none may panic
            let _ = apply(&base, &delta[..cut]);
        }
        let mut flipped = delta.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0x55;
            let _ = apply(&base, &flipped);
            flipped[i] ^= 0x55;
        }
        assert!(apply(&base[1..], &delta).is_err(), "another base");
        assert!(apply(&base, &[]).is_err());
        assert!(apply(&base, &[9, 0, 0, 0, 0]).is_err(), "unknown kind");
        let mut huge = vec![RAW];
        for n in [base.len() as u64, u64::MAX, 1, 0] {
            put_varint(&mut huge, n);
        }
        assert!(apply(&base, &huge).is_err(), "lengths past the base");
    }

    #[test]
    fn bases_are_per_estimate_expire_and_are_replaced_when_differences_grow() {
        let mut bases = Bases::default();
        let body = estimate(200, 0, "577.09");
        assert!(matches!(
            bases.store("default", "EST-1", 0, &body),
            Stored::NewBase
        ));
        bases.remember("default", "EST-1", "call-1", 0, &body);
        let edit = estimate(200, 0, "581.25");
        match bases.store("default", "EST-1", 1_000, &edit) {
            Stored::Delta { base, delta } => {
                assert_eq!(base, "call-1");
                assert_eq!(apply(&body, &delta).unwrap(), edit);
            }
            Stored::NewBase => panic!("an edit of one value is a difference"),
        }
        // another rule set or estimate has its own base
        assert!(matches!(
            bases.store("tanker", "EST-1", 1_000, &edit),
            Stored::NewBase
        ));
        assert!(matches!(
            bases.store("default", "EST-2", 1_000, &edit),
            Stored::NewBase
        ));
        // too old
        assert!(matches!(
            bases.store("default", "EST-1", BASE_MAX_AGE_US + 1, &edit),
            Stored::NewBase
        ));
        // too different: as long, but noise
        let mut seed = 7u64;
        let noise: Vec<u8> = (0..body.len())
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 56) as u8
            })
            .collect();
        assert!(matches!(
            bases.store("default", "EST-1", 1_000, &noise),
            Stored::NewBase
        ));
        bases.forget();
        assert!(bases.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let mut bases = Bases::default();
        let body = vec![b'x'; 8192];
        for i in 0..(MAX_BASES as i64 + 10) {
            bases.remember(
                "default",
                &format!("EST-{i}"),
                &format!("call-{i}"),
                i,
                &body,
            );
        }
        assert_eq!(bases.len(), MAX_BASES);
        // the oldest went first
        assert!(matches!(
            bases.store("default", "EST-0", 0, &body),
            Stored::NewBase
        ));
        assert!(matches!(
            bases.store("default", &format!("EST-{}", MAX_BASES + 9), 0, &body),
            Stored::Delta { .. }
        ));
        let big = vec![b'y'; MAX_BASE_BYTES / 5];
        for i in 0..10 {
            bases.remember("default", &format!("BIG-{i}"), "call", 1_000 + i, &big);
        }
        assert!(bases.bytes <= MAX_BASE_BYTES);
    }
}

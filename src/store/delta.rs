//! Request bodies stored as a difference from an earlier body of the same estimate.
//!
//! The Voyage Estimator POSTs the whole estimate on every edit, so the calls of one
//! estimate differ by a few values (or by a run of dates that an edit shifted). The
//! recorder keeps, per rule set and estimate, the body it last stored in full (a
//! *base*, in the `bodies` table); later calls of that estimate store only how they
//! differ from it: the bytes they share with the base as copies of its runs, and what changed as
//! literals ([`diff`]). An identical re-send is a dozen bytes, an edit of one value
//! about thirty, an edit that shifts the dates of 40 port calls and changes the results
//! about a kilobyte. Computing it costs one pass over the body plus a short search per
//! changed value (tens of µs for 100 KB), against about 60 µs to LZ4 the whole body and
//! writing 24 KB.
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
/// The id below which no kept call can name a base, given the oldest kept call's
/// arrival (`None`: no call kept): a base is named only by calls received within
/// [`BASE_MAX_AGE_US`] of it, so the bases older than the oldest call, less
/// [`BASE_GRACE_US`], are garbage. Both backends' retention deletes them.
pub fn unused_before(oldest_call: Option<i64>, now: i64) -> String {
    crate::ids::id_floor(oldest_call.unwrap_or(now).min(now) - BASE_GRACE_US)
}

/// Bodies shorter than this are stored on their own: a difference saves little.
pub const DELTA_FROM: usize = 4096;
/// Estimates whose base is kept in memory, at most, and their bytes.
const MAX_BASES: usize = 256;
const MAX_BASE_BYTES: usize = 64 << 20;
/// A largest body a difference may decode to (a body is at most `max_request_bytes`).
const MAX_BODY: usize = 64 << 20;
/// Shortest run copied from the base; shorter agreements are left in the literals.
const MIN_COPY: usize = 8;
/// After a difference, how far ahead in the body a resynchronisation is looked for...
const RESYNC_AHEAD: usize = 32;
/// ...and how far on either side of the base's position.
const RESYNC_WINDOW: usize = 64;

/// The one format: literals and copies from the base (see [`diff`]).
const OPS: u8 = 1;

/// The difference of `body` from `base`: `OPS`, the base's length, the body's length,
/// then pairs of (literal bytes, a copy of a run of the base), each as
/// `varint literal length, literals, zigzag varint offset of the copy from the end of
/// the previous copy, varint copy length`.
///
/// The encoder walks both along their common runs, as the bodies of one estimate are
/// the same document with some values changed: where they part, it looks a little
/// ahead in the body for 8 bytes that appear near the same place in the base (a value
/// of the same length is a few bytes on the same diagonal, a longer or shorter one
/// a few bytes off it), keeps the skipped bytes as literals and copies on from there.
/// It costs one pass over the body (about 5 µs for 100 KB of memcmp) plus a few
/// short searches per changed value. Bodies that do not line up come out large, and
/// [`Bases::store`] stores those whole instead.
pub fn diff(base: &[u8], body: &[u8]) -> Vec<u8> {
    diff_within(base, body, usize::MAX).expect("no limit")
}

/// [`diff`], or `None` as soon as the difference would be longer than `limit` bytes:
/// a body that does not line up with its base costs at most this much work.
pub fn diff_within(base: &[u8], body: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64 + body.len() / 64);
    out.push(OPS);
    put_varint(&mut out, base.len() as u64);
    put_varint(&mut out, body.len() as u64);
    let (mut i, mut j) = (0usize, 0usize); // base, body
    let mut literals = 0usize; // where the current literals start in the body
    let mut copied_to = 0usize; // end of the previous copy in the base
    while j < body.len() {
        if out.len() + (j - literals) > limit {
            return None;
        }
        let run = common_run(&base[i.min(base.len())..], &body[j..]);
        if run >= MIN_COPY {
            put_varint(&mut out, (j - literals) as u64);
            out.extend_from_slice(&body[literals..j]);
            put_varint(&mut out, zigzag(i as i64 - copied_to as i64));
            put_varint(&mut out, run as u64);
            i += run;
            j += run;
            literals = j;
            copied_to = i;
            continue;
        }
        match resync(base, body, i, j) {
            Some((bi, bj)) => {
                i = bi;
                j = bj;
            }
            None => {
                // Nothing nearby: these bytes are new; stay on the diagonal.
                let step = RESYNC_AHEAD.min(body.len() - j);
                i += step;
                j += step;
            }
        }
    }
    put_varint(&mut out, (body.len() - literals) as u64);
    out.extend_from_slice(&body[literals..]);
    (out.len() <= limit).then_some(out)
}

/// Where base and body agree again for [`MIN_COPY`] bytes after parting at `(i, j)`:
/// the nearest point ahead in the body, on the same diagonal or near it in the base.
fn resync(base: &[u8], body: &[u8], i: usize, j: usize) -> Option<(usize, usize)> {
    if j + MIN_COPY > body.len() {
        return None;
    }
    let ahead = RESYNC_AHEAD.min(body.len() - j - MIN_COPY + 1);
    for k in 0..ahead {
        let needle = &body[j + k..j + k + MIN_COPY];
        // The same diagonal: a value replaced by one of the same length.
        if base.get(i + k..i + k + MIN_COPY) == Some(needle) && k > 0 {
            return Some((i + k, j + k));
        }
        // Near it: a value replaced by a longer or shorter one. Looked for only every
        // eighth step, which still finds any realignment within the window.
        if k % MIN_COPY == 0 {
            let from = (i + k).saturating_sub(RESYNC_WINDOW).min(base.len());
            let to = (i + k + RESYNC_WINDOW + MIN_COPY).min(base.len());
            if let Some(at) = base[from..to].windows(MIN_COPY).position(|w| w == needle) {
                if from + at != i || k > 0 {
                    return Some((from + at, j + k));
                }
            }
        }
    }
    None
}

/// The length of the common start of two slices.
fn common_run(a: &[u8], b: &[u8]) -> usize {
    const STEP: usize = 32;
    let n = a.len().min(b.len());
    let mut run = 0;
    while run + STEP <= n && a[run..run + STEP] == b[run..run + STEP] {
        run += STEP;
    }
    while run < n && a[run] == b[run] {
        run += 1;
    }
    run
}

/// The difference that says "the base, whole": what the call that stores a base keeps.
pub fn whole(base_len: usize) -> Vec<u8> {
    let mut out = vec![OPS];
    for n in [
        base_len as u64,
        base_len as u64,
        0,
        zigzag(0),
        base_len as u64,
        0,
    ] {
        put_varint(&mut out, n);
    }
    out
}

/// The body that `delta` was made from, given its base.
pub fn apply(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, StoreError> {
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("a stored difference does not apply: {what}"));
    let cut = || corrupt("it is cut short");
    let (&kind, mut rest) = delta.split_first().ok_or_else(|| corrupt("it is empty"))?;
    if kind != OPS {
        return Err(corrupt(&format!("unknown kind {kind}")));
    }
    let next = |rest: &mut &[u8]| -> Result<u64, StoreError> {
        let (n, after) = take_varint(rest).ok_or_else(cut)?;
        *rest = after;
        Ok(n)
    };
    let base_len = next(&mut rest)?;
    let body_len = next(&mut rest)?;
    if base_len != base.len() as u64 {
        return Err(corrupt(&format!(
            "it was made from a base of {base_len} bytes, the stored base has {}",
            base.len()
        )));
    }
    if body_len > MAX_BODY as u64 {
        return Err(corrupt("it claims a body larger than any body can be"));
    }
    let body_len = body_len as usize;
    let mut body = Vec::with_capacity(body_len);
    let mut copied_to = 0i64;
    loop {
        let literals = next(&mut rest)?;
        if literals > (body_len - body.len()) as u64 || literals > rest.len() as u64 {
            return Err(corrupt("its literals run past the body"));
        }
        let (bytes, after) = rest.split_at(literals as usize);
        body.extend_from_slice(bytes);
        rest = after;
        if rest.is_empty() {
            break;
        }
        let offset = unzigzag(next(&mut rest)?);
        let len = next(&mut rest)?;
        let start = copied_to
            .checked_add(offset)
            .filter(|s| (0..=base.len() as i64).contains(s))
            .ok_or_else(|| corrupt("a copy starts outside its base"))? as usize;
        if len > (base.len() - start) as u64 || len > (body_len - body.len()) as u64 {
            return Err(corrupt("a copy runs past its base or the body"));
        }
        body.extend_from_slice(&base[start..start + len as usize]);
        copied_to = (start + len as usize) as i64;
    }
    if body.len() != body_len {
        return Err(corrupt(&format!(
            "it gives {} bytes where it claims {body_len}",
            body.len()
        )));
    }
    Ok(body)
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
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
                if let Some(delta) = diff_within(&base.body, body, body.len() / 8) {
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
    fn random_edits_round_trip() {
        let mut seed = 11u64;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n.max(1)
        };
        let base = estimate(300, 0, "577.09");
        for round in 0..300 {
            let mut body = base.clone();
            for _ in 0..=next(40) {
                let at = next(body.len());
                match next(4) {
                    0 => body[at] = b"0123456789"[next(10)],
                    1 => {
                        let n = next(12);
                        body.splice(at..at, (0..n).map(|_| b'a' + next(26) as u8));
                    }
                    2 => {
                        let end = (at + next(12)).min(body.len());
                        body.drain(at..end);
                    }
                    _ => {
                        // a run of the body repeated elsewhere, or moved
                        let from = next(body.len());
                        let end = (from + next(300)).min(body.len());
                        let run = body[from..end].to_vec();
                        body.splice(at..at, run);
                    }
                }
            }
            if round % 50 == 0 {
                body.truncate(next(body.len()));
            }
            let delta = diff(&base, &body);
            assert_eq!(apply(&base, &delta).unwrap(), body, "round {round}");
        }
    }

    #[test]
    fn a_damaged_difference_is_an_error_not_a_panic() {
        let base = estimate(100, 0, "577.09");
        let body = estimate(100, 3, "600");
        let delta = diff(&base, &body);
        assert!(delta.len() > 40, "more than one change");
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
        let forged = |fields: &[u64]| {
            let mut out = vec![OPS];
            for &n in fields {
                put_varint(&mut out, n);
            }
            apply(&base, &out)
        };
        let n = base.len() as u64;
        assert_eq!(forged(&[n, n, 0, 0, n, 0]).unwrap(), base, "the whole base");
        assert!(forged(&[n, u64::MAX, 0]).is_err(), "a huge body");
        assert!(
            forged(&[n, n, 0, 0, n + 1, 0]).is_err(),
            "a copy past the base"
        );
        assert!(
            forged(&[n, n, 0, zigzag(-1), 4, 0]).is_err(),
            "a copy before the base"
        );
        assert!(
            forged(&[n, n, 0, zigzag(1 << 62), 4, 0]).is_err(),
            "a copy far past it"
        );
        assert!(forged(&[n, 4, 5]).is_err(), "literals past the body");
        assert!(
            forged(&[n, n + 4, 0, 0, n, 0]).is_err(),
            "a body shorter than claimed"
        );
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
        assert_eq!(diff_within(&body, &noise, body.len() / 8), None);
        assert!(diff_within(&body, &edit, body.len() / 8).is_some());
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

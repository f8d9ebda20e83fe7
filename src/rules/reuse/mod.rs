//! Reusing a rule's last run on an estimate when nothing it read has changed.
//!
//! The Estimator re-sends the whole estimate on every edit, and most edits touch one
//! field. While a rule runs, every read it makes of its call's input is written down
//! ([`Reads`]): each field, element and length of `estimate` and `request` it looked at
//! and what it found there, and each port-event lookup with its answer. On the next call
//! for the same estimate (the rule set's `identity`), under the same rule set version,
//! the rule's last run (alerts, prints, operations, errors) is reused when every one of
//! those reads finds the same in the new call; otherwise the rule runs again and its
//! reads replace the old ones.
//!
//! Exactness rests on one invariant: **a rule sees its input only through reads that are
//! written down.** [`Json`](crate::rules::json::Json) has no way to reach a node's
//! contents that does not record it: its field, element, length and loop accessors record
//! what they return, and everything else (`Json::value`, which helpers, `to_json`,
//! `contains`, `keys` and printing a handle go through) records the whole node, compared
//! in full. `data` belongs to the rule set's version (a new version starts an empty
//! cache). Rules have no clock but `request.received_at` (a read like any other); Rhai's
//! `timestamp()` marks the run as not reusable. A run stopped by its deadline, memory
//! ceiling or operation limit, or whose port events could not be read, is not kept.
//!
//! The cache is per rule set version, bounded in bytes (least recently used estimate
//! out first), and counted in `/metrics`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hashlink::LruCache;
use sonic_rs::{JsonContainerTrait, JsonNumberTrait, JsonValueTrait, ValueRef};

use crate::events::Event;
use crate::rules::eval::RuleRun;
use crate::rules::facts::{Facts, Lookup};
use crate::rules::json::Doc;

/// Which read made a [`Json`](crate::rules::json::Json) handle, so that reads through
/// it name their parent; [`UNTRACKED`] for handles whose reads need no record (`data`,
/// port events, or a node inside one already recorded whole).
pub type ReadId = u32;
pub const UNTRACKED: ReadId = u32::MAX;
/// The handles rules get as `estimate` and `request`.
pub const ESTIMATE: ReadId = 0;
pub const REQUEST: ReadId = 1;

/// Text kept in a [`Reads`]' arena: field names and string values.
#[derive(Clone, Copy)]
struct Span {
    at: u32,
    len: u32,
}

/// How a read went from its parent node.
#[derive(Clone, Copy)]
enum Step {
    /// `estimate` or `request` itself.
    Root,
    Key(Span),
    /// An element, as the rule indexed it (negative counts from the end).
    Index(i64),
    /// The parent's length.
    Len,
    /// The whole parent node, compared in full.
    Whole(u32),
}

/// What a read found, as the rule saw it.
#[derive(Clone, Copy)]
enum Seen {
    Absent,
    Null,
    Bool(bool),
    Int(i64),
    /// An `f64`'s bits (a number that is not an `i64`, as rules get it).
    Float(u64),
    Str(Span),
    Array,
    Object,
    Len(u64),
    /// For [`Step::Whole`], which carries what it compares.
    Whole,
}

#[derive(Clone, Copy)]
struct Read {
    parent: ReadId,
    step: Step,
    seen: Seen,
}

/// What one rule run read of its call's input, in the order it read it (every read's
/// parent comes before it), each read once.
#[derive(Default)]
pub struct Reads {
    reads: Vec<Read>,
    text: String,
    wholes: Vec<Doc>,
    facts: Vec<(Lookup, Arc<Vec<Event>>)>,
    /// Why the run cannot be reused, when it read something that is not written down.
    untracked: Option<&'static str>,
}

/// A recording in progress: the reads, and the node each found (for [`compact`]).
struct Recording {
    reads: Reads,
    nodes: Vec<usize>,
}

thread_local! {
    static RECORDING: RefCell<Option<Recording>> = const { RefCell::new(None) };
    /// The buffers of this thread's last recording, kept for the next: a run's log is
    /// thousands of reads, and fresh buffers every run cost more than the recording.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[derive(Default)]
struct Scratch {
    reads: Vec<Read>,
    text: String,
    nodes: Vec<usize>,
    canonical: Vec<ReadId>,
    kept: hashbrown::HashMap<u128, ReadId>,
}

/// Buffers past this many reads are given back rather than kept for the next run.
const SCRATCH_KEPT: usize = 1 << 16;

/// Runs `f` (a rule run on this thread) writing down what it reads of `estimate` and
/// `request`. Nested recordings are not supported; one left by a panic is replaced.
pub fn record<T>(estimate: &Doc, request: &Doc, f: impl FnOnce() -> T) -> (T, Reads) {
    /// Ends the recording also when `f` unwinds.
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            RECORDING.with_borrow_mut(|r| *r = None);
        }
    }
    let mut scratch = SCRATCH.take();
    scratch.reads.clear();
    scratch.text.clear();
    scratch.nodes.clear();
    let mut recording = Recording {
        reads: Reads {
            reads: std::mem::take(&mut scratch.reads),
            text: std::mem::take(&mut scratch.text),
            ..Reads::default()
        },
        nodes: std::mem::take(&mut scratch.nodes),
    };
    for root in [estimate, request] {
        recording.push(UNTRACKED, Step::Root, Some(root));
    }
    RECORDING.with_borrow_mut(|r| *r = Some(recording));
    let end = End;
    let out = f();
    let recording = RECORDING.with_borrow_mut(Option::take);
    drop(end);
    let reads = match recording {
        Some(mut recording) => {
            let reads = compact(&mut recording, &mut scratch);
            if recording.nodes.capacity() <= SCRATCH_KEPT {
                scratch.reads = recording.reads.reads;
                scratch.text = recording.reads.text;
                scratch.nodes = recording.nodes;
            } else {
                scratch = Scratch::default();
            }
            SCRATCH.set(scratch);
            reads
        }
        None => Reads {
            untracked: Some("the recording was lost"),
            ..Reads::default()
        },
    };
    (out, reads)
}

impl Recording {
    fn push(&mut self, parent: ReadId, step: Step, found: Option<&Doc>) -> ReadId {
        let seen = self.reads.seen(found);
        self.push_seen(parent, step, seen, found)
    }

    fn push_seen(&mut self, parent: ReadId, step: Step, seen: Seen, found: Option<&Doc>) -> ReadId {
        self.nodes
            .push(found.map_or(0, |n| n as *const Doc as usize));
        self.reads.reads.push(Read { parent, step, seen });
        (self.reads.reads.len() - 1) as ReadId
    }
}

/// Runs `f` on the recording of this thread's run when `parent` is one of its tracked
/// handles; otherwise [`UNTRACKED`].
fn note(parent: ReadId, f: impl FnOnce(&mut Recording) -> ReadId) -> ReadId {
    if parent == UNTRACKED {
        return UNTRACKED;
    }
    RECORDING.with_borrow_mut(|r| match r {
        Some(r) if (parent as usize) < r.reads.reads.len() => f(r),
        _ => UNTRACKED,
    })
}

/// `parent.name` found `found`; the id for a handle on it.
pub(crate) fn field(parent: ReadId, name: &str, found: Option<&Doc>) -> ReadId {
    note(parent, |r| {
        let step = Step::Key(r.reads.keep(name));
        r.push(parent, step, found)
    })
}

/// `parent[index]` found `found`; the id for a handle on it.
pub(crate) fn element(parent: ReadId, index: i64, found: Option<&Doc>) -> ReadId {
    note(parent, |r| r.push(parent, Step::Index(index), found))
}

/// The rule learnt the length of `node`, `parent`'s own node.
pub(crate) fn length(parent: ReadId, node: &Doc) {
    note(parent, |r| {
        r.push_seen(parent, Step::Len, Seen::Len(container_len(node)), None)
    });
}

/// The rule may have seen all of `node`, `parent`'s own node.
pub(crate) fn whole(parent: ReadId, node: &Doc) {
    note(parent, |r| {
        r.reads.wholes.push(node.clone());
        let at = (r.reads.wholes.len() - 1) as u32;
        r.push_seen(parent, Step::Whole(at), Seen::Whole, None)
    });
}

/// A port-event lookup and what it found.
pub(crate) fn facts(lookup: &Lookup, found: &Arc<Vec<Event>>) {
    RECORDING.with_borrow_mut(|r| {
        if let Some(r) = r {
            r.reads.facts.push((lookup.clone(), found.clone()));
        }
    });
}

/// The run read something that is not written down: it is not reused.
pub(crate) fn untracked(why: &'static str) {
    RECORDING.with_borrow_mut(|r| {
        if let Some(r) = r {
            r.reads.untracked.get_or_insert(why);
        }
    });
}

/// Keeps each read once: within one document a node is one place, so a read is the
/// same as an earlier one when it has the same (deduplicated) parent, the same kind of
/// step and finds the same node. Rules read the same field in every loop turn; what is
/// kept is what the next call checks.
fn compact(recording: &mut Recording, scratch: &mut Scratch) -> Reads {
    let Recording { reads: old, nodes } = recording;
    let Reads {
        reads: old_reads,
        text: old_text,
        wholes,
        facts,
        untracked,
    } = old;
    let mut facts = std::mem::take(facts);
    let text_of = |span: Span| &old_text[span.at as usize..(span.at + span.len) as usize];
    facts.sort_by(|a, b| a.0.cmp(&b.0));
    facts.dedup_by(|a, b| a.0 == b.0);
    let mut out = Reads {
        reads: Vec::new(),
        text: String::new(),
        wholes: Vec::new(),
        facts,
        untracked: *untracked,
    };
    let canonical = &mut scratch.canonical;
    canonical.clear();
    // By (parent, kind of step, node found or index); fields not found by name.
    let kept = &mut scratch.kept;
    kept.clear();
    kept.reserve(old_reads.len());
    let mut kept_absent: hashbrown::HashMap<(ReadId, &str), ReadId> = hashbrown::HashMap::new();
    for (i, read) in old_reads.iter().enumerate() {
        let parent = match read.parent {
            UNTRACKED => UNTRACKED,
            p => canonical[p as usize],
        };
        let node = nodes[i] as u64;
        let packed = |tag: u128, arg: u64| (parent as u128) << 72 | tag << 64 | arg as u128;
        let key = match read.step {
            Step::Root => packed(0, i as u64),
            Step::Key(_) if node != 0 => packed(1, node),
            Step::Key(name) => {
                let next = out.reads.len() as ReadId;
                let id = *kept_absent.entry((parent, text_of(name))).or_insert(next);
                if id != next {
                    canonical.push(id);
                    continue;
                }
                packed(5, next as u64)
            }
            Step::Index(at) => packed(2, at as u64),
            Step::Len => packed(3, 0),
            Step::Whole(_) => packed(4, 0),
        };
        let id = *kept.entry(key).or_insert_with(|| {
            let step = match read.step {
                Step::Key(name) => Step::Key(out.keep(text_of(name))),
                Step::Whole(at) => {
                    out.wholes.push(std::mem::take(&mut wholes[at as usize]));
                    Step::Whole((out.wholes.len() - 1) as u32)
                }
                other => other,
            };
            let seen = match read.seen {
                Seen::Str(s) => Seen::Str(out.keep(text_of(s))),
                other => other,
            };
            out.reads.push(Read { parent, step, seen });
            (out.reads.len() - 1) as ReadId
        });
        canonical.push(id);
    }
    out
}

impl Reads {
    fn keep(&mut self, text: &str) -> Span {
        let at = self.text.len() as u32;
        self.text.push_str(text);
        Span {
            at,
            len: text.len() as u32,
        }
    }

    fn str(&self, span: Span) -> &str {
        &self.text[span.at as usize..(span.at + span.len) as usize]
    }

    fn seen(&mut self, found: Option<&Doc>) -> Seen {
        let Some(node) = found else {
            return Seen::Absent;
        };
        match node.as_ref() {
            ValueRef::Null => Seen::Null,
            ValueRef::Bool(b) => Seen::Bool(b),
            ValueRef::Number(n) => match n.as_i64() {
                Some(i) => Seen::Int(i),
                None => Seen::Float(n.as_f64().unwrap_or(f64::NAN).to_bits()),
            },
            ValueRef::String(s) => Seen::Str(self.keep(s)),
            ValueRef::Array(_) => Seen::Array,
            ValueRef::Object(_) => Seen::Object,
        }
    }

    /// Whether `node` is what `seen` says was found.
    fn finds(&self, seen: Seen, found: Option<&Doc>) -> bool {
        match (seen, found.map(|n| n.as_ref())) {
            (Seen::Absent, None) => true,
            (Seen::Null, Some(ValueRef::Null)) => true,
            (Seen::Bool(b), Some(ValueRef::Bool(x))) => b == x,
            (Seen::Int(i), Some(ValueRef::Number(n))) => n.as_i64() == Some(i),
            (Seen::Float(bits), Some(ValueRef::Number(n))) => {
                n.as_i64().is_none() && n.as_f64().unwrap_or(f64::NAN).to_bits() == bits
            }
            (Seen::Str(s), Some(ValueRef::String(x))) => self.str(s) == x,
            (Seen::Array, Some(ValueRef::Array(_))) => true,
            (Seen::Object, Some(ValueRef::Object(_))) => true,
            _ => false,
        }
    }

    /// Whether every read finds the same in a new call's input.
    pub fn still_hold(&self, estimate: &Doc, request: &Doc, facts: &Facts) -> bool {
        if self.untracked.is_some() {
            return false;
        }
        let mut nodes: Vec<Option<&Doc>> = Vec::with_capacity(self.reads.len());
        for read in &self.reads {
            let parent = nodes.get(read.parent as usize).copied().flatten();
            let found = match read.step {
                Step::Root => Some(if nodes.is_empty() { estimate } else { request }),
                Step::Key(name) => parent
                    .and_then(|p| p.as_object())
                    .and_then(|m| m.get(&self.str(name))),
                Step::Index(at) => parent.and_then(|p| p.as_array()).and_then(|items| {
                    let len = items.len() as i64;
                    let at = if at < 0 { len + at } else { at };
                    usize::try_from(at).ok().and_then(|at| items.get(at))
                }),
                Step::Len => {
                    let Seen::Len(len) = read.seen else {
                        return false;
                    };
                    if parent.map(container_len) != Some(len) {
                        return false;
                    }
                    nodes.push(None);
                    continue;
                }
                Step::Whole(at) => {
                    if !parent.is_some_and(|p| same(p, &self.wholes[at as usize])) {
                        return false;
                    }
                    nodes.push(None);
                    continue;
                }
            };
            if !self.finds(read.seen, found) {
                return false;
            }
            nodes.push(found.filter(|n| n.is_array() || n.is_object()));
        }
        self.facts.iter().all(|(lookup, before)| {
            facts
                .events_for(lookup)
                .is_ok_and(|now| now.as_slice() == before.as_slice())
        })
    }

    /// Why this run cannot be reused, if it cannot.
    pub fn untracked(&self) -> Option<&'static str> {
        self.untracked
    }

    /// How many reads are kept.
    pub fn len(&self) -> usize {
        self.reads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }

    /// Bytes held, roughly: what `/metrics` counts and the bound applies to.
    fn bytes(&self) -> usize {
        self.reads.capacity() * std::mem::size_of::<Read>()
            + self.text.capacity()
            + self.wholes.iter().map(doc_bytes).sum::<usize>()
            + self.facts.len() * 64
            + self
                .facts
                .iter()
                .map(|(_, e)| e.iter().map(|e| e.payload.len() + 256).sum::<usize>())
                .sum::<usize>()
    }
}

fn container_len(node: &Doc) -> u64 {
    match node.as_ref() {
        ValueRef::Array(items) => items.len() as u64,
        ValueRef::Object(map) => map.len() as u64,
        _ => 0,
    }
}

/// Exact equality as a rule can tell: member order, and a number's kind (`1` against
/// `1.0`) count.
fn same(a: &Doc, b: &Doc) -> bool {
    match (a.as_ref(), b.as_ref()) {
        (ValueRef::Null, ValueRef::Null) => true,
        (ValueRef::Bool(x), ValueRef::Bool(y)) => x == y,
        (ValueRef::Number(x), ValueRef::Number(y)) => {
            x.is_f64() == y.is_f64()
                && x.as_i64() == y.as_i64()
                && x.as_u64() == y.as_u64()
                && x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits)
        }
        (ValueRef::String(x), ValueRef::String(y)) => x == y,
        (ValueRef::Array(x), ValueRef::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same(a, b))
        }
        (ValueRef::Object(x), ValueRef::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => false,
    }
}

/// A document's size in memory, roughly.
fn doc_bytes(doc: &Doc) -> usize {
    std::mem::size_of::<Doc>()
        + match doc.as_ref() {
            ValueRef::String(s) => s.len(),
            ValueRef::Array(items) => items.iter().map(doc_bytes).sum(),
            ValueRef::Object(map) => map
                .iter()
                .map(|(k, v)| k.len() + std::mem::size_of::<Doc>() + doc_bytes(v))
                .sum(),
            _ => 0,
        }
}

/// A rule's last run on an estimate and what it read.
pub struct Entry {
    pub reads: Reads,
    pub run: RuleRun,
    bytes: usize,
}

impl Entry {
    pub fn new(reads: Reads, run: RuleRun) -> Entry {
        let bytes = std::mem::size_of::<Entry>()
            + reads.bytes()
            + run.output.capacity()
            + run
                .alerts
                .iter()
                .map(|a| 512 + a.message.len())
                .sum::<usize>()
            + run.notes.iter().map(|n| n.len() + 24).sum::<usize>();
        Entry { reads, run, bytes }
    }
}

/// Counters for `/metrics`, over every rule set.
#[derive(Default)]
pub struct Stats {
    /// Rule runs reused (inputs unchanged).
    pub reused: AtomicU64,
    /// Rule runs made again because something they read had changed.
    pub changed: AtomicU64,
    /// Rule runs with no earlier run on the estimate to reuse.
    pub first: AtomicU64,
    /// Estimates evicted to stay within the bound.
    pub evicted: AtomicU64,
    /// Bytes the caches hold now.
    pub bytes: AtomicI64,
    /// Estimates the caches hold now.
    pub estimates: AtomicI64,
}

pub static STATS: Stats = Stats {
    reused: AtomicU64::new(0),
    changed: AtomicU64::new(0),
    first: AtomicU64::new(0),
    evicted: AtomicU64::new(0),
    bytes: AtomicI64::new(0),
    estimates: AtomicI64::new(0),
};

/// One rule set version's cache: for each estimate, each rule's last run.
pub struct Cache {
    budget: usize,
    state: Mutex<State>,
    /// What this cache has added to [`STATS`]`.bytes`, so that dropping it takes back
    /// exactly that (and a test can hold the two to the cache's own count).
    counted: AtomicI64,
}

struct State {
    /// By estimate identity, least recently used first; one slot per rule.
    estimates: LruCache<Arc<str>, Slots>,
    bytes: usize,
}

struct Slots {
    runs: Vec<Option<Arc<Entry>>>,
    bytes: usize,
}

impl Cache {
    /// A cache holding at most `budget` bytes; 0 turns reuse off.
    pub fn new(budget: usize) -> Cache {
        Cache {
            budget,
            state: Mutex::new(State {
                estimates: LruCache::new_unbounded(),
                bytes: 0,
            }),
            counted: AtomicI64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// The last run of rule `rule` (its index) on `estimate`, if one is kept.
    pub fn earlier(&self, estimate: &str, rule: usize) -> Option<Arc<Entry>> {
        let mut state = self.state.lock().expect("reuse cache");
        state
            .estimates
            .get(estimate)
            .and_then(|slots| slots.runs.get(rule).cloned().flatten())
    }

    /// Keeps `entry` as rule `rule`'s last run on `estimate` (of `rules` rules), then
    /// drops least recently used estimates until the cache is within its bound.
    /// Counts `delta` bytes held in `/metrics`.
    fn count(&self, delta: i64) {
        STATS.bytes.fetch_add(delta, Ordering::Relaxed);
        self.counted.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn keep(&self, estimate: &str, rule: usize, rules: usize, entry: Entry) {
        if entry.bytes > self.budget {
            return;
        }
        let added = entry.bytes;
        let mut state = self.state.lock().expect("reuse cache");
        let State { estimates, bytes } = &mut *state;
        let slots = match estimates.get_mut(estimate) {
            Some(slots) => slots,
            None => {
                STATS.estimates.fetch_add(1, Ordering::Relaxed);
                let overhead = estimate.len() + 64 + rules * 8;
                estimates.insert(
                    Arc::from(estimate),
                    Slots {
                        runs: vec![None; rules],
                        bytes: overhead,
                    },
                );
                *bytes += overhead;
                self.count(overhead as i64);
                estimates.get_mut(estimate).expect("just inserted")
            }
        };
        let Some(slot) = slots.runs.get_mut(rule) else {
            return;
        };
        let freed = slot.replace(Arc::new(entry)).map_or(0, |e| e.bytes);
        slots.bytes = slots.bytes + added - freed;
        *bytes = *bytes + added - freed;
        self.count(added as i64 - freed as i64);
        while *bytes > self.budget {
            let Some((_, slots)) = estimates.remove_lru() else {
                break;
            };
            *bytes -= slots.bytes;
            self.count(-(slots.bytes as i64));
            STATS.estimates.fetch_sub(1, Ordering::Relaxed);
            STATS.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.state.lock().expect("reuse cache").bytes
    }

    /// Bytes this cache counts in `/metrics` now.
    pub fn counted(&self) -> i64 {
        self.counted.load(Ordering::Relaxed)
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let state = self.state.get_mut().expect("reuse cache");
        STATS
            .bytes
            .fetch_sub(self.counted.load(Ordering::Relaxed), Ordering::Relaxed);
        STATS
            .estimates
            .fetch_sub(state.estimates.len() as i64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;

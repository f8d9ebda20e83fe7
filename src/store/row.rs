//! The call's record as a backend stores it ([`Row`]): bodies compressed ([`Packer`],
//! [`Blob`]), request bodies as differences from a base of the same estimate
//! (`store::delta`), the trace as JSON. [`Row::encode`] and [`Row::decode`] are the
//! only way between a [`Call`] and a row, so both backends keep the same records.

use super::{activity, delta, Call, Compression, StoreError, Summary};

/// The stored form of a call (what a backend reads and writes).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub received_at: i64,
    pub instance: String,
    pub ruleset: String,
    pub rules_version: Option<String>,
    pub peer: String,
    pub status: i32,
    pub signature: String,
    pub duration_us: i64,
    pub estimate_id: Option<String>,
    pub alerts: i32,
    pub omitted: i32,
    pub rule_errors: i32,
    pub rule_timeouts: i32,
    pub problem: bool,
    pub error: Option<String>,
    /// JSON: `[[name, value], ...]`.
    pub request_headers: String,
    /// JSON: `["header:x", "body:/p", ...]`.
    pub redacted: String,
    pub request_size: i64,
    pub request_truncated: bool,
    /// The request body; an [`Encoding::Delta`] from the base `request_base` when set.
    pub request_body: Blob,
    /// The id in `bodies` of the base the request body is a difference from.
    pub request_base: Option<String>,
    /// That base as stored, when this row carries it: a row that stores a new base
    /// (written with it), or a row read back with its base.
    pub base_body: Option<Blob>,
    pub response_body: Blob,
    /// JSON of `Vec<RuleTrace>`, compressed like the bodies.
    pub trace: Blob,
    /// Bytes this row takes in the store, roughly (retention by size).
    pub stored_bytes: i64,
    /// Each rule's run, for the hourly activity the write adds it to; only on rows
    /// being written (empty on rows read back: the trace has it all).
    pub runs: Vec<activity::Run>,
}

/// Bytes as stored, with how to get the original back.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub encoding: Encoding,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Zstd,
    /// An LZ4 block with the decoded length before it (4 bytes, little-endian).
    Lz4,
    /// A difference from a base body ([`delta`]); only for request bodies.
    Delta,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Zstd => "zstd",
            Encoding::Lz4 => "lz4",
            Encoding::Delta => "delta",
        }
    }

    pub fn parse(text: &str) -> Result<Encoding, StoreError> {
        match text {
            "identity" => Ok(Encoding::Identity),
            "zstd" => Ok(Encoding::Zstd),
            "lz4" => Ok(Encoding::Lz4),
            "delta" => Ok(Encoding::Delta),
            other => Err(StoreError::Corrupt(format!(
                "unknown body encoding `{other}`; this record was written by a newer lookout"
            ))),
        }
    }
}

/// Bodies smaller than this are stored as they are: compressing them saves little.
const COMPRESS_FROM: usize = 512;
/// Largest body a record may decompress to (a stored body is at most `max_request_bytes`).
const MAX_DECOMPRESSED: usize = 64 << 20;

/// Compresses bodies for storing; one per writer thread (it keeps zstd's context and,
/// for the recorder, the bases request bodies are stored against).
pub struct Packer {
    compression: Compression,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    bases: Option<delta::Bases>,
}

impl Packer {
    /// Every body stored on its own.
    pub fn new(compression: Compression) -> Packer {
        let zstd = (compression == Compression::Zstd)
            .then(|| zstd::bulk::Compressor::new(1).expect("zstd level 1"));
        Packer {
            compression,
            zstd,
            bases: None,
        }
    }

    /// Request bodies of 4 KB and more with an estimate id are stored as a difference
    /// from a base of the same rule set and estimate ([`delta`]), unless compression
    /// is off. The rows must be written in the order they were encoded.
    pub fn with_deltas(compression: Compression) -> Packer {
        Packer {
            bases: (compression != Compression::None).then(delta::Bases::default),
            ..Packer::new(compression)
        }
    }

    /// Forgets the bases: call it when rows it encoded were not written.
    pub fn forget_bases(&mut self) {
        if let Some(bases) = &mut self.bases {
            bases.forget();
        }
    }

    /// The request body as stored: `(body, base id, new base)`.
    fn request(&mut self, call: &Call) -> (Blob, Option<String>, Option<Blob>) {
        let body = &call.request_body;
        let estimate = call
            .estimate_id
            .as_deref()
            .filter(|_| !call.request_truncated && body.len() >= delta::DELTA_FROM);
        let Some(estimate) = estimate.filter(|_| self.bases.is_some()) else {
            return (Blob::encode(body, self), None, None);
        };
        let mut bases = self.bases.take().expect("checked");
        let stored = match bases.store(&call.ruleset, estimate, call.received_at, body) {
            delta::Stored::Delta { base, delta } => (
                Blob {
                    encoding: Encoding::Delta,
                    bytes: delta,
                },
                Some(base),
                None,
            ),
            delta::Stored::NewBase => {
                let full = Blob::encode(body, self);
                bases.remember(&call.ruleset, estimate, &call.id, call.received_at, body);
                (
                    Blob {
                        encoding: Encoding::Delta,
                        bytes: delta::whole(body.len()),
                    },
                    Some(call.id.clone()),
                    Some(full),
                )
            }
        };
        self.bases = Some(bases);
        stored
    }

    fn pack(&mut self, bytes: &[u8]) -> Option<(Encoding, Vec<u8>)> {
        match self.compression {
            Compression::None => None,
            Compression::Lz4 => {
                Some((Encoding::Lz4, lz4_flex::block::compress_prepend_size(bytes)))
            }
            Compression::Zstd => {
                let packed = self.zstd.as_mut()?.compress(bytes).ok()?;
                Some((Encoding::Zstd, packed))
            }
        }
    }
}

impl Default for Packer {
    fn default() -> Self {
        Packer::new(Compression::default())
    }
}

impl Blob {
    pub fn encode(bytes: &[u8], packer: &mut Packer) -> Blob {
        if bytes.len() >= COMPRESS_FROM {
            if let Some((encoding, packed)) = packer.pack(bytes) {
                if packed.len() < bytes.len() {
                    return Blob {
                        encoding,
                        bytes: packed,
                    };
                }
            }
        }
        Blob {
            encoding: Encoding::Identity,
            bytes: bytes.to_vec(),
        }
    }

    /// The exact bytes, with the decoded base when this is a difference; errors name
    /// the record `id`.
    pub fn decode_on(&self, base: Option<&[u8]>, id: &str) -> Result<Vec<u8>, StoreError> {
        match (self.encoding, base) {
            (Encoding::Delta, Some(base)) => delta::apply(base, &self.bytes),
            _ => self.decode(),
        }
        .map_err(|e| match e {
            StoreError::Corrupt(why) => StoreError::Corrupt(format!("record {id}: {why}")),
            other => other,
        })
    }

    /// The exact bytes that were encoded. A [`Encoding::Delta`] needs its base: see
    /// [`Blob::decode_on`].
    pub fn decode(&self) -> Result<Vec<u8>, StoreError> {
        let corrupt = |e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("a compressed body does not decode: {e}"))
        };
        match self.encoding {
            Encoding::Identity => Ok(self.bytes.clone()),
            Encoding::Delta => Err(corrupt(&"it is a difference stored without its base")),
            Encoding::Zstd => {
                zstd::bulk::decompress(&self.bytes, MAX_DECOMPRESSED).map_err(|e| corrupt(&e))
            }
            Encoding::Lz4 => {
                let (size, packed) =
                    lz4_flex::block::uncompressed_size(&self.bytes).map_err(|e| corrupt(&e))?;
                if size > MAX_DECOMPRESSED {
                    return Err(corrupt(&format!(
                        "it claims {size} bytes, more than the {MAX_DECOMPRESSED} a body can have"
                    )));
                }
                let plain = lz4_flex::block::decompress(packed, size).map_err(|e| corrupt(&e))?;
                if plain.len() != size {
                    return Err(corrupt(&format!(
                        "it gives {} bytes where it claims {size}",
                        plain.len()
                    )));
                }
                Ok(plain)
            }
        }
    }
}

impl Row {
    /// Encodes a call for storing.
    pub fn encode(call: &Call, packer: &mut Packer) -> Row {
        let trace = serde_json::to_vec(&call.rules).expect("traces serialize");
        let (request_body, request_base, base_body) = packer.request(call);
        let response_body = Blob::encode(&call.response_body, packer);
        let trace = Blob::encode(&trace, packer);
        let request_headers = serde_json::to_string(&call.request_headers).expect("strings");
        let redacted = serde_json::to_string(&call.redacted).expect("strings");
        let stored_bytes = (request_body.bytes.len()
            + base_body.as_ref().map_or(0, |b| b.bytes.len())
            + response_body.bytes.len()
            + trace.bytes.len()
            + request_headers.len()
            + 256) as i64;
        Row {
            id: call.id.clone(),
            received_at: call.received_at,
            instance: call.instance.clone(),
            ruleset: call.ruleset.clone(),
            rules_version: call.rules_version.clone(),
            peer: call.peer.clone(),
            status: i32::from(call.status),
            signature: call.signature.clone(),
            duration_us: call.duration_us,
            estimate_id: call.estimate_id.clone(),
            alerts: call.alerts as i32,
            omitted: call.omitted as i32,
            rule_errors: call.rule_errors as i32,
            rule_timeouts: call.rule_timeouts as i32,
            problem: call.status != 200 || call.rule_errors > 0 || call.rule_timeouts > 0,
            error: call.error.clone(),
            request_headers,
            redacted,
            request_size: call.request_size as i64,
            request_truncated: call.request_truncated,
            request_body,
            request_base,
            base_body,
            response_body,
            trace,
            stored_bytes,
            runs: call.rules.iter().map(activity::Run::of).collect(),
        }
    }

    /// The row as a backend gives it back: `runs` went into the activity, not the row.
    #[cfg(test)]
    pub fn as_stored(&self) -> Row {
        Row {
            runs: Vec::new(),
            ..self.clone()
        }
    }

    /// The request body as received (after redaction).
    pub fn request(&self) -> Result<Vec<u8>, StoreError> {
        if self.request_body.encoding != Encoding::Delta {
            return self.request_body.decode();
        }
        let base = self.base_body.as_ref().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "record {}: its request body is a difference from stored body {}, which is missing; the bodies table was changed outside lookout",
                self.id,
                self.request_base.as_deref().unwrap_or("(none)")
            ))
        })?;
        self.request_body.decode_on(Some(&base.decode()?), &self.id)
    }

    pub fn decode(&self) -> Result<Call, StoreError> {
        let json = |what: &str, text: &[u8]| {
            StoreError::Corrupt(format!(
                "record {}: its {what} is not the JSON lookout writes ({}); the row was changed outside lookout",
                self.id,
                String::from_utf8_lossy(&text[..text.len().min(60)])
            ))
        };
        let trace = self.trace.decode()?;
        Ok(Call {
            id: self.id.clone(),
            received_at: self.received_at,
            instance: self.instance.clone(),
            ruleset: self.ruleset.clone(),
            rules_version: self.rules_version.clone(),
            peer: self.peer.clone(),
            status: self.status as u16,
            signature: self.signature.clone(),
            duration_us: self.duration_us,
            estimate_id: self.estimate_id.clone(),
            alerts: self.alerts as u32,
            omitted: self.omitted as u32,
            rule_errors: self.rule_errors as u32,
            rule_timeouts: self.rule_timeouts as u32,
            error: self.error.clone(),
            request_headers: serde_json::from_str(&self.request_headers)
                .map_err(|_| json("request headers", self.request_headers.as_bytes()))?,
            redacted: serde_json::from_str(&self.redacted)
                .map_err(|_| json("redaction list", self.redacted.as_bytes()))?,
            request_size: self.request_size as u64,
            request_body: self.request()?.into(),
            request_truncated: self.request_truncated,
            response_body: self.response_body.decode()?,
            rules: serde_json::from_slice(&trace).map_err(|_| json("rule trace", &trace))?,
        })
    }

    pub fn summary(&self) -> Summary {
        Summary {
            id: self.id.clone(),
            received_at: self.received_at,
            instance: self.instance.clone(),
            ruleset: self.ruleset.clone(),
            status: self.status as u16,
            duration_us: self.duration_us,
            estimate_id: self.estimate_id.clone(),
            alerts: self.alerts as u32,
            rule_errors: self.rule_errors as u32,
            rule_timeouts: self.rule_timeouts as u32,
            error: self.error.clone(),
            request_size: self.request_size as u64,
        }
    }
}

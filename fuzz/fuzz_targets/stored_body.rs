//! Stored bodies read back: LZ4, zstd and delta decoding (`store::Blob`, `store::Row`,
//! `store::delta`), on bytes as a damaged or forged row would hold them, and the round
//! trip of what lookout writes.
//!
//! Input: a mode byte, two bytes of split point, then data (split into a base and a
//! body where a mode needs two).
//!
//! Properties:
//! - arbitrary bytes given to every decoder (each `Encoding`, a delta against a base,
//!   a whole `Row`) give a value or an error: no panic, no output over the 64 MiB cap,
//!   and no more memory kept than that cap (the counting allocator's balance);
//! - `Blob::encode` with each compression, then `decode`, gives the bytes back;
//! - `delta::diff(base, body)` then `delta::apply` gives the body back, for any base;
//!   `diff_within` too, and it keeps to its limit;
//! - a recorder's `Packer::with_deltas` encoding two calls of one estimate (a new base,
//!   then a difference from it) reads back as both bodies, the second with its base
//!   attached as a store attaches it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::memory::thread_balance;
use lookout::store::{delta, Blob, Call, Compression, Encoding, Packer, Row};

/// The largest body a decoder may give back (`MAX_DECOMPRESSED`, `delta::MAX_BODY`).
const CAP: usize = 64 << 20;
/// Memory a decode may still hold when it returns, beyond its output: capacity
/// reserved for a claimed size is within the cap, nothing beyond it.
const HELD: isize = CAP as isize + (1 << 20);

/// Runs a decoder and checks its output and the memory it holds on to.
fn bounded(
    what: &str,
    decode: impl FnOnce() -> Result<Vec<u8>, lookout::store::StoreError>,
) -> Option<Vec<u8>> {
    let before = thread_balance();
    let out = decode();
    let held = thread_balance() - before;
    assert!(held <= HELD, "{what}: {held} bytes held after decoding");
    match out {
        Ok(bytes) => {
            assert!(bytes.len() <= CAP, "{what}: {} bytes decoded", bytes.len());
            Some(bytes)
        }
        Err(_) => None,
    }
}

fn call(id: &str, received_at: i64, body: &[u8]) -> Call {
    Call {
        id: id.into(),
        received_at,
        instance: "fuzz:8443".into(),
        ruleset: "default".into(),
        rules_version: Some("0123456789abcdef".into()),
        peer: "127.0.0.1:5000".into(),
        status: 200,
        signature: "hex".into(),
        duration_us: 1200,
        estimate_id: Some("EST-FUZZ".into()),
        alerts: 0,
        omitted: 0,
        rule_errors: 0,
        rule_timeouts: 0,
        error: None,
        request_headers: vec![("content-type".into(), "application/json".into())],
        redacted: vec![],
        request_size: body.len() as u64,
        request_body: body.to_vec().into(),
        request_truncated: false,
        response_body: br#"{"alerts":[]}"#.to_vec(),
        rules: vec![],
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&[mode, a, b], data)) = input.split_first_chunk::<3>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes([a, b])) % (data.len() + 1);
    let (base, body) = data.split_at(split);

    match mode % 4 {
        // Arbitrary stored bytes, as each encoding and as a difference from a base.
        0 => {
            for encoding in [
                Encoding::Identity,
                Encoding::Lz4,
                Encoding::Zstd,
                Encoding::Delta,
            ] {
                let blob = Blob {
                    encoding,
                    bytes: data.to_vec(),
                };
                let out = bounded(encoding.as_str(), || blob.decode());
                match encoding {
                    Encoding::Identity => assert_eq!(out.as_deref(), Some(data)),
                    Encoding::Delta => assert!(out.is_none(), "a delta decoded without its base"),
                    _ => {}
                }
                let _ = bounded("decode_on", || blob.decode_on(Some(base), "fuzz"));
            }
            let _ = bounded("delta::apply", || delta::apply(base, body));
            let _ = Encoding::parse(&String::from_utf8_lossy(data));
        }
        // A whole row as a damaged store would give it back.
        1 => {
            let third = body.len() / 3;
            let (headers, rest) = body.split_at(third);
            let (trace, response) = rest.split_at(third);
            let encodings = [
                Encoding::Identity,
                Encoding::Lz4,
                Encoding::Zstd,
                Encoding::Delta,
            ];
            let pick = |n: u8| encodings[usize::from(n) % 4];
            let row = Row {
                request_headers: String::from_utf8_lossy(headers).into_owned(),
                redacted: String::from_utf8_lossy(trace).into_owned(),
                request_body: Blob {
                    encoding: pick(a),
                    bytes: body.to_vec(),
                },
                request_base: Some("base".into()),
                base_body: (a & 0x10 != 0).then(|| Blob {
                    encoding: pick(a >> 2),
                    bytes: base.to_vec(),
                }),
                response_body: Blob {
                    encoding: pick(b),
                    bytes: response.to_vec(),
                },
                trace: Blob {
                    encoding: pick(b >> 2),
                    bytes: trace.to_vec(),
                },
                ..Row::encode(&call("fuzz", 0, b""), &mut Packer::default())
            };
            let _ = bounded("Row::request", || row.request());
            let before = thread_balance();
            let _ = row.decode();
            assert!(thread_balance() - before <= HELD);
        }
        // Compression round trip.
        2 => {
            for compression in [Compression::Lz4, Compression::Zstd, Compression::None] {
                let blob = Blob::encode(data, &mut Packer::new(compression));
                assert_eq!(blob.decode().expect("our own blob decodes"), data);
                assert_eq!(
                    blob.decode_on(Some(base), "fuzz").expect("decode_on"),
                    data,
                    "{compression:?}"
                );
            }
        }
        // Differences: any base, any body; and the recorder's path.
        _ => {
            let d = delta::diff(base, body);
            assert_eq!(delta::apply(base, &d).expect("our own delta applies"), body);
            let limit = usize::from(b) * 4;
            if let Some(d) = delta::diff_within(base, body, limit) {
                assert!(d.len() <= limit, "diff_within went past its limit");
                assert_eq!(delta::apply(base, &d).expect("applies"), body);
            }
            assert_eq!(
                delta::apply(base, &delta::whole(base.len())).expect("whole"),
                base
            );

            // The recorder: bodies of 4 KB and more of one estimate are stored as a
            // base, then as differences from it.
            let pad = |x: &[u8]| {
                let mut v = x.to_vec();
                v.resize(v.len().max(delta::DELTA_FROM), b' ');
                v
            };
            let (first, second) = (pad(base), pad(body));
            let compression = [Compression::Lz4, Compression::Zstd][usize::from(a & 1)];
            let mut packer = Packer::with_deltas(compression);
            let row1 = Row::encode(&call("call-1", 1_000, &first), &mut packer);
            let row2 = Row::encode(&call("call-2", 2_000, &second), &mut packer);
            assert_eq!(row1.request().expect("row 1"), first);
            assert_eq!(row1.decode().expect("row 1 decodes").request_body, first);
            let mut row2 = row2;
            if row2.request_base.as_deref() == Some("call-1") {
                assert!(row2.base_body.is_none());
                row2.base_body = row1.base_body.clone();
            }
            assert_eq!(row2.request().expect("row 2"), second);
            assert_eq!(row2.decode().expect("row 2 decodes").request_body, second);
        }
    }
});

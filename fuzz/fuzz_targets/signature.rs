//! `Veson-Webhook-Signature`: the header value(s) as received, verified over a body
//! against one or two keys (`signature::verify`, `signature::decode*`).
//!
//! Properties, beyond "no panic":
//! - `verify` answers what the spec says for any header values: `NotRequired` without
//!   keys, `Missing`/`Repeated` by count, `Malformed` when `decode` refuses the value,
//!   else `Valid { i }` for the first key whose HMAC of the body is the decoded digest,
//!   else `Mismatch`;
//! - `decode` accepts only the documented renderings of a digest (hex in any case,
//!   base64 standard or URL-safe, padded or not, optional `sha256=` in any case,
//!   surrounding whitespace): no other text decodes;
//! - a correct signature made with `signature::sign`, in any accepted rendering, always
//!   verifies, and `decode_hex`/`decode_base64` accept exactly their own renderings;
//! - a mutated one never does: one bit of the digest flipped, one byte of the body
//!   changed, a character of the header changed so it decodes to another digest.
#![no_main]

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use lookout::signature::{self, ApiKey, Outcome};

/// The input: thirteen control bytes; the keys line (none, one, or two keys separated
/// by a tab, as the first control byte says); the header values, one per line (any
/// bytes but a newline, as HTTP allows), up to an empty line; then the body.
struct Input<'a> {
    keys: Vec<ApiKey>,
    headers: Vec<&'a [u8]>,
    body: &'a [u8],
    /// Which key signs, how the digest is written, and how it is damaged.
    signer: u8,
    form: u8,
    prefix: u8,
    padding: (u8, u8),
    flip_bit: u16,
    body_byte: u16,
    body_xor: u8,
    header_at: u8,
    header_char: u8,
}

impl<'a> Input<'a> {
    fn read(data: &'a [u8]) -> Option<Input<'a>> {
        let (c, rest) = data.split_first_chunk::<13>()?;
        let mut lines = rest.splitn(2, |&b| b == b'\n');
        let key_line = String::from_utf8_lossy(lines.next()?);
        let mut rest = lines.next().unwrap_or_default();
        let keys = match c[0] % 3 {
            0 => vec![],
            1 => vec![ApiKey::new(key_line.as_ref())],
            _ => {
                let (a, b) = key_line.split_once('\t').unwrap_or((&key_line, ""));
                vec![ApiKey::new(a), ApiKey::new(b)]
            }
        };
        let mut headers = Vec::new();
        loop {
            match rest.iter().position(|&b| b == b'\n') {
                Some(0) => {
                    rest = &rest[1..];
                    break;
                }
                Some(end) => {
                    headers.push(&rest[..end]);
                    rest = &rest[end + 1..];
                }
                None => break,
            }
        }
        Some(Input {
            keys,
            headers,
            body: rest,
            signer: c[1],
            form: c[2],
            prefix: c[3],
            padding: (c[4], c[5]),
            flip_bit: u16::from_le_bytes([c[6], c[7]]),
            body_byte: u16::from_le_bytes([c[8], c[9]]),
            body_xor: c[10],
            header_at: c[11],
            header_char: c[12],
        })
    }
}

fn hmac(key: &ApiKey, body: &[u8]) -> [u8; 32] {
    hex::decode(signature::sign(key, body))
        .expect("sign gives hex")
        .try_into()
        .expect("32 bytes")
}

/// What `verify` must answer for one header value (the spec, written independently).
fn expected(value: &[u8], body: &[u8], keys: &[ApiKey]) -> Outcome {
    if keys.is_empty() {
        return Outcome::NotRequired;
    }
    let Some(digest) = signature::decode(value) else {
        return Outcome::Malformed;
    };
    match keys.iter().position(|k| hmac(k, body) == digest) {
        Some(key_index) => Outcome::Valid { key_index },
        None => Outcome::Mismatch,
    }
}

/// The digest's renderings `decode` documents, without prefix or whitespace.
fn renderings(digest: &[u8; 32]) -> [String; 6] {
    [
        hex::encode(digest),
        hex::encode_upper(digest),
        STANDARD.encode(digest),
        STANDARD_NO_PAD.encode(digest),
        URL_SAFE.encode(digest),
        URL_SAFE_NO_PAD.encode(digest),
    ]
}

/// `decode` accepted `raw` as `digest`: `raw` must be one of its renderings.
fn check_canonical(raw: &[u8], digest: &[u8; 32]) {
    let text = std::str::from_utf8(raw)
        .expect("accepted text is ASCII")
        .trim();
    let text = match text.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("sha256=") => &text[7..],
        _ => text,
    };
    let [hex_lower, _, std, std_no_pad, url, url_no_pad] = renderings(digest);
    assert!(
        text.eq_ignore_ascii_case(&hex_lower)
            || [&std, &std_no_pad, &url, &url_no_pad].contains(&&text.to_string()),
        "decode accepted {raw:?} as {digest:02x?}, which is not one of its renderings"
    );
}

fn decode_checked(raw: &[u8]) -> Option<[u8; 32]> {
    let any = signature::decode(raw);
    let hex = signature::decode_hex(raw);
    let b64 = signature::decode_base64(raw);
    // Hex is 64 characters and base64 43 or 44: at most one can apply.
    assert!(
        hex.is_none() || b64.is_none(),
        "{raw:?} is both hex and base64"
    );
    assert_eq!(
        any,
        hex.or(b64),
        "decode disagrees with decode_hex/decode_base64"
    );
    if let Some(d) = &any {
        check_canonical(raw, d);
    }
    any
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::read(data) else {
        return;
    };
    let keys = input.keys.clone();
    let body = input.body;

    // 1. Whatever the headers are: no panic, and the answer the spec gives.
    let outcome = signature::verify(input.headers.iter().copied(), body, &keys);
    let want = match input.headers.as_slice() {
        _ if keys.is_empty() => Outcome::NotRequired,
        [] => Outcome::Missing,
        [one] => expected(one, body, &keys),
        _ => Outcome::Repeated,
    };
    assert_eq!(outcome, want, "headers {:?}", input.headers);
    for h in &input.headers {
        decode_checked(h);
    }
    if keys.is_empty() {
        return;
    }

    // 2. A correct signature, written in any accepted form, verifies.
    let signer = &keys[usize::from(input.signer) % keys.len()];
    let digest = hmac(signer, body);
    let first = keys
        .iter()
        .position(|k| hmac(k, body) == digest)
        .expect("the signer is among the keys");
    let forms = renderings(&digest);
    let form = &forms[usize::from(input.form) % forms.len()];
    let prefix = ["", "sha256=", "SHA256=", "Sha256="][usize::from(input.prefix) % 4];
    let pad = |n: u8| ["", " ", "\t", "  "][usize::from(n) % 4];
    let header = format!(
        "{}{prefix}{form}{}",
        pad(input.padding.0),
        pad(input.padding.1)
    );
    assert_eq!(
        signature::verify([header.as_bytes()], body, &keys),
        Outcome::Valid { key_index: first },
        "a correct signature {header:?} did not verify"
    );
    assert_eq!(decode_checked(header.as_bytes()), Some(digest));
    let (as_hex, as_b64) = (
        signature::decode_hex(header.as_bytes()),
        signature::decode_base64(header.as_bytes()),
    );
    if form.len() == 64 {
        assert_eq!((as_hex, as_b64), (Some(digest), None));
    } else {
        assert_eq!((as_hex, as_b64), (None, Some(digest)));
    }

    // 3. Mutated, it never verifies.
    // 3a. One bit of the digest flipped, in the same form.
    let mut other = digest;
    let bit = usize::from(input.flip_bit) % 256;
    other[bit / 8] ^= 1 << (bit % 8);
    let forged = format!(
        "{prefix}{}",
        &renderings(&other)[usize::from(input.form) % 6]
    );
    let got = signature::verify([forged.as_bytes()], body, &keys);
    assert!(
        !got.is_accepted() || keys.iter().any(|k| hmac(k, body) == other),
        "a digest with bit {bit} flipped verified: {forged:?} -> {got:?}"
    );
    // 3b. One byte of the body changed.
    if !body.is_empty() && input.body_xor != 0 {
        let mut changed = body.to_vec();
        let at = usize::from(input.body_byte) % changed.len();
        changed[at] ^= input.body_xor;
        let got = signature::verify([header.as_bytes()], &changed, &keys);
        assert_eq!(
            got,
            Outcome::Mismatch,
            "the signature of the body verified a body with byte {at} changed"
        );
    }
    // 3c. One character of the header changed: accepted only when it still decodes to
    // the same digest (hex case, whitespace, the prefix's case) or another key's HMAC.
    let mut bytes = header.clone().into_bytes();
    let at = usize::from(input.header_at) % bytes.len();
    if bytes[at] != input.header_char {
        bytes[at] = input.header_char;
        let got = signature::verify([bytes.as_slice()], body, &keys);
        let decoded = decode_checked(&bytes);
        if got.is_accepted() {
            let d = decoded.expect("accepted, so it decodes");
            assert!(
                keys.iter().any(|k| hmac(k, body) == d),
                "a changed header {:?} verified",
                String::from_utf8_lossy(&bytes)
            );
        }
        assert_eq!(got, expected(&bytes, body, &keys));
    }
});

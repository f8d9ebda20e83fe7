//! Verifying `Veson-Webhook-Signature`: HMAC-SHA256 of the exact request bytes,
//! keyed with an API key's UTF-8 bytes.
//!
//! Veson does not say whether the digest is hex or base64, so both are accepted:
//! hex in any case, base64 standard or URL-safe, padded or not, each with or without
//! a `sha256=` prefix. Anything else (empty, truncated, over-long, non-ASCII) fails
//! before any HMAC is computed. The comparison is constant-time (`Mac::verify_slice`)
//! and every configured key is tried, so keys can be rotated with two in place.
//!
//! This module knows nothing of HTTP: it maps (header values, body, keys) to an outcome.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header the Estimator signs with.
pub const HEADER: &str = "veson-webhook-signature";

/// Longest header value we look at: `sha256=` plus 64 hex digits, with room for whitespace.
const MAX_HEADER_LEN: usize = 128;

const DIGEST_LEN: usize = 32;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(false);
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// An API key, kept out of `Debug` output and logs.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The secret itself, for computing a MAC or comparing in constant time.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// What the signature check found. Everything but `Valid` and `NotRequired` is a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The rule set has no key: unsigned calls are accepted.
    NotRequired,
    /// Matched the key at this index of the rule set's `api_keys`.
    Valid {
        key_index: usize,
    },
    Missing,
    Repeated,
    Malformed,
    Mismatch,
}

impl Outcome {
    pub fn is_accepted(self) -> bool {
        matches!(self, Outcome::NotRequired | Outcome::Valid { .. })
    }

    /// A short machine-friendly name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::NotRequired => "not_required",
            Outcome::Valid { .. } => "valid",
            Outcome::Missing => "missing",
            Outcome::Repeated => "repeated",
            Outcome::Malformed => "malformed",
            Outcome::Mismatch => "mismatch",
        }
    }

    /// What the caller did wrong and what to do about it.
    pub fn explain(self) -> &'static str {
        match self {
            Outcome::NotRequired | Outcome::Valid { .. } => "signature accepted",
            Outcome::Missing => "missing Veson-Webhook-Signature header; this rule set has an API key: configure the same key in the IMOS webhook setup so the Estimator signs its calls",
            Outcome::Repeated => "more than one Veson-Webhook-Signature header; send exactly one",
            Outcome::Malformed => "Veson-Webhook-Signature is not an HMAC-SHA256 digest; send 64 hex digits or 43/44 base64 characters, optionally prefixed with sha256=",
            Outcome::Mismatch => "Veson-Webhook-Signature does not match the body; check that IMOS and ruleset.toml use the same API key and that nothing rewrites the body on the way",
        }
    }
}

/// Checks the signature header values (all occurrences, as received) against `keys`.
pub fn verify<'a>(
    header_values: impl IntoIterator<Item = &'a [u8]>,
    body: &[u8],
    keys: &[ApiKey],
) -> Outcome {
    if keys.is_empty() {
        return Outcome::NotRequired;
    }
    let mut values = header_values.into_iter();
    let Some(value) = values.next() else {
        return Outcome::Missing;
    };
    if values.next().is_some() {
        return Outcome::Repeated;
    }
    let Some(digest) = decode(value) else {
        return Outcome::Malformed;
    };
    // Try every key even after a match so timing says nothing about which one matched.
    let mut matched = None;
    for (index, key) in keys.iter().enumerate() {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.0.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(body);
        if mac.verify_slice(&digest).is_ok() && matched.is_none() {
            matched = Some(index);
        }
    }
    match matched {
        Some(key_index) => Outcome::Valid { key_index },
        None => Outcome::Mismatch,
    }
}

/// The signature the Estimator would send for `body`, as lower-case hex.
pub fn sign(key: &ApiKey, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.0.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Decodes a header value to the 32 digest bytes, hex or base64, or `None` when it
/// cannot be one.
pub fn decode(raw: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    decode_as(raw, true, true)
}

/// Only 64 hex digits (any case, optional `sha256=`).
pub fn decode_hex(raw: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    decode_as(raw, true, false)
}

/// Only base64, standard or URL-safe, padded or not (optional `sha256=`).
pub fn decode_base64(raw: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    decode_as(raw, false, true)
}

fn decode_as(raw: &[u8], hex: bool, base64: bool) -> Option<[u8; DIGEST_LEN]> {
    if raw.is_empty() || raw.len() > MAX_HEADER_LEN || !raw.is_ascii() {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?.trim();
    let text = strip_prefix_ignore_case(text, "sha256=").unwrap_or(text);
    let mut digest = [0u8; DIGEST_LEN];
    match text.len() {
        64 if hex => hex::decode_to_slice(text, &mut digest).ok()?,
        43 | 44 if base64 => {
            let decoded = BASE64_STANDARD
                .decode(text)
                .or_else(|_| BASE64_URL_SAFE.decode(text))
                .ok()?;
            digest = decoded.try_into().ok()?;
        }
        _ => return None,
    }
    Some(digest)
}

/// Resolves `env:VAR`, `file:PATH` or a literal key; the bool says "literal".
pub fn resolve_key(spec: &str) -> Result<(ApiKey, bool), String> {
    let (key, literal) = if let Some(var) = spec.strip_prefix("env:") {
        let value = std::env::var(var).map_err(|_| {
            format!("environment variable {var} is not set; export it before starting lookout")
        })?;
        (value, false)
    } else if let Some(file) = spec.strip_prefix("file:") {
        let value = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read key file {file}: {e}"))?;
        (value.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (spec.to_string(), true)
    };
    if key.is_empty() {
        return Err(format!(
            "`{spec}` gives an empty key; an empty key would let anyone sign"
        ));
    }
    Ok((ApiKey::new(key), literal))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const BODY: &[u8] = br#"{"estimateID":"EST-1","vesselCode":"ANNA"}"#;

    fn keys() -> Vec<ApiKey> {
        vec![
            ApiKey::new("old-key-0123456789"),
            ApiKey::new("new-key-abcdefghij"),
        ]
    }

    fn digest(key: &str, body: &[u8]) -> Vec<u8> {
        hex::decode(sign(&ApiKey::new(key), body)).unwrap()
    }

    fn check(value: &str) -> Outcome {
        verify([value.as_bytes()], BODY, &keys())
    }

    #[test]
    fn known_vector_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(&ApiKey::new("Jefe"), b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn accepted_encodings() {
        let d = digest("new-key-abcdefghij", BODY);
        let hex_lower = hex::encode(&d);
        let url_safe = URL_SAFE_NO_PAD.encode(&d);
        let cases = [
            (hex_lower.clone(), "hex lower case"),
            (hex_lower.to_uppercase(), "hex upper case"),
            (STANDARD.encode(&d), "base64 padded"),
            (
                STANDARD.encode(&d).trim_end_matches('=').to_string(),
                "base64 unpadded",
            ),
            (url_safe.clone(), "url-safe base64 unpadded"),
            (format!("{url_safe}="), "url-safe base64 padded"),
            (format!("sha256={hex_lower}"), "sha256= prefix"),
            (
                format!("SHA256={}", STANDARD.encode(&d)),
                "upper-case prefix with base64",
            ),
            (format!(" {hex_lower} "), "surrounding whitespace"),
        ];
        for (value, why) in cases {
            assert_eq!(
                check(&value),
                Outcome::Valid { key_index: 1 },
                "{why}: {value}"
            );
        }
        let old = hex::encode(digest("old-key-0123456789", BODY));
        assert_eq!(check(&old), Outcome::Valid { key_index: 0 }, "first key");
    }

    #[test]
    fn rejected_values() {
        let good = hex::encode(digest("new-key-abcdefghij", BODY));
        let other_body = hex::encode(digest("new-key-abcdefghij", b"{\"estimateID\":\"EST-2\"}"));
        let cases = [
            ("".to_string(), Outcome::Malformed, "empty"),
            ("   ".to_string(), Outcome::Malformed, "blank"),
            (
                good[..63].to_string(),
                Outcome::Malformed,
                "hex one digit short",
            ),
            (good[..62].to_string(), Outcome::Malformed, "hex truncated"),
            (format!("{good}00"), Outcome::Malformed, "hex too long"),
            (format!("{}zz", &good[..62]), Outcome::Malformed, "not hex"),
            ("x".repeat(500), Outcome::Malformed, "over-long"),
            (
                format!("sha256:{good}"),
                Outcome::Malformed,
                "wrong prefix separator",
            ),
            (
                format!("sha1={good}"),
                Outcome::Malformed,
                "wrong algorithm prefix",
            ),
            (
                hex::encode(digest("wrong-key", BODY)),
                Outcome::Mismatch,
                "wrong key",
            ),
            (other_body, Outcome::Mismatch, "signature of another body"),
            (
                "%".repeat(43),
                Outcome::Malformed,
                "43 characters that are not base64",
            ),
        ];
        for (value, expected, why) in cases {
            assert_eq!(check(&value), expected, "{why}: {value:?}");
        }
    }

    #[test]
    fn non_ascii_header_never_passes() {
        let mut value = hex::encode(digest("new-key-abcdefghij", BODY)).into_bytes();
        value[10] = 0xC3;
        assert_eq!(
            verify([value.as_slice()], BODY, &keys()),
            Outcome::Malformed
        );
    }

    #[test]
    fn one_changed_body_byte_fails() {
        let good = hex::encode(digest("new-key-abcdefghij", BODY));
        let mut body = BODY.to_vec();
        body[5] ^= 1;
        assert_eq!(verify([good.as_bytes()], &body, &keys()), Outcome::Mismatch);
    }

    #[test]
    fn missing_and_repeated_headers_fail() {
        let good = hex::encode(digest("new-key-abcdefghij", BODY));
        assert_eq!(verify(std::iter::empty(), BODY, &keys()), Outcome::Missing);
        assert_eq!(
            verify([good.as_bytes(), b"bad".as_slice()], BODY, &keys()),
            Outcome::Repeated
        );
        assert_eq!(
            verify([good.as_bytes(), good.as_bytes()], BODY, &keys()),
            Outcome::Repeated
        );
    }

    #[test]
    fn no_keys_means_not_required() {
        assert_eq!(verify(std::iter::empty(), BODY, &[]), Outcome::NotRequired);
        assert!(Outcome::NotRequired.is_accepted());
    }

    #[test]
    fn api_key_debug_is_redacted() {
        assert_eq!(format!("{:?}", ApiKey::new("secret")), "ApiKey(<redacted>)");
    }
}

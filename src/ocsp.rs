//! OCSP stapling: when the served certificate names an OCSP responder (its Authority
//! Information Access) and its chain holds the issuer, lookout asks the responder for
//! the certificate's status and staples the answer to its handshakes, so clients need
//! not ask the CA themselves. A certificate with no responder (Let's Encrypt's since
//! 2025), a chain without its issuer, or a responder that cannot be reached or does
//! not answer `successful` is skipped quietly (logged at debug): the handshake goes on
//! without a staple, as before.
//!
//! The request (RFC 6960: one `CertID`, SHA-1 of the issuer's name and key, the
//! serial) is a few DER bytes written here; the answer is checked for a `successful`
//! status with response bytes and stapled as it came (clients verify its signature).
//! Answers are fetched again every [`REFRESH`] and for every new certificate.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use sha1::{Digest, Sha1};

use crate::tls::CertStore;

/// How often a staple is fetched again (responders sign for days; Let's Encrypt's
/// answers were valid 7 days).
pub const REFRESH: Duration = Duration::from_secs(12 * 3600);
/// How often the task looks for a new certificate to staple.
const LOOK: Duration = Duration::from_secs(5);
/// Time for the responder to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer taken.
const MAX_ANSWER: usize = 64 << 10;

/// The responder named in `leaf`, if any (an `http://` URL, as responders are).
pub fn responder(leaf: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let ocsp = x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP;
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => aia.iter().find_map(|desc| {
                match (desc.access_method == ocsp, &desc.access_location) {
                    (true, GeneralName::URI(uri)) if uri.starts_with("http://") => {
                        Some(uri.to_string())
                    }
                    _ => None,
                }
            }),
            _ => None,
        })
}

/// The DER of an OCSP request for `leaf` issued by `issuer`.
pub fn request(leaf: &CertificateDer<'_>, issuer: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let (_, leaf) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let (_, issuer) = x509_parser::parse_x509_certificate(issuer.as_ref()).ok()?;
    let name_hash = Sha1::digest(issuer.tbs_certificate.subject.as_raw());
    let key_hash = Sha1::digest(&*issuer.tbs_certificate.subject_pki.subject_public_key.data);
    // AlgorithmIdentifier { id-sha1 (1.3.14.3.2.26), NULL }
    let sha1 = tlv(
        0x30,
        &[
            &[0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a][..],
            &[0x05, 0x00],
        ]
        .concat(),
    );
    let cert_id = tlv(
        0x30,
        &[
            sha1,
            tlv(0x04, &name_hash),
            tlv(0x04, &key_hash),
            tlv(0x02, leaf.raw_serial()),
        ]
        .concat(),
    );
    let request = tlv(0x30, &cert_id); // Request { reqCert }
    let list = tlv(0x30, &request); // requestList
    let tbs = tlv(0x30, &list); // TBSRequest
    Some(tlv(0x30, &tbs)) // OCSPRequest
}

/// Whether `answer` is an OCSPResponse with status `successful` (0) and response bytes.
pub fn is_successful(answer: &[u8]) -> bool {
    let Some((0x30, body, _)) = read_tlv(answer) else {
        return false;
    };
    match read_tlv(body) {
        Some((0x0a, [0], rest)) => matches!(read_tlv(rest), Some((0xa0, _, _))),
        _ => false,
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// One DER element: its tag, its content, and what follows it.
fn read_tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// Keeps the served certificate stapled until the runtime stops.
pub fn spawn(certs: Arc<CertStore>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!("OCSP stapling off: no HTTP client ({e})");
                return;
            }
        };
        let mut stapled_for: Option<(Vec<u8>, tokio::time::Instant)> = None;
        loop {
            let current = certs.current();
            let leaf = current.cert.first().map(|c| c.to_vec()).unwrap_or_default();
            let due = match &stapled_for {
                Some((cert, at)) => *cert != leaf || at.elapsed() >= REFRESH,
                None => true,
            };
            if due {
                stapled_for = Some((leaf.clone(), tokio::time::Instant::now()));
                if let Some(answer) = fetch(&client, &current.cert).await {
                    if certs.staple(&leaf, answer) {
                        tracing::info!("OCSP: the certificate's status is stapled to handshakes");
                    }
                }
            }
            tokio::time::sleep(LOOK).await;
        }
    })
}

/// The responder's answer for the chain's leaf, or `None` (said at debug level).
async fn fetch(client: &reqwest::Client, chain: &[CertificateDer<'static>]) -> Option<Vec<u8>> {
    let (leaf, issuer) = (chain.first()?, chain.get(1));
    let url = responder(leaf)?;
    let Some(issuer) = issuer else {
        tracing::debug!("OCSP: the chain has no issuer certificate; not stapling");
        return None;
    };
    let body = request(leaf, issuer)?;
    let response = client
        .post(&url)
        .header("content-type", "application/ocsp-request")
        .body(body)
        .send()
        .await;
    let answer = match response {
        Ok(r) if r.status().is_success() => r.bytes().await.ok()?,
        Ok(r) => {
            tracing::debug!(%url, status = r.status().as_u16(), "OCSP: the responder refused; not stapling");
            return None;
        }
        Err(e) => {
            tracing::debug!(%url, "OCSP: the responder cannot be reached ({e}); not stapling");
            return None;
        }
    };
    if answer.len() > MAX_ANSWER || !is_successful(&answer) {
        tracing::debug!(%url, "OCSP: the responder's answer is not a successful response; not stapling");
        return None;
    }
    Some(answer.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_the_answers_status() {
        assert_eq!(tlv(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        let long = tlv(0x04, &[0u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(
            read_tlv(&long).map(|(t, c, r)| (t, c.len(), r.len())),
            Some((0x04, 300, 0))
        );
        assert_eq!(read_tlv(&[0x04, 0x05, 1]), None, "cut short");
        // successful, with response bytes; tryLater (3); malformed.
        let ok = tlv(0x30, &[tlv(0x0a, &[0]), tlv(0xa0, &[0x30, 0x00])].concat());
        assert!(is_successful(&ok));
        assert!(!is_successful(&tlv(0x30, &tlv(0x0a, &[3]))));
        assert!(!is_successful(&tlv(0x30, &tlv(0x0a, &[0]))));
        assert!(!is_successful(b"<html>"));
    }
}

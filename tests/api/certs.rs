//! The development certificates the server makes on first start (and `lookout certs`):
//! accepted by strict verifiers (OpenSSL `-x509_strict`, Python's default context with
//! VERIFY_X509_STRICT), with the extensions RFC 5280 asks for, and private keys that
//! only their owner can read.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[track_caller]
fn assert_private(path: &Path) {
    assert_eq!(
        mode(path),
        0o600,
        "{} must be readable by its owner only",
        path.display()
    );
}

/// `openssl verify -x509_strict` of the server certificate against the CA, for `check`
/// (`-verify_hostname localhost`, `-verify_ip 127.0.0.1` ...).
fn openssl_verify(certs: &Path, check: &[&str]) -> Output {
    Command::new("/usr/bin/openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslserver"])
        .args(check)
        .arg("-CAfile")
        .arg(certs.join("ca.pem"))
        .arg(certs.join("cert.pem"))
        .output()
        .expect("/usr/bin/openssl runs")
}

#[tokio::test]
async fn the_dev_certificate_passes_openssl_strict_verification() {
    let app = spawn_app(&[]).await;
    let certs = app.dir.path().join("certs");
    for check in [
        &["-verify_hostname", "localhost"][..],
        &["-verify_ip", "127.0.0.1"],
        &["-verify_ip", "::1"],
    ] {
        let out = openssl_verify(&certs, check);
        assert!(
            out.status.success(),
            "openssl verify -x509_strict {check:?}: {}",
            show(&out)
        );
    }
    app.stopper.stop();
}

/// Python's default client context with VERIFY_X509_STRICT (on by default from Python
/// 3.13), trusting only the development CA, in a real handshake with the server.
const PYTHON_STRICT_HANDSHAKE: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as sock:
    with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
        print(tls.version(), dict(x[0] for x in tls.getpeercert()["subject"]))
"#;

#[tokio::test]
async fn python_strict_default_context_accepts_the_dev_certificate() {
    let app = spawn_app(&[]).await;
    let ca = app.dir.path().join("certs/ca.pem");
    let port = app.addr.port().to_string();
    // The server runs on this runtime: wait for python on a blocking thread.
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(PYTHON_STRICT_HANDSHAKE)
            .arg(&ca)
            .arg(&port)
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "python strict handshake: {}",
        show(&out)
    );
    assert!(text(&out.stdout).contains("localhost"), "{}", show(&out));
    app.stopper.stop();
}

#[tokio::test]
async fn the_dev_certificates_have_the_extensions_strict_clients_expect() {
    use x509_parser::prelude::*;
    let app = spawn_app(&[]).await;
    let certs = app.dir.path().join("certs");
    let ca_pem = std::fs::read(certs.join("ca.pem")).unwrap();
    let leaf_pem = std::fs::read(certs.join("cert.pem")).unwrap();
    let (_, ca_pem) = parse_x509_pem(&ca_pem).unwrap();
    let (_, leaf_pem) = parse_x509_pem(&leaf_pem).unwrap();
    let ca = ca_pem.parse_x509().unwrap();
    let leaf = leaf_pem.parse_x509().unwrap();

    // The CA: CA:TRUE (critical), keyCertSign + cRLSign only (critical), an SKI.
    let bc = ca
        .basic_constraints()
        .unwrap()
        .expect("CA basicConstraints");
    assert!(bc.critical && bc.value.ca, "{bc:?}");
    let ku = ca.key_usage().unwrap().expect("CA keyUsage");
    assert!(ku.critical, "CA keyUsage critical");
    assert!(
        ku.value.key_cert_sign() && ku.value.crl_sign(),
        "{}",
        ku.value
    );
    assert_eq!(ku.value.flags, 0b110_0000, "CA keyUsage is {}", ku.value);
    let ca_ski = ca
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .expect("CA subjectKeyIdentifier");

    // The leaf: CA:FALSE, digitalSignature only (critical; an EC key must not claim
    // keyEncipherment), serverAuth, the hosts, an SKI and an AKI naming the CA's key.
    let bc = leaf
        .basic_constraints()
        .unwrap()
        .expect("leaf basicConstraints");
    assert!(!bc.value.ca, "{bc:?}");
    let ku = leaf.key_usage().unwrap().expect("leaf keyUsage");
    assert!(ku.critical, "leaf keyUsage critical");
    assert_eq!(
        ku.value.flags, 0b1,
        "leaf keyUsage must be digitalSignature only, is {}",
        ku.value
    );
    let eku = leaf.extended_key_usage().unwrap().expect("leaf EKU");
    assert!(eku.value.server_auth, "{eku:?}");
    let san = leaf.subject_alternative_name().unwrap().expect("leaf SAN");
    let names: Vec<String> = san
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert!(names.iter().any(|n| n.contains("localhost")), "{names:?}");
    let mut leaf_ski = None;
    let mut leaf_aki = None;
    for ext in leaf.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => leaf_ski = Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                assert!(!ext.critical, "AKI must not be critical");
                leaf_aki = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
            }
            _ => {}
        }
    }
    assert!(leaf_ski.is_some(), "leaf subjectKeyIdentifier");
    assert_eq!(leaf_aki, Some(ca_ski), "leaf AKI must be the CA's SKI");

    // At most 397 days, counted as CA/B does (both ends inclusive).
    let validity = leaf.validity();
    let seconds = validity.not_after.timestamp() - validity.not_before.timestamp() + 1;
    assert!(
        seconds <= 397 * 86_400,
        "leaf valid for {} days",
        seconds as f64 / 86_400.0
    );
    app.stopper.stop();
}

fn lookout_certs(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["certs", "--out"])
        .arg(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the lookout binary runs")
}

#[tokio::test]
async fn private_keys_are_0600_after_first_start_and_after_lookout_certs() {
    let app = spawn_app(&[]).await;
    let certs = app.dir.path().join("certs");
    let (key, ca_key) = (certs.join("key.pem"), certs.join("ca-key.pem"));
    assert_private(&key);
    assert_private(&ca_key);
    app.stopper.stop();

    // Keys someone left readable are private again once `lookout certs` rewrites them
    // (no ca.pem: the CA is made again, so its key is rewritten too).
    chmod(&key, 0o644);
    chmod(&ca_key, 0o644);
    std::fs::remove_file(certs.join("ca.pem")).unwrap();
    let out = tokio::task::spawn_blocking({
        let certs = certs.clone();
        move || lookout_certs(&certs)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "lookout certs: {}", show(&out));
    assert!(
        text(&out.stdout).contains("made a development CA"),
        "{}",
        show(&out)
    );
    assert_private(&key);
    assert_private(&ca_key);

    // Rewritten again, keeping the CA: the server key stays 0600; a loose CA key that is
    // only read is named on stderr.
    chmod(&ca_key, 0o640);
    let out = tokio::task::spawn_blocking({
        let certs = certs.clone();
        move || lookout_certs(&certs)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "lookout certs: {}", show(&out));
    assert!(
        text(&out.stdout).contains("kept the existing development CA"),
        "{}",
        show(&out)
    );
    assert_private(&key);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ca-key.pem") && stderr.contains("chmod 600"),
        "{}",
        show(&out)
    );
    let out = openssl_verify(&certs, &["-verify_hostname", "localhost"]);
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn the_server_warns_about_a_key_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let certs = dir.path().join("certs");
    let out = lookout_certs(&certs);
    assert!(out.status.success(), "lookout certs: {}", show(&out));
    chmod(&certs.join("key.pem"), 0o644);

    let port = free_port();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("LOOKOUT_RULES")
        .env_remove("LOOKOUT_DATA")
        .env_remove("LOOKOUT_STORE_URL")
        .env_remove("LOOKOUT_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the lookout binary runs");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > until || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`lookout serve` did not listen:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("key.pem") && l.contains("chmod 600"))
        .unwrap_or_else(|| panic!("no warning about key.pem in the log:\n{log}"));
    assert!(line.contains("0644"), "{line}");
}

/// A certificate within 7 days of its expiry makes `/readyz` fail, saying when and
/// what to do, and its expiry is in `/metrics`; one with 8 days left is ready.
#[tokio::test]
async fn a_certificate_close_to_expiry_is_not_ready() {
    for (days_left, ready) in [(6, false), (8, true)] {
        let app = spawn_app_with(&[], |config| {
            // The development CA signs a short-lived certificate in place of its own.
            lookout::tls::generate(&config.certs, &["localhost".into()]).unwrap();
            let ca_key = std::fs::read_to_string(config.certs.join("ca-key.pem")).unwrap();
            let ca_pem = std::fs::read_to_string(config.certs.join("ca.pem")).unwrap();
            let key = rcgen::KeyPair::from_pem(&ca_key).unwrap();
            let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, key).unwrap();
            let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
            params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(80);
            params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days_left);
            let leaf_key = rcgen::KeyPair::generate().unwrap();
            let cert = params.signed_by(&leaf_key, &issuer).unwrap();
            std::fs::write(config.certs.join("cert.pem"), cert.pem()).unwrap();
            std::fs::write(config.certs.join("key.pem"), leaf_key.serialize_pem()).unwrap();
        })
        .await;
        let r = app.get("/readyz").await;
        assert_eq!(r.status().is_success(), ready, "{days_left} days left");
        let text = r.text().await.unwrap();
        assert_eq!(
            text.contains("the certificate expires at") && text.contains("put a renewed cert.pem"),
            !ready,
            "{text}"
        );
        let metrics = app.metrics().await;
        assert!(
            metrics.contains("lookout_certificate_expiry_timestamp_seconds "),
            "{metrics}"
        );
        assert!(
            !metrics.contains("lookout_acme_"),
            "no ACME without [tls.acme]"
        );
    }
}

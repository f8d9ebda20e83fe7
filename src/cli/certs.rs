//! `lookout certs`: a development CA and server certificate.

use std::path::Path;

use crate::tls;

pub fn run(out: &Path, hosts: Vec<String>) -> anyhow::Result<u8> {
    let hosts = if hosts.is_empty() {
        tls::DEV_HOSTS.iter().map(|h| h.to_string()).collect()
    } else {
        hosts
    };
    let made = tls::generate(out, &hosts)?;
    for warning in &made.warnings {
        eprintln!("warning: {warning}");
    }
    let ca = if made.reused_ca {
        "kept the existing development CA"
    } else {
        "made a development CA"
    };
    println!("{ca}: {}", made.ca.display());
    println!(
        "server certificate for {}: {}",
        made.hosts.join(", "),
        made.cert.display()
    );
    println!("server key (mode 0600): {}", made.key.display());
    println!(
        "clients must trust {} (e.g. curl --cacert {}); never use it in production",
        made.ca.display(),
        made.ca.display()
    );
    Ok(super::OK)
}

//! Building the application from a [`Config`] and running it until stopped.
//!
//! `Application::build` does everything that can fail at start (rules, certificates,
//! binding the port) so tests can bind port 0 and learn the address before serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::http::{self, AppState};
use crate::rules::{Defaults, Pool, Registry};
use crate::tls::{self, CertStore};

pub struct Application {
    addr: SocketAddr,
    listener: std::net::TcpListener,
    /// `[tls.acme] http_listen`: challenges and redirects in clear text.
    plain: Option<(SocketAddr, std::net::TcpListener)>,
    tls: axum_server::tls_rustls::RustlsConfig,
    state: AppState,
    handle: axum_server::Handle<SocketAddr>,
    // Kept alive for as long as the server runs.
    _watchers: Vec<notify::RecommendedWatcher>,
    _certs: Arc<CertStore>,
    /// `[fleet] publish_folder`: the rules folder, loaded to be published.
    _folder: Option<Arc<Registry>>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        config.validate().map_err(anyhow::Error::msg)?;
        keep_private(&config).context("making lookout's own files private")?;
        let (certs, acme) = match &config.acme {
            Some(settings) => {
                own_files_not_configured(&config.certs)?;
                let (acme, certs, _) =
                    crate::acme::Acme::open(settings.clone(), &config.certs.join("acme"))
                        .context("preparing the ACME certificate cache")?;
                (certs, Some(acme))
            }
            None => {
                if let Some(made) =
                    tls::ensure_dev_certs(&config.certs).context("preparing certificates")?
                {
                    tracing::warn!(
                        "no certificate in {}: made a development CA ({}) and a certificate for {} ({}). Clients must trust the CA; production needs a certificate from a public CA (README, \"Production HTTPS\")",
                        config.certs.display(),
                        made.ca.display(),
                        made.hosts.join(", "),
                        made.cert.display()
                    );
                }
                let certs =
                    CertStore::open(&config.certs).context("loading the server certificate")?;
                (Arc::new(certs), None)
            }
        };

        let defaults = Defaults {
            budget: config.budget,
            margin: config.margin,
            ..Defaults::default()
        };
        // A fleet instance serves the revisions in the store, written out under its data
        // folder by the fleet's follower; otherwise the rules folder.
        let served_root = if config.fleet.rules_from_store {
            let root = crate::fleet::rules_root(&config.data);
            std::fs::create_dir_all(&root)
                .with_context(|| format!("cannot make the folder {}", root.display()))?;
            root
        } else {
            config.rules.clone()
        };
        let registry = Arc::new(Registry::load(&served_root, defaults.clone()).with_context(
            || {
                format!(
                    "cannot read the rules folder {}; create it or pass --rules",
                    served_root.display()
                )
            },
        )?);
        if !config.fleet.rules_from_store
            && registry.all().is_empty()
            && registry.problems().is_empty()
        {
            tracing::warn!(
                "no rule sets in {}; add a folder with a .rhai rule",
                config.rules.display()
            );
        }

        let mut watchers = Vec::new();
        if !config.fleet.rules_from_store {
            watchers.push(registry.watch().context("watching the rules folder")?);
        }
        if acme.is_none() {
            // With ACME the new certificate is swapped in by the task that obtained it.
            watchers.push(certs.watch().context("watching the certificate folder")?);
        }

        let listener = std::net::TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let plain = match config.acme.as_ref().and_then(|a| a.http_listen) {
            Some(at) => {
                let plain = std::net::TcpListener::bind(at)
                    .with_context(|| format!("cannot listen on {at} ([tls.acme] http_listen)"))?;
                plain.set_nonblocking(true)?;
                Some((plain.local_addr()?, plain))
            }
            None => None,
        };
        let tls =
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(certs.server_config()));
        let location = config.store_location().map_err(anyhow::Error::msg)?;
        let store = crate::store::open(&location).map_err(|e| {
            anyhow::anyhow!("cannot open the request/response log ({location}): {e}")
        })?;
        if let (Some(bytes), crate::store::Location::Sqlite(_)) =
            (config.store_max_file_bytes, &location)
        {
            store
                .limit_size(bytes)
                .map_err(|e| anyhow::anyhow!("[store] max_file_mb: {e}"))?;
        }
        let recorder = crate::store::recorder::Recorder::start(store, config.recorder.clone())
            .context("starting the log's recorder")?;
        tracing::info!(store = %location, "recording calls");
        if !config.events.octopi.secrets.is_empty() {
            tracing::info!(
                "{}",
                crate::events::octopi::replay_protection(&config.events.octopi)
            );
        }
        let instance: Arc<str> = config.instance_name(addr.port()).into();
        let shadow =
            crate::fleet::shadow::Shadow::start(config.shadow.clone(), recorder.store().clone())
                .context("starting the shadow runs of candidate revisions")?;
        let fleet = Arc::new(crate::fleet::Fleet::new(
            recorder.store().clone(),
            registry.clone(),
            config.fleet.clone(),
            &config.data,
            &instance,
            shadow,
        ));
        let mut folder = None;
        {
            // The first pass before serving: the current revisions (and candidates) in
            // place, and with `publish_folder` the folder published first.
            let fleet = fleet.clone();
            let (store, rules, publish) = (
                recorder.store().clone(),
                config.rules.clone(),
                config.fleet.publish_folder,
            );
            let name = instance.to_string();
            let published = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let folder = if publish {
                    let folder = Arc::new(Registry::load(&rules, defaults).with_context(|| {
                        format!(
                            "cannot read the rules folder {} to publish it ([fleet] publish_folder)",
                            rules.display()
                        )
                    })?);
                    let publisher = Arc::new(crate::fleet::FolderPublisher::new(
                        store,
                        &name,
                        fleet.clone(),
                    ));
                    publisher.publish(&folder, None);
                    let watcher = folder
                        .watch_then(move |folder, changed| publisher.publish(folder, Some(changed)))
                        .context("watching the rules folder to publish it")?;
                    Some((folder, watcher))
                } else {
                    None
                };
                if let Err(e) = fleet.sync(true) {
                    if fleet.serves_store() {
                        anyhow::bail!("cannot read the fleet's rule revisions: {e}");
                    }
                }
                Ok(folder)
            })
            .await??;
            if let Some((registry, watcher)) = published {
                watchers.push(watcher);
                folder = Some(registry);
            }
        }
        fleet.follow().context("following the fleet's revisions")?;
        let admin =
            crate::http::admin::Admin::load(config.admin_token.as_ref(), &config.data, addr)
                .map(|a| a.with_users(&config.users))
                .context("preparing the log viewer's admin token")?;
        let metrics: Arc<crate::metrics::Metrics> = Arc::default();
        let state = AppState {
            pool: Arc::new(Pool::new(config.rule_threads)?),
            recorder,
            uploads: Arc::new(http::body::Uploads::new(
                config.http.upload_buffer_bytes,
                config.http.body_timeout,
                metrics.clone(),
            )),
            metrics,
            admin: Arc::new(admin),
            instance,
            permits: Arc::new(Semaphore::new(config.max_concurrent_calls)),
            registry,
            certs: certs.clone(),
            acme,
            fleet,
            config: Arc::new(config),
        };
        Ok(Application {
            addr,
            listener,
            plain,
            tls,
            state,
            handle: axum_server::Handle::new(),
            _watchers: watchers,
            _certs: certs,
            _folder: folder,
        })
    }

    /// The shared state (tests reach the recorder and its store through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The plain-HTTP listener's address (`[tls.acme] http_listen`).
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain.as_ref().map(|(addr, _)| *addr)
    }

    /// A handle that stops the server gracefully (calls in flight finish).
    pub fn stopper(&self) -> Stopper {
        Stopper {
            handle: self.handle.clone(),
            grace: self.state.config.budget + Duration::from_secs(1),
        }
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, rules = %self.state.registry.root().display(), "lookout listening (HTTPS)");
        let app = http::router(self.state.clone());
        let limits = &self.state.config.http;
        let files = http::conn::raise_open_files_limit();
        if (files as usize) < limits.max_connections + 64 {
            tracing::warn!(
                open_files = files,
                max_connections = limits.max_connections,
                "the open-file limit is below [http] max_connections plus room for lookout's own files; raise it (ulimit -n) or lower max_connections"
            );
        }
        let metrics = self.state.metrics.clone();
        let mut server = axum_server::from_tcp_rustls(self.listener, self.tls)?
            .map(|tls| {
                let tls = tls.handshake_timeout(limits.handshake_timeout);
                http::conn::Gate::new(tls, limits, metrics.clone())
            })
            // An HTTP/2 connection must bring its first request within the header
            // timeout too (HTTP/1's heads are bounded by hyper's header timeout below).
            .first_request_timeout(limits.header_timeout)
            .accept_error_handler(move |peer, err| {
                // Refusals at the gate are counted there; what is left is TLS.
                if err.kind() == std::io::ErrorKind::TimedOut {
                    metrics.cut("handshake_timeout");
                } else if !matches!(err.kind(), std::io::ErrorKind::Other) {
                    metrics.cut("handshake_failed");
                }
                tracing::debug!(?peer, "connection not accepted: {err}");
            });
        // ACME: ordering and renewing in the background; http-01 and redirects on the
        // plain listener.
        let acme_task = self.state.acme.as_ref().map(|acme| acme.spawn());
        let ocsp_task = crate::ocsp::spawn(self.state.certs.clone());
        let plain_task = match (self.plain, &self.state.acme) {
            (Some((at, listener)), Some(acme)) => {
                tracing::info!(addr = %at, "plain HTTP: ACME challenges, and a redirect to HTTPS for everything else");
                let router = http::plain::router(acme.clone(), self.addr.port());
                // The same limits as the HTTPS listener (its own count of connections).
                let gate = http::conn::Gate::new(
                    axum_server::accept::DefaultAcceptor::new(),
                    limits,
                    self.state.metrics.clone(),
                );
                let mut plain = axum_server::from_tcp(listener)?
                    .acceptor(gate)
                    .handle(self.handle.clone());
                plain
                    .http_builder()
                    .http1()
                    .header_read_timeout(limits.header_timeout);
                Some(tokio::spawn(plain.serve(router.into_make_service())))
            }
            _ => None,
        };
        let builder = server.http_builder();
        builder
            .http1()
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192));
        builder
            .http2()
            .max_concurrent_streams(limits.max_streams)
            .max_header_list_size(limits.max_header_bytes as u32)
            .max_pending_accept_reset_streams(limits.max_streams as usize)
            .max_local_error_reset_streams(1024);
        server
            .handle(self.handle)
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await?;
        ocsp_task.abort();
        if let Some(task) = acme_task {
            task.abort();
        }
        if let Some(task) = plain_task {
            task.abort();
        }
        // Calls answered are in the queue: write them before going.
        let recorder = self.state.recorder.clone();
        tokio::task::spawn_blocking(move || recorder.shutdown()).await?;
        tracing::info!("lookout stopped");
        Ok(())
    }
}

/// With `[tls.acme]`, `certs/` must not hold a certificate of the operator's own: the
/// two ways would fight over what is served. lookout's development certificate (made
/// by `lookout serve` on its defaults) is not one: ACME serves from `certs/acme/`.
fn own_files_not_configured(certs: &std::path::Path) -> anyhow::Result<()> {
    let cert = certs.join(tls::CERT_FILE);
    let Ok(pem) = std::fs::read(&cert) else {
        return Ok(());
    };
    if tls::is_development_certificate(&pem) {
        return Ok(());
    }
    anyhow::bail!(
        "both [tls.acme] and a certificate file ({}) are configured: remove [tls.acme] (and LOOKOUT_ACME_*) to serve the file, or move {} and {} out of {} to have ACME obtain the certificate",
        cert.display(),
        tls::CERT_FILE,
        tls::KEY_FILE,
        certs.display()
    )
}

/// lookout's own files (the log, its WAL, the admin token, keys) are its user's alone:
/// everything the process creates from here on is made without group or other access
/// (umask 077), the data folder is 0700, and files already there from an earlier
/// version are tightened to 0600, said once in the log.
fn keep_private(config: &Config) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask only sets the process's file mode creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let tighten = |path: &std::path::Path, mode: u32| -> std::io::Result<()> {
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(());
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            tracing::warn!(
                path = %path.display(),
                "was readable by group or others; made it {mode:o}"
            );
        }
        Ok(())
    };
    std::fs::create_dir_all(&config.data)?;
    tighten(&config.data, 0o700)?;
    tighten(&config.data.join("admin-token"), 0o600)?;
    if let Ok(crate::store::Location::Sqlite(db)) = config.store_location() {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            tighten(std::path::Path::new(&name), 0o600)?;
        }
    }
    Ok(())
}

#[derive(Clone)]
pub struct Stopper {
    handle: axum_server::Handle<SocketAddr>,
    grace: Duration,
}

impl Stopper {
    /// Stops accepting connections and lets calls in flight finish (up to one budget).
    pub fn stop(&self) {
        self.handle.graceful_shutdown(Some(self.grace));
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing calls in flight");
}

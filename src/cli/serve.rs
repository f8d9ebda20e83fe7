//! `lookout serve`: the HTTPS server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::app::{self, Application};
use crate::config::{self, Config, LogFormat};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  lookout serve\n  lookout serve --listen 127.0.0.1:9443 --rules /srv/lookout/rules\n  lookout serve --config /etc/lookout/lookout.toml --log-format json\n\nWith no certificate in --certs, a development CA and a certificate for localhost are made there."
)]
pub struct ServeArgs {
    /// A lookout.toml with settings (flags and LOOKOUT_* variables override it)
    #[arg(long, env = "LOOKOUT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 0.0.0.0:8443]
    #[arg(long, env = "LOOKOUT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The rules folder [default: rules]
    #[arg(long, env = "LOOKOUT_RULES")]
    pub rules: Option<PathBuf>,
    /// Folder with cert.pem and key.pem [default: certs]
    #[arg(long, env = "LOOKOUT_CERTS")]
    pub certs: Option<PathBuf>,
    /// Folder for lookout's own files [default: data]
    #[arg(long, env = "LOOKOUT_DATA")]
    pub data: Option<PathBuf>,
    /// Where the request/response log lives: sqlite:<path> or postgres://... [default: sqlite:<data>/lookout.db]
    #[arg(long, env = "LOOKOUT_STORE_URL")]
    pub store: Option<String>,
    /// Log line format [default: text]
    #[arg(long, env = "LOOKOUT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Serve the rules folder, or the newest revisions in the shared PostgreSQL store
    /// (a fleet) [default: folder]
    #[arg(long, env = "LOOKOUT_RULES_FROM", value_name = "folder|store")]
    pub rules_from: Option<String>,
    /// Publish the rules folder's changes as revisions to the fleet (one instance)
    #[arg(long, env = "LOOKOUT_PUBLISH_FOLDER", value_parser = clap::builder::FalseyValueParser::new())]
    pub publish_folder: bool,
}

impl ServeArgs {
    pub fn config(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(config::File::read(path)?, path)?,
            None => Config::default(),
        };
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if let Some(v) = self.rules {
            config.rules = v;
        }
        if let Some(v) = self.certs {
            config.certs = v;
        }
        if let Some(v) = self.data {
            config.data = v;
        }
        if let Some(v) = self.store {
            config.store_url = Some(v);
        }
        if let Some(v) = self.log_format {
            config.log_format = v;
        }
        if let Some(v) = &self.rules_from {
            config.fleet.rules_from_store =
                config::FleetSettings::parse_rules(v).map_err(anyhow::Error::msg)?;
        }
        if self.publish_folder {
            config.fleet.publish_folder = true;
        }
        config.event_credentials_from_env();
        config.acme = config::AcmeSettings::from_env(config.acme.as_ref(), |name| {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        })
        .map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let config = args.config()?;
    crate::init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = Application::build(config).await?;
        let stopper = app.stopper();
        tokio::spawn(async move {
            app::shutdown_signal().await;
            stopper.stop();
        });
        app.run_until_stopped().await
    })?;
    Ok(super::OK)
}

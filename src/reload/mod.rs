//! Configuration reload on SIGHUP, without dropping a connection.
//!
//! A reload reads the same file again, with the same flags and environment on top (so flags
//! still win), and validates it as at start. If anything is invalid, every invalid field is
//! logged at error level, `redis_sidecar_config_reloads_total{result="error"}` counts it, and
//! the running configuration stays. Otherwise a new policy chain is built and swapped in
//! ([`crate::policy::swap`]); each connection takes it at its next batch.
//!
//! What a reload applies: `[auth]`/`[[tenants]]`, `[budget]`, `[slowlog]`, `[compression]`.
//! Everything else needs a restart; a reload that changes it logs a warning naming the
//! settings ("takes effect at restart: server.listen, upstream.url") and ignores them.
//!
//! What survives a reload:
//! - The slow log's entries, while it stays on (threshold and length change in place; a
//!   shorter log drops its oldest entries). Turned off, its entries are gone.
//! - The budget's count: a new limit or cost table applies to what was already spent in the
//!   window. A new window length starts a window holding the old count; in shared mode the
//!   count lives in the upstream (per window length) and survives any change of limit or lease.
//! - Authenticated sessions whose user still exists with the same password and prefix. A
//!   session whose credentials were changed or removed is signed out at its next command
//!   (`-NOAUTH ...`, then it may AUTH again on the same connection). Connections that never
//!   authenticated must AUTH once a reload makes authentication required.
//! - Compression settings apply to new writes; values written compressed earlier are still
//!   restored (they are recognized by their header), even after compression is turned off.
//!
//! Invariant: the background tasks of a replaced chain stop when it is replaced
//! ([`layers::Layers`]); the reloader owns the chain in force and drops it at shutdown.

pub mod layers;
pub mod restart;

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use metrics::{Counter, Label};
use tokio::sync::watch;

use crate::config::{Cli, Config, ConfigError};
use crate::connection::Backend;
use crate::policy::swap::ChainSwap;
pub use layers::Layers;

/// Reloads of the configuration, by result: `[ok, error]`.
static RELOADS: LazyLock<[Counter; 2]> = LazyLock::new(|| {
    let counter = |result: &'static str| {
        crate::metrics::counter(
            &crate::metrics::names::CONFIG_RELOADS,
            vec![Label::from_static_parts("result", result)],
        )
    };
    [counter("ok"), counter("error")]
});

/// Owns the chain in force and replaces it on reload.
pub struct Reloader {
    /// The flags the process started with (None: reloads are not possible, e.g. in tests that
    /// build a server from a [`Config`] alone).
    cli: Option<Cli>,
    /// The configuration the process started with (for the restart-only settings).
    running: Config,
    backend: Backend,
    swap: Arc<ChainSwap>,
    layers: Layers,
}

impl Reloader {
    /// Builds the first chain for `config`. Must run inside a tokio runtime.
    pub fn new(cli: Option<Cli>, config: Config, backend: Backend) -> Reloader {
        // Both series exported from the start, at 0.
        LazyLock::force(&RELOADS);
        let layers = Layers::build(&config, &backend, None);
        let cli = cli.map(|mut cli| {
            // Re-read the file that was read at start, even if the default file appears later.
            cli.config = config.file.clone();
            cli
        });
        Reloader {
            cli,
            running: config,
            swap: ChainSwap::new(layers.chain.clone()),
            backend,
            layers,
        }
    }

    /// The chain in force, for connections.
    pub fn swap(&self) -> &Arc<ChainSwap> {
        &self.swap
    }

    /// Loads the configuration again (`env` stands for the environment) and, if valid, puts
    /// its chain in force. On error nothing changes.
    pub fn reload_with_env(
        &mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let Some(cli) = &self.cli else {
            return Err(ConfigError(vec![
                "reload: this server was not started from flags; nothing to reload".into(),
            ]));
        };
        if cli.config.is_none() {
            // Without a file, a reload would read the same environment and flags again.
            return Err(ConfigError(vec![
                "reload: no configuration file was read at start (--config FILE, or config/sidecar.toml); nothing to reload".into(),
            ]));
        }
        let loaded = Config::load_with_env(cli, env)?;
        let restart = restart::changed(&self.running, &loaded);
        if !restart.is_empty() {
            tracing::warn!(
                "configuration reload: takes effect at restart: {}",
                restart.join(", ")
            );
        }
        // The CA file was read again by the load: new upstream connections trust what it
        // holds now (a rotated CA), those already open go on. Not if skipping verification
        // was turned on or off: that waits for a restart, as logged.
        let same_verification =
            loaded.tls_insecure_skip_verify == self.running.tls_insecure_skip_verify;
        if let (Backend::Upstream(upstream), Some(tls), true) =
            (&self.backend, &loaded.tls, same_verification)
        {
            if let Some(client) = &upstream.config.tls {
                client.replace(tls.clone());
            }
        }
        let layers = Layers::build(&loaded, &self.backend, Some(&self.layers));
        self.swap.replace(layers.chain.clone());
        // Dropping the old layers stops their tasks; connections still holding the old chain
        // finish their batch with it.
        self.layers = layers;
        Ok(())
    }

    /// As [`Reloader::reload_with_env`] with the process environment; logs and counts the
    /// result.
    pub fn reload(&mut self) {
        let file = self.file();
        let result =
            self.reload_with_env(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        match result {
            // Logged before counted: whoever sees the count finds the log line written.
            Ok(()) => {
                tracing::info!(file = %file, "configuration reloaded");
                RELOADS[0].increment(1);
            }
            Err(e) => {
                tracing::error!(file = %file, "configuration reload refused, the running configuration is kept: {e}");
                RELOADS[1].increment(1);
            }
        }
    }

    fn file(&self) -> String {
        let file: Option<&PathBuf> = self.cli.as_ref().and_then(|c| c.config.as_ref());
        file.map_or_else(|| "(none)".into(), |f| f.display().to_string())
    }

    /// Reloads on every SIGHUP `hangups` receives until `shutdown`; then drops the chain's
    /// layers (stopping their tasks). Without flags to reload from, only waits.
    pub fn spawn(mut self, mut shutdown: watch::Receiver<bool>, mut hangups: Hangups) {
        if self.cli.is_none() {
            hangups = Hangups::none();
        }
        tokio::spawn(async move {
            loop {
                let hangup = hangups.next();
                tokio::select! {
                    _ = shutdown.changed() => break,
                    Some(()) = hangup => {
                        tracing::info!("SIGHUP received: reloading the configuration");
                        self.reload();
                    }
                }
            }
            drop(self);
        });
    }
}

/// SIGHUPs, watched from before the configuration is read (see `main`): SIGHUP's default
/// action ends the process, so one sent while the sidecar starts would otherwise kill it;
/// watched, it becomes a reload once the sidecar serves.
pub struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    /// Installs the SIGHUP handler (within a runtime context); a failure is logged and reloads
    /// are off.
    pub fn watch() -> Hangups {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signal = signal(SignalKind::hangup())
                .map_err(|e| tracing::warn!(error = %e, "cannot watch SIGHUP; reloads are off"))
                .ok();
            Hangups { signal }
        }
        #[cfg(not(unix))]
        Hangups {}
    }

    /// No SIGHUPs (a server run in-process, without reloads).
    pub fn none() -> Hangups {
        Hangups {
            #[cfg(unix)]
            signal: None,
        }
    }

    /// Completes with the next SIGHUP (`None` if the handler is gone); never without a watch.
    async fn next(&mut self) -> Option<()> {
        #[cfg(unix)]
        if let Some(signal) = self.signal.as_mut() {
            return signal.recv().await;
        }
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests;

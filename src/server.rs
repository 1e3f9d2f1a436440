//! The accept loop: client limit, one task per connection, graceful shutdown.
//!
//! Shutdown (SIGTERM, SIGINT, or the future given to [`Server::run`]): stop accepting, tell
//! every connection to stop reading and finish what is in flight, wait for them up to
//! [`DRAIN_TIMEOUT`], then return.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::config::{Cli, Config};
use crate::connection::{self, Backend, Shared};
use crate::failover::{monitor, Failover, Journal};
use crate::protocol::Limits;
use crate::reload::{Hangups, Reloader};
use crate::store::{Store, StoreConfig};
use crate::upstream::tls::TlsClient;
use crate::upstream::{Upstream, UpstreamConfig};

/// How long connections get to finish after shutdown begins.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the embedded store sweeps expired keys, and how many per database per sweep.
const EXPIRE_EVERY: Duration = Duration::from_millis(100);
const EXPIRE_BATCH: usize = 200;

/// A bound, not yet running, sidecar.
pub struct Server {
    listener: TcpListener,
    http: crate::http::HttpServer,
    config: Config,
    backend: Backend,
    /// The primary store's append-only file, when persistence is on.
    aof: Option<Arc<Journal>>,
    /// The flags to reload the configuration with on SIGHUP, and the SIGHUPs (None: no reloads).
    reload: Option<(Cli, Hangups)>,
}

impl Server {
    /// Binds the client and HTTP listeners (so a port in use fails here, before anything runs).
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let http = crate::http::HttpServer::bind(config.http).await?;
        let mut aof = None;
        let backend = match &config.upstream {
            Some(url) => {
                let failover = if config.fallback {
                    let store = Store::new(StoreConfig {
                        maxmemory: config.maxmemory,
                        policy: config.maxmemory_policy,
                        script_time_limit: config.script_time_limit,
                    });
                    let journal = Journal::open(&config.journal_dir)?;
                    Some(Arc::new(Failover::open(store, journal)))
                } else {
                    None
                };
                let upstream = UpstreamConfig {
                    url: url.clone(),
                    connect_timeout: config.connect_timeout,
                    command_timeout: config.command_timeout,
                    connections: config.upstream_connections,
                    dedicated: config.dedicated_connections,
                    coalesce_below_rtt: config.coalesce_below_rtt,
                    tls: config.tls.clone().map(|t| Arc::new(TlsClient::new(t))),
                };
                Backend::Upstream(Arc::new(Upstream::start(upstream, failover)))
            }
            None => {
                let store = Store::new(StoreConfig {
                    maxmemory: config.maxmemory,
                    policy: config.maxmemory_policy,
                    script_time_limit: config.script_time_limit,
                });
                if config.appendonly {
                    aof = Some(crate::store::aof::open(
                        &store,
                        &config.data_dir,
                        config.appendfsync,
                    )?);
                }
                Backend::Embedded(store)
            }
        };
        Ok(Server {
            listener,
            http,
            config,
            backend,
            aof,
            reload: None,
        })
    }

    /// Reloads the configuration on SIGHUP, from the same file with the same flags (`cli`,
    /// the flags `config` was loaded with) and environment; see [`crate::reload`].
    pub fn reload_on_sighup(mut self, cli: Cli, hangups: Hangups) -> Server {
        self.reload = Some((cli, hangups));
        self
    }

    /// The address clients connect to (useful when the configured port was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// Serves until `stop` completes, then drains.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        // The policy chain, replaced on SIGHUP (crate::reload).
        let (cli, hangups) = match self.reload.take() {
            Some((cli, hangups)) => (Some(cli), hangups),
            None => (None, Hangups::none()),
        };
        let reloader = Reloader::new(cli, self.config.clone(), self.backend.clone());
        let shared = Shared {
            backend: self.backend.clone(),
            limits: Limits {
                max_request_bytes: self.config.max_request_bytes,
                ..Limits::default()
            },
            idle_timeout: self.config.idle_timeout,
            pubsub_output_limit: self.config.pubsub_output_limit,
            shutdown: shutdown_rx.clone(),
            chain: reloader.swap().cache(),
        };
        reloader.spawn(shutdown_rx.clone(), hangups);
        match &self.backend {
            Backend::Embedded(store) => {
                tracing::info!(listen = %self.local_addr(), "serving from the embedded store (no upstream configured)");
                tokio::spawn(expire_loop(store.clone(), shutdown_rx.clone()));
                if let Some(aof) = &self.aof {
                    tracing::info!(file = %aof.path().display(), appendfsync = aof.fsync().as_str(), "persisting to an append-only file");
                    tokio::spawn(aof.clone().run_writer());
                    tokio::spawn(crate::store::aof::auto_rewrite(
                        store.clone(),
                        aof.clone(),
                        self.config.auto_aof_rewrite_min_size,
                        shutdown_rx.clone(),
                    ));
                }
            }
            Backend::Upstream(up) => {
                if let Some(failover) = &up.failover {
                    tokio::spawn(failover.journal.clone().run_writer());
                    tokio::spawn(expire_loop(failover.store.clone(), shutdown_rx.clone()));
                    tokio::spawn(monitor::run(
                        failover.clone(),
                        up.config.clone(),
                        self.config.health_interval,
                        shutdown_rx.clone(),
                    ));
                }
                if up.config.url.tls && self.config.tls_insecure_skip_verify {
                    tracing::warn!("upstream.tls_insecure_skip_verify is on: the upstream's certificate is NOT verified");
                }
                tracing::info!(listen = %self.local_addr(), upstream = %up.config.url, "forwarding to upstream");
            }
        }
        tokio::spawn(self.http.run(self.backend.clone(), shutdown_rx.clone()));
        let max_clients = self.config.max_clients;
        let slots = Arc::new(Semaphore::new(max_clients));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = self.listener.accept() => {
                    let (mut socket, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, max_clients, "refusing client: max number of clients reached");
                        crate::metrics::client_refused();
                        tokio::spawn(async move {
                            let _ = socket.write_all(b"-ERR max number of clients reached\r\n").await;
                        });
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        connection::serve(socket, shared).await;
                        drop(slot);
                    });
                }
            }
        }
        tracing::info!("shutting down: draining connections");
        let _ = shutdown_tx.send(true);
        drop(self.listener);
        let drained =
            tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(max_clients as u32)).await;
        if drained.is_err() {
            tracing::warn!("drain timed out; closing remaining connections");
        }
        if let Some(aof) = &self.aof {
            // Whatever the fsync policy, a clean stop leaves every acknowledged write on disk.
            if let Err(e) = aof.flush(true) {
                tracing::error!(error = %e, file = %aof.path().display(), "append-only file flush at shutdown failed");
            }
        }
        tracing::info!("stopped");
    }
}

async fn expire_loop(store: Store, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(EXPIRE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => { store.expire_sweep(EXPIRE_BATCH); }
            _ = shutdown.changed() => return,
        }
    }
}

/// Completes on SIGTERM (Railway's stop signal) or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

use clap::Parser;
use redis_sidecar::config::{Cli, Config};
use redis_sidecar::{logging, server};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init();
    let config = match Config::load(&cli) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("redis-sidecar: {e}");
            std::process::exit(2);
        }
    };
    if cli.check_config {
        println!("configuration OK");
        return Ok(());
    }
    // SIDECAR_THREADS=1: everything on one thread; N > 1: N worker threads. By default one thread
    // in front of an upstream (measured: cross-thread wake-ups cost a proxy more than a second
    // core gains, benches/RESULTS.md) and tokio's multi-threaded scheduler for the embedded store.
    let default_threads = if config.upstream.is_some() { 1 } else { 0 };
    let threads: usize = std::env::var("SIDECAR_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(default_threads);
    let runtime = match threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        0 => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    runtime.block_on(async {
        let server = server::Server::bind(config).await?.reload_on_sighup(cli);
        server.run(server::termination_signal()).await;
        Ok(())
    })
}

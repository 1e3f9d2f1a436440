use clap::Parser;
use redis_sidecar::config::{Cli, Config};
use redis_sidecar::reload::Hangups;
use redis_sidecar::{logging, server};

/// mimalloc instead of the system allocator: every request allocates its argument vector and
/// every reply frees buffers, and glibc's malloc and its cache misses were the largest single
/// cost of the embedded store at `-P 16` (0.58x of redis-server's GET throughput with glibc,
/// 0.81-0.88x with mimalloc, side by side; benches/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init();
    // SIDECAR_THREADS=1 (the default): everything on one thread; N > 1: N worker threads; 0: one
    // per core. Measured on 2 cores (benches/RESULTS.md): cross-thread wake-ups and contention
    // cost more than a second core gains, for forwarding and for the embedded store (whose data
    // sits behind one lock, as Redis's sits on one thread).
    let threads: usize = match std::env::var("SIDECAR_THREADS") {
        Err(_) => 1,
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            eprintln!(
                "redis-sidecar: invalid configuration:\n  SIDECAR_THREADS: '{text}' is not a whole number; use 1 (one thread), N worker threads, or 0 (one per core)"
            );
            std::process::exit(2);
        }),
    };
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
    // Before the configuration is read: from here on a SIGHUP is a reload, not the end.
    let hangups = {
        let _context = runtime.enter();
        Hangups::watch()
    };
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
    runtime.block_on(async {
        let server = server::Server::bind(config)
            .await?
            .reload_on_sighup(cli, hangups);
        server.run(server::termination_signal()).await;
        Ok(())
    })
}

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = server::Server::bind(config).await?;
        server.run(server::termination_signal()).await;
        Ok(())
    })
}

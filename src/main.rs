//! `gatehouse`: one binary for every process of the platform.
use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into()),
        )
        .init();
    let cli = gatehouse::cli::Cli::parse();
    if let Err(e) = gatehouse::cli::run(cli).await {
        eprintln!("gatehouse: {e:#}");
        std::process::exit(1);
    }
}

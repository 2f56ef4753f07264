//! `streamhouse`: parse settings, build the broker, run it.

use clap::Parser;
use streamhouse::broker::Broker;
use streamhouse::config::{Args, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = EnvFilter::try_from_env("STREAMHOUSE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();

    let config = match Config::from_args(Args::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("streamhouse: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let broker = match Broker::build(config).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tokio::select! {
        result = broker.run() => {
            if let Err(e) = result {
                tracing::error!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        _ = shutdown_signal() => {
            // Nothing acknowledged lives only in memory, so stopping here
            // loses nothing; unacknowledged batches are retried by clients.
            tracing::info!("shutting down");
        }
    }
    std::process::ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

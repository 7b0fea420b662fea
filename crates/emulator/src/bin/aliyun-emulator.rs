//! `aliyun-emulator`: RAM, IMS, ResourceManager and STS on one local port, from a seed file.
//! Usage and seed format: `docs/emulator.md`.

use clap::Parser;

use ado_emulator::server::{Opts, serve};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EMULATOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let opts = Opts::parse();
    match serve(opts).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aliyun-emulator: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

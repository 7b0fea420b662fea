//! Entry point of the operator binary: installs the TLS crypto provider and hands over to the CLI.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // reqwest is built with `rustls-no-provider`: without a process-wide provider every HTTPS call
    // would fail. An error only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    account_deletion_operator::cli::main().await
}

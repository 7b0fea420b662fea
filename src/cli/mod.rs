//! Command line of the operator binary: `run` (the controller), `crd` (prints the CRD) and
//! `plan` (inventory and plan of one member outside a cluster).

pub mod plan;
pub mod run;

use clap::{Parser, Subcommand};

/// `account-deletion-operator`.
#[derive(Debug, Parser)]
#[command(
    name = "account-deletion-operator",
    version,
    about = "Empties and deletes Alibaba Cloud Resource Directory member accounts from AccountDeletion objects"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the controller (in a cluster, or against KUBECONFIG).
    Run(Box<run::RunArgs>),
    /// Prints the CustomResourceDefinition YAML of every CRD (what crds/ contains), as one
    /// multi-document stream for `kubectl apply -f -`.
    Crd,
    /// Inventories one member and prints its plan; changes nothing.
    Plan(Box<plan::PlanArgs>),
}

/// Parses arguments and runs the subcommand; the process exit code.
pub async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match crate::crd::all_crds() {
            Ok(all) => {
                let docs: Vec<String> = all.into_iter().map(|(_, y)| y).collect();
                print!("{}", docs.join("---\n"));
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: rendering the CRD failed: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Run(args) => run::run(*args).await,
        Command::Plan(args) => plan::run(*args).await,
    }
}

//! `plan`: inventories one member account through its access role and prints the plan the
//! controller would run. Read-only: only List/Get calls and STS AssumeRole are made.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use ado_aliyun::client::{AliyunClient, DEFAULT_ACCESS_ROLE};
use ado_aliyun::config::ClientConfig;
use ado_aliyun::credentials::{Credentials, role_arn};
use ado_core::{Inventory, Kind, Plan, PlanOptions, RetainSpec};

/// Environment variable holding the management AccessKey id.
pub const ENV_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
/// Environment variable holding the management AccessKey secret.
pub const ENV_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
/// Optional environment variable holding an STS token for the management credentials.
pub const ENV_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// How the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Counts and numbered actions for people.
    Table,
    /// One JSON document (inventory counts, the plan with its hash, and the actions in words).
    Json,
}

/// Flags of `plan`. Credentials come from `ALIBABA_CLOUD_ACCESS_KEY_ID`,
/// `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and optionally `ALIBABA_CLOUD_SECURITY_TOKEN` (the management
/// account's).
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The member account to inventory (16 digits).
    #[arg(long)]
    pub account_id: String,
    /// Role assumed in the member (always retained).
    #[arg(long, default_value = DEFAULT_ACCESS_ROLE)]
    pub access_role_name: String,
    /// One base URL for every product (an emulator, `http://127.0.0.1:18080`); default: the real
    /// public endpoints.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Kinds to empty (comma-separated or repeated); default: all of them.
    #[arg(long, value_delimiter = ',')]
    pub kinds: Vec<Kind>,
    /// `kind=glob` names never touched (`users=breakglass`, `roles=Prod*`); repeatable.
    #[arg(long, value_parser = parse_retain)]
    pub retain: Vec<(Kind, String)>,
    /// `table` or `json`.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

/// Parses one `--retain kind=glob`.
///
/// # Errors
/// A message when the `=` or the kind is wrong.
pub fn parse_retain(s: &str) -> Result<(Kind, String), String> {
    let (kind, glob) = s
        .split_once('=')
        .ok_or_else(|| format!("--retain {s:?} must be kind=glob (e.g. users=breakglass)"))?;
    let kind: Kind = kind.trim().parse().map_err(|e| format!("--retain {s:?}: {e}"))?;
    let glob = glob.trim();
    if glob.is_empty() {
        return Err(format!("--retain {s:?} has an empty pattern"));
    }
    Ok((kind, glob.to_string()))
}

/// Builds the `spec.ram.retain` equivalent of the `--retain` flags.
#[must_use]
pub fn retain_spec(pairs: &[(Kind, String)]) -> RetainSpec {
    let mut r = RetainSpec::default();
    for (kind, glob) in pairs {
        let list = r.patterns_mut(*kind);
        list.push(glob.clone());
    }
    r
}

/// Reads the management credentials from the environment.
///
/// # Errors
/// A message naming the missing variable.
pub fn credentials_from_env(get: impl Fn(&str) -> Option<String>) -> Result<Credentials, String> {
    let need = |name: &str| -> Result<String, String> {
        get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!("{name} is not set; export the management account's AccessKey ({ENV_ACCESS_KEY_ID} and {ENV_ACCESS_KEY_SECRET}, optionally {ENV_SECURITY_TOKEN})")
            })
    };
    let c = Credentials::new(need(ENV_ACCESS_KEY_ID)?, need(ENV_ACCESS_KEY_SECRET)?);
    Ok(
        match get(ENV_SECURITY_TOKEN)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
        {
            Some(t) => c.with_token(t),
            None => c,
        },
    )
}

/// Renders the human-readable result.
#[must_use]
pub fn render_table(inv: &Inventory, plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let counts = inv.counts();
    let _ = writeln!(out, "Inventory of account {}:", inv.account_id);
    let _ = writeln!(out, "  {:<20} {:>6}", "KIND", "COUNT");
    for kind in &inv.kinds {
        let n = counts.get(kind).copied().unwrap_or(0);
        let _ = writeln!(out, "  {:<20} {n:>6}", kind.as_str());
    }
    let recycled = inv.recycled_users();
    if recycled > 0 {
        let _ = writeln!(out, "  (and {recycled} deleted user(s) in the IMS recycle bin)");
    }
    let _ = writeln!(out);
    if plan.is_empty() {
        let _ = writeln!(out, "Plan {}: nothing to do.", plan.hash);
    } else {
        let _ = writeln!(out, "Plan {} ({} actions):", plan.hash, plan.actions.len());
        let _ = writeln!(out, "  {:>4}  {:<32} {:<14} ACTION", "#", "API", "AFTER");
        for (i, a) in plan.actions.iter().enumerate() {
            let after = if a.deps.is_empty() {
                "-".to_string()
            } else {
                a.deps
                    .iter()
                    .map(|d| (d + 1).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let _ = writeln!(
                out,
                "  {:>4}  {:<32} {after:<14} {}",
                i + 1,
                a.action.api_action(),
                a.action
            );
        }
    }
    if !plan.retained.is_empty() {
        let _ = writeln!(out, "\nRetained:");
        for (kind, name) in &plan.retained {
            let _ = writeln!(out, "  {} {name}", kind.noun());
        }
    }
    if !plan.kept.is_empty() {
        let _ = writeln!(out, "\nKept:");
        for k in &plan.kept {
            let _ = writeln!(out, "  {}", k.reason);
        }
    }
    out
}

/// Renders the JSON document.
///
/// # Errors
/// Serialisation failure (not expected).
pub fn render_json(inv: &Inventory, plan: &Plan) -> Result<String, serde_json::Error> {
    let counts = inv.counts();
    let inventory: BTreeMap<&str, usize> = inv
        .kinds
        .iter()
        .map(|k| (k.as_str(), counts.get(k).copied().unwrap_or(0)))
        .collect();
    let steps: Vec<String> = plan.actions.iter().map(|a| a.action.to_string()).collect();
    let doc = serde_json::json!({
        "accountId": inv.account_id,
        "inventory": inventory,
        "recycledUsers": inv.recycled_users(),
        "planHash": plan.hash,
        "steps": steps,
        "plan": plan,
    });
    serde_json::to_string_pretty(&doc)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs `plan`; prints to stdout, errors to stderr.
pub async fn run(args: PlanArgs) -> ExitCode {
    init_tracing();
    match plan(&args).await {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn plan(args: &PlanArgs) -> Result<String, String> {
    let account = args.account_id.trim();
    if account.is_empty() || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "--account-id {account:?} must be the member's numeric account id"
        ));
    }
    let config = match args.endpoint.as_deref().filter(|e| !e.trim().is_empty()) {
        Some(e) => crate::controller::aliyun_directory::client_config(Some(e), None)
            .map_err(|m| m.replace("spec.endpoint", "--endpoint"))?,
        None => ClientConfig::default(),
    };
    let kinds: BTreeSet<Kind> = if args.kinds.is_empty() {
        Kind::ALL.into_iter().collect()
    } else {
        args.kinds.iter().copied().collect()
    };
    let mut opts = PlanOptions {
        kinds: kinds.clone(),
        retain: retain_spec(&args.retain),
        access_role: args.access_role_name.clone(),
        access_role_id: None,
    };
    // Validate the patterns before any call.
    opts.retain
        .compile(&opts.access_role)
        .map_err(|e| e.to_string().replace("spec.ram.retain.", "--retain "))?;
    let creds = credentials_from_env(|k| std::env::var(k).ok())?;
    let mgmt = AliyunClient::new(config, creds).map_err(|e| format!("cannot build the client: {e}"))?;
    let session = ado_aliyun::sts::sanitize_session_name("account-deletion-operator-plan");
    let member = mgmt
        .assume_role_client(account, &args.access_role_name, &session)
        .await
        .map_err(|e| {
            format!(
                "AssumeRole into {} failed: {e}",
                role_arn(account, &args.access_role_name)
            )
        })?;
    // The role the session really is stays out of the plan, whatever its name's spelling.
    opts.access_role_id = ado_core::PlanApi::session_role(&member)
        .await
        .map_err(|e| format!("GetCallerIdentity in account {account} failed: {e}"))?
        .map(|s| s.role_id);
    let inv = ado_core::discover(&member, &kinds, account)
        .await
        .map_err(|e| format!("inventory of account {account} failed: {e}"))?;
    let plan = ado_core::build(&inv, &opts).map_err(|e| e.to_string())?;
    match args.output {
        OutputFormat::Table => Ok(render_table(&inv, &plan)),
        OutputFormat::Json => render_json(&inv, &plan).map_err(|e| format!("rendering JSON failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_flags() {
        assert_eq!(
            parse_retain("users=break*").unwrap(),
            (Kind::Users, "break*".to_string())
        );
        assert!(parse_retain("users").unwrap_err().contains("kind=glob"));
        assert!(parse_retain("people=x").unwrap_err().contains("unknown RAM kind"));
        let r = retain_spec(&[
            (Kind::Roles, "Prod*".into()),
            (Kind::ServiceLinkedRoles, "AliyunServiceRoleForECS".into()),
        ]);
        assert_eq!(r.roles, vec!["Prod*".to_string()]);
        assert_eq!(r.service_linked_roles.len(), 1);
    }

    #[test]
    fn env_credentials_name_the_missing_variable() {
        let e = credentials_from_env(|_| None).unwrap_err();
        assert!(e.starts_with(ENV_ACCESS_KEY_ID), "{e}");
        let e = credentials_from_env(|k| (k == ENV_ACCESS_KEY_ID).then(|| "LTAI".to_string())).unwrap_err();
        assert!(e.starts_with(ENV_ACCESS_KEY_SECRET), "{e}");
        let c = credentials_from_env(|k| match k {
            ENV_ACCESS_KEY_ID => Some("LTAI".into()),
            ENV_ACCESS_KEY_SECRET => Some("sec".into()),
            _ => None,
        })
        .unwrap();
        assert!(c.security_token.is_none());
    }

    #[test]
    fn renders_an_empty_plan() {
        let mut inv = Inventory::new("2000000000000001");
        inv.kinds = Kind::ALL.into_iter().collect();
        let plan = ado_core::build(&inv, &PlanOptions::default()).unwrap();
        let t = render_table(&inv, &plan);
        assert!(t.contains("Inventory of account 2000000000000001"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&render_json(&inv, &plan).unwrap()).unwrap();
        assert_eq!(j["accountId"], "2000000000000001");
    }
}

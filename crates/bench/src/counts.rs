//! What the emulator's counters and dumps say about a run: the call totals a row reports, the
//! objects left, when each account's first deletion arrived.

use serde_json::Value;

use ado_testkit::Emulator;

/// A number field of a JSON object (0 when absent).
pub fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// What a row reports from the emulator's counters (`GET /__emulator/calls`).
pub struct CallTotals {
    pub total: u64,
    pub mutating: u64,
    pub discovery: u64,
    pub throttled_pct: f64,
}

impl CallTotals {
    pub fn of(calls: &Value) -> CallTotals {
        let totals = calls.get("totals").cloned().unwrap_or(Value::Null);
        let total = u(calls, "total");
        let throttled: u64 = calls
            .get("byCode")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("Throttling"))
                    .map(|(_, v)| v.as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
        CallTotals {
            total,
            mutating: u(&totals, "mutating"),
            discovery: u(&totals, "read"),
            throttled_pct: if total > 0 {
                100.0 * throttled as f64 / total as f64
            } else {
                0.0
            },
        }
    }
}

/// Objects in these accounts as the emulator's dump counts them (see `Row::all_objects`).
pub async fn object_counts(emu: &Emulator, accounts: &[String]) -> u64 {
    let mut sum = 0u64;
    for a in accounts {
        let v = emu.dump(a).await;
        let ram = v.get("ram").unwrap_or(&v);
        let len = |k: &str| ram.get(k).and_then(Value::as_array).map_or(0, |x| x.len() as u64);
        sum += [
            "users",
            "groups",
            "roles",
            "serviceLinkedRoles",
            "policies",
            "virtualMfaDevices",
            "samlProviders",
            "oidcProviders",
        ]
        .iter()
        .map(|k| len(k))
        .sum::<u64>();
        sum += u(ram, "accessKeys") + u(ram, "loginProfiles");
        sum += u(ram, "policyVersions").saturating_sub(len("policies"));
    }
    sum
}

/// The first successful mutating call of each member account, seconds after the counters were
/// reset: (earliest, latest) over the members that made one. The management account is left
/// out: its mutating calls (`DeleteAccount`) come last by design and say nothing about when a
/// member's RAM started to empty.
pub fn first_deletions(calls: &Value) -> Option<(f64, f64, usize)> {
    let m = calls.get("firstMutationMs")?.as_object()?;
    let secs: Vec<f64> = m
        .iter()
        .filter(|(account, _)| account.as_str() != super::MGMT_ACCOUNT)
        .map(|(_, ms)| ms)
        .filter_map(Value::as_u64)
        .map(|ms| ms as f64 / 1000.0)
        .collect();
    let lo = secs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = secs.iter().copied().fold(0.0, f64::max);
    (!secs.is_empty()).then_some((lo, hi, secs.len()))
}

/// A rate-bound fleet is bound by the global budget (all calls) or, when that is the looser one,
/// by each account's own limit (as for one account: its calls over the limit).
pub fn fleet_bound(total: u64, accounts: usize, global_qps: f64, rate: u32) -> (f64, String) {
    let global = total as f64 / global_qps;
    let per_account = total as f64 / accounts.max(1) as f64 / f64::from(rate.max(1));
    if global >= per_account {
        (global, format!("all calls/{global_qps:.0}/s"))
    } else {
        (per_account, format!("all/acct/{rate}/s"))
    }
}

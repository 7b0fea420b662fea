//! The floors a run is compared with: what the API's shape and the limits allow at best.

use serde_json::Value;

use ado_core::Plan;

/// Longest chain of dependent actions in the plan (1 = everything can run at once): with a
/// latency per call, no run is faster than this many calls one after the other.
pub fn plan_depth(plan: &Plan) -> usize {
    let n = plan.actions.len();
    let mut depth = vec![0usize; n];
    let mut missing: Vec<usize> = plan.actions.iter().map(|a| a.deps.len()).collect();
    let dependents = plan.dependents();
    let mut ready: Vec<usize> = (0..n).filter(|&i| missing[i] == 0).collect();
    for &i in &ready {
        depth[i] = 1;
    }
    while let Some(i) = ready.pop() {
        for &j in &dependents[i] {
            depth[j] = depth[j].max(depth[i] + 1);
            missing[j] -= 1;
            if missing[j] == 0 {
                ready.push(j);
            }
        }
    }
    depth.into_iter().max().unwrap_or(0)
}

fn len(ram: &Value, k: &str) -> u64 {
    ram.get(k).and_then(Value::as_array).map_or(0, |x| x.len() as u64)
}

fn num(ram: &Value, k: &str) -> u64 {
    ram.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// Pages of a listing of `n` items at `page` per call (an empty listing is one call).
fn pages(n: u64, page: u64) -> u64 {
    n.div_ceil(page).max(1)
}

/// The listing calls of one inventory of `ram` (an emulator dump's `ram`): IMS users and RAM
/// groups, roles and policies page by 1,000; identity providers and applications by 100; system
/// policies, MFA devices, service credentials, the recycle bin, the default domain and each side of
/// the application provisioning listings are one call each.
fn listings(ram: &Value) -> u64 {
    let roles = len(ram, "roles") + len(ram, "serviceLinkedRoles");
    pages(len(ram, "users"), 1000)
        + pages(len(ram, "groups"), 1000)
        + pages(roles, 1000)
        + pages(len(ram, "policies"), 1000)
        + 1 // system policies (their AttachmentCount)
        + 1 // virtual MFA devices
        + pages(len(ram, "samlProviders"), 100)
        + pages(len(ram, "oidcProviders"), 100)
        + pages(len(ram, "applications"), 100)
        + 2 // provisioned applications: inner and external
        + 1 // service credentials, all users at once
        + 1 // recycle bin
        + 1 // default domain
}

/// The fewest read calls that find everything in one account (`dump`: `GET
/// /__emulator/accounts/{id}` before the run) and then confirm it is gone.
pub fn discovery_floor(dump: &Value) -> u64 {
    let ram = dump.get("ram").unwrap_or(dump);
    let users = len(ram, "users");
    let groups = len(ram, "groups");
    let memberships = if groups > 0 { groups.min(users) } else { 0 };
    let attachments = num(ram, "principals").min(num(ram, "attachedPolicies"));
    let per_object = users // ListAccessKeys: RAM has no account-wide key listing
        + memberships
        + attachments
        + len(ram, "applications") // ListAppSecretIds
        + len(ram, "serviceLinkedRoles") // one deletion-task status read each
        + len(ram, "recycleBin"); // keys of each recycled user
    // The verifying look lists every kind again (one page each: only what is kept remains).
    let verify = listings(&Value::Null);
    listings(ram) + per_object + verify
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floor_counts_pages_and_the_cheaper_side_of_each_lookup() {
        let names = |p: &str, n: usize| (0..n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let dump = json!({"ram": {
            "users": names("u", 1500), "groups": names("g", 10), "roles": names("r", 5),
            "serviceLinkedRoles": names("AliyunServiceRoleFor", 2), "policies": names("p", 20),
            "applications": names("a", 3), "principals": 1515, "attachedPolicies": 30
        }});
        // listings: users 2 pages + 13 one-call listings; per object: 1500 key listings,
        // 10 member listings, 30 attachment listings, 3 secret listings, 2 task reads;
        // verifying look: 14 one-call listings.
        assert_eq!(discovery_floor(&dump), (2 + 13) + (1500 + 10 + 30 + 3 + 2) + 14);
    }
}

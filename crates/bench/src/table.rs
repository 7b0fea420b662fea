//! One row per scenario and regime, and the table they print as.

/// What one run measured, and the floors it is compared with.
pub struct Row {
    pub name: String,
    /// Top-level objects deleted.
    pub objects: u64,
    /// Every object removed, as the emulator counts them: top-level objects plus AccessKeys,
    /// login profiles and non-default policy versions (deleted with their policy).
    pub all_objects: u64,
    pub total: u64,
    pub mutating: u64,
    pub discovery: u64,
    pub wall: f64,
    /// The least time the run could take (see `floor_note`).
    pub floor: f64,
    /// What the floor counts.
    pub floor_note: String,
    /// The fewest discovery calls the API's shape allows for these accounts
    /// (`floor::discovery_floor`).
    pub discovery_floor: u64,
    pub throttled_pct: f64,
    pub rss_mib: f64,
    pub cpu: f64,
    pub failures: u64,
    pub extra: String,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Prints the rows and the legend.
pub fn print(rows: &[Row]) {
    println!();
    println!(
        "{:<15} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6} {:>5} {:>8} {:>8} {:<24} {:>5} {:>6} {:>7} {:>7} {:>6} {:>5}",
        "ROW",
        "OBJECTS",
        "ALL OBJ",
        "CALLS",
        "MUTATE",
        "DISCOV",
        "D FLR",
        "D/DF",
        "C/OBJ",
        "WALL s",
        "FLOOR s",
        "FLOOR IS",
        "W/F",
        "THR %",
        "RSS MiB",
        "CPU s",
        "FAIL",
        ""
    );
    for r in rows {
        println!(
            "{:<15} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6.2} {:>5.2} {:>8.2} {:>8.2} {:<24} {:>5.2} {:>6.2} {:>7.1} {:>7.2} {:>6}",
            r.name,
            r.objects,
            r.all_objects,
            r.total,
            r.mutating,
            r.discovery,
            r.discovery_floor,
            ratio(r.discovery as f64, r.discovery_floor as f64),
            ratio(r.total as f64, r.objects as f64),
            r.wall,
            r.floor,
            r.floor_note,
            ratio(r.wall, r.floor),
            r.throttled_pct,
            r.rss_mib,
            r.cpu,
            r.failures
        );
        if !r.extra.is_empty() {
            println!("{:<15} {}", "", r.extra.trim_end_matches("; "));
        }
    }
    println!(
        "\nOBJECTS: top-level objects deleted (users, groups, roles, service-linked roles, policies, MFA devices,\n\
         identity providers, applications). ALL OBJ: every object gone by the emulator's count (adds AccessKeys,\n\
         login profiles, policy versions, app secrets). DISCOV: every read call (discovery, verification, task polls).\n\
         D FLR: the fewest reads the API's shape allows: one inventory (listing pages; one key listing per user;\n\
         one member listing per group or per user, one attachment listing per attached policy or per principal,\n\
         whichever is fewer; one secret listing per application; one status read per service-linked role) and one\n\
         verifying look (the listings again). FLOOR: rate rows all calls (discovery included) / the limit; latency\n\
         rows calls x latency / calls in flight (or the dependency depth x latency if longer); Quota per phase\n\
         (discovery, then deletion) the larger of all calls / the account limit and hot calls / their quota;\n\
         fleet rows all calls / the global budget. W/F = WALL / FLOOR."
    );
}

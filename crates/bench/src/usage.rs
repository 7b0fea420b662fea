//! What a process used, from /proc: peak resident memory and CPU time (the worker's own, the
//! emulator's, the operator's).

/// `VmHWM` (peak resident set, KiB) of `/proc/<who>/status`, `who` a pid or `self` (0 when
/// unreadable).
fn peak_rss_of(who: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{who}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of `/proc/<who>/stat` (0 when unreadable).
fn cpu_of(who: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{who}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may contain spaces) start at ") ".
            let rest = s.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of stat; rest starts at field 3.
            let ut: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            Some((ut + st) / 100.0)
        })
        .unwrap_or(0.0)
}

/// Peak RSS (KiB) of process `pid`.
pub fn peak_rss_kib(pid: u32) -> u64 {
    peak_rss_of(&pid.to_string())
}

/// CPU seconds process `pid` used so far (0 for `None`: no process).
pub fn cpu_seconds(pid: Option<u32>) -> f64 {
    pid.map_or(0.0, |p| cpu_of(&p.to_string()))
}

/// Peak RSS (KiB) and CPU seconds of this process.
pub fn self_usage() -> (u64, f64) {
    (peak_rss_of("self"), cpu_of("self"))
}

/// Resets this process' peak RSS to what it holds now (`5` to `/proc/self/clear_refs`, Linux 4.0
/// and later), so a later [`self_usage`] reports the peak of what came after. Best effort.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

//! The process table from /proc, for processes the harness starts only indirectly: containerd
//! shims and the pods' processes (a shim daemonizes, so it is nobody's child here; a container's
//! process can outlive its killed shim). Everything is found from what the harness started (its
//! containerd's socket address), then killed by PID.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One process: pid, parent pid, argv, state letter (`Z` = zombie).
#[derive(Debug, Clone)]
pub struct Proc {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Arguments (argv[0] first).
    pub args: Vec<String>,
    /// State from /proc/PID/stat.
    pub state: char,
}

/// Every process visible in /proc right now (races with exiting processes are ignored).
pub fn table() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) S ppid ...": comm may hold spaces and parentheses; split after the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let args = std::fs::read(e.path().join("cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.push(Proc {
            pid,
            ppid,
            args,
            state,
        });
    }
    out
}

/// The value after `flag` in `args` (`-address SOCK`).
pub fn arg_after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// containerd-shim processes serving the containerd at socket `sock`.
pub fn shims_of(procs: &[Proc], sock: &Path) -> Vec<u32> {
    let sock = sock.to_string_lossy();
    procs
        .iter()
        .filter(|p| p.args.first().is_some_and(|a| a.contains("containerd-shim")))
        .filter(|p| arg_after(&p.args, "-address") == Some(sock.as_ref()))
        .map(|p| p.pid)
        .collect()
}

/// Every descendant of `roots` (not the roots themselves).
pub fn descendants(procs: &[Proc], roots: &[u32]) -> Vec<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    let mut queue: Vec<u32> = roots.to_vec();
    while let Some(p) = queue.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.insert(c) {
                queue.push(c);
            }
        }
    }
    seen.into_iter().collect()
}

/// SIGKILLs these PIDs (through kill(1): the crate forbids unsafe code). Errors for processes
/// that are already gone are ignored.
pub fn kill9(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-9")
        .args(pids.iter().map(u32::to_string))
        .stderr(std::process::Stdio::null())
        .status();
}

/// Whether process `pid` exists and is not a zombie (an exited child nobody reaped yet).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rfind(')').and_then(|i| s[i + 1..].trim_start().chars().next()))
        .is_some_and(|st| st != 'Z')
}

/// Waits until none of `pids` is alive (zombies count as gone) or `timeout` passes; the PIDs still
/// alive then.
pub fn wait_gone(pids: &[u32], timeout: Duration) -> Vec<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|&pid| alive(pid)).collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills every process tree of a test node whose containerd is gone: shims serving a socket under
/// a `ado-kube.*` directory (this harness and scripts/node-up.sh) while no containerd with that
/// directory's config.toml runs any more. Left behind only when a test process was SIGKILLed (its
/// Drop never ran; containerd and the kubelet die with it through PDEATHSIG, daemonized shims and
/// their containers do not). Returns how many processes it killed.
pub fn reap_orphaned_nodes() -> usize {
    let procs = table();
    let mut victims = Vec::new();
    for p in &procs {
        if !p.args.first().is_some_and(|a| a.contains("containerd-shim")) {
            continue;
        }
        let Some(sock) = arg_after(&p.args, "-address") else {
            continue;
        };
        if !(sock.contains("/ado-kube.") && sock.ends_with("/containerd.sock")) {
            continue;
        }
        let config = Path::new(sock).with_file_name("config.toml");
        let config = config.to_string_lossy();
        let containerd_alive = procs.iter().any(|q| {
            q.state != 'Z'
                && q.args.first().is_some_and(|a| a.ends_with("containerd"))
                && arg_after(&q.args, "--config") == Some(config.as_ref())
        });
        if !containerd_alive {
            victims.extend(descendants(&procs, &[p.pid]));
            victims.push(p.pid);
        }
    }
    if !victims.is_empty() {
        eprintln!(
            "test node harness: killing {} process(es) left by a test node whose containerd is gone: {victims:?}",
            victims.len()
        );
        kill9(&victims);
        wait_gone(&victims, Duration::from_secs(5));
    }
    victims.len()
}

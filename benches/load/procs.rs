//! Child processes: started, watched, stopped (also on Ctrl-C and failure), and measured
//! through `/proc`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

struct Running {
    pid: u32,
    name: String,
    child: Child,
}

/// Every child still running. A global, so the Ctrl-C handler and the guard reach them.
static CHILDREN: Mutex<Vec<Running>> = Mutex::new(Vec::new());
/// The scratch directory, removed by the Ctrl-C handler (which exits without unwinding).
static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

fn children() -> std::sync::MutexGuard<'static, Vec<Running>> {
    // A panic while holding the lock leaves a list that is still right; keep using it.
    CHILDREN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A started child: its id, a name for messages, and the file its output goes to.
#[derive(Debug)]
pub struct Proc {
    pub pid: u32,
    pub name: String,
    pub log: PathBuf,
}

/// Stops every child when dropped.
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        stop_all();
    }
}

pub fn set_scratch(dir: &Path) {
    let _ = SCRATCH.set(dir.to_path_buf());
}

pub fn remove_scratch() {
    if let Some(dir) = SCRATCH.get() {
        let _ = fs::remove_dir_all(dir);
    }
}

/// Starts `command` with stdout and stderr appended to `log`. With `tie_stdin`, its
/// standard input is a pipe that closes when this process dies, however it dies.
pub fn spawn(
    name: &str,
    mut command: Command,
    log: &Path,
    tie_stdin: bool,
) -> Result<Proc, String> {
    let open = || {
        File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot write {}: {e}", log.display()))
    };
    command.stdout(open()?).stderr(open()?);
    command.stdin(match tie_stdin {
        true => Stdio::piped(),
        false => Stdio::null(),
    });
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {name} ({program}): {e}"))?;
    let pid = child.id();
    children().push(Running {
        pid,
        name: name.to_string(),
        child,
    });
    Ok(Proc {
        pid,
        name: name.to_string(),
        log: log.to_path_buf(),
    })
}

/// `Some(status)` once the child has exited.
pub fn exited(proc: &Proc) -> Option<ExitStatus> {
    let mut list = children();
    let running = list.iter_mut().find(|r| r.pid == proc.pid)?;
    running.child.try_wait().ok().flatten()
}

/// Stops one child and waits for it.
pub fn stop(proc: &Proc) {
    let found = {
        let mut list = children();
        list.iter()
            .position(|r| r.pid == proc.pid)
            .map(|i| list.remove(i))
    };
    if let Some(running) = found {
        terminate(running);
    }
}

/// Stops every child, newest first (gateways before the upstream they talk to).
pub fn stop_all() {
    let all: Vec<Running> = children().drain(..).rev().collect();
    for running in all {
        terminate(running);
    }
}

/// SIGTERM, up to 3 s to exit, then SIGKILL. SIGTERM first because nginx's master only takes
/// its workers down on a signal it can handle; SIGKILL would orphan them on the port.
/// Signalling by pid is safe: a child not yet waited for keeps its pid, even as a zombie.
fn terminate(mut running: Running) {
    if matches!(running.child.try_wait(), Ok(Some(_))) {
        return;
    }
    // `kill(1)` because std has no SIGTERM and this crate forbids unsafe code (no libc).
    let termed = Command::new("kill")
        .args(["-TERM", &running.pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let deadline = Instant::now() + Duration::from_secs(3);
    while termed && Instant::now() < deadline {
        if matches!(running.child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Err(e) = running.child.kill() {
        eprintln!(
            "load: cannot kill {} (pid {}): {e}",
            running.name, running.pid
        );
    }
    let _ = running.child.wait();
}

/// The last `lines` lines of a log, indented, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let tail = &all[all.len().saturating_sub(lines)..];
    match tail.is_empty() {
        true => format!("    ({} is empty)", path.display()),
        false => tail
            .iter()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// (parent pid, utime + stime in clock ticks) from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    stat_split(pid).map(|(ppid, user, system)| (ppid, user + system))
}

/// (parent pid, utime, stime in clock ticks) from `/proc/<pid>/stat`.
fn stat_split(pid: u32) -> Option<(u32, u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2, the command name, may hold spaces and ')'; the fields after the last ')'
    // are fixed: the first of them is field 3 (state), so field n is at index n - 3.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime, stime))
}

/// `root` and every descendant: nginx works in child processes of its master.
fn tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some((ppid, _)) = stat(pid) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found
}

/// CPU time (user + system) used so far by `root` and its descendants.
pub fn cpu_time(root: u32) -> Option<Duration> {
    stat(root)?;
    let ticks: u64 = tree(root)
        .into_iter()
        .filter_map(stat)
        .map(|(_, t)| t)
        .sum();
    Some(Duration::from_micros(
        ticks.saturating_mul(1_000_000) / clock_ticks(),
    ))
}

/// System (kernel) CPU time used so far by `root` and its descendants; the rest of
/// [`cpu_time`] is user time.
pub fn system_time(root: u32) -> Option<Duration> {
    stat(root)?;
    let ticks: u64 = tree(root)
        .into_iter()
        .filter_map(stat_split)
        .map(|(_, _, system)| system)
        .sum();
    Some(Duration::from_micros(
        ticks.saturating_mul(1_000_000) / clock_ticks(),
    ))
}

/// CPU time the whole machine and this harness's own process tree (client, upstream,
/// gateways, peers: all children of this process) have used so far.
#[derive(Clone, Copy)]
pub struct Usage {
    machine: Duration,
    ours: Duration,
}

pub fn usage() -> Option<Usage> {
    // /proc/stat's first line: "cpu user nice system idle iowait irq softirq steal ..."
    let text = fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = text
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    let me = std::process::id();
    // Children already waited for (wrk after its run) leave the tree; their CPU time moves
    // to this process's cutime + cstime (fields 16 and 17), so count those too.
    let text = fs::read_to_string(format!("/proc/{me}/stat")).ok()?;
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    let reaped: u64 = [13, 14]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Some(Usage {
        machine: Duration::from_micros(busy.saturating_mul(1_000_000) / clock_ticks()),
        ours: cpu_time(me)? + Duration::from_micros(reaped * 1_000_000 / clock_ticks()),
    })
}

/// The CPU time other processes used between two readings: what disturbed a row.
pub fn foreign(before: Usage, after: Usage) -> Duration {
    let machine = after.machine.saturating_sub(before.machine);
    machine.saturating_sub(after.ours.saturating_sub(before.ours))
}

/// Peak resident memory (VmHWM) of `root` plus its descendants, in KiB. Summing counts
/// pages shared between nginx's processes more than once; freshgate and HAProxy are one
/// process, so for them it is exact.
pub fn peak_rss_kib(root: u32) -> Option<u64> {
    let sum: u64 = tree(root)
        .into_iter()
        .filter_map(|pid| status_kib(pid, "VmHWM:"))
        .sum();
    (sum > 0).then_some(sum)
}

/// A `kB` line of `/proc/<pid>/status`.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// `sysconf(_SC_CLK_TCK)`, asked of `getconf` (no libc here); 100 if that fails, which is
/// the value on every Linux architecture in practice.
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// The soft limit on open files, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Looks for an executable on `PATH` and in the sbin directories, where Debian puts
/// nginx and HAProxy but which a non-root `PATH` often lacks.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

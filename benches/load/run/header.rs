//! What a run says about itself: the lines above the table, and the chart's heading.

use super::*;
use crate::plot::Heading;

/// The machine and the run, read once at the start so the table and the chart agree.
pub(super) struct Machine {
    date: String,
    model: String,
    load: String,
    command: String,
}

impl Machine {
    pub(super) fn now() -> Machine {
        let model = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU model".into());
        let load = fs::read_to_string("/proc/loadavg")
            .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into());
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect();
        Machine {
            date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            model,
            load,
            command: format!("cargo bench --bench load -- {}", args.join(" ")),
        }
    }

    /// The lines above the table: date, machine, load, run settings, workers, the command.
    pub(super) fn header(&self, plan: &Plan) -> String {
        let o = &plan.options;
        let gateway = match plan.target {
            Some(addr) => format!("gateway: --target {addr}"),
            None => format!(
                "gateway: freshgate{}, access log {}",
                git_revision().map_or(String::new(), |r| format!(" {r}")),
                if o.access_log {
                    "on (info, to a file)"
                } else {
                    "off (RUST_LOG=warn)"
                }
            ),
        };
        format!(
            "freshgate load harness, {date}\n\
             machine: {cpus} CPUs (nproc), {model}; load average at start {load}\n\
             load: closed loop, HTTP/1.1 keep-alive, {conns} connections, {warm:?} warm-up + {dur:?} measured per row{rounds}, client on {threads} threads of the same machine\n\
             {gateway}\n\
             {workers}\n\
             command: {command}",
            date = self.date,
            model = self.model,
            load = self.load,
            cpus = cpus(),
            conns = o.connections,
            warm = o.warmup,
            dur = o.duration,
            threads = plan.client_threads,
            rounds = match o.repeat {
                1 => String::new(),
                n => format!(", median of {n} interleaved rounds"),
            },
            workers = match plan.options.workers {
                Some(_) => format!(
                    "{} (freshgate [server] workers, bare-hyper runtimes, nginx worker_processes, HAProxy nbthread)",
                    workers_line(plan)
                ),
                None => workers_line(plan),
            },
            command = self.command,
        )
    }

    /// The chart's title and the lines under it: the machine, the run, which histogram.
    pub(super) fn heading(&self, plan: &Plan) -> Heading {
        let o = &plan.options;
        let histograms = match o.repeat {
            1 => "each curve: the row's HDR histogram (one round)".to_string(),
            n => format!(
                "each curve: the HDR histogram of the row's median round by req/s (of {n} rounds, not merged)"
            ),
        };
        Heading {
            title: format!("freshgate load harness: latency percentiles, {}", self.date),
            lines: vec![
                format!(
                    "{} ({} CPUs); {} connections, closed loop, {:?} measured per row; {}",
                    self.model,
                    cpus(),
                    o.connections,
                    o.duration,
                    workers_line(plan)
                ),
                self.command.clone(),
                histograms,
            ],
        }
    }
}

/// `--workers`, as the gateways were given it.
fn workers_line(plan: &Plan) -> String {
    match (plan.target, plan.options.workers) {
        (Some(_), _) => "workers: the --target gateway's own".to_string(),
        (None, Some(n)) => format!("workers: {n} per gateway"),
        (None, None) => format!("workers: each gateway's default, one per CPU ({})", cpus()),
    }
}

fn git_revision() -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("git")
        .args(["-C", dir, "rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let rev = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let dirty = Command::new("git")
        .args(["-C", dir, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    Some(match dirty {
        true => format!("{rev} + uncommitted changes"),
        false => rev,
    })
}

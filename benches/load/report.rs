//! The table and the lines around it.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::client::Measured;
use crate::scenarios::Scenario;

/// One row's figures, from our client or from wrk.
pub struct Figures {
    pub rate: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: Option<u64>,
    pub errors: u64,
    pub cpu_us_per_request: Option<f64>,
    /// Of which system (kernel) time; the rest is user time.
    pub sys_us_per_request: Option<f64>,
    pub peak_rss_kib: Option<u64>,
    /// The latencies of the window, for `--plot` (none from wrk).
    pub histogram: Option<Histogram<u64>>,
}

impl Figures {
    pub fn from_measured(m: Measured, peak_rss_kib: Option<u64>) -> Figures {
        let q = |q: f64| m.histogram.value_at_quantile(q);
        Figures {
            rate: m.rate(),
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: Some(q(0.999)),
            errors: m.errors,
            cpu_us_per_request: m
                .cpu
                .filter(|_| m.requests > 0)
                .map(|cpu| cpu.as_secs_f64() * 1e6 / m.requests as f64),
            sys_us_per_request: m
                .system
                .filter(|_| m.requests > 0)
                .map(|sys| sys.as_secs_f64() * 1e6 / m.requests as f64),
            peak_rss_kib,
            histogram: Some(m.histogram),
        }
    }
}

pub enum Outcome {
    Measured(Figures),
    Skipped(String),
    Failed(String),
}

pub struct Row {
    pub scenario: Scenario,
    pub outcome: Outcome,
}

const HEADERS: [&str; 9] = [
    "scenario",
    "req/s",
    "p50",
    "p99",
    "p99.9",
    "errors",
    "CPU µs/req",
    "user + sys",
    "peak RSS",
];

pub fn latency(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=9_999 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.1} ms", us as f64 / 1e3),
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn cells(row: &Row) -> Vec<String> {
    let dash = || "-".to_string();
    let mut cells = vec![row.scenario.label().to_string()];
    match &row.outcome {
        Outcome::Measured(f) => cells.extend([
            thousands(f.rate.round() as u64),
            latency(f.p50_us),
            latency(f.p99_us),
            f.p999_us.map_or_else(dash, latency),
            thousands(f.errors),
            f.cpu_us_per_request
                .map_or_else(dash, |c| format!("{c:.1}")),
            f.cpu_us_per_request
                .zip(f.sys_us_per_request)
                .map_or_else(dash, |(c, s)| format!("{:.1} + {s:.1}", c - s)),
            f.peak_rss_kib.map_or_else(dash, mib),
        ]),
        Outcome::Skipped(why) => {
            cells.push(format!("skipped: {why}"));
            cells.extend(std::iter::repeat_n(String::new(), HEADERS.len() - 2));
        }
        Outcome::Failed(why) => {
            // The whole message (often a log tail) goes below the table.
            let first = why.lines().next().unwrap_or_default();
            cells.push(format!("failed: {}", first.trim_end_matches(':')));
            cells.extend(std::iter::repeat_n(String::new(), HEADERS.len() - 2));
        }
    }
    cells
}

/// A Markdown table with padded columns, so it reads in a terminal and pastes into the
/// README as is. Text columns are left-aligned, figures right-aligned.
pub fn table(rows: &[Row]) -> String {
    let body: Vec<Vec<String>> = rows.iter().map(cells).collect();
    // A `skipped:`/`failed:` message sits in the req/s cell and is left to overflow it;
    // only measured rows (and the headers) set the widths of the figure columns.
    let measured = |r: &&Vec<String>| !r[2].is_empty();
    let width = |i: usize| {
        let cells = body.iter().filter(|r| i == 0 || measured(r));
        cells
            .map(|r| r[i].chars().count())
            .chain(std::iter::once(HEADERS[i].chars().count()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..HEADERS.len()).map(width).collect();
    let line = |cells: &[String], out: &mut String| {
        out.push('|');
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let _ = match (i, cell.is_empty()) {
                (0, _) | (_, true) => write!(out, " {cell}{} |", " ".repeat(pad)),
                _ => write!(out, " {}{cell} |", " ".repeat(pad)),
            };
        }
        out.push('\n');
    };
    let mut out = String::new();
    line(&HEADERS.map(String::from), &mut out);
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        let dashes = "-".repeat((*w).max(3));
        let _ = match i {
            0 => write!(out, " {dashes} |"),
            _ => write!(out, " {}: |", &dashes[1..]),
        };
    }
    out.push('\n');
    for cells in &body {
        line(cells, &mut out);
    }
    out
}

/// Collapses repeated rows (`--repeat`) to the run with the median request rate, in table
/// order, and says how far the runs spread.
pub fn medians(rows: Vec<Row>) -> (Vec<Row>, Vec<String>) {
    let mut groups: Vec<(Scenario, Vec<Outcome>)> = Vec::new();
    for row in rows {
        match groups.iter_mut().find(|(s, _)| *s == row.scenario) {
            Some((_, outcomes)) => outcomes.push(row.outcome),
            None => groups.push((row.scenario, vec![row.outcome])),
        }
    }
    let mut spread = Vec::new();
    let mut out = Vec::new();
    for (scenario, outcomes) in groups {
        let runs = outcomes.len();
        let (mut measured, others): (Vec<Outcome>, Vec<Outcome>) = outcomes
            .into_iter()
            .partition(|o| matches!(o, Outcome::Measured(_)));
        let rate = |o: &Outcome| match o {
            Outcome::Measured(f) => f.rate,
            _ => 0.0,
        };
        measured.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
        if measured.len() > 1 {
            let rates: Vec<String> = measured
                .iter()
                .map(|o| thousands(rate(o).round() as u64))
                .collect();
            spread.push(format!(
                "{}: {} runs, req/s {} (median shown)",
                scenario.label(),
                measured.len(),
                rates.join(" / ")
            ));
        }
        if runs > measured.len() && !measured.is_empty() {
            spread.push(format!(
                "{}: {} of {runs} runs did not measure",
                scenario.label(),
                runs - measured.len()
            ));
        }
        let outcome = match measured.is_empty() {
            // The lower middle for an even count: never flatter than the data.
            false => measured.swap_remove((measured.len() - 1) / 2),
            true => others
                .into_iter()
                .next()
                .unwrap_or(Outcome::Skipped("no run".into())),
        };
        out.push(Row { scenario, outcome });
    }
    (out, spread)
}

/// Above this share of the machine's CPU time used by other processes, a row is disturbed.
const QUIET: f64 = 0.05;

/// Whether anything else ran during the measured windows (a compile moves every number).
pub fn noise(foreign: &[(Scenario, f64)]) -> String {
    let worst = foreign.iter().map(|(_, share)| *share).fold(0.0, f64::max);
    // The worst run of each row (rows repeat with --repeat), in table order.
    let mut per_row: Vec<(Scenario, f64)> = Vec::new();
    for &(scenario, share) in foreign {
        match per_row.iter_mut().find(|(s, _)| *s == scenario) {
            Some((_, worst)) => *worst = worst.max(share),
            None => per_row.push((scenario, share)),
        }
    }
    let disturbed: Vec<String> = per_row
        .iter()
        .filter(|(_, share)| *share > QUIET)
        .map(|(s, share)| format!("{} {:.0}%", s.label(), share * 100.0))
        .collect();
    match disturbed.is_empty() {
        true => format!(
            "quiet machine: other processes used at most {:.1}% of the CPU time during any row",
            worst * 100.0
        ),
        false => format!(
            "WARNING: other processes used CPU during these rows (share of the machine's CPU \
             time): {}. Their figures are disturbed; rerun on a quiet machine.",
            disturbed.join(", ")
        ),
    }
}

/// The bars (performance and revocation) that this run can judge, each met or not with its figures.
pub fn bars(rows: &[Row], idle_peak_kib: Option<u64>) -> Vec<String> {
    let get = |s: Scenario| {
        rows.iter()
            .find_map(|r| match (&r.outcome, r.scenario == s) {
                (Outcome::Measured(f), true) => Some(f),
                _ => None,
            })
    };
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let mut out = Vec::new();
    let Some(ours) = get(Scenario::AccessHs256) else {
        return out;
    };
    if let (Some(b), Some(a), Some(c)) = (
        get(Scenario::BareHyper),
        ours.cpu_us_per_request,
        get(Scenario::BareHyper).and_then(|b| b.cpu_us_per_request),
    ) {
        let ratio = a / c;
        out.push(format!(
            "access-hs256 CPU/req <= 1.1x bare-hyper: {} ({ratio:.2}x: {a:.1} vs {c:.1} µs; {:.0} vs {:.0} req/s)",
            verdict(ratio <= 1.1),
            ours.rate,
            b.rate
        ));
    }
    if let Some(h) = get(Scenario::Haproxy) {
        let ratio = ours.rate / h.rate;
        out.push(format!(
            "access-hs256 >= 1.25x haproxy jwt_verify req/s: {} ({ratio:.2}x)",
            verdict(ratio >= 1.25)
        ));
        out.push(format!(
            "access-hs256 p99 <= haproxy p99: {} ({} vs {})",
            verdict(ours.p99_us <= h.p99_us),
            latency(ours.p99_us),
            latency(h.p99_us)
        ));
    }
    if let Some(n) = get(Scenario::Nginx) {
        let ratio = ours.rate / n.rate;
        out.push(format!(
            "access-hs256 >= 1.0x nginx proxy_pass req/s: {} ({ratio:.2}x)",
            verdict(ratio >= 1.0)
        ));
        out.push(format!(
            "access-hs256 p99 <= nginx p99: {} ({} vs {})",
            verdict(ours.p99_us <= n.p99_us),
            latency(ours.p99_us),
            latency(n.p99_us)
        ));
        if let (Some(a), Some(b)) = (ours.cpu_us_per_request, n.cpu_us_per_request) {
            out.push(format!(
                "access-hs256 CPU/req < nginx CPU/req: {} ({a:.1} vs {b:.1} µs)",
                verdict(a < b)
            ));
        }
    }
    for s in [
        Scenario::AccessRs256,
        Scenario::AccessEs256,
        Scenario::AccessEdDsa,
    ] {
        if let Some(f) = get(s) {
            let ratio = f.rate / ours.rate;
            out.push(format!(
                "{} within 10% of access-hs256 req/s: {} ({ratio:.2}x)",
                s.name(),
                verdict(ratio >= 0.9)
            ));
        }
    }
    if let Some(r) = get(Scenario::Revocation) {
        let ratio = r.rate / ours.rate;
        out.push(format!(
            "access-hs256 with revocation >= 0.7x the req/s without: {} ({ratio:.2}x)",
            verdict(ratio >= 0.7)
        ));
        out.push(format!(
            "access-hs256 with revocation p99 at most 1 ms higher: {} ({} vs {})",
            verdict(r.p99_us <= ours.p99_us + 1000),
            latency(r.p99_us),
            latency(ours.p99_us)
        ));
    }
    if let Some(many) = get(Scenario::ManySubjects) {
        out.push(format!(
            "10k distinct tokens vs one repeated token: {:.2}x the req/s (reported, no bar)",
            many.rate / ours.rate
        ));
    }
    if let Some(kib) = idle_peak_kib {
        out.push(format!(
            "freshgate RSS < 64 MiB at 1,000 keep-alive connections: {} ({})",
            verdict(kib < 64 * 1024),
            mib(kib)
        ));
    }
    out
}

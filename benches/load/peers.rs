//! Peers: nginx, HAProxy and wrk, found on the machine and given configs from `bench/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::Figures;

pub const NGINX_CONF: &str = include_str!("../../bench/nginx.conf");
pub const HAPROXY_CFG: &str = include_str!("../../bench/haproxy.cfg");

/// A peer program and its version line, or why it cannot take part.
pub enum Found {
    Ready { program: PathBuf, version: String },
    Missing(String),
}

fn version_line(program: &Path, arg: &str) -> String {
    // nginx prints its version on stderr, HAProxy and wrk on stdout.
    Command::new(program)
        .arg(arg)
        .output()
        .map(|o| {
            let text = [o.stdout, o.stderr].concat();
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

pub fn nginx() -> Found {
    match crate::procs::find_program("nginx") {
        None => Found::Missing("nginx not installed (apt-get install nginx)".into()),
        Some(program) => {
            let version = version_line(&program, "-v");
            let version = version.trim_start_matches("nginx version: ").to_string();
            Found::Ready { program, version }
        }
    }
}

/// HAProxy, if it is 2.5 or later: `jwt_verify` arrived in 2.5.
pub fn haproxy() -> Found {
    let Some(program) = crate::procs::find_program("haproxy") else {
        return Found::Missing("haproxy not installed (apt-get install haproxy)".into());
    };
    let line = version_line(&program, "-v");
    let version = line
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string();
    let mut numbers = version.split(|c: char| !c.is_ascii_digit());
    let major: u32 = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let minor: u32 = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    match (major, minor) >= (2, 5) {
        true => Found::Ready {
            program,
            version: format!("HAProxy {version}"),
        },
        false => Found::Missing(format!(
            "haproxy {version:?} has no jwt_verify (needs 2.5 or later)"
        )),
    }
}

pub fn wrk() -> Found {
    match crate::procs::find_program("wrk") {
        None => Found::Missing("wrk not installed (apt-get install wrk)".into()),
        Some(program) => {
            let line = version_line(&program, "-v");
            let version = line
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            Found::Ready { program, version }
        }
    }
}

/// Parses wrk's `--latency` report into the table's figures (wrk has no p99.9).
pub fn parse_wrk(output: &str) -> Result<(Figures, u64), String> {
    let field = |prefix: &str| {
        output
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let rate: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or("no Requests/sec line in wrk's output")?;
    let requests: u64 = output
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or("no 'requests in' line in wrk's output")?;
    let p50 = field("50%")
        .and_then(wrk_latency_us)
        .ok_or("no 50% latency")?;
    let p99 = field("99%")
        .and_then(wrk_latency_us)
        .ok_or("no 99% latency")?;
    let non_2xx: u64 = field("Non-2xx or 3xx responses:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // "Socket errors: connect 0, read 0, write 0, timeout 0"
    let socket_errors: u64 = field("Socket errors:").map_or(0, |v| {
        v.split(',')
            .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    });
    let figures = Figures {
        rate,
        p50_us: p50,
        p99_us: p99,
        p999_us: None,
        errors: non_2xx + socket_errors,
        cpu_us_per_request: None,
        sys_us_per_request: None,
        peak_rss_kib: None,
        histogram: None,
    };
    Ok((figures, requests))
}

/// wrk's latency units: `us`, `ms`, `s`, `m`.
fn wrk_latency_us(text: &str) -> Option<u64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => return None,
    };
    Some((value * scale).round() as u64)
}

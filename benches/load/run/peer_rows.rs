//! The peer rows: nginx and HAProxy given configs from `bench/`, and wrk against freshgate.

use super::gateway::with_line;
use super::*;

/// A peer's config with `--workers N`: nginx's `worker_processes` (the template's `auto`
/// replaced), HAProxy's `nbthread` (added to `global`; its default is one per CPU).
fn with_workers(scenario: Scenario, config: &str, n: u16) -> Option<String> {
    match scenario {
        Scenario::Nginx => config.contains("worker_processes auto;").then(|| {
            config.replacen(
                "worker_processes auto;",
                &format!("worker_processes {n};"),
                1,
            )
        }),
        Scenario::Haproxy => with_line(config, "\nglobal\n", &format!("    nbthread {n}\n")),
        _ => Some(config.to_string()),
    }
}

impl Bench {
    /// Renders a peer's template (`origin`, `text`) for `port`, with `--workers`, into the
    /// scratch directory.
    fn peer_config(
        &self,
        scenario: Scenario,
        (origin, text): (&str, &str),
        port: u16,
    ) -> Result<PathBuf, String> {
        // nginx's master drops its workers to `nobody`, a user some systems lack; as root,
        // keep them root (a local benchmark, no exposure). Otherwise there is no switch.
        let user_line = if is_root() { "user root;" } else { "" };
        let config = render(
            text,
            origin,
            &[
                ("GATEWAY_PORT", port.to_string()),
                ("UPSTREAM_PORT", self.upstream_addr()?.port().to_string()),
                ("SECRET", SECRET.to_string()),
                ("DIR", self.dir.display().to_string()),
                ("USER_LINE", user_line.to_string()),
            ],
        )?;
        let config = match self.plan.options.workers {
            Some(n) => with_workers(scenario, &config, n)
                .ok_or_else(|| format!("{origin}: no place for --workers {n}"))?,
            None => config,
        };
        let path = self.dir.join(format!("{}.conf", scenario.name()));
        fs::write(&path, config).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    pub(super) async fn peer(
        &mut self,
        scenario: Scenario,
        found: Found,
        template: (&str, &str),
        validate: &[&str],
        serve: &[&str],
    ) -> Result<Outcome, String> {
        let program = match found {
            Found::Ready { program, .. } => program,
            Found::Missing(why) => return Ok(Outcome::Skipped(why)),
        };
        let port = free_port()?;
        let (origin, _) = template;
        let path = self.peer_config(scenario, template, port)?;
        let name = scenario.name();
        let fill = |args: &[&str]| -> Vec<String> {
            args.iter()
                .map(|a| {
                    a.replace("{config}", &path.display().to_string())
                        .replace("{dir}", &self.dir.display().to_string())
                })
                .collect()
        };
        let checked = Command::new(&program).args(fill(validate)).output();
        match checked {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                let text = [o.stdout, o.stderr].concat();
                return Ok(Outcome::Failed(format!(
                    "{name} refuses {origin}: {}",
                    String::from_utf8_lossy(&text)
                        .lines()
                        .next()
                        .unwrap_or_default()
                )));
            }
            Err(e) => {
                return Ok(Outcome::Failed(format!(
                    "cannot run {}: {e}",
                    program.display()
                )))
            }
        }
        let mut command = Command::new(&program);
        command.args(fill(serve));
        let proc = procs::spawn(name, command, &self.dir.join(format!("{name}.log")), false)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if let Err(e) = wait_ready(addr, &proc).await {
            procs::stop(&proc);
            return Ok(Outcome::Failed(e));
        }
        let workload = self.workload(addr, Scenario::AccessHs256)?;
        let outcome = self.measure(scenario, workload, Some(proc.pid)).await;
        procs::stop(&proc);
        Ok(outcome)
    }

    pub(super) async fn nginx(&mut self) -> Result<Outcome, String> {
        let error_log = "{dir}/nginx-error.log";
        self.peer(
            Scenario::Nginx,
            peers::nginx(),
            ("bench/nginx.conf", peers::NGINX_CONF),
            &["-t", "-q", "-p", "{dir}", "-c", "{config}", "-e", error_log],
            &["-p", "{dir}", "-c", "{config}", "-e", error_log],
        )
        .await
    }

    /// The bare-hyper floor: this harness re-executed as a minimal hyper 1 forwarder.
    pub(super) async fn bare_hyper(&mut self) -> Result<Outcome, String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this harness's own binary: {e}"))?;
        let mut command = Command::new(exe);
        let upstream = self.upstream_addr()?.to_string();
        command.args([
            "--baseline",
            &addr.to_string(),
            "--upstream-addr",
            &upstream,
        ]);
        if let Some(n) = self.plan.options.workers {
            command.args(["--workers", &n.to_string()]);
        }
        let log = self.dir.join("bare-hyper.log");
        let proc = procs::spawn("bare-hyper", command, &log, false)?;
        if let Err(e) = wait_ready(addr, &proc).await {
            procs::stop(&proc);
            return Ok(Outcome::Failed(e));
        }
        self.note("bare-hyper: a minimal hyper 1 forwarder (benches/load/baseline.rs; no routing, token check, limits or logs), the floor of a hyper-based gateway; compare CPU/req.");
        let workload = self.workload(addr, Scenario::AccessHs256)?;
        let outcome = self
            .measure(Scenario::BareHyper, workload, Some(proc.pid))
            .await;
        procs::stop(&proc);
        Ok(outcome)
    }

    pub(super) async fn haproxy(&mut self) -> Result<Outcome, String> {
        self.peer(
            Scenario::Haproxy,
            peers::haproxy(),
            ("bench/haproxy.cfg", peers::HAPROXY_CFG),
            &["-c", "-q", "-f", "{config}"],
            // -db: stay in the foreground, one process, so SIGTERM stops all of it.
            &["-db", "-f", "{config}"],
        )
        .await
    }

    /// wrk's own figures for access-hs256 against `addr`, and the gateway CPU per request
    /// it caused (over its whole run, connection setup included).
    pub(super) async fn wrk(&mut self, addr: SocketAddr, probe: Option<u32>) -> Outcome {
        let program = match peers::wrk() {
            Found::Ready { program, .. } => program,
            Found::Missing(why) => return Outcome::Skipped(why),
        };
        let workload = match self.workload(addr, Scenario::AccessHs256) {
            Ok(w) => w,
            Err(e) => return Outcome::Failed(e),
        };
        if let Err(e) = client::preflight(&workload).await {
            return Outcome::Failed(e);
        }
        let o = &self.plan.options;
        let token = workload.tokens[0].to_str().unwrap_or_default().to_string();
        let threads = cpus().min(o.connections as usize);
        // wrk takes whole seconds; round up so a short run still measures something.
        let seconds = o.duration.as_secs_f64().ceil().max(1.0) as u64;
        eprintln!(
            "load: wrk -t{threads} -c{} -d{seconds}s against {addr}",
            o.connections
        );
        let mut command = Command::new(&program);
        command
            .arg(format!("-t{threads}"))
            .arg(format!("-c{}", o.connections))
            .arg(format!("-d{seconds}s"))
            .arg("--latency")
            .arg("-H")
            .arg(format!("Authorization: {token}"))
            .arg(format!("http://{addr}{ACCESS_PATH}"));
        let log = self.dir.join("wrk.log");
        let cpu_before = probe.and_then(procs::cpu_time);
        let usage_before = procs::usage();
        let started = Instant::now();
        let proc = match procs::spawn("wrk", command, &log, false) {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(e),
        };
        let status = wait_exit(&proc, Duration::from_secs(seconds + 30)).await;
        let foreign = usage_before
            .zip(procs::usage())
            .map(|(before, after)| procs::foreign(before, after));
        let window = started.elapsed();
        procs::stop(&proc);
        let cpu_after = probe.and_then(procs::cpu_time);
        self.note_foreign(Scenario::Wrk, foreign, window);
        let output = fs::read_to_string(&log).unwrap_or_default();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                return Outcome::Failed(format!(
                    "wrk exited with {s}: {}",
                    output.lines().last().unwrap_or_default()
                ))
            }
            Err(e) => return Outcome::Failed(e),
        }
        match peers::parse_wrk(&output) {
            Ok((mut figures, requests)) => {
                if let (Some(before), Some(after), true) = (cpu_before, cpu_after, requests > 0) {
                    let cpu = after.saturating_sub(before).as_secs_f64() * 1e6;
                    figures.cpu_us_per_request = Some(cpu / requests as f64);
                }
                figures.peak_rss_kib = probe.and_then(procs::peak_rss_kib);
                self.note("access-hs256 (wrk): wrk's own figures (it reports no p99.9); CPU/req spans its whole run, connection setup included.");
                Outcome::Measured(figures)
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// A new freshgate, 1,000 connections each with one answered request, held idle.
    pub(super) fn versions(&self) -> Vec<String> {
        let mut out = Vec::new();
        let wanted = [
            (Scenario::Nginx, peers::nginx as fn() -> Found),
            (Scenario::Haproxy, peers::haproxy),
            (Scenario::Wrk, peers::wrk),
        ];
        for (scenario, find) in wanted {
            if self.plan.wants(scenario) {
                if let Found::Ready { version, .. } = find() {
                    out.push(version);
                }
            }
        }
        out
    }
}

//! The gateway side of a row: the upstream and freshgate processes, their configs (the template
//! bench/freshgate.toml plus the shared route table), and one measured row.

use super::*;

impl Bench {
    pub(super) fn secret(&self) -> Vec<u8> {
        match (&self.plan.target, &self.plan.options.secret) {
            (Some(_), Some(s)) => s.clone().into_bytes(),
            (Some(_), None) => b"secret".to_vec(),
            (None, _) => SECRET.as_bytes().to_vec(),
        }
    }

    pub(super) async fn start_upstream(&mut self) -> Result<(), String> {
        let port = match self.plan.options.upstream_port {
            0 => free_port()?,
            p => p,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this harness's own binary: {e}"))?;
        let mut command = Command::new(exe);
        command.args(["--upstream", &addr.to_string(), "--exit-on-stdin-eof"]);
        let log = self.dir.join("upstream.log");
        let proc = procs::spawn("the upstream", command, &log, true)?;
        wait_ready(addr, &proc).await?;
        self.upstream = Some((addr, proc));
        Ok(())
    }

    pub(super) fn upstream_addr(&self) -> Result<SocketAddr, String> {
        self.upstream
            .as_ref()
            .map(|(a, _)| *a)
            .ok_or_else(|| "the upstream is not running".to_string())
    }

    pub(super) fn gateway_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.gateway_port))
    }

    /// Writes a freshgate config with `jwt_key` as the `[jwt]` key lines, and the routes.
    pub(super) fn write_config(&self, name: &str, jwt_key: &str) -> Result<PathBuf, String> {
        let settings = render(
            FRESHGATE_TOML,
            "bench/freshgate.toml",
            &[
                ("GATEWAY_PORT", self.gateway_port.to_string()),
                ("UPSTREAM_PORT", self.upstream_addr()?.port().to_string()),
                ("JWT_KEY", jwt_key.to_string()),
            ],
        )?;
        let settings = match self.plan.options.workers {
            Some(n) => with_line(&settings, "[server]\n", &format!("workers = {n}\n"))
                .ok_or("bench/freshgate.toml has no [server] table for --workers")?,
            None => settings,
        };
        let text = format!("{settings}\n{ROUTES}");
        let path = self.dir.join(name);
        fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    pub(super) fn hs256_config(&self) -> Result<PathBuf, String> {
        self.write_config(
            "freshgate-hs256.toml",
            &format!("algorithms = [\"HS256\"]\nsecret = \"{SECRET}\""),
        )
    }

    /// `freshgate check`: `Err` carries its first error line.
    pub(super) fn check(&self, config: &Path) -> Result<(), String> {
        let output = Command::new(&self.gateway_bin)
            .arg("check")
            .arg("--config")
            .arg(config)
            .output()
            .map_err(|e| format!("cannot run {} check: {e}", self.gateway_bin.display()))?;
        if output.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&output.stderr);
        Err(text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("freshgate check failed without a message")
            .trim()
            .to_string())
    }

    /// A new freshgate process (fresh memory figures for every row) on the gateway port.
    pub(super) async fn start_freshgate(&self, config: &Path) -> Result<Proc, String> {
        let mut command = Command::new(&self.gateway_bin);
        command.arg("serve").arg("--config").arg(config);
        let level = if self.plan.options.access_log {
            "info"
        } else {
            "warn"
        };
        command.env("RUST_LOG", level);
        let log = self.dir.join("freshgate.log");
        let proc = procs::spawn("freshgate", command, &log, false)?;
        if let Err(e) = wait_ready(self.gateway_addr(), &proc).await {
            procs::stop(&proc);
            return Err(e);
        }
        Ok(proc)
    }

    /// Preflight, load, row. A failed preflight becomes a `failed:` row, not an abort.
    pub(super) async fn measure(
        &mut self,
        scenario: Scenario,
        workload: Workload,
        probe: Option<u32>,
    ) -> Outcome {
        if let Err(e) = client::preflight(&workload).await {
            return Outcome::Failed(e);
        }
        let o = &self.plan.options;
        eprintln!(
            "load: {} ({} connections, {:?} + {:?}){}",
            scenario.label(),
            o.connections,
            o.warmup,
            o.duration,
            probe.map_or(String::new(), |p| format!(", measuring pid {p}"))
        );
        match client::run(
            Arc::new(workload),
            o.connections,
            o.warmup,
            o.duration,
            probe,
        )
        .await
        {
            Ok(m) => {
                if let Some(e) = &m.first_error {
                    eprintln!("load: {}: first error: {e}", scenario.label());
                }
                self.note_foreign(scenario, m.foreign, m.window);
                let rss = probe.and_then(procs::peak_rss_kib);
                Outcome::Measured(Figures::from_measured(m, rss))
            }
            Err(e) => Outcome::Failed(e),
        }
    }

    /// A line for under the table, once however many rounds repeat it.
    pub(super) fn note(&mut self, line: impl Into<String>) {
        let line = line.into();
        if !self.notes.contains(&line) {
            self.notes.push(line);
        }
    }

    pub(super) fn note_foreign(
        &mut self,
        scenario: Scenario,
        foreign: Option<Duration>,
        window: Duration,
    ) {
        if let Some(foreign) = foreign {
            let capacity = window.as_secs_f64() * cpus() as f64;
            self.foreign
                .push((scenario, foreign.as_secs_f64() / capacity));
        }
    }

    pub(super) fn workload(
        &self,
        addr: SocketAddr,
        scenario: Scenario,
    ) -> Result<Workload, String> {
        let secret = self.secret();
        let (path, tokens, expected) = match scenario {
            Scenario::UpstreamDirect | Scenario::Public => (PUBLIC_PATH, vec![], StatusCode::OK),
            Scenario::FreshHs256 => (
                FRESH_PATH,
                vec![tokens::hs256(&secret, "bench-user", true)?],
                StatusCode::OK,
            ),
            Scenario::RejectedExpired => (
                ACCESS_PATH,
                vec![tokens::expired(&secret)?],
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Scenario::ManySubjects => (
                ACCESS_PATH,
                (0..MANY_SUBJECTS)
                    .map(|i| tokens::hs256(&secret, &format!("bench-user-{i}"), false))
                    .collect::<Result<_, _>>()?,
                StatusCode::OK,
            ),
            _ => (
                ACCESS_PATH,
                vec![tokens::hs256(&secret, "bench-user", false)?],
                StatusCode::OK,
            ),
        };
        Ok(Workload {
            addr,
            path: Uri::from_static(path),
            tokens,
            expected,
        })
    }
}

/// `text` with `line` inserted after the first `after`, if there is one.
pub(super) fn with_line(text: &str, after: &str, line: &str) -> Option<String> {
    let at = text.find(after)? + after.len();
    Some(format!("{}{line}{}", &text[..at], &text[at..]))
}

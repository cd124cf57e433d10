//! The rows against freshgate: a given `--target`, or the locally started gateway with every
//! token kind, and the idle-connection line.

use super::*;

impl Bench {
    pub(super) async fn run_target(&mut self, target: SocketAddr) -> Result<(), String> {
        let probe = self.plan.options.target_pid;
        for scenario in self.plan.rows.clone() {
            let outcome = match scenario {
                Scenario::UpstreamDirect => {
                    Outcome::Skipped("the upstream of a --target is not known".into())
                }
                Scenario::AccessRs256 | Scenario::AccessEs256 | Scenario::AccessEdDsa => {
                    Outcome::Skipped("--target runs sign HS256 only".into())
                }
                Scenario::Nginx | Scenario::Haproxy | Scenario::BareHyper => {
                    Outcome::Skipped("peers run without --target".into())
                }
                Scenario::Revocation => {
                    Outcome::Skipped("the harness starts the redis-server itself".into())
                }
                Scenario::Idle => {
                    self.note("idle-1000 runs only against a gateway the harness starts");
                    continue;
                }
                Scenario::Wrk => self.wrk(target, probe).await,
                _ => {
                    let workload = self.workload(target, scenario)?;
                    self.measure(scenario, workload, probe).await
                }
            };
            self.rows.push(Row { scenario, outcome });
        }
        Ok(())
    }

    pub(super) async fn run_local(&mut self) -> Result<(), String> {
        let hs256 = self.hs256_config()?;
        // A config the harness wrote and freshgate refuses means an API change: stop here.
        self.check(&hs256).map_err(|e| {
            format!(
                "freshgate refuses the generated config {}: {e}",
                hs256.display()
            )
        })?;
        for scenario in self.plan.rows.clone() {
            let outcome = match scenario {
                Scenario::Idle => continue,
                Scenario::UpstreamDirect => {
                    let upstream = self.upstream_addr()?;
                    let pid = self.upstream.as_ref().map(|(_, p)| p.pid);
                    let workload = self.workload(upstream, scenario)?;
                    self.note("upstream-direct: CPU and RSS are the upstream's own (no gateway in the path).");
                    self.measure(scenario, workload, pid).await
                }
                Scenario::AccessRs256 => self.asymmetric(scenario, Algorithm::RS256).await?,
                Scenario::AccessEs256 => self.asymmetric(scenario, Algorithm::ES256).await?,
                Scenario::AccessEdDsa => self.asymmetric(scenario, Algorithm::EdDSA).await?,
                Scenario::Nginx => self.nginx().await?,
                Scenario::BareHyper => self.bare_hyper().await?,
                Scenario::Haproxy => self.haproxy().await?,
                Scenario::Revocation => self.revocation().await?,
                Scenario::Wrk => {
                    let proc = self.start_freshgate(&hs256).await?;
                    let outcome = self.wrk(self.gateway_addr(), Some(proc.pid)).await;
                    procs::stop(&proc);
                    outcome
                }
                _ => {
                    let workload = self.workload(self.gateway_addr(), scenario)?;
                    let proc = self.start_freshgate(&hs256).await?;
                    let outcome = self.measure(scenario, workload, Some(proc.pid)).await;
                    procs::stop(&proc);
                    outcome
                }
            };
            self.rows.push(Row { scenario, outcome });
        }
        Ok(())
    }

    /// RS256, ES256, EdDSA: a real key pair from openssl, a config naming the public key,
    /// and a row only if freshgate accepts that config.
    pub(super) async fn asymmetric(
        &mut self,
        scenario: Scenario,
        alg: Algorithm,
    ) -> Result<Outcome, String> {
        let Some(openssl) = procs::find_program("openssl") else {
            return Ok(Outcome::Skipped("needs openssl to make a key pair".into()));
        };
        let name = scenario.name().trim_start_matches("access-");
        let private = self.dir.join(format!("{name}.key"));
        let public = self.dir.join(format!("{name}.pub.pem"));
        let keygen: &[&str] = match alg {
            Algorithm::RS256 => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            Algorithm::ES256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            _ => &["-algorithm", "ED25519"],
        };
        let mut genpkey = Command::new(&openssl);
        genpkey
            .arg("genpkey")
            .args(keygen)
            .arg("-out")
            .arg(&private);
        run_quietly(genpkey, "openssl genpkey")?;
        let mut pkey = Command::new(&openssl);
        pkey.arg("pkey").arg("-in").arg(&private);
        pkey.arg("-pubout").arg("-out").arg(&public);
        run_quietly(pkey, "openssl pkey")?;
        let alg_name = match alg {
            Algorithm::EdDSA => "EdDSA".to_string(),
            other => format!("{other:?}"),
        };
        // The key name freshgate is expected to use once it loads public keys.
        let config = self.write_config(
            &format!("freshgate-{name}.toml"),
            &format!(
                "algorithms = [\"{alg_name}\"]\npublic_key_file = \"{}\"",
                public.display()
            ),
        )?;
        if let Err(why) = self.check(&config) {
            self.note(format!(
                "{}: `freshgate check` refuses the config: {why}",
                scenario.name()
            ));
            return Ok(Outcome::Skipped("needs public_key_file".into()));
        }
        let pem =
            fs::read(&private).map_err(|e| format!("cannot read {}: {e}", private.display()))?;
        let workload = Workload {
            addr: self.gateway_addr(),
            path: Uri::from_static(ACCESS_PATH),
            tokens: vec![tokens::asymmetric(alg, &pem)?],
            expected: StatusCode::OK,
        };
        let proc = self.start_freshgate(&config).await?;
        let outcome = self.measure(scenario, workload, Some(proc.pid)).await;
        procs::stop(&proc);
        Ok(outcome)
    }

    /// Starts a peer from its template, measures the access-hs256 workload through it.
    pub(super) async fn idle(&mut self) -> Result<client::Idle, String> {
        let config = self.hs256_config()?;
        let proc = self.start_freshgate(&config).await?;
        eprintln!("load: idle-1000 (freshgate pid {})", proc.pid);
        let workload = self.workload(self.gateway_addr(), Scenario::AccessHs256)?;
        let idle = client::hold_idle(Arc::new(workload), IDLE_CONNECTIONS, proc.pid).await;
        procs::stop(&proc);
        Ok(idle)
    }
}

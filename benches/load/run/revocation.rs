//! The `[revocation]` row: access-hs256 with a Redis lookup on every request (no key is ever
//! written, so each one misses, and there is no negative cache), against a redis-server the
//! harness starts on a free port.

use super::*;

impl Bench {
    pub(super) async fn revocation(&mut self) -> Result<Outcome, String> {
        let Some(server) = procs::find_program("redis-server") else {
            return Ok(Outcome::Skipped("needs redis-server".into()));
        };
        let port = free_port()?;
        let mut command = Command::new(server);
        command.args(["--bind", "127.0.0.1", "--port", &port.to_string()]);
        command.args(["--save", "", "--appendonly", "no"]);
        let log = self.dir.join("redis.log");
        let redis = procs::spawn("redis-server", command, &log, false)?;
        let outcome = self.revocation_row(port, &redis).await;
        procs::stop(&redis);
        outcome
    }

    async fn revocation_row(&mut self, port: u16, redis: &Proc) -> Result<Outcome, String> {
        wait_ready(SocketAddr::from(([127, 0, 0, 1], port)), redis).await?;
        let hs256 = self.hs256_config()?;
        let text = fs::read_to_string(&hs256)
            .map_err(|e| format!("cannot read {}: {e}", hs256.display()))?;
        let table = format!(
            "[revocation]\nredis = \"redis://127.0.0.1:{port}/0\"\nkey = \"{{jti}}\"\nrevoked_when = \"equals:true\"\ntimeout = \"50ms\"\n\n"
        );
        let config = self.dir.join("freshgate-revocation.toml");
        fs::write(
            &config,
            text.replacen(ROUTES, &format!("{table}{ROUTES}"), 1),
        )
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        self.check(&config)?;
        let scenario = Scenario::Revocation;
        let workload = self.workload(self.gateway_addr(), scenario)?;
        let proc = self.start_freshgate(&config).await?;
        let outcome = self.measure(scenario, workload, Some(proc.pid)).await;
        procs::stop(&proc);
        Ok(outcome)
    }
}

//! Real peer programs the tests start beside the gateway (HAProxy, nginx, Caddy from Debian's
//! packages, installed by `scripts/test.sh`): a config written to a temporary directory, the
//! program in the foreground on 127.0.0.1 free ports, its output kept for failure messages, and
//! the process killed on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// A free TCP port on 127.0.0.1 (bound and released, for programs that bind it themselves).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The absolute path of `program`, or a panic that says how to install it.
pub fn installed(program: &str) -> PathBuf {
    let found = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("{program} is not installed; run scripts/test.sh (it installs the test dependencies) or apt-get install -y {program}")
    })
}

/// A running peer program.
pub struct PeerProcess {
    pub name: &'static str,
    child: Child,
    pub dir: TempDir,
}

impl PeerProcess {
    /// Writes `config` to `<dir>/<file>`, starts `program` with `args` (where `{config}` and
    /// `{dir}` are replaced), and waits until `listen` accepts connections.
    pub async fn start(
        name: &'static str,
        program: &str,
        file: &str,
        config: &str,
        args: &[&str],
        listen: SocketAddr,
    ) -> PeerProcess {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(file);
        std::fs::write(
            &path,
            config.replace("{dir}", &dir.path().display().to_string()),
        )
        .expect("write the peer's config");
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                a.replace("{config}", &path.display().to_string())
                    .replace("{dir}", &dir.path().display().to_string())
            })
            .collect();
        let log = std::fs::File::create(dir.path().join("output.log")).expect("a log file");
        let child = Command::new(installed(program))
            .args(&args)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut peer = PeerProcess { name, child, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if tokio::net::TcpStream::connect(listen).await.is_ok() {
                return peer;
            }
            if let Ok(Some(status)) = peer.child.try_wait() {
                panic!("{name} exited with {status}:\n{}", peer.output());
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "{name} did not listen on {listen} within 15 s:\n{}",
                    peer.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the program printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("output.log")).unwrap_or_default()
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A real `redis-server` (Debian's package; `.ci/run` installs it) on a free 127.0.0.1 port,
//! with no persistence, killed on drop; it can be stopped and started again on the same port
//! to play an outage.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::wait::eventually;

pub struct RedisServer {
    pub port: u16,
    /// `--requirepass`, when started with a password.
    password: Option<String>,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    pub async fn start() -> RedisServer {
        RedisServer::start_with_password(None).await
    }

    /// [`RedisServer::start`], requiring `password` (`--requirepass`) when given.
    pub async fn start_with_password(password: Option<&str>) -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut server = RedisServer {
            port,
            password: password.map(str::to_owned),
            child: None,
            dir: tempfile::tempdir().expect("a directory for redis-server"),
        };
        server.resume().await;
        server
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The URL with the password, for the test's own connections.
    fn own_url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => self.url(),
        }
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub async fn resume(&mut self) {
        let mut command = Command::new("redis-server");
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--enable-debug-command", "local"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server ({e}): install it with `apt-get install -y redis-server` (.ci/run does)"));
        self.child = Some(child);
        let url = self.own_url();
        eventually(
            Duration::from_secs(10),
            "redis-server to answer PING",
            async || {
                let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
                let mut c = client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| e.to_string())?;
                redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .map_err(|e| e.to_string())
            },
        )
        .await;
    }

    /// Kills the server (an outage); [`RedisServer::resume`] brings it back on the same port.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A connection of the test's own.
    pub async fn connection(&self) -> MultiplexedConnection {
        redis::Client::open(self.own_url().as_str())
            .expect("a valid URL")
            .get_multiplexed_async_connection()
            .await
            .expect("a connection to the test's redis-server")
    }

    /// Runs one command, e.g. `["SET", "k", "v"]`, and returns its reply.
    pub async fn run(&self, args: &[&[u8]]) -> redis::Value {
        let mut command = redis::cmd(std::str::from_utf8(args[0]).expect("a command name"));
        for arg in &args[1..] {
            command.arg(*arg);
        }
        let mut connection = self.connection().await;
        command
            .query_async(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("redis command failed: {e}"))
    }

    /// `SET key value`.
    pub async fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.run(&[b"SET", key.as_ref(), value.as_ref()]).await;
    }

    /// `GET key`, as text.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Option<String> {
        match self.run(&[b"GET", key.as_ref()]).await {
            redis::Value::BulkString(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            _ => None,
        }
    }

    /// `TTL key` in seconds (-2: absent, -1: no expiry).
    pub async fn ttl(&self, key: impl AsRef<[u8]>) -> i64 {
        match self.run(&[b"TTL", key.as_ref()]).await {
            redis::Value::Int(n) => n,
            other => panic!("TTL answered {other:?}"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

//! The real `freshgate` binary (the one cargo built for these tests) serving a config file: its
//! log lines read from standard error, its addresses read from them, signals sent to it, and
//! killed on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::config::ConfigFile;
use super::wait::eventually;

/// A running `freshgate run` with its log lines collected from standard error (JSON lines kept
/// parsed, other lines as JSON strings; and every line as it was written).
pub struct Process {
    child: Child,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    log: Arc<Mutex<Vec<Value>>>,
    raw: Arc<Mutex<Vec<String>>>,
    pub config: ConfigFile,
}

/// The freshgate binary cargo built for these tests, as a command to add arguments to.
pub fn freshgate_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_freshgate"))
}

/// The `fields.message` of a JSON log line.
pub fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

impl Process {
    /// Starts freshgate on `text` with JSON logs and reads its two addresses (the config
    /// should listen on port 0 with an `[admin]` listener) from the startup lines.
    pub async fn start(text: &str) -> Process {
        let mut process = Process::launch(text, "json");
        let listening = process
            .wait_for_log("the startup line `freshgate listening`", |l| {
                message(l) == "freshgate listening"
            })
            .await;
        let admin = process
            .find_log(|l| message(l).starts_with("admin listening"))
            .expect("the admin listener logs its address before `freshgate listening`");
        process.listen = listening["fields"]["listen"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no listen address in {listening}"));
        process.admin = admin["fields"]["admin"]
            .as_str()
            .and_then(|a| a.strip_prefix("Some(")?.strip_suffix(')')?.parse().ok())
            .unwrap_or_else(|| panic!("no admin address in {admin}"));
        process
    }

    /// Starts freshgate with `--log-format <format>` and `RUST_LOG=info`. `listen` and `admin`
    /// are 0.0.0.0:0 until [`Process::start`] reads them.
    pub fn launch(text: &str, format: &str) -> Process {
        let config = ConfigFile::new(text);
        let mut child = freshgate_command()
            .arg("--config")
            .arg(&config.path)
            .args(["--log-format", format])
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the freshgate binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (lines, raw_lines) = (log.clone(), raw.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                raw_lines.lock().expect("log lock").push(line.clone());
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                lines.lock().expect("log lock").push(value);
            }
        });
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        Process {
            child,
            listen: unspecified,
            admin: unspecified,
            log,
            raw,
            config,
        }
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends a signal with `kill -<name> <pid>`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<Value> {
        self.log.lock().expect("log lock").clone()
    }

    /// Every log line so far, byte for byte (without its line break).
    pub fn raw_logs(&self) -> Vec<String> {
        self.raw.lock().expect("log lock").clone()
    }

    pub fn find_log(&self, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        self.logs().into_iter().find(|l| matches(l))
    }

    pub fn count_logs(&self, matches: impl Fn(&Value) -> bool) -> usize {
        self.logs().iter().filter(|l| matches(l)).count()
    }

    /// Waits up to 10 s for a log line; fails early, with the whole log, if the process exits.
    pub async fn wait_for_log(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        eventually(Duration::from_secs(10), what, async || {
            if let Some(line) = self.find_log(&matches) {
                return Some(line);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.log_complete().await;
                panic!(
                    "freshgate exited ({status}) before {what}:\n{:#?}",
                    self.logs()
                );
            }
            None
        })
        .await
    }

    /// Waits for the process to exit, and for its last log lines to be collected.
    pub async fn wait_for_exit(&mut self, within: Duration) -> ExitStatus {
        let status = eventually(within, "freshgate to exit", async || {
            self.child.try_wait().expect("try_wait")
        })
        .await;
        self.log_complete().await;
        status
    }

    /// After the process exited: waits until the reader thread has read standard error to its
    /// end (it drops its handle on the log then).
    async fn log_complete(&self) {
        eventually(
            Duration::from_secs(5),
            "the end of standard error",
            async || Arc::strong_count(&self.log) == 1,
        )
        .await;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

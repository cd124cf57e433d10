//! The reference app: tests/compat/app.py (fastapi-jwt-auth 0.5.0's example) run from the
//! virtualenv on a port it chooses, its output kept for failure messages, killed on drop; and the
//! tokens and cookies it issues.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http::header::SET_COOKIE;
use serde_json::{json, Value};

use crate::judge::show;
use crate::support::forge::payload_of;
use crate::support::{poll_until, send, send_body, try_get, SECRET};
use crate::venv::{manifest_dir, venv_python};

/// tests/compat/app.py running on 127.0.0.1:<port it chose>; killed on drop.
pub struct App {
    pub addr: SocketAddr,
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl App {
    /// Starts the app with the shared secret plus `env`, and waits until it answers.
    pub async fn start(env: &[(&str, &str)]) -> App {
        App::start_script("app.py", env).await
    }

    /// Starts another app of tests/compat (`script`, which follows app.py's conventions: the
    /// port on the first stdout line, `GET /partially-protected` answering 200).
    pub async fn start_script(script: &str, env: &[(&str, &str)]) -> App {
        App::start_with(&venv_python(), &format!("tests/compat/{script}"), env).await
    }

    /// Starts `script` (relative to the crate, following app.py's conventions) with `python`,
    /// the shared secret as `AUTHJWT_SECRET_KEY` plus `env`. Variables named `AUTHJWT_*`,
    /// `JWT_*` or `COMPAT_*` are never inherited from the caller.
    pub async fn start_with(python: &Path, script: &str, env: &[(&str, &str)]) -> App {
        let mut command = Command::new(python);
        command
            .arg(manifest_dir().join(script))
            .current_dir(manifest_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Hermetic: no setting leaks in from the caller's environment.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if ["AUTHJWT_", "JWT_", "COMPAT_"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
            {
                command.env_remove(name);
            }
        }
        command
            .env("AUTHJWT_SECRET_KEY", SECRET)
            .env("COMPAT_EXIT_ON_STDIN_EOF", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {script}: {e}", python.display()));
        let output = Arc::new(Mutex::new(String::new()));

        // stdout: the first line is the port; everything after it (and all of stderr, where
        // uvicorn logs the library's 500 tracebacks) is kept for failure messages.
        let (port_tx, port_rx) = tokio::sync::oneshot::channel::<Option<String>>();
        let stdout = child.stdout.take().expect("piped stdout");
        let log = output.clone();
        let stdout_reader = std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let port_line = match lines.read_line(&mut first) {
                Ok(n) if n > 0 => Some(first.trim().to_string()),
                _ => None,
            };
            let _ = port_tx.send(port_line);
            drain_into(lines, &log);
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let log = output.clone();
        let stderr_reader = std::thread::spawn(move || drain_into(stderr, &log));

        let mut app = App {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            output,
            readers: vec![stdout_reader, stderr_reader],
        };
        let port_line = match tokio::time::timeout(Duration::from_secs(60), port_rx).await {
            Ok(Ok(Some(line))) => line,
            Ok(_) => app.fail("the app exited before printing its port"),
            Err(_) => app.fail("the app printed no port within 60 s"),
        };
        let port: u16 = match port_line.parse() {
            Ok(port) => port,
            Err(_) => app.fail(&format!(
                "the app's first stdout line is not a port: {port_line:?}"
            )),
        };
        app.addr = SocketAddr::from(([127, 0, 0, 1], port));
        app.wait_until_answering().await;
        app
    }

    /// Polls `GET /partially-protected` (200 without a token) until the app answers, with a
    /// deadline. The socket is listening before the port is printed, so a connection made before
    /// uvicorn serves just waits in the backlog; the polling only covers slow starts and failures.
    async fn wait_until_answering(&mut self) {
        let addr = self.addr;
        let answered = poll_until(Duration::from_secs(60), async || {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("the app exited ({status}) before answering"));
            }
            let attempt = tokio::time::timeout(
                Duration::from_secs(5),
                try_get(addr, "/partially-protected", &[]),
            );
            match attempt.await {
                Ok(Ok(reply)) if reply.status == 200 => Ok(()),
                Ok(Ok(reply)) => self.fail(&format!(
                    "GET /partially-protected without a token answered {}, not 200",
                    reply.status
                )),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("no answer within 5 s".to_string()),
            }
        })
        .await;
        if let Err(last) = answered {
            self.fail(&format!("the app did not answer within 60 s: {last}"));
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let output = self.output.lock().unwrap().clone();
        panic!("{why}\n--- app output ---\n{output}");
    }

    /// `POST path` with the docs' credentials; the JSON answer.
    pub async fn post_credentials(&self, path: &str) -> Value {
        let reply = send_body(
            self.addr,
            "POST",
            path,
            &[("content-type", b"application/json")],
            Bytes::from_static(br#"{"username":"test","password":"test"}"#),
        )
        .await;
        assert_eq!(reply.status, 200, "POST {path}: {}", show(&reply.body));
        reply.json()
    }

    /// `/login`: (fresh access token, refresh token), issued by the library itself.
    pub async fn login(&self) -> (String, String) {
        let answer = self.post_credentials("/login").await;
        (
            answer["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
            answer["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_string(),
        )
    }

    /// `/fresh-login`: a fresh access token.
    pub async fn fresh_login(&self) -> String {
        let answer = self.post_credentials("/fresh-login").await;
        answer["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// `/refresh`: a non-fresh access token for a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> String {
        let header = format!("Bearer {refresh_token}");
        let reply = send(
            self.addr,
            "POST",
            "/refresh",
            &[("authorization", header.as_bytes())],
        )
        .await;
        assert_eq!(reply.status, 200, "POST /refresh: {}", show(&reply.body));
        reply.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }
}

/// The cookies `/login` sets in cookie mode, as a browser would keep them.
pub struct Jar {
    pub access: String,
    pub csrf_access: String,
    pub refresh: String,
    pub csrf_refresh: String,
}

impl Jar {
    /// The `Cookie` header a browser sends back to `/`.
    pub fn all(&self) -> String {
        format!(
            "access_token_cookie={}; csrf_access_token={}; refresh_token_cookie={}; csrf_refresh_token={}",
            self.access, self.csrf_access, self.refresh, self.csrf_refresh
        )
    }
}

impl App {
    /// `/login` in cookie mode with CSRF protection: the four cookies the library sets, checked
    /// against the contract's shape (token cookies `HttpOnly; Path=/`, CSRF cookies readable,
    /// `Path=/`, holding the token's `csrf` claim).
    pub async fn login_cookies(&self) -> Jar {
        let set = self.post_for_cookies("/login", &[]).await;
        let cookie = |name: &str, attributes: &str| -> String {
            let (value, got) = set
                .get(name)
                .unwrap_or_else(|| panic!("/login set no {name}: {set:?}"));
            assert_eq!(got, attributes, "the attributes of {name} from /login");
            value.clone()
        };
        let jar = Jar {
            access: cookie("access_token_cookie", "HttpOnly; Path=/"),
            csrf_access: cookie("csrf_access_token", "Path=/"),
            refresh: cookie("refresh_token_cookie", "HttpOnly; Path=/"),
            csrf_refresh: cookie("csrf_refresh_token", "Path=/"),
        };
        for (token, csrf) in [
            (&jar.access, &jar.csrf_access),
            (&jar.refresh, &jar.csrf_refresh),
        ] {
            let claims = payload_of(token).expect("a JWT in the token cookie");
            assert_eq!(
                claims.get("csrf"),
                Some(&json!(csrf)),
                "the CSRF cookie holds the token's csrf claim"
            );
        }
        jar
    }

    /// `/refresh` in cookie mode, as a browser does it (the refresh cookie and its CSRF value):
    /// the new non-fresh access cookie and its CSRF cookie.
    pub async fn refresh_cookies(&self, jar: &Jar) -> (String, String) {
        let cookie = format!("refresh_token_cookie={}", jar.refresh);
        let set = self
            .post_for_cookies(
                "/refresh",
                &[
                    ("cookie", cookie.as_bytes()),
                    ("x-csrf-token", jar.csrf_refresh.as_bytes()),
                ],
            )
            .await;
        let value = |name: &str| {
            set.get(name)
                .unwrap_or_else(|| panic!("/refresh set no {name}: {set:?}"))
                .0
                .clone()
        };
        (value("access_token_cookie"), value("csrf_access_token"))
    }

    /// `POST path` with the docs' credentials and these headers; the cookies the answer sets,
    /// by name: (value, attributes as written).
    pub async fn post_for_cookies(
        &self,
        path: &str,
        headers: &[(&str, &[u8])],
    ) -> HashMap<String, (String, String)> {
        let mut headers = headers.to_vec();
        headers.push(("content-type", b"application/json"));
        let reply = send_body(
            self.addr,
            "POST",
            path,
            &headers,
            Bytes::from_static(br#"{"username":"test","password":"test"}"#),
        )
        .await;
        assert_eq!(reply.status, 200, "POST {path}: {}", show(&reply.body));
        reply
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| {
                let text = value.to_str().expect("an ASCII Set-Cookie");
                let (pair, attributes) = text.split_once("; ").unwrap_or((text, ""));
                let (name, value) = pair.split_once('=').expect("name=value");
                (
                    name.to_string(),
                    (value.to_string(), attributes.to_string()),
                )
            })
            .collect()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn drain_into(mut from: impl Read, log: &Mutex<String>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n) = from.read(&mut buffer) {
        if n == 0 {
            break;
        }
        log.lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}

//! The compatibility suite against the REAL library: every request is sent both to the
//! fastapi-jwt-auth 0.5.0 example app (tests/compat/app.py, run from a virtualenv installed from
//! PyPI) and to freshgate in front of the echo upstream, and the two decisions must be the same
//! (the contract: shared/compat/fastapi-jwt-auth.md, "Decision contract").
//!
//! Where the library crashes with 500, and for the documented freshness differences, the
//! expected answer of each side is asserted instead, with the reason next to the case.
//!
//! Cookie tokens: the app runs with `AUTHJWT_TOKEN_LOCATION` (and its own `/login` cookies are
//! used), the gateway with the same `token_location`. Every rejection must also carry freshgate's
//! documented `WWW-Authenticate` challenge, which the library never sends; the body stays equal.
//!
//! Setup: `python3 -m venv target/compat-venv` + `pip install -r tests/compat/requirements.txt`,
//! done once per process (and skipped when the venv's marker file matches the requirements).
//! A setup failure fails every test here with the reason: this suite never skips itself.
//! `FRESHGATE_COMPAT_PYTHON` may name another interpreter than `python3` for creating the venv.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use freshgate::auth::TokenType;
use freshgate::token::TokenSpec;
use http::header::{SET_COOKIE, WWW_AUTHENTICATE};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Map, Value};
use support::{now, send, send_body, Reply, TestGateway, Upstream, SECRET};

/// Issuer and audience of the second app instance (and of its gateway).
const ISSUER: &str = "https://issuer.compat.test";
const AUDIENCE: &str = "freshgate-compat";
/// A secret that is not the one the app and the gateway use.
const OTHER_SECRET: &str = "some-other-secret-entirely";
const HS256_HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

// ---------------------------------------------------------------------------------------------
// The virtualenv
// ---------------------------------------------------------------------------------------------

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's interpreter, installing the venv the first time in this process. Panics with the
/// reason when the setup fails: CI must run this suite, so it never skips.
fn venv_python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(set_up_venv) {
        Ok(python) => python.clone(),
        Err(why) => panic!("setting up the compat virtualenv failed: {why}"),
    }
}

fn set_up_venv() -> Result<PathBuf, String> {
    let root = manifest_dir();
    let requirements_path = root.join("tests/compat/requirements.txt");
    let requirements = std::fs::read_to_string(&requirements_path)
        .map_err(|e| format!("cannot read {}: {e}", requirements_path.display()))?;
    let venv = root.join("target/compat-venv");
    let python = venv.join("bin/python");
    let marker = venv.join("freshgate-compat-installed.txt");
    // The marker holds the exact requirements text it was installed from (a stable "hash"):
    // any edit to requirements.txt reinstalls.
    let wanted_marker = format!("installed from tests/compat/requirements.txt:\n{requirements}");
    if python.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(&wanted_marker) {
        return Ok(python);
    }
    let creator = std::env::var("FRESHGATE_COMPAT_PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&creator)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        &format!("{creator} -m venv --clear {}", venv.display()),
    )?;
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&requirements_path),
        &format!(
            "{} -m pip install -r {}",
            python.display(),
            requirements_path.display()
        ),
    )?;
    std::fs::write(&marker, &wanted_marker)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(python)
}

fn run(command: &mut Command, shown: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{shown}` could not start: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{shown}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

// ---------------------------------------------------------------------------------------------
// The reference app
// ---------------------------------------------------------------------------------------------

/// tests/compat/app.py running on 127.0.0.1:<port it chose>; killed on drop.
struct App {
    addr: SocketAddr,
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl App {
    /// Starts the app with the shared secret plus `env`, and waits until it answers.
    async fn start(env: &[(&str, &str)]) -> App {
        let python = venv_python();
        let mut command = Command::new(&python);
        command
            .arg(manifest_dir().join("tests/compat/app.py"))
            .current_dir(manifest_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Hermetic: no setting leaks in from the caller's environment.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("AUTHJWT_") || name.starts_with("COMPAT_") {
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
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start {} tests/compat/app.py: {e}", python.display())
        });
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
    /// uvicorn serves just waits in the backlog; the loop only covers slow starts and failures.
    async fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("the app exited ({status}) before answering"));
            }
            let attempt = tokio::time::timeout(Duration::from_secs(5), probe(self.addr)).await;
            match attempt {
                Ok(Ok(200)) => return,
                Ok(Ok(status)) => self.fail(&format!(
                    "GET /partially-protected without a token answered {status}, not 200"
                )),
                Ok(Err(_)) | Err(_) if Instant::now() < deadline => {
                    // A short pause between attempts, not a stand-in for readiness: readiness is
                    // the 200 above.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Err(e)) => self.fail(&format!("the app did not answer within 60 s: {e}")),
                Err(_) => self.fail("the app did not answer within 60 s"),
            }
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
    async fn post_credentials(&self, path: &str) -> Value {
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
    async fn login(&self) -> (String, String) {
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
    async fn fresh_login(&self) -> String {
        let answer = self.post_credentials("/fresh-login").await;
        answer["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// `/refresh`: a non-fresh access token for a refresh token.
    async fn refresh(&self, refresh_token: &str) -> String {
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
struct Jar {
    access: String,
    csrf_access: String,
    refresh: String,
    csrf_refresh: String,
}

impl Jar {
    /// The `Cookie` header a browser sends back to `/`.
    fn all(&self) -> String {
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
    async fn login_cookies(&self) -> Jar {
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
    async fn refresh_cookies(&self, jar: &Jar) -> (String, String) {
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
    async fn post_for_cookies(
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

/// One `GET /partially-protected`, without panicking on connection errors.
async fn probe(addr: SocketAddr) -> Result<u16, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = http::Request::get("/partially-protected")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok(status)
}

// ---------------------------------------------------------------------------------------------
// The gateway in front of the echo upstream
// ---------------------------------------------------------------------------------------------

/// The app's routes, with the app's secret, in front of `{upstream}` (the echo upstream). The
/// protected routes take the library's CSRF methods as well as GET, as the app's do.
fn gateway_config(jwt_extra: &str) -> String {
    format!(
        r#"
[upstreams]
app = "http://{{upstream}}"

[jwt]
secret = "{SECRET}"
{jwt_extra}

[[route]]
path = "/login"
methods = ["POST"]
policy = "public"

[[route]]
path = "/fresh-login"
methods = ["POST"]
policy = "public"

[[route]]
path = "/refresh"
methods = ["POST"]
policy = "refresh"

[[route]]
path = "/protected"
methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
policy = "access"

[[route]]
path = "/protected-fresh"
methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
policy = "fresh"

[[route]]
path = "/partially-protected"
methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
policy = "optional"
"#
    )
}

struct Stack {
    upstream: Upstream,
    gateway: TestGateway,
}

impl Stack {
    async fn start(jwt_extra: &str) -> Stack {
        let upstream = Upstream::start().await;
        let gateway = TestGateway::start(&gateway_config(jwt_extra), upstream.addr).await;
        Stack { upstream, gateway }
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens made here
// ---------------------------------------------------------------------------------------------

fn seg(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The base64url HMAC signature of `signing_input`.
fn signature(signing_input: &str, alg: Algorithm, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("an HMAC key");
    jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, alg).expect("sign")
}

/// `signing_input` plus its HS256 signature with the shared secret.
fn sign_input(signing_input: &str) -> String {
    format!(
        "{signing_input}.{}",
        signature(signing_input, Algorithm::HS256, SECRET)
    )
}

/// A token whose header and payload are exactly these texts, HMAC-signed with `secret`.
fn raw_token(header: &str, payload: &str, alg: Algorithm, secret: &str) -> String {
    let input = format!("{}.{}", seg(header), seg(payload));
    let sig = signature(&input, alg, secret);
    format!("{input}.{sig}")
}

/// The usual header, these claims, HS256 with the shared secret.
fn signed(claims: &Map<String, Value>) -> String {
    raw_token(HS256_HEADER, &claims.text(), Algorithm::HS256, SECRET)
}

/// These claims under an arbitrary header object, HS256-signed with the shared secret.
fn signed_with_header(header: Value, claims: &Map<String, Value>) -> String {
    raw_token(
        &header.to_string(),
        &claims.text(),
        Algorithm::HS256,
        SECRET,
    )
}

/// An access token's claims as the library writes them (sub "alice", 15 minutes).
fn access(fresh: bool) -> Map<String, Value> {
    TokenSpec::new("alice", TokenType::Access, fresh).claims(now())
}

/// A refresh token's claims as the library writes them (sub "alice", 30 days, no `fresh`).
fn refresh() -> Map<String, Value> {
    TokenSpec::new("alice", TokenType::Refresh, false).claims(now())
}

/// Edits of claims, as chains: `access(true).set("exp", json!(0)).unset("fresh").token()`.
trait ClaimsExt {
    fn set(self, key: &str, value: Value) -> Self;
    fn unset(self, key: &str) -> Self;
    /// Signed like the library's tokens: the usual header, HS256, the shared secret.
    fn token(&self) -> String;
    /// The payload text.
    fn text(&self) -> String;
}

impl ClaimsExt for Map<String, Value> {
    fn set(mut self, key: &str, value: Value) -> Self {
        self.insert(key.to_string(), value);
        self
    }

    fn unset(mut self, key: &str) -> Self {
        self.remove(key);
        self
    }

    fn token(&self) -> String {
        signed(self)
    }

    fn text(&self) -> String {
        Value::Object(self.clone()).to_string()
    }
}

/// The three segments of a token.
fn parts(token: &str) -> (String, String, String) {
    let mut it = token.split('.');
    let (h, p, s) = (it.next(), it.next(), it.next());
    (
        h.unwrap_or_default().to_string(),
        p.unwrap_or_default().to_string(),
        s.unwrap_or_default().to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// What the two sides must answer.
#[derive(Debug, Clone)]
enum Expect {
    /// The contract: the same decision. A rejection has the same status and `detail` and is not
    /// forwarded; an acceptance is 2xx on both sides and the upstream sees the token's identity.
    Same,
    /// The library crashes with 500 (its bug); freshgate answers this 4xx with a JSON `detail`
    /// (exactly `detail` when given) and does not forward.
    LibraryCrashes {
        status: u16,
        detail: Option<&'static str>,
    },
    /// A documented, deliberate difference: the library accepts, freshgate answers this.
    LibraryAcceptsFreshgateRejects { status: u16, detail: &'static str },
}

struct Case {
    name: String,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, Vec<u8>)>,
    expect: Expect,
    /// The token whose identity the upstream must see when the request is accepted.
    reads: Reads,
}

/// Which token the library reads, for the identity check of an accepted request.
#[derive(Debug, Clone)]
enum Reads {
    /// The Authorization header's token, as the library splits it (none without the header).
    AuthorizationHeader,
    /// This token (from a cookie).
    Token(String),
    /// No token: an anonymous request.
    Nothing,
}

/// The method the app serves `path` with.
fn method_of(path: &str) -> &'static str {
    match path {
        "/refresh" | "/login" | "/fresh-login" => "POST",
        _ => "GET",
    }
}

/// A request to `path` with these headers (raw bytes), expected to decide the same.
fn request(name: impl Into<String>, path: &'static str, headers: &[(&'static str, &[u8])]) -> Case {
    Case {
        name: name.into(),
        method: method_of(path),
        path,
        headers: headers.iter().map(|(n, v)| (*n, v.to_vec())).collect(),
        expect: Expect::Same,
        reads: Reads::AuthorizationHeader,
    }
}

/// A `method` request to `path` without headers, expected to decide the same; headers are
/// added with [`Case::with`], [`Case::cookie`] and [`Case::csrf`].
fn call(name: impl Into<String>, method: &'static str, path: &'static str) -> Case {
    Case {
        method,
        ..request(name, path, &[])
    }
}

/// A request to `path` with `Authorization: Bearer <token>`, expected to decide the same.
fn bearer(name: impl Into<String>, path: &'static str, token: &str) -> Case {
    let value = format!("Bearer {token}");
    request(name, path, &[("authorization", value.as_bytes())])
}

impl Case {
    fn with(mut self, name: &'static str, value: impl AsRef<[u8]>) -> Case {
        self.headers.push((name, value.as_ref().to_vec()));
        self
    }

    /// A `Cookie` header with exactly this text.
    fn cookie(self, text: impl AsRef<str>) -> Case {
        self.with("cookie", text.as_ref())
    }

    /// An `X-CSRF-Token` header, the library's default CSRF header.
    fn csrf(self, value: impl AsRef<[u8]>) -> Case {
        self.with("x-csrf-token", value)
    }

    /// When accepted, the upstream must see this token's identity.
    fn reading(mut self, token: &str) -> Case {
        self.reads = Reads::Token(token.to_string());
        self
    }

    /// When accepted, the request is anonymous.
    fn reading_nothing(mut self) -> Case {
        self.reads = Reads::Nothing;
        self
    }

    fn library_crashes(mut self, status: u16, detail: Option<&'static str>) -> Case {
        self.expect = Expect::LibraryCrashes { status, detail };
        self
    }

    fn library_accepts_freshgate_rejects(mut self, status: u16, detail: &'static str) -> Case {
        self.expect = Expect::LibraryAcceptsFreshgateRejects { status, detail };
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Running and judging
// ---------------------------------------------------------------------------------------------

/// Sends every case to the app and through the gateway, and returns one line per mismatch.
async fn run_cases(app: &App, stack: &Stack, cases: Vec<Case>) -> Vec<String> {
    let mut names = HashSet::new();
    for case in &cases {
        assert!(
            names.insert(case.name.clone()),
            "duplicate case name: {}",
            case.name
        );
    }
    let mut mismatches = Vec::new();
    for case in &cases {
        let headers: Vec<(&str, &[u8])> = case
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_slice()))
            .collect();
        let direct = send(app.addr, case.method, case.path, &headers).await;
        let hits_before = stack.upstream.hits();
        let proxied = send(stack.gateway.addr, case.method, case.path, &headers).await;
        let forwarded = stack.upstream.hits() - hits_before;
        match judge(case, &direct, &proxied, forwarded) {
            Ok(None) => {}
            Ok(Some(note)) => eprintln!("note: {}: {note}", case.name),
            Err(why) => mismatches.push(format!(
                "{}\n    request:   {} {} {}\n    problem:   {why}\n    app:       {} {}\n    freshgate: {} {}",
                case.name,
                case.method,
                case.path,
                show_headers(&case.headers),
                direct.status.as_u16(),
                show(&direct.body),
                proxied.status.as_u16(),
                show(&proxied.body),
            )),
        }
    }
    mismatches
}

fn assert_no_mismatches(suite: &str, cases: usize, mismatches: Vec<String>) {
    assert!(
        mismatches.is_empty(),
        "{suite}: {} of {cases} cases disagree:\n\n{}\n",
        mismatches.len(),
        mismatches.join("\n\n")
    );
}

/// `Ok(Some(note))` passes with something worth printing.
fn judge(
    case: &Case,
    direct: &Reply,
    proxied: &Reply,
    forwarded: usize,
) -> Result<Option<String>, String> {
    let app_ok = direct.status.is_success();
    let gw_ok = proxied.status.is_success();
    match &case.expect {
        Expect::Same if app_ok => {
            if !gw_ok || forwarded != 1 {
                return Err(format!(
                    "the app accepts, freshgate does not forward (forwarded {forwarded} time(s))"
                ));
            }
            check_identity(case, proxied).map(|()| None)
        }
        Expect::Same => {
            if direct.status != proxied.status {
                return Err("different status".into());
            }
            let (Some(app_detail), Some(gw_detail)) = (detail_of(direct), detail_of(proxied))
            else {
                return Err("a rejection without a JSON string `detail`".into());
            };
            if comparable(&app_detail) != comparable(&gw_detail) {
                return Err(format!(
                    "different detail: app {app_detail:?}, freshgate {gw_detail:?}"
                ));
            }
            if comparable(&app_detail) == app_detail && direct.body != proxied.body {
                return Err("same detail but different body bytes".into());
            }
            if direct.headers.get("content-type") != proxied.headers.get("content-type") {
                return Err(format!(
                    "different content-type: app {:?}, freshgate {:?}",
                    direct.headers.get("content-type"),
                    proxied.headers.get("content-type")
                ));
            }
            if let Some(challenge) = direct.headers.get(WWW_AUTHENTICATE) {
                return Err(format!(
                    "the app itself sent WWW-Authenticate {challenge:?}: only freshgate adds one"
                ));
            }
            check_challenge(proxied)?;
            not_forwarded(forwarded).map(|()| None)
        }
        Expect::LibraryCrashes { status, detail } => {
            if direct.status != 500 {
                return Err(format!(
                    "expected the library to crash with 500 (its documented bug), it answered {}",
                    direct.status
                ));
            }
            freshgate_rejects(proxied, *status, *detail)?;
            not_forwarded(forwarded).map(|()| None)
        }
        Expect::LibraryAcceptsFreshgateRejects { status, detail } => {
            if !app_ok {
                return Err("expected the library to accept (Python truthiness)".into());
            }
            freshgate_rejects(proxied, *status, Some(detail))?;
            not_forwarded(forwarded).map(|()| None)
        }
    }
}

fn freshgate_rejects(proxied: &Reply, status: u16, detail: Option<&str>) -> Result<(), String> {
    if proxied.status != status {
        return Err(format!("freshgate should answer {status}"));
    }
    match (detail_of(proxied), detail) {
        (None, _) => Err("freshgate's answer has no JSON string `detail`".into()),
        (Some(got), _) if got.is_empty() => Err("freshgate's `detail` is empty".into()),
        (Some(got), Some(want)) if got != want => {
            Err(format!("freshgate's detail should be {want:?}"))
        }
        _ => match proxied.headers.get("content-type") {
            Some(v) if v == "application/json" => check_challenge(proxied),
            other => Err(format!(
                "freshgate's content-type is {other:?}, not application/json"
            )),
        },
    }
}

/// freshgate's rejection carries the documented `WWW-Authenticate` challenge
/// (`AuthError::challenge`), which the library does not send; the body stays the library's. A
/// 401 without a token gets `Bearer`; a non-fresh token the RFC 9470 step-up challenge (no
/// `max_age` here: the compat routes set none); any other 401 `error="invalid_token"` with the
/// detail; other statuses none.
fn check_challenge(proxied: &Reply) -> Result<(), String> {
    let detail = detail_of(proxied).unwrap_or_default();
    let want = match proxied.status.as_u16() {
        401 if detail.starts_with("Missing cookie ") || detail.ends_with(" Header") => {
            Some("Bearer".to_string())
        }
        401 if detail == "Fresh token required" => Some(
            r#"Bearer error="insufficient_user_authentication", error_description="Fresh token required""#
                .to_string(),
        ),
        401 => Some(format!(
            r#"Bearer error="invalid_token", error_description="{detail}""#
        )),
        _ => None,
    };
    let got: Vec<_> = proxied
        .headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    match (want, got.as_slice()) {
        (None, []) => Ok(()),
        (Some(want), [got]) if *got == want => Ok(()),
        (want, _) => Err(format!(
            "freshgate's WWW-Authenticate is {got:?}, the documented challenge is {want:?}"
        )),
    }
}

fn not_forwarded(forwarded: usize) -> Result<(), String> {
    match forwarded {
        0 => Ok(()),
        n => Err(format!(
            "a rejected request reached the upstream {n} time(s)"
        )),
    }
}

/// The part of a `detail` both sides must agree on. After `Invalid header string:` and
/// `Invalid payload string:` comes Python's JSON error wording ("Expecting value: line 1 column 1
/// (char 0)"), which freshgate does not copy (it has its own parser's text), so only the prefix up
/// to and including the colon is compared.
fn comparable(detail: &str) -> &str {
    for prefix in ["Invalid header string:", "Invalid payload string:"] {
        if detail.starts_with(prefix) {
            return prefix;
        }
    }
    detail
}

fn detail_of(reply: &Reply) -> Option<String> {
    let body: Value = serde_json::from_slice(&reply.body).ok()?;
    body.get("detail")?.as_str().map(str::to_string)
}

/// The upstream saw the identity of the token the library read (by default the first
/// Authorization header, split on whitespace; for cookies the case names it), or no identity at
/// all when no token was read.
fn check_identity(case: &Case, proxied: &Reply) -> Result<(), String> {
    let echo: Value = serde_json::from_slice(&proxied.body)
        .map_err(|_| "the forwarded answer is not the echo upstream's".to_string())?;
    let saw = |name: &str| -> Vec<String> {
        echo["headers"]
            .as_array()
            .map(|pairs| {
                pairs
                    .iter()
                    .filter(|pair| pair[0].as_str() == Some(name))
                    .map(|pair| pair[1].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let got = (
        saw("x-auth-subject"),
        saw("x-auth-fresh"),
        saw("x-auth-token-type"),
    );
    let token = match &case.reads {
        Reads::AuthorizationHeader => library_token(&case.headers),
        Reads::Token(token) => Some(token.clone()),
        Reads::Nothing => None,
    };
    let want = match token {
        None => (vec![], vec![], vec![]),
        Some(token) => {
            let claims = payload_of(&token).ok_or("cannot read the token's payload")?;
            let subject = match claims.get("sub") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Null) | None => vec![],
                Some(other) => vec![other.to_string()],
            };
            // freshgate's documented rule: JSON true, or a "fresh until" epoch not yet passed.
            let fresh = match claims.get("fresh") {
                Some(Value::Bool(true)) => true,
                Some(Value::Number(n)) => n.as_f64().is_some_and(|t| t >= now() as f64),
                _ => false,
            };
            let token_type = claims
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (subject, vec![fresh.to_string()], vec![token_type])
        }
    };
    if got != want {
        return Err(format!(
            "the upstream saw (X-Auth-Subject, X-Auth-Fresh, X-Auth-Token-Type) = {got:?}, expected {want:?}"
        ));
    }
    Ok(())
}

/// The token the library reads: the first Authorization header (latin-1, as Starlette decodes
/// it), split on whitespace, second part.
fn library_token(headers: &[(&'static str, Vec<u8>)]) -> Option<String> {
    let (_, value) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))?;
    let text: String = value.iter().map(|&b| char::from(b)).collect();
    let parts: Vec<&str> = text.split_whitespace().collect();
    match parts.as_slice() {
        [_, token] => Some(token.to_string()),
        _ => None,
    }
}

fn payload_of(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn show(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.chars().count() {
        n if n > 400 => format!(
            "{}... ({n} chars)",
            text.chars().take(400).collect::<String>()
        ),
        _ => text.into_owned(),
    }
}

fn show_headers(headers: &[(&'static str, Vec<u8>)]) -> String {
    if headers.is_empty() {
        return "(no headers)".into();
    }
    headers
        .iter()
        .map(|(n, v)| {
            let v = String::from_utf8_lossy(v);
            let v = match v.chars().count() {
                n if n > 60 => format!("{}...", v.chars().take(60).collect::<String>()),
                _ => v.into_owned(),
            };
            format!("[{n}: {v:?}]")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// The suites
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn freshgate_reads_the_authorization_header_like_fastapi_jwt_auth() {
    let app = App::start(&[]).await;
    let stack = Stack::start("").await;
    let (fresh, _) = app.login().await;
    let t = fresh.as_str();
    let with_value = |v: String| v.into_bytes();

    let cases = vec![
        request(
            "no Authorization header on an access route is 401 Missing",
            "/protected",
            &[],
        ),
        request(
            "no Authorization header on a fresh route is 401 Missing",
            "/protected-fresh",
            &[],
        ),
        request(
            "no Authorization header on the refresh route is 401 Missing",
            "/refresh",
            &[],
        ),
        request(
            "an empty Authorization header counts as no token",
            "/protected",
            &[("authorization", b"")],
        ),
        request(
            "an empty Authorization header on the optional route is anonymous",
            "/partially-protected",
            &[("authorization", b"")],
        ),
        request(
            "`bearer <token>` in lower case is a bad header",
            "/protected",
            &[("authorization", &with_value(format!("bearer {t}")))],
        ),
        request(
            "`Bearer` alone is a bad header",
            "/protected",
            &[("authorization", b"Bearer")],
        ),
        request(
            "`Bearer` and a single space is a bad header",
            "/protected",
            &[("authorization", b"Bearer ")],
        ),
        request(
            "`Bearer a b` (three parts) is a bad header",
            "/protected",
            &[("authorization", b"Bearer a b")],
        ),
        request(
            "`Bearer <token> extra` (three parts) is a bad header",
            "/protected",
            &[("authorization", &with_value(format!("Bearer {t} extra")))],
        ),
        request(
            "`Bearer,<token>` is a bad header",
            "/protected",
            &[("authorization", &with_value(format!("Bearer,{t}")))],
        ),
        request(
            "`Token <token>` is a bad header",
            "/protected",
            &[("authorization", &with_value(format!("Token {t}")))],
        ),
        request(
            "`BearerX <token>` is a bad header",
            "/protected",
            &[("authorization", &with_value(format!("BearerX {t}")))],
        ),
        request(
            "a bare token is a bad header",
            "/protected",
            &[("authorization", t.as_bytes())],
        ),
        request(
            "several spaces after Bearer are fine",
            "/protected",
            &[("authorization", &with_value(format!("Bearer    {t}")))],
        ),
        request(
            "a tab after Bearer is fine",
            "/protected",
            &[("authorization", &with_value(format!("Bearer\t{t}")))],
        ),
        request(
            "a tab and spaces after Bearer are fine",
            "/protected",
            &[("authorization", &with_value(format!("Bearer \t {t}")))],
        ),
        request(
            "a trailing space after the token is fine",
            "/protected",
            &[("authorization", &with_value(format!("Bearer {t} ")))],
        ),
        request(
            "a no-break space (0xA0, latin-1) after Bearer is Python whitespace",
            "/protected",
            &[(
                "authorization",
                &[b"Bearer\xa0".as_slice(), t.as_bytes()].concat(),
            )],
        ),
        request(
            "a NEL (0x85, latin-1) after Bearer is Python whitespace",
            "/protected",
            &[(
                "authorization",
                &[b"Bearer\x85".as_slice(), t.as_bytes()].concat(),
            )],
        ),
        request(
            "a bad header is 422 on the optional route too",
            "/partially-protected",
            &[("authorization", &with_value(format!("Token {t}")))],
        ),
        request(
            "`Bearer` alone is 422 on the optional route too",
            "/partially-protected",
            &[("authorization", b"Bearer")],
        ),
        request(
            "a bad header is 422 on the fresh route",
            "/protected-fresh",
            &[("authorization", b"Bearer a b")],
        ),
        request(
            "a bad header is 422 on the refresh route",
            "/refresh",
            &[("authorization", b"bearer x")],
        ),
        request(
            "of two Authorization headers the first counts: a good one first is accepted",
            "/protected",
            &[
                ("authorization", &with_value(format!("Bearer {t}"))),
                ("authorization", b"Token nonsense"),
            ],
        ),
        request(
            "of two Authorization headers the first counts: a bad one first is 422",
            "/protected",
            &[
                ("authorization", b"Token nonsense"),
                ("authorization", &with_value(format!("Bearer {t}"))),
            ],
        ),
        request(
            "of two Authorization headers the first counts: a broken token first fails to decode",
            "/protected",
            &[
                ("authorization", b"Bearer a.b"),
                ("authorization", &with_value(format!("Bearer {t}"))),
            ],
        ),
        request(
            "the header name is case-insensitive",
            "/protected",
            &[("AUTHORIZATION", &with_value(format!("Bearer {t}")))],
        ),
    ];
    let count = cases.len();
    assert_no_mismatches(
        "Authorization header",
        count,
        run_cases(&app, &stack, cases).await,
    );
}

#[tokio::test]
async fn freshgate_decides_like_fastapi_jwt_auth_on_the_tokens_the_app_issues() {
    let app = App::start(&[]).await;
    let stack = Stack::start("").await;
    let (fresh, refresh_token) = app.login().await;
    let not_fresh = app.refresh(&refresh_token).await;
    let fresh_again = app.fresh_login().await;

    let cases = vec![
        bearer(
            "a fresh access token from /login is accepted on the access route",
            "/protected",
            &fresh,
        ),
        bearer(
            "a fresh access token from /login is accepted on the fresh route",
            "/protected-fresh",
            &fresh,
        ),
        bearer(
            "a fresh access token from /login is accepted on the optional route",
            "/partially-protected",
            &fresh,
        ),
        bearer(
            "an access token is 422 on the refresh route",
            "/refresh",
            &fresh,
        ),
        bearer(
            "a refresh token from /login is accepted on the refresh route",
            "/refresh",
            &refresh_token,
        ),
        bearer(
            "a refresh token is 422 on the access route",
            "/protected",
            &refresh_token,
        ),
        bearer(
            "a refresh token is 422 on the fresh route",
            "/protected-fresh",
            &refresh_token,
        ),
        bearer(
            "a refresh token is 422 on the optional route",
            "/partially-protected",
            &refresh_token,
        ),
        bearer(
            "a non-fresh access token from /refresh is accepted on the access route",
            "/protected",
            &not_fresh,
        ),
        bearer(
            "a non-fresh access token from /refresh is 401 Fresh token required on the fresh route",
            "/protected-fresh",
            &not_fresh,
        ),
        bearer(
            "a non-fresh access token from /refresh is accepted on the optional route",
            "/partially-protected",
            &not_fresh,
        ),
        bearer(
            "a non-fresh access token is 422 on the refresh route",
            "/refresh",
            &not_fresh,
        ),
        bearer(
            "a fresh access token from /fresh-login is accepted on the fresh route",
            "/protected-fresh",
            &fresh_again,
        ),
        request(
            "no token on the optional route is anonymous",
            "/partially-protected",
            &[],
        ),
        bearer(
            "an access token signed with another secret is 422 on the optional route",
            "/partially-protected",
            &raw_token(
                HS256_HEADER,
                &access(true).text(),
                Algorithm::HS256,
                OTHER_SECRET,
            ),
        ),
        bearer(
            "a token like the library's made here is accepted on the fresh route",
            "/protected-fresh",
            &access(true).token(),
        ),
        bearer(
            "an access token without a `fresh` claim is accepted on the access route",
            "/protected",
            &access(true).unset("fresh").token(),
        ),
        bearer(
            "an access token without a `fresh` claim is accepted on the optional route",
            "/partially-protected",
            &access(true).unset("fresh").token(),
        ),
        bearer(
            "an integer subject is accepted",
            "/protected",
            &access(true).set("sub", json!(42)).token(),
        ),
        bearer(
            "`type` must be exactly \"access\": \"Access\" is 422",
            "/protected",
            &access(true).set("type", json!("Access")).token(),
        ),
        // Not in the contract's list of crashes: the library looks `type` up in its denylist
        // token-type set (even with no denylist), and a list is unhashable: TypeError, 500.
        bearer(
            "a `type` that is a list is 500 in the library, 422 in freshgate",
            "/protected",
            &access(true).set("type", json!(["access"])).token(),
        )
        .library_crashes(422, None),
        bearer(
            "a `type` that is a number is 422 Only access tokens",
            "/protected",
            &access(true).set("type", json!(1)).token(),
        ),
        bearer(
            "`type` must be exactly \"refresh\" on the refresh route",
            "/refresh",
            &refresh().set("type", json!("refresh ")).token(),
        ),
        bearer(
            "a token with `type` \"refresh\" and `fresh` true is still 422 on the fresh route",
            "/protected-fresh",
            &refresh().set("fresh", json!(true)).token(),
        ),
        bearer(
            "`fresh` false is 401 on the fresh route",
            "/protected-fresh",
            &access(false).token(),
        ),
        bearer(
            "`fresh` null is 401 on the fresh route",
            "/protected-fresh",
            &access(true).set("fresh", Value::Null).token(),
        ),
        bearer(
            "`fresh` 0 is 401 on the fresh route",
            "/protected-fresh",
            &access(true).set("fresh", json!(0)).token(),
        ),
        bearer(
            "`fresh` empty string is 401 on the fresh route",
            "/protected-fresh",
            &access(true).set("fresh", json!("")).token(),
        ),
        bearer(
            "an expired refresh token is 422 on the refresh route",
            "/refresh",
            &refresh().set("exp", json!(now() - 60)).token(),
        ),
    ];
    let count = cases.len();
    assert_no_mismatches(
        "tokens the app issues",
        count,
        run_cases(&app, &stack, cases).await,
    );
}

#[tokio::test]
async fn freshgate_rejects_undecodable_tokens_with_the_library_s_status_and_detail() {
    let app = App::start(&[]).await;
    let stack = Stack::start("").await;
    let now = now();
    let good = access(true).token();
    let (h, p, s) = parts(&good);
    let payload_text = access(true).text();
    // A header segment that contains `_` (its base64url alphabet), for the standard-alphabet case.
    let underscore_header = (0..64)
        .map(|n| format!(r#"{{"alg":"HS256","typ":"JWT","pad":"{}"}}"#, "?".repeat(n)))
        .find(|header| seg(header).contains('_') || seg(header).contains('-'))
        .expect("some padding puts - or _ into the segment");
    let standard_alphabet = sign_input(&format!(
        "{}.{}",
        seg(&underscore_header).replace('-', "+").replace('_', "/"),
        seg(&payload_text)
    ));

    let cases = vec![
        bearer("one segment is Not enough segments", "/protected", "abc"),
        bearer("two segments is Not enough segments", "/protected", "a.b"),
        bearer(
            "two segments is Not enough segments on the optional route",
            "/partially-protected",
            "a.b",
        ),
        bearer(
            "a header segment of one character is Invalid header padding",
            "/protected",
            &format!("A.{p}.{s}"),
        ),
        bearer(
            "a header that is not JSON is Invalid header string",
            "/protected",
            &format!("{}.{p}.{s}", seg("not json")),
        ),
        bearer(
            "a header that is a JSON array is Invalid header string",
            "/protected",
            &format!("{}.{p}.{s}", seg("[1,2]")),
        ),
        bearer(
            "a header that is a JSON string is Invalid header string",
            "/protected",
            &format!("{}.{p}.{s}", seg("\"HS256\"")),
        ),
        bearer(
            "a header that is not UTF-8 is Invalid header string",
            "/protected",
            &format!("{}.{p}.{s}", seg(b"{\"alg\":\"\xff\"}")),
        ),
        bearer(
            "a payload segment of one character is Invalid payload padding",
            "/protected",
            &format!("{h}.A.{s}"),
        ),
        bearer(
            "a signature segment of one character is Invalid crypto padding",
            "/protected",
            &format!("{h}.{p}.A"),
        ),
        bearer(
            "header padding is checked before payload padding",
            "/protected",
            "A.A.A",
        ),
        bearer(
            "a numeric kid is rejected",
            "/protected",
            &signed_with_header(json!({"typ":"JWT","alg":"HS256","kid":5}), &access(true)),
        ),
        bearer(
            "a null kid is rejected",
            "/protected",
            &signed_with_header(json!({"typ":"JWT","alg":"HS256","kid":null}), &access(true)),
        ),
        bearer(
            "a string kid is fine",
            "/protected",
            &signed_with_header(json!({"typ":"JWT","alg":"HS256","kid":"k1"}), &access(true)),
        ),
        bearer(
            "an HS384 token is not allowed when only HS256 is accepted",
            "/protected",
            &raw_token(
                r#"{"typ":"JWT","alg":"HS384"}"#,
                &payload_text,
                Algorithm::HS384,
                SECRET,
            ),
        ),
        bearer(
            "an HS512 token is not allowed when only HS256 is accepted",
            "/protected",
            &raw_token(
                r#"{"typ":"JWT","alg":"HS512"}"#,
                &payload_text,
                Algorithm::HS512,
                SECRET,
            ),
        ),
        bearer(
            "an HS384 token is not allowed on the optional route either",
            "/partially-protected",
            &raw_token(
                r#"{"typ":"JWT","alg":"HS384"}"#,
                &payload_text,
                Algorithm::HS384,
                SECRET,
            ),
        ),
        bearer(
            "a token signed with another secret is Signature verification failed",
            "/protected",
            &raw_token(HS256_HEADER, &payload_text, Algorithm::HS256, OTHER_SECRET),
        ),
        bearer(
            "a changed payload is Signature verification failed",
            "/protected",
            &format!("{h}.{}.{s}", seg(access(false).text())),
        ),
        bearer(
            "an empty signature is Signature verification failed",
            "/protected",
            &format!("{h}.{p}."),
        ),
        bearer(
            "a payload that is not JSON is Invalid payload string",
            "/protected",
            &raw_token(HS256_HEADER, "not json", Algorithm::HS256, SECRET),
        ),
        bearer(
            "a payload that is a JSON array is Invalid payload string",
            "/protected",
            &raw_token(HS256_HEADER, "[1]", Algorithm::HS256, SECRET),
        ),
        bearer(
            "a payload that is a JSON number is Invalid payload string",
            "/protected",
            &raw_token(HS256_HEADER, "42", Algorithm::HS256, SECRET),
        ),
        bearer(
            "the signature is checked before the payload is parsed",
            "/protected",
            &raw_token(HS256_HEADER, "not json", Algorithm::HS256, OTHER_SECRET),
        ),
        bearer(
            "the algorithm is checked before the signature",
            "/protected",
            &raw_token(
                r#"{"alg":"HS384"}"#,
                &payload_text,
                Algorithm::HS384,
                OTHER_SECRET,
            ),
        ),
        bearer(
            "iat that is not a number is 422",
            "/protected",
            &access(true).set("iat", json!("soon")).token(),
        ),
        bearer(
            "iat that is a decimal string is 422",
            "/protected",
            &access(true).set("iat", json!("1.5")).token(),
        ),
        bearer(
            "nbf that is not a number is 422",
            "/protected",
            &access(true).set("nbf", json!("soon")).token(),
        ),
        bearer(
            "exp that is not a number is 422",
            "/protected",
            &access(true).set("exp", json!("later")).token(),
        ),
        bearer(
            "exp that is not a number is 422 on the refresh route",
            "/refresh",
            &refresh().set("exp", json!("later")).token(),
        ),
        bearer(
            "numeric strings are accepted as times",
            "/protected",
            &access(true)
                .set("iat", json!((now - 10).to_string()))
                .set("nbf", json!((now - 10).to_string()))
                .set("exp", json!((now + 900).to_string()))
                .token(),
        ),
        bearer(
            "float times are accepted",
            "/protected",
            &access(true)
                .set("nbf", json!(now as f64 - 10.5))
                .set("exp", json!(now as f64 + 900.5))
                .token(),
        ),
        bearer(
            "nbf 60 s in the future is not yet valid",
            "/protected",
            &access(true).set("nbf", json!(now + 60)).token(),
        ),
        bearer(
            "exp 60 s in the past has expired",
            "/protected",
            &access(true).set("exp", json!(now - 60)).token(),
        ),
        bearer(
            "exp 60 s in the past has expired on the optional route",
            "/partially-protected",
            &access(true).set("exp", json!(now - 60)).token(),
        ),
        bearer(
            "exp 60 s in the past has expired on the fresh route",
            "/protected-fresh",
            &access(true).set("exp", json!(now - 60)).token(),
        ),
        bearer(
            "a numeric-string exp in the past has expired",
            "/protected",
            &access(true)
                .set("exp", json!((now - 60).to_string()))
                .token(),
        ),
        bearer(
            "a token without exp is accepted",
            "/protected",
            &access(true).unset("exp").token(),
        ),
        bearer(
            "a token without iat and nbf is accepted",
            "/protected",
            &access(true).unset("iat").unset("nbf").token(),
        ),
        bearer(
            "iat an hour in the future is accepted",
            "/protected",
            &access(true).set("iat", json!(now + 3600)).token(),
        ),
        bearer(
            "iat is checked before nbf",
            "/protected",
            &access(true)
                .set("iat", json!("x"))
                .set("nbf", json!(now + 60))
                .token(),
        ),
        bearer(
            "nbf is checked before exp",
            "/protected",
            &access(true)
                .set("nbf", json!(now + 60))
                .set("exp", json!(now - 60))
                .token(),
        ),
        bearer(
            "the signature is checked before exp",
            "/protected",
            &raw_token(
                HS256_HEADER,
                &access(true).set("exp", json!(now - 60)).text(),
                Algorithm::HS256,
                OTHER_SECRET,
            ),
        ),
        bearer(
            "an aud claim when no audience is configured is Invalid audience",
            "/protected",
            &access(true).set("aud", json!("someone")).token(),
        ),
        bearer(
            "an aud claim when no audience is configured is Invalid audience on the optional route",
            "/partially-protected",
            &access(true).set("aud", json!(["someone"])).token(),
        ),
        bearer(
            "an aud claim when no audience is configured is Invalid audience on the refresh route",
            "/refresh",
            &refresh().set("aud", json!("someone")).token(),
        ),
        bearer(
            "exp is checked before aud",
            "/protected",
            &access(true)
                .set("aud", json!("someone"))
                .set("exp", json!(now - 60))
                .token(),
        ),
        bearer(
            "decode errors come before the type check",
            "/refresh",
            &access(true).set("exp", json!(now - 60)).token(),
        ),
        bearer(
            "an iss claim when no issuer is configured is fine",
            "/protected",
            &access(true).set("iss", json!("anyone")).token(),
        ),
        bearer(
            "padding `=` at the end of the header segment is accepted",
            "/protected",
            &sign_input(&format!("{}==.{}", seg(HS256_HEADER), seg(&payload_text))),
        ),
        bearer(
            "a character outside base64 inside a segment is skipped, as Python does",
            "/protected",
            &sign_input(&format!("{}!.{}", seg(HS256_HEADER), seg(&payload_text))),
        ),
        bearer(
            "the standard base64 alphabet (+ and /) is accepted, as Python does",
            "/protected",
            &standard_alphabet,
        ),
        bearer(
            "iat null is a 422",
            "/protected",
            &access(true).set("iat", Value::Null).token(),
        ),
        bearer(
            "exp as a list is a 422",
            "/protected",
            &access(true).set("exp", json!([1])).token(),
        ),
        bearer(
            "nbf as an object is a 422",
            "/protected",
            &access(true).set("nbf", json!({"a": 1})).token(),
        ),
    ];
    let count = cases.len();
    assert_no_mismatches(
        "decode failures",
        count,
        run_cases(&app, &stack, cases).await,
    );
}

#[tokio::test]
async fn freshgate_checks_issuer_and_audience_like_fastapi_jwt_auth() {
    let app = App::start(&[
        ("AUTHJWT_DECODE_ISSUER", ISSUER),
        ("AUTHJWT_ENCODE_ISSUER", ISSUER),
        ("AUTHJWT_DECODE_AUDIENCE", AUDIENCE),
        ("COMPAT_TOKEN_AUDIENCE", AUDIENCE),
    ])
    .await;
    let stack = Stack::start(&format!(
        "issuer = \"{ISSUER}\"\naudience = [\"{AUDIENCE}\"]"
    ))
    .await;
    let (fresh, refresh_token) = app.login().await;
    let not_fresh = app.refresh(&refresh_token).await;
    // What the app issues, made here: iss on access tokens only, aud on both.
    let good_access = || {
        access(true)
            .set("iss", json!(ISSUER))
            .set("aud", json!(AUDIENCE))
    };
    let good_refresh = || refresh().set("aud", json!(AUDIENCE));

    let cases = vec![
        bearer(
            "the app's fresh access token (with iss and aud) is accepted on the access route",
            "/protected",
            &fresh,
        ),
        bearer(
            "the app's fresh access token is accepted on the fresh route",
            "/protected-fresh",
            &fresh,
        ),
        bearer(
            "the app's refresh token (aud, no iss) is accepted on the refresh route",
            "/refresh",
            &refresh_token,
        ),
        bearer(
            "the app's non-fresh access token is accepted on the access route",
            "/protected",
            &not_fresh,
        ),
        bearer(
            "the app's non-fresh access token is 401 on the fresh route",
            "/protected-fresh",
            &not_fresh,
        ),
        bearer(
            "an access token without iss is 422 missing iss on the access route",
            "/protected",
            &good_access().unset("iss").token(),
        ),
        bearer(
            "an access token without iss is 422 missing iss on the fresh route",
            "/protected-fresh",
            &good_access().unset("iss").token(),
        ),
        bearer(
            "an access token with another iss is Invalid issuer on the access route",
            "/protected",
            &good_access()
                .set("iss", json!("https://elsewhere.test"))
                .token(),
        ),
        bearer(
            "an access token with another iss is Invalid issuer on the fresh route",
            "/protected-fresh",
            &good_access()
                .set("iss", json!("https://elsewhere.test"))
                .token(),
        ),
        bearer(
            "an iss that is not a string is Invalid issuer",
            "/protected",
            &good_access().set("iss", json!(5)).token(),
        ),
        bearer(
            "iss is not checked on the optional route: missing iss is accepted",
            "/partially-protected",
            &good_access().unset("iss").token(),
        ),
        bearer(
            "iss is not checked on the optional route: another iss is accepted",
            "/partially-protected",
            &good_access()
                .set("iss", json!("https://elsewhere.test"))
                .token(),
        ),
        bearer(
            "iss is not checked on the refresh route: another iss is accepted",
            "/refresh",
            &good_refresh()
                .set("iss", json!("https://elsewhere.test"))
                .token(),
        ),
        bearer(
            "a refresh token (no iss) on the access route: missing iss comes before the type check",
            "/protected",
            &good_refresh().token(),
        ),
        bearer(
            "a refresh token with the right iss is 422 Only access tokens on the access route",
            "/protected",
            &good_refresh().set("iss", json!(ISSUER)).token(),
        ),
        bearer(
            "an access token without aud is 422 missing aud",
            "/protected",
            &good_access().unset("aud").token(),
        ),
        bearer(
            "an access token without aud is 422 missing aud on the optional route",
            "/partially-protected",
            &good_access().unset("aud").token(),
        ),
        bearer(
            "a refresh token without aud is 422 missing aud on the refresh route",
            "/refresh",
            &good_refresh().unset("aud").token(),
        ),
        bearer(
            "another aud is Invalid audience",
            "/protected",
            &good_access().set("aud", json!("someone-else")).token(),
        ),
        bearer(
            "a list of aud that contains the audience is accepted",
            "/protected",
            &good_access()
                .set("aud", json!(["someone-else", AUDIENCE]))
                .token(),
        ),
        bearer(
            "a list of aud that contains the audience is accepted on the fresh route",
            "/protected-fresh",
            &good_access().set("aud", json!([AUDIENCE, "x"])).token(),
        ),
        bearer(
            "a list of aud without the audience is Invalid audience",
            "/protected",
            &good_access()
                .set("aud", json!(["someone-else", "x"]))
                .token(),
        ),
        bearer(
            "an empty aud list is Invalid audience",
            "/protected",
            &good_access().set("aud", json!([])).token(),
        ),
        bearer(
            "an aud that is a number is Invalid claim format",
            "/protected",
            &good_access().set("aud", json!(5)).token(),
        ),
        bearer(
            "an aud list with a number is Invalid claim format",
            "/protected",
            &good_access().set("aud", json!([AUDIENCE, 5])).token(),
        ),
        bearer(
            "iss is checked before aud",
            "/protected",
            &good_access().unset("iss").unset("aud").token(),
        ),
        bearer(
            "exp is checked before iss",
            "/protected",
            &good_access()
                .unset("iss")
                .set("exp", json!(now() - 60))
                .token(),
        ),
        bearer(
            "the optional route still checks aud with another iss",
            "/partially-protected",
            &good_access()
                .set("iss", json!("x"))
                .set("aud", json!("y"))
                .token(),
        ),
    ];
    let count = cases.len();
    assert_no_mismatches(
        "issuer and audience",
        count,
        run_cases(&app, &stack, cases).await,
    );
}

#[tokio::test]
async fn freshgate_answers_4xx_where_fastapi_jwt_auth_crashes_with_500() {
    // The library's bugs (the contract's "Where the library fails with 500"): `_get_secret_key`
    // raises outside the `try` that turns decode errors into 422 (alg none, unknown, not a
    // string or absent; RS256 with no public key), and `get_raw_jwt(token)['type']` /
    // `['fresh']` raise KeyError. freshgate answers a 4xx JSON detail and never forwards them.
    let app = App::start(&[]).await;
    let stack = Stack::start("").await;
    let payload_text = access(true).text();
    let unsigned = |header: &str| format!("{}.{}.", seg(header), seg(&payload_text));
    // Signed with the shared secret over exactly this header: only the header is wrong.
    let under = |header: &str| sign_input(&format!("{}.{}", seg(header), seg(&payload_text)));

    let cases = vec![
        bearer(
            "alg none (unsigned) is 500 in the library, 422 in freshgate",
            "/protected",
            &unsigned(r#"{"typ":"JWT","alg":"none"}"#),
        )
        .library_crashes(422, None),
        bearer(
            "alg none on the optional route is 500 in the library, 422 in freshgate",
            "/partially-protected",
            &unsigned(r#"{"alg":"none"}"#),
        )
        .library_crashes(422, None),
        bearer(
            "alg none on the refresh route is 500 in the library, 422 in freshgate",
            "/refresh",
            &unsigned(r#"{"alg":"none"}"#),
        )
        .library_crashes(422, None),
        bearer(
            "an unknown alg is 500 in the library, 422 in freshgate",
            "/protected",
            &under(r#"{"alg":"HS999"}"#),
        )
        .library_crashes(422, None),
        bearer(
            "alg in lower case is unknown: 500 in the library, 422 in freshgate",
            "/protected",
            &under(r#"{"alg":"hs256"}"#),
        )
        .library_crashes(422, None),
        bearer(
            "an alg that is not a string is 500 in the library, 422 in freshgate",
            "/protected",
            &under(r#"{"alg":256}"#),
        )
        .library_crashes(422, None),
        bearer(
            "no alg is 500 in the library, 422 in freshgate",
            "/protected",
            &under(r#"{"typ":"JWT"}"#),
        )
        .library_crashes(422, None),
        bearer(
            "RS256 with no public key configured is 500 in the library, 422 in freshgate",
            "/protected",
            &format!(
                "{}.{}.{}",
                seg(r#"{"typ":"JWT","alg":"RS256"}"#),
                seg(&payload_text),
                seg([7u8; 256])
            ),
        )
        .library_crashes(422, None),
        bearer(
            "no type claim on the access route is 500 in the library, 422 in freshgate",
            "/protected",
            &access(true).unset("type").token(),
        )
        .library_crashes(422, None),
        bearer(
            "no type claim on the fresh route is 500 in the library, 422 in freshgate",
            "/protected-fresh",
            &access(true).unset("type").token(),
        )
        .library_crashes(422, None),
        bearer(
            "no type claim on the optional route is 500 in the library, 422 in freshgate",
            "/partially-protected",
            &access(true).unset("type").token(),
        )
        .library_crashes(422, None),
        bearer(
            "no type claim on the refresh route is 500 in the library, 422 in freshgate",
            "/refresh",
            &refresh().unset("type").token(),
        )
        .library_crashes(422, None),
        bearer(
            "no fresh claim on the fresh route is 500 in the library, 401 in freshgate",
            "/protected-fresh",
            &access(true).unset("fresh").token(),
        )
        .library_crashes(401, Some("Fresh token required")),
    ];
    let count = cases.len();
    assert_no_mismatches(
        "library crashes",
        count,
        run_cases(&app, &stack, cases).await,
    );
}

#[tokio::test]
async fn freshgate_differs_from_fastapi_jwt_auth_on_freshness_only_where_documented() {
    let app = App::start(&[]).await;
    let stack = Stack::start("").await;
    let now = now();

    // The contract's "Freshness values: where freshgate deliberately differs": the library uses
    // Python truthiness; freshgate counts JSON true, or a "fresh until" epoch not yet passed.
    // The library itself only ever writes JSON booleans.
    let cases = vec![
        bearer(
            "fresh \"false\" (a string) is fresh to the library, not to freshgate (documented)",
            "/protected-fresh",
            &access(true).set("fresh", json!("false")).token(),
        )
        .library_accepts_freshgate_rejects(401, "Fresh token required"),
        bearer(
            "fresh \"true\" (a string) is fresh to the library, not to freshgate (documented)",
            "/protected-fresh",
            &access(true).set("fresh", json!("true")).token(),
        )
        .library_accepts_freshgate_rejects(401, "Fresh token required"),
        bearer(
            "fresh 1 is fresh to the library, an epoch long past to freshgate (documented)",
            "/protected-fresh",
            &access(true).set("fresh", json!(1)).token(),
        )
        .library_accepts_freshgate_rejects(401, "Fresh token required"),
        bearer(
            "fresh as an epoch an hour ago is fresh to the library, not to freshgate (documented)",
            "/protected-fresh",
            &access(true).set("fresh", json!(now - 3600)).token(),
        )
        .library_accepts_freshgate_rejects(401, "Fresh token required"),
        bearer(
            "fresh as a list is fresh to the library, not to freshgate (documented)",
            "/protected-fresh",
            &access(true).set("fresh", json!([1])).token(),
        )
        .library_accepts_freshgate_rejects(401, "Fresh token required"),
        bearer(
            "fresh as an epoch an hour ahead is fresh to both",
            "/protected-fresh",
            &access(true).set("fresh", json!(now + 3600)).token(),
        ),
        bearer(
            "fresh as a float epoch an hour ahead is fresh to both",
            "/protected-fresh",
            &access(true)
                .set("fresh", json!(now as f64 + 3600.5))
                .token(),
        ),
        bearer(
            "fresh \"false\" on the access route is accepted by both, and not fresh to freshgate",
            "/protected",
            &access(true).set("fresh", json!("false")).token(),
        ),
        bearer(
            "fresh 1 on the optional route is accepted by both, and not fresh to freshgate",
            "/partially-protected",
            &access(true).set("fresh", json!(1)).token(),
        ),
        bearer(
            "fresh true is fresh to both",
            "/protected-fresh",
            &access(true).token(),
        ),
        bearer(
            "fresh false is not fresh to either",
            "/protected-fresh",
            &access(false).token(),
        ),
    ];
    let count = cases.len();
    assert_no_mismatches(
        "freshness values",
        count,
        run_cases(&app, &stack, cases).await,
    );
}

// ---------------------------------------------------------------------------------------------
// Cookies and CSRF (the contract's "Cookies and CSRF")
// ---------------------------------------------------------------------------------------------

/// The `csrf` claim of the cookie tokens made here.
const CSRF: &str = "0b6c1d3e-compat-csrf";

/// An access token made here as the library writes it in cookie mode (with a `csrf` claim).
fn cookie_access(fresh: bool) -> Map<String, Value> {
    access(fresh).set("csrf", json!(CSRF))
}

/// A token made here whose text contains a digit 4-7 followed by two octal digits, and a quoted
/// cookie value for it with a backslash before that digit. Python's `http.cookies._unquote`
/// reads `\ooo` as an octal escape only for `[0-3][0-7][0-7]`, so it reads `\4`.. as a plain
/// escaped `4` and gets the token back.
fn octal_lookalike() -> (String, String) {
    (0..10_000)
        .find_map(|n| {
            let token = cookie_access(true).set("n", json!(n)).token();
            let bytes = token.as_bytes();
            let at = (0..bytes.len().saturating_sub(2)).find(|&i| {
                (b'4'..=b'7').contains(&bytes[i])
                    && (b'0'..=b'7').contains(&bytes[i + 1])
                    && (b'0'..=b'7').contains(&bytes[i + 2])
            })?;
            let quoted = format!("\"{}\\{}\"", &token[..at], &token[at..]);
            Some((token, quoted))
        })
        .expect("some token contains a digit 4-7 followed by two octal digits")
}

/// Cookie cases that decide the same with `token_location` `cookies` and `headers, cookies`
/// (no Authorization header is sent). `jar` holds the app's own `/login` cookies; `stale` is a
/// non-fresh access cookie and its CSRF value from the app's own `/refresh`.
fn cookie_cases(jar: &Jar, stale: &(String, String)) -> Vec<Case> {
    let access_cookie = format!("access_token_cookie={}", jar.access);
    let refresh_cookie = format!("refresh_token_cookie={}", jar.refresh);
    let stale_cookie = format!("access_token_cookie={}", stale.0);
    let made = cookie_access(true).token();
    let made_cookie = format!("access_token_cookie={made}");
    let without_csrf = access(true).token();
    let no_csrf_claim = format!("access_token_cookie={without_csrf}");
    let expired = format!(
        "access_token_cookie={}",
        cookie_access(true).set("exp", json!(now() - 60)).token()
    );
    let (lookalike, lookalike_quoted) = octal_lookalike();
    // The JWT header segment always starts with `eyJ`; `J` is octal 112.
    let octal_j = format!("\"ey\\112{}\"", &jar.access[3..]);
    let escaped = format!("\"\\e\\y{}\"", &jar.access[2..]);

    vec![
        // Reading the access cookie, and CSRF by method.
        call("GET with the access cookie needs no CSRF header", "GET", "/protected")
            .cookie(&access_cookie)
            .reading(&jar.access),
        call("GET with all of /login's cookies is accepted", "GET", "/protected")
            .cookie(jar.all())
            .reading(&jar.access),
        call(
            "GET with a wrong CSRF header is accepted: GET is not a CSRF method",
            "GET",
            "/protected",
        )
        .cookie(&access_cookie)
        .csrf("wrong")
        .reading(&jar.access),
        call("POST without X-CSRF-Token is 401 Missing CSRF Token", "POST", "/protected")
            .cookie(&access_cookie),
        call("PUT without X-CSRF-Token is 401 Missing CSRF Token", "PUT", "/protected")
            .cookie(&access_cookie),
        call("PATCH without X-CSRF-Token is 401 Missing CSRF Token", "PATCH", "/protected")
            .cookie(&access_cookie),
        call("DELETE without X-CSRF-Token is 401 Missing CSRF Token", "DELETE", "/protected")
            .cookie(&access_cookie),
        call("POST with the right CSRF header is accepted", "POST", "/protected")
            .cookie(jar.all())
            .csrf(&jar.csrf_access)
            .reading(&jar.access),
        call("PUT with the right CSRF header is accepted", "PUT", "/protected")
            .cookie(&access_cookie)
            .csrf(&jar.csrf_access)
            .reading(&jar.access),
        call("POST with a wrong CSRF header is 401 do not match", "POST", "/protected")
            .cookie(&access_cookie)
            .csrf("wrong"),
        call("DELETE with a wrong CSRF header is 401 do not match", "DELETE", "/protected")
            .cookie(&access_cookie)
            .csrf("wrong"),
        call(
            "POST with the refresh token's CSRF value on an access route is 401 do not match",
            "POST",
            "/protected",
        )
        .cookie(jar.all())
        .csrf(&jar.csrf_refresh),
        call(
            "POST with the CSRF value in another case is 401 do not match",
            "POST",
            "/protected",
        )
        .cookie(&access_cookie)
        .csrf(jar.csrf_access.to_uppercase()),
        call(
            "POST with a CSRF header that only starts with the value is 401 do not match",
            "POST",
            "/protected",
        )
        .cookie(&access_cookie)
        .csrf(&jar.csrf_access[..8]),
        call("POST with an empty CSRF header is 401 Missing CSRF Token", "POST", "/protected")
            .cookie(&access_cookie)
            .csrf(""),
        call(
            "of two CSRF headers the first counts: a wrong one first is 401 do not match",
            "POST",
            "/protected",
        )
        .cookie(&access_cookie)
        .csrf("wrong")
        .csrf(&jar.csrf_access),
        call(
            "of two CSRF headers the first counts: the right one first is accepted",
            "POST",
            "/protected",
        )
        .cookie(&access_cookie)
        .csrf(&jar.csrf_access)
        .csrf("wrong")
        .reading(&jar.access),
        call(
            "the CSRF header name is case-insensitive",
            "POST",
            "/protected",
        )
        .cookie(&access_cookie)
        .with("X-CSRF-TOKEN", &jar.csrf_access)
        .reading(&jar.access),
        call(
            "a CSRF value sent in a cookie instead of the header is 401 Missing CSRF Token",
            "POST",
            "/protected",
        )
        .cookie(format!("{access_cookie}; x-csrf-token={}", jar.csrf_access)),
        // Tokens made here with the app's secret.
        call("a cookie token made here with its csrf value is accepted on POST", "POST", "/protected")
            .cookie(&made_cookie)
            .csrf(CSRF)
            .reading(&made),
        call(
            "a cookie token without a csrf claim on POST with a CSRF header is 422 Missing claim: csrf",
            "POST",
            "/protected",
        )
        .cookie(&no_csrf_claim)
        .csrf(CSRF),
        call(
            "a cookie token without a csrf claim on POST without a CSRF header is 401 Missing CSRF Token",
            "POST",
            "/protected",
        )
        .cookie(&no_csrf_claim),
        call(
            "a cookie token without a csrf claim on GET is accepted",
            "GET",
            "/protected",
        )
        .cookie(&no_csrf_claim)
        .reading(&without_csrf),
        // Not in the contract's list of crashes: `hmac.compare_digest(str, int)` raises
        // TypeError.
        call(
            "a numeric csrf claim on POST is 500 in the library, 401 do not match in freshgate",
            "POST",
            "/protected",
        )
        .cookie(format!(
            "access_token_cookie={}",
            access(true).set("csrf", json!(5)).token()
        ))
        .csrf("5")
        .library_crashes(401, Some("CSRF double submit tokens do not match")),
        // Not in the contract's list of crashes: `hmac.compare_digest` refuses non-ASCII str
        // (the header is decoded as latin-1): TypeError.
        call(
            "a non-ASCII CSRF header is 500 in the library, 401 do not match in freshgate",
            "POST",
            "/protected",
        )
        .cookie(&access_cookie)
        .csrf(b"caf\xe9")
        .library_crashes(401, Some("CSRF double submit tokens do not match")),
        // Missing and empty cookies.
        call("no cookie is 401 Missing cookie access_token_cookie", "GET", "/protected"),
        call("no cookie on the fresh route is 401 Missing cookie", "GET", "/protected-fresh"),
        call(
            "no cookie on POST without a CSRF header is 401 Missing cookie (checked first)",
            "POST",
            "/protected",
        ),
        call(
            "no cookie on POST with a CSRF header is 401 Missing cookie",
            "POST",
            "/protected",
        )
        .csrf(&jar.csrf_access),
        call("an empty access cookie is 401 Missing cookie", "GET", "/protected")
            .cookie("access_token_cookie="),
        call(
            "an empty access cookie on POST without a CSRF header is 401 Missing cookie",
            "POST",
            "/protected",
        )
        .cookie("access_token_cookie="),
        call("an access cookie of quotes only is 401 Missing cookie", "GET", "/protected")
            .cookie("access_token_cookie=\"\""),
        call("only the CSRF cookies are 401 Missing cookie", "GET", "/protected").cookie(
            format!(
                "csrf_access_token={}; csrf_refresh_token={}",
                jar.csrf_access, jar.csrf_refresh
            ),
        ),
        call(
            "the cookie name is case-sensitive: Access_Token_Cookie is 401 Missing cookie",
            "GET",
            "/protected",
        )
        .cookie(format!("Access_Token_Cookie={}", jar.access)),
        call(
            "a cookie name with a suffix is 401 Missing cookie",
            "GET",
            "/protected",
        )
        .cookie(format!("access_token_cookiex={}", jar.access)),
        call(
            "a bare token in the Cookie header (no name) is 401 Missing cookie",
            "GET",
            "/protected",
        )
        .cookie(&jar.access),
        // The order of checks.
        call(
            "POST with a garbage cookie and no CSRF header is 401 Missing CSRF Token (before decode)",
            "POST",
            "/protected",
        )
        .cookie("access_token_cookie=garbage"),
        call(
            "POST with a garbage cookie and a CSRF header fails to decode",
            "POST",
            "/protected",
        )
        .cookie("access_token_cookie=garbage")
        .csrf(&jar.csrf_access),
        call("a garbage cookie on GET fails to decode", "GET", "/protected")
            .cookie("access_token_cookie=a.b.c"),
        call("an expired cookie token is 422 Signature has expired", "GET", "/protected")
            .cookie(&expired),
        call(
            "an expired cookie token on POST with its CSRF value is 422 Signature has expired",
            "POST",
            "/protected",
        )
        .cookie(&expired)
        .csrf(CSRF),
        call(
            "an expired cookie token on POST with a wrong CSRF value is 422 (decode before CSRF)",
            "POST",
            "/protected",
        )
        .cookie(&expired)
        .csrf("wrong"),
        call(
            "a cookie signed with another secret is 422",
            "GET",
            "/protected",
        )
        .cookie(format!(
            "access_token_cookie={}",
            raw_token(
                HS256_HEADER,
                &cookie_access(true).text(),
                Algorithm::HS256,
                OTHER_SECRET
            )
        )),
        // Refresh tokens.
        call(
            "only the refresh cookie on an access route is 401 Missing cookie access_token_cookie",
            "GET",
            "/protected",
        )
        .cookie(&refresh_cookie),
        call(
            "a refresh token in the access cookie is 422 Only access tokens",
            "GET",
            "/protected",
        )
        .cookie(format!("access_token_cookie={}", jar.refresh)),
        call(
            "a refresh token in the access cookie on POST with a wrong CSRF value is 422 (type before CSRF)",
            "POST",
            "/protected",
        )
        .cookie(format!("access_token_cookie={}", jar.refresh))
        .csrf("wrong"),
        call(
            "the refresh route reads refresh_token_cookie with its CSRF value",
            "POST",
            "/refresh",
        )
        .cookie(jar.all())
        .csrf(&jar.csrf_refresh)
        .reading(&jar.refresh),
        call(
            "the refresh route without a CSRF header is 401 Missing CSRF Token",
            "POST",
            "/refresh",
        )
        .cookie(&refresh_cookie),
        call(
            "the refresh route with the access token's CSRF value is 401 do not match",
            "POST",
            "/refresh",
        )
        .cookie(jar.all())
        .csrf(&jar.csrf_access),
        call(
            "the refresh route with only the access cookie is 401 Missing cookie refresh_token_cookie",
            "POST",
            "/refresh",
        )
        .cookie(&access_cookie)
        .csrf(&jar.csrf_access),
        call(
            "an access token in the refresh cookie is 422 Only refresh tokens",
            "POST",
            "/refresh",
        )
        .cookie(format!("refresh_token_cookie={}", jar.access))
        .csrf(&jar.csrf_access),
        // Freshness.
        call("a fresh cookie is accepted on the fresh route", "GET", "/protected-fresh")
            .cookie(&access_cookie)
            .reading(&jar.access),
        call(
            "a non-fresh cookie from /refresh is 401 Fresh token required",
            "GET",
            "/protected-fresh",
        )
        .cookie(&stale_cookie),
        call(
            "a non-fresh cookie from /refresh is accepted on the access route with its CSRF value",
            "POST",
            "/protected",
        )
        .cookie(&stale_cookie)
        .csrf(&stale.1)
        .reading(&stale.0),
        call(
            "DELETE on the fresh route with a fresh cookie and its CSRF value is accepted",
            "DELETE",
            "/protected-fresh",
        )
        .cookie(&access_cookie)
        .csrf(&jar.csrf_access)
        .reading(&jar.access),
        call(
            "DELETE on the fresh route with a non-fresh cookie and a wrong CSRF value is 401 Fresh token required (fresh before CSRF)",
            "DELETE",
            "/protected-fresh",
        )
        .cookie(&stale_cookie)
        .csrf("wrong"),
        call(
            "DELETE on the fresh route with a non-fresh cookie and no CSRF header is 401 Missing CSRF Token",
            "DELETE",
            "/protected-fresh",
        )
        .cookie(&stale_cookie),
        // The optional route.
        call("the optional route with no cookie is anonymous", "GET", "/partially-protected")
            .reading_nothing(),
        call("the optional route with a good cookie is accepted", "GET", "/partially-protected")
            .cookie(&access_cookie)
            .reading(&jar.access),
        call("the optional route with a garbage cookie is 422", "GET", "/partially-protected")
            .cookie("access_token_cookie=garbage"),
        call(
            "the optional route with an expired cookie is 422",
            "GET",
            "/partially-protected",
        )
        .cookie(&expired),
        call(
            "the optional route with a refresh token in the access cookie is 422",
            "GET",
            "/partially-protected",
        )
        .cookie(format!("access_token_cookie={}", jar.refresh)),
        call(
            "the optional route with an empty cookie is anonymous",
            "GET",
            "/partially-protected",
        )
        .cookie("access_token_cookie=")
        .reading_nothing(),
        call(
            "POST on the optional route with no cookie is anonymous",
            "POST",
            "/partially-protected",
        )
        .reading_nothing(),
        call(
            "POST on the optional route with an empty cookie and no CSRF header is anonymous",
            "POST",
            "/partially-protected",
        )
        .cookie("access_token_cookie=")
        .reading_nothing(),
        // The library's `_verify_and_get_jwt_optional_in_cookies` raises Missing CSRF Token
        // for a cookie without the header on a CSRF method, before decoding.
        call(
            "POST on the optional route with a good cookie and no CSRF header is 401 Missing CSRF Token",
            "POST",
            "/partially-protected",
        )
        .cookie(&access_cookie),
        call(
            "POST on the optional route with a garbage cookie and no CSRF header is 401 Missing CSRF Token",
            "POST",
            "/partially-protected",
        )
        .cookie("access_token_cookie=garbage"),
        call(
            "POST on the optional route with the right CSRF header is accepted",
            "POST",
            "/partially-protected",
        )
        .cookie(&access_cookie)
        .csrf(&jar.csrf_access)
        .reading(&jar.access),
        call(
            "POST on the optional route with a wrong CSRF header is 401 do not match",
            "POST",
            "/partially-protected",
        )
        .cookie(&access_cookie)
        .csrf("wrong"),
        call(
            "POST on the optional route with a token without a csrf claim is 422 Missing claim: csrf",
            "POST",
            "/partially-protected",
        )
        .cookie(&no_csrf_claim)
        .csrf(CSRF),
        // How the Cookie header is parsed (Starlette's cookie_parser, Python's _unquote).
        call(
            "of two cookies with the same name the last wins: a good one last is accepted",
            "GET",
            "/protected",
        )
        .cookie(format!("access_token_cookie=garbage; {access_cookie}"))
        .reading(&jar.access),
        call(
            "of two cookies with the same name the last wins: a garbage one last is 422",
            "GET",
            "/protected",
        )
        .cookie(format!("{access_cookie}; access_token_cookie=garbage")),
        call(
            "of two cookies with the same name the last wins: an empty one last is 401 Missing cookie",
            "GET",
            "/protected",
        )
        .cookie(format!("{access_cookie}; access_token_cookie=")),
        call(
            "of two Cookie headers the first counts: without the access cookie is 401 Missing cookie",
            "GET",
            "/protected",
        )
        .cookie("other=1")
        .cookie(&access_cookie),
        call(
            "of two Cookie headers the first counts: with the access cookie is accepted",
            "GET",
            "/protected",
        )
        .cookie(&access_cookie)
        .cookie("access_token_cookie=garbage")
        .reading(&jar.access),
        call(
            "spaces around = and ; are trimmed",
            "GET",
            "/protected",
        )
        .cookie(format!("other=1 ;  access_token_cookie  =  {}  ; x=y", jar.access))
        .reading(&jar.access),
        call(
            "empty chunks between semicolons are skipped",
            "GET",
            "/protected",
        )
        .cookie(format!(";; {access_cookie};;"))
        .reading(&jar.access),
        call(
            "a no-break space (0xA0, latin-1) around the name is Python whitespace",
            "GET",
            "/protected",
        )
        .with(
            "cookie",
            [b"\xa0access_token_cookie\xa0=".as_slice(), jar.access.as_bytes()].concat(),
        )
        .reading(&jar.access),
        call("a quoted value is unquoted", "GET", "/protected")
            .cookie(format!("access_token_cookie=\"{}\"", jar.access))
            .reading(&jar.access),
        call(
            "backslash escapes in a quoted value are decoded",
            "GET",
            "/protected",
        )
        .cookie(format!("access_token_cookie={escaped}"))
        .reading(&jar.access),
        call(
            "an octal escape in a quoted value is decoded",
            "GET",
            "/protected",
        )
        .cookie(format!("access_token_cookie={octal_j}"))
        .reading(&jar.access),
        call(
            "a backslash before a digit 4-7 and two octal digits is a plain escape, not octal",
            "GET",
            "/protected",
        )
        .cookie(format!("access_token_cookie={lookalike_quoted}"))
        .reading(&lookalike),
        call(
            "a value with only an opening quote is not unquoted",
            "GET",
            "/protected",
        )
        .cookie(format!("access_token_cookie=\"{}", jar.access)),
        call(
            "a value with a trailing =x is the whole value after the first =",
            "GET",
            "/protected",
        )
        .cookie(format!("access_token_cookie={}=x", jar.access))
        // PyJWT 1.7.1 decodes base64 leniently: after the `=` padding the rest is ignored.
        .reading(&jar.access),
    ]
}

#[tokio::test]
async fn freshgate_decides_like_fastapi_jwt_auth_for_cookie_tokens_and_csrf() {
    let app = App::start(&[("AUTHJWT_TOKEN_LOCATION", "cookies")]).await;
    let stack = Stack::start(r#"token_location = ["cookies"]"#).await;
    let jar = app.login_cookies().await;
    let stale = app.refresh_cookies(&jar).await;
    let (header_token, _) = app.login().await;
    let access_cookie = format!("access_token_cookie={}", jar.access);

    let mut cases = cookie_cases(&jar, &stale);
    cases.extend([
        bearer(
            "cookies only: a good Authorization header without a cookie is 401 Missing cookie",
            "/protected",
            &header_token,
        ),
        bearer(
            "cookies only: a good Authorization header on the optional route is anonymous",
            "/partially-protected",
            &header_token,
        )
        .reading_nothing(),
        call(
            "cookies only: a malformed Authorization header is ignored and the cookie is read",
            "GET",
            "/protected",
        )
        .with("authorization", "Token nonsense")
        .cookie(&access_cookie)
        .reading(&jar.access),
        call(
            "cookies only: an Authorization header does not exempt POST from CSRF",
            "POST",
            "/protected",
        )
        .with("authorization", format!("Bearer {}", jar.access))
        .cookie(&access_cookie),
    ]);
    let count = cases.len();
    assert_no_mismatches(
        "cookie tokens and CSRF",
        count,
        run_cases(&app, &stack, cases).await,
    );
}

#[tokio::test]
async fn freshgate_reads_a_header_token_before_the_cookie_like_fastapi_jwt_auth() {
    let app = App::start(&[("AUTHJWT_TOKEN_LOCATION", "headers,cookies")]).await;
    let stack = Stack::start(r#"token_location = ["headers", "cookies"]"#).await;
    let jar = app.login_cookies().await;
    let stale = app.refresh_cookies(&jar).await;
    let access_cookie = format!("access_token_cookie={}", jar.access);
    let good = format!("Bearer {}", jar.access);
    let expired = format!(
        "Bearer {}",
        cookie_access(true).set("exp", json!(now() - 60)).token()
    );

    let mut cases = cookie_cases(&jar, &stale);
    cases.extend([
        call(
            "both: a good header token with a garbage cookie is accepted (the header is final)",
            "GET",
            "/protected",
        )
        .with("authorization", &good)
        .cookie("access_token_cookie=garbage"),
        call(
            "both: a malformed header with a good cookie is 422 Bad Authorization header",
            "GET",
            "/protected",
        )
        .with("authorization", "Token nonsense")
        .cookie(&access_cookie),
        call(
            "both: a malformed header with a good cookie is 422 on the optional route too",
            "GET",
            "/partially-protected",
        )
        .with("authorization", "Bearer")
        .cookie(&access_cookie),
        call(
            "both: an expired header token with a good cookie is 422 (no fallback)",
            "GET",
            "/protected",
        )
        .with("authorization", &expired)
        .cookie(&access_cookie),
        call(
            "both: a header token with a good cookie on the optional route is 422 when expired",
            "GET",
            "/partially-protected",
        )
        .with("authorization", &expired)
        .cookie(&access_cookie),
        call(
            "both: a header token on POST needs no CSRF header",
            "POST",
            "/protected",
        )
        .with("authorization", &good),
        call(
            "both: a header token on POST with a wrong CSRF header is accepted",
            "POST",
            "/protected",
        )
        .with("authorization", &good)
        .cookie(&access_cookie)
        .csrf("wrong"),
        call(
            "both: a header token on DELETE on the fresh route needs no CSRF header",
            "DELETE",
            "/protected-fresh",
        )
        .with("authorization", &good),
        call(
            "both: a non-fresh header token with a fresh cookie is 401 Fresh token required",
            "GET",
            "/protected-fresh",
        )
        .with("authorization", format!("Bearer {}", stale.0))
        .cookie(&access_cookie),
        call(
            "both: a header token on POST on the optional route needs no CSRF header",
            "POST",
            "/partially-protected",
        )
        .with("authorization", &good)
        .cookie(&access_cookie),
        call(
            "both: a refresh header token on the refresh route needs no CSRF header",
            "POST",
            "/refresh",
        )
        .with("authorization", format!("Bearer {}", jar.refresh)),
        call(
            "both: an access header token with a good refresh cookie is 422 on the refresh route",
            "POST",
            "/refresh",
        )
        .with("authorization", &good)
        .cookie(jar.all())
        .csrf(&jar.csrf_refresh),
        call(
            "both: an empty Authorization header falls back to the cookie",
            "GET",
            "/protected",
        )
        .with("authorization", "")
        .cookie(&access_cookie)
        .reading(&jar.access),
        call(
            "both: an empty Authorization header falls back to the cookie, which needs CSRF on POST",
            "POST",
            "/protected",
        )
        .with("authorization", "")
        .cookie(&access_cookie),
    ]);
    let count = cases.len();
    assert_no_mismatches(
        "header and cookie tokens",
        count,
        run_cases(&app, &stack, cases).await,
    );
}

#[tokio::test]
async fn freshgate_skips_csrf_like_fastapi_jwt_auth_when_csrf_protection_is_off() {
    let app = App::start(&[
        ("AUTHJWT_TOKEN_LOCATION", "cookies"),
        ("AUTHJWT_COOKIE_CSRF_PROTECT", "false"),
    ])
    .await;
    let stack = Stack::start("token_location = [\"cookies\"]\ncsrf_protect = false").await;
    let set = app.post_for_cookies("/login", &[]).await;
    let mut names: Vec<&str> = set.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["access_token_cookie", "refresh_token_cookie"],
        "without CSRF protection /login sets no CSRF cookies"
    );
    let access_token = set["access_token_cookie"].0.clone();
    let refresh_token = set["refresh_token_cookie"].0.clone();
    assert_eq!(
        payload_of(&access_token).and_then(|claims| claims.get("csrf").cloned()),
        None,
        "without CSRF protection the library writes no csrf claim"
    );
    let access_cookie = format!("access_token_cookie={access_token}");
    let made = cookie_access(true).token();

    let cases = vec![
        call(
            "no CSRF: POST without a CSRF header is accepted",
            "POST",
            "/protected",
        )
        .cookie(&access_cookie)
        .reading(&access_token),
        call(
            "no CSRF: DELETE with any CSRF header is accepted",
            "DELETE",
            "/protected-fresh",
        )
        .cookie(&access_cookie)
        .csrf("anything")
        .reading(&access_token),
        call(
            "no CSRF: a token with a csrf claim and a wrong CSRF header is accepted",
            "POST",
            "/protected",
        )
        .cookie(format!("access_token_cookie={made}"))
        .csrf("wrong")
        .reading(&made),
        call(
            "no CSRF: the refresh route reads the refresh cookie",
            "POST",
            "/refresh",
        )
        .cookie(format!("refresh_token_cookie={refresh_token}"))
        .reading(&refresh_token),
        call(
            "no CSRF: POST on the optional route with a cookie is accepted",
            "POST",
            "/partially-protected",
        )
        .cookie(&access_cookie)
        .reading(&access_token),
        call(
            "no CSRF: POST with a garbage cookie fails to decode",
            "POST",
            "/protected",
        )
        .cookie("access_token_cookie=garbage"),
        call(
            "no CSRF: no cookie is still 401 Missing cookie",
            "POST",
            "/protected",
        ),
    ];
    let count = cases.len();
    assert_no_mismatches(
        "cookies without CSRF protection",
        count,
        run_cases(&app, &stack, cases).await,
    );
}

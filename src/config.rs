//! Config loading in two stages: [`raw`] mirrors the TOML file; [`parse`] validates it into a
//! [`Snapshot`], the immutable runtime view (routes, keys, upstreams) that a request uses from
//! start to end. Validation reports every problem it finds, each with file, line, column, key
//! and fix, and builds nothing partial: a config is whole or refused.

mod error;
mod forward;
mod jwt;
mod raw;
mod routes;

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::Uri;
use toml::Spanned;

pub use error::{ConfigError, ConfigErrors, Source};
use raw::RawConfig;

use crate::aliases::AliasSet;
use crate::auth::AuthSettings;
use crate::fs::{read_file, DenylistFile};
use crate::host::AllowedHosts;
use crate::routes::RouteTable;

/// The default `[server] listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// `[server]` settings that are not the listener.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Time allowed for an upstream's response head (`upstream_timeout`, default 30 s).
    pub upstream_timeout: Duration,
    /// Time allowed to receive a request head from its first byte (`request_head_timeout`);
    /// also how long a request body may stall.
    pub request_head_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request (`idle_timeout`).
    pub idle_timeout: Duration,
    /// How long SIGTERM/SIGINT wait for requests in flight (`shutdown_timeout`, 30 s).
    pub shutdown_timeout: Duration,
    /// Request line plus headers, in bytes (`max_header_bytes`): 431 above it.
    pub max_header_bytes: usize,
    /// Number of request headers (`max_headers`): 431 above it.
    pub max_headers: usize,
    /// Request target length (`max_uri_bytes`): 414 above it.
    pub max_uri_bytes: usize,
    /// Token length (`max_token_bytes`): 431 above it, before any decoding.
    pub max_token_bytes: usize,
    /// Default request body limit for routes without their own (`max_body_bytes`): 413.
    pub max_body_bytes: Option<u64>,
    /// The spellings of a path a lenient backend may read (`path_aliases`, default all).
    pub path_aliases: AliasSet,
    /// `allowed_hosts`: the `Host` names served (421 otherwise); `None` serves any valid host.
    pub allowed_hosts: Option<AllowedHosts>,
    /// How a refused WebSocket handshake is answered (`websocket_reject`).
    pub websocket_reject: WebSocketReject,
    /// A relayed WebSocket with no bytes either way for this long is closed
    /// (`websocket_idle_timeout`, default 300 s).
    pub websocket_idle_timeout: Duration,
}

/// `[server] websocket_reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSocketReject {
    /// Complete the handshake, send the library's message as one text frame, close with 1008:
    /// what the library's documented app pattern shows the client (the default).
    Message,
    /// Answer the handshake with the JSON 401/422 and `WWW-Authenticate`.
    Http,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            upstream_timeout: Duration::from_secs(30),
            request_head_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_token_bytes: 8 * 1024,
            max_body_bytes: None,
            path_aliases: AliasSet::ALL,
            allowed_hosts: None,
            websocket_reject: WebSocketReject::Message,
            websocket_idle_timeout: Duration::from_secs(300),
        }
    }
}

/// The settings that take effect only at start: the listeners and the worker topology. A
/// reload compares them as one value and names the keys that changed (they wait for a
/// restart); everything else in a [`Snapshot`] applies to the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    /// `[server] listen`.
    pub listen: SocketAddr,
    /// `[admin] listen`: health and metrics, never on the public listener. Off when absent.
    pub admin_listen: Option<SocketAddr>,
    /// Accept loops, one per thread, each with its own upstream pool (`workers`; default: the
    /// number of CPUs).
    pub workers: usize,
    /// Client connections served at once; more wait in the listen backlog (`max_connections`).
    pub max_connections: usize,
    /// Time allowed to open a TCP connection to an upstream (`upstream_connect_timeout`, 5 s).
    pub upstream_connect_timeout: Duration,
}

impl Startup {
    /// The keys whose values differ between `self` and `other`, for the reload log.
    pub fn changed_keys(&self, other: &Startup) -> Vec<&'static str> {
        [
            ("server.listen", self.listen != other.listen),
            ("admin.listen", self.admin_listen != other.admin_listen),
            ("server.workers", self.workers != other.workers),
            (
                "server.max_connections",
                self.max_connections != other.max_connections,
            ),
            (
                "server.upstream_connect_timeout",
                self.upstream_connect_timeout != other.upstream_connect_timeout,
            ),
        ]
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
    }
}

/// One named upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: std::sync::Arc<str>,
    pub scheme: Scheme,
    pub authority: Authority,
}

/// An HMAC secret. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Everything a validated config produced. Immutable: a reload builds a new one.
#[derive(Debug)]
pub struct Snapshot {
    /// What the file says of the restart-only settings; the running process keeps the ones it
    /// started with.
    pub startup: Startup,
    pub server: ServerSettings,
    pub upstreams: Vec<Arc<Upstream>>,
    pub auth: AuthSettings,
    pub routes: RouteTable,
    /// The HMAC secret, kept for `freshgate token`.
    pub secret: Option<Secret>,
    /// `denylist_file`, polled for changes by the reloader; it feeds `auth`'s denylist.
    pub denylist_file: Option<Arc<DenylistFile>>,
    /// `[log] subject`: whether access-log lines carry the token's subject.
    pub log_subject: bool,
    /// `[forward]`: claims sent as headers, and whether the token is removed.
    pub forward: ForwardSettings,
}

/// `[forward]`.
#[derive(Debug, Clone, Default)]
pub struct ForwardSettings {
    pub claims: Vec<ClaimHeader>,
    /// Remove the token (header and token cookies) before forwarding; routes may override.
    pub strip_authorization: bool,
}

/// One `[forward] claims` entry: a header set from a (dotted) claim path.
#[derive(Debug, Clone)]
pub struct ClaimHeader {
    pub header: http::HeaderName,
    /// `<header>-Encoding`, sent as `percent` when the value had to be percent-encoded.
    pub encoding_header: http::HeaderName,
    pub path: Vec<String>,
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Snapshot, ConfigErrors> {
    load_read(path).1
}

/// [`load`], also returning the bytes that were parsed (when the file could be read), so a
/// watcher compares later contents with exactly what is in force.
pub fn load_read(path: &Path) -> (Option<Vec<u8>>, Result<Snapshot, ConfigErrors>) {
    let name = path.display().to_string();
    let read = read_file(path, 4 << 20);
    let bytes = read.as_ref().ok().cloned();
    let text = read.and_then(|b| {
        String::from_utf8(b)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
    });
    let text = text.map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: name.clone(),
            line: 0,
            column: 0,
            key: "(file)".into(),
            message: format!("cannot read the config file: {e}"),
            fix: "pass an existing, readable file with --config".into(),
        }])
    });
    let base = path.parent().unwrap_or(Path::new("."));
    let snapshot = text.and_then(|text| parse(&text, &name, base));
    (bytes, snapshot)
}

/// Validates config text. `name` is used in messages; relative file paths in the config are
/// resolved against `base_dir` (the config file's directory).
pub fn parse(text: &str, name: &str, base_dir: &Path) -> Result<Snapshot, ConfigErrors> {
    let src = Source { name, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigErrors(vec![src.from_toml(&e)]))?;
    let mut v = Validator {
        src,
        base_dir,
        errors: Vec::new(),
    };
    let snapshot = v.snapshot(raw);
    match (snapshot, v.errors.is_empty()) {
        (Some(s), true) => Ok(s),
        _ => Err(ConfigErrors(v.errors)),
    }
}

struct Validator<'a> {
    src: Source<'a>,
    base_dir: &'a Path,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    fn err(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let e = self.src.error(span, key, message, fix);
        self.errors.push(e);
    }

    fn snapshot(&mut self, raw: RawConfig) -> Option<Snapshot> {
        let startup = self.startup(&raw);
        let server = self.server(&raw.server);
        let upstreams = self.upstreams(raw.upstreams);
        let jwt = self.jwt(raw.jwt, server.max_token_bytes);
        let forward = self.forward(raw.forward);
        let strip_token = forward.as_ref().is_some_and(|f| f.strip_authorization);
        let routes = self.routes(raw.routes, &upstreams, &server, strip_token);
        let jwt = jwt?;
        Some(Snapshot {
            startup: startup?,
            server,
            upstreams,
            auth: jwt.auth,
            routes: routes?,
            secret: jwt.secret,
            denylist_file: jwt.denylist_file,
            log_subject: raw.log.subject.unwrap_or(true),
            forward: forward?,
        })
    }

    fn startup(&mut self, raw: &RawConfig) -> Option<Startup> {
        let server = &raw.server;
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = self.count(server.workers.as_ref(), "server.workers", cpus, 1);
        let max_connections = self.count(
            server.max_connections.as_ref(),
            "server.max_connections",
            10_000,
            1,
        );
        let upstream_connect_timeout = self.duration(
            server.upstream_connect_timeout.as_ref(),
            "server.upstream_connect_timeout",
            Duration::from_secs(5),
        );
        let listen = self.listen(server.listen.as_ref());
        let admin_listen = match &raw.admin {
            Some(admin) => {
                Some(self.listen_addr(&admin.listen, "admin.listen", "127.0.0.1:9901")?)
            }
            None => None,
        };
        Some(Startup {
            listen: listen?,
            admin_listen,
            workers,
            max_connections,
            upstream_connect_timeout,
        })
    }

    fn server(&mut self, raw: &raw::RawServer) -> ServerSettings {
        let d = ServerSettings::default();
        ServerSettings {
            upstream_timeout: self.duration(
                raw.upstream_timeout.as_ref(),
                "server.upstream_timeout",
                d.upstream_timeout,
            ),
            request_head_timeout: self.duration(
                raw.request_head_timeout.as_ref(),
                "server.request_head_timeout",
                d.request_head_timeout,
            ),
            idle_timeout: self.duration(
                raw.idle_timeout.as_ref(),
                "server.idle_timeout",
                d.idle_timeout,
            ),
            shutdown_timeout: self.duration(
                raw.shutdown_timeout.as_ref(),
                "server.shutdown_timeout",
                d.shutdown_timeout,
            ),
            max_header_bytes: self.count(
                raw.max_header_bytes.as_ref(),
                "server.max_header_bytes",
                d.max_header_bytes,
                1024,
            ),
            max_headers: self.count(
                raw.max_headers.as_ref(),
                "server.max_headers",
                d.max_headers,
                8,
            ),
            max_uri_bytes: self.count(
                raw.max_uri_bytes.as_ref(),
                "server.max_uri_bytes",
                d.max_uri_bytes,
                64,
            ),
            max_token_bytes: self.count(
                raw.max_token_bytes.as_ref(),
                "server.max_token_bytes",
                d.max_token_bytes,
                256,
            ),
            max_body_bytes: raw
                .max_body_bytes
                .as_ref()
                .map(|v| self.count(Some(v), "server.max_body_bytes", 0, 0) as u64),
            path_aliases: self.path_aliases(raw.path_aliases.as_ref()),
            allowed_hosts: self.allowed_hosts(raw.allowed_hosts.as_ref()),
            websocket_reject: self.websocket_reject(raw.websocket_reject.as_ref()),
            websocket_idle_timeout: self.duration(
                raw.websocket_idle_timeout.as_ref(),
                "server.websocket_idle_timeout",
                d.websocket_idle_timeout,
            ),
        }
    }

    fn websocket_reject(&mut self, raw: Option<&Spanned<String>>) -> WebSocketReject {
        match raw.map(|r| r.get_ref().as_str()) {
            None | Some("message") => WebSocketReject::Message,
            Some("http") => WebSocketReject::Http,
            Some(other) => {
                let span = raw.map_or(0..0, Spanned::span);
                self.err(span, "server.websocket_reject", format!("unknown rejection mode {other:?}"), "use \"message\" (a text frame and a close, as the library's app does) or \"http\" (the JSON 401/422)");
                WebSocketReject::Message
            }
        }
    }

    fn path_aliases(&mut self, raw: Option<&Spanned<Vec<Spanned<String>>>>) -> AliasSet {
        let Some(raw) = raw else {
            return AliasSet::ALL;
        };
        let names: Vec<&str> = raw.get_ref().iter().map(|n| n.get_ref().as_str()).collect();
        AliasSet::parse(&names).unwrap_or_else(|message| {
            let span = raw
                .get_ref()
                .iter()
                .find(|n| AliasSet::parse(&[n.get_ref()]).is_err())
                .map_or(raw.span(), Spanned::span);
            self.err(
                span,
                "server.path_aliases",
                message,
                format!("list some of {:?}, or [] for none", AliasSet::NAMES),
            );
            AliasSet::ALL
        })
    }

    fn allowed_hosts(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
    ) -> Option<AllowedHosts> {
        let raw = raw?;
        let patterns: Vec<String> = raw.get_ref().iter().map(|p| p.get_ref().clone()).collect();
        match AllowedHosts::from_patterns(&patterns) {
            Ok(hosts) => Some(hosts),
            Err(message) => {
                let span = raw
                    .get_ref()
                    .iter()
                    .find(|p| {
                        AllowedHosts::from_patterns(std::slice::from_ref(p.get_ref())).is_err()
                    })
                    .map_or(raw.span(), Spanned::span);
                self.err(span, "server.allowed_hosts", message, "list host names such as \"api.example.com\" or \"*.example.com\", or remove the key to serve any host");
                None
            }
        }
    }

    /// A size or count between `min` and the key's upper bound (see [`max_for`]): limits that
    /// large are mistakes, and bounding them keeps the arithmetic on them safe.
    fn count(
        &mut self,
        value: Option<&Spanned<i64>>,
        key: &str,
        default: usize,
        min: usize,
    ) -> usize {
        let Some(value) = value else { return default };
        let max = max_for(key);
        match usize::try_from(*value.get_ref()) {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                self.err(
                    value.span(),
                    key,
                    format!("{} is out of range", value.get_ref()),
                    format!("write a whole number from {min} to {max}"),
                );
                default
            }
        }
    }

    fn listen(&mut self, listen: Option<&Spanned<String>>) -> Option<SocketAddr> {
        match listen {
            Some(listen) => self.listen_addr(listen, "server.listen", DEFAULT_LISTEN),
            None => DEFAULT_LISTEN.parse().ok(),
        }
    }

    fn listen_addr(
        &mut self,
        listen: &Spanned<String>,
        key: &str,
        example: &str,
    ) -> Option<SocketAddr> {
        match listen.get_ref().parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.err(
                    listen.span(),
                    key,
                    format!("{:?} is not an IP address and port", listen.get_ref()),
                    format!(
                        "write listen = {example:?} (an IP address, not a host name, and a port)"
                    ),
                );
                None
            }
        }
    }

    fn duration(
        &mut self,
        value: Option<&Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Duration {
        let Some(value) = value else { return default };
        parse_duration(value.get_ref()).unwrap_or_else(|message| {
            self.err(
                value.span(),
                key,
                message,
                "write a duration such as \"0s\", \"500ms\", \"30s\" or \"15m\"",
            );
            default
        })
    }

    fn upstreams(
        &mut self,
        raw: Option<Spanned<std::collections::BTreeMap<Spanned<String>, Spanned<String>>>>,
    ) -> Vec<Arc<Upstream>> {
        let Some(raw) = raw else {
            self.err(
                0..0,
                "upstreams",
                "the [upstreams] table is missing",
                "add [upstreams] with at least one entry, e.g. app = \"http://127.0.0.1:8000\"",
            );
            return Vec::new();
        };
        if raw.get_ref().is_empty() {
            self.err(
                raw.span(),
                "upstreams",
                "no upstream is defined",
                "add an entry, e.g. app = \"http://127.0.0.1:8000\"",
            );
        }
        let mut upstreams = Vec::new();
        for (name, url) in raw.into_inner() {
            let key = format!("upstreams.{}", name.get_ref());
            match parse_upstream_url(url.get_ref()) {
                Ok((scheme, authority)) => upstreams.push(Arc::new(Upstream {
                    name: name.into_inner().into(),
                    scheme,
                    authority,
                })),
                Err(message) => self.err(url.span(), key, message, "write an http URL with a host and port and no path, e.g. \"http://127.0.0.1:8000\""),
            }
        }
        upstreams
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        match p.is_absolute() {
            true => p.to_path_buf(),
            false => self.base_dir.join(p),
        }
    }
}

/// The largest value each size or count key accepts.
fn max_for(key: &str) -> usize {
    match key.rsplit('.').next().unwrap_or(key) {
        "max_connections" => 1_000_000,
        "workers" => 1024,
        "max_headers" => 10_000,
        "max_header_bytes" | "max_uri_bytes" | "max_token_bytes" => 1 << 20,
        // Request bodies: 1 TiB.
        _ => 1 << 40,
    }
}

/// Parses durations such as `0s`, `500ms`, `30s`, `15m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration: {e}"))
}

fn parse_upstream_url(text: &str) -> Result<(Scheme, Authority), String> {
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "{text:?}: scheme {other:?} is not supported (plain http only)"
            ))
        }
        None => return Err(format!("{text:?} has no scheme")),
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| format!("{text:?} has no host"))?;
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err(format!("{text:?} must name a host (and no user info)"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "{text:?} has a path or query; requests keep their own path"
        ));
    }
    Ok((Scheme::HTTP, authority))
}

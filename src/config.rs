//! Config loading in two stages: [`raw`] mirrors the TOML file; [`parse`] validates it into a
//! [`Snapshot`], the immutable runtime view (routes, keys, upstreams) that a request uses from
//! start to end. Validation reports every problem it finds, each with file, line, column, key
//! and fix, and builds nothing partial: a config is whole or refused.

mod cookies;
mod error;
mod forward;
mod jwt;
mod profile;
mod providers;
mod raw;
mod require;
mod revocation;
mod routes;
mod secret;
mod server;

use std::fmt;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::Uri;
use toml::Spanned;

pub use error::{ConfigError, ConfigErrors, Source};
use raw::RawConfig;
pub use server::{CorsPreflight, ServerSettings, Startup, WebSocketReject, DEFAULT_LISTEN};

use crate::auth::AuthSettings;
use crate::fs::{read_file, DenylistFile};
use crate::routes::RouteTable;

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
    /// What the config accepts but should fix (a weak HMAC secret), with position and fix.
    pub warnings: Vec<ConfigError>,
    /// `[log] subject`: whether access-log lines carry the token's subject.
    pub log_subject: bool,
    /// `[forward]`: claims sent as headers, and whether the token is removed.
    pub forward: ForwardSettings,
    /// `[revocation]` with a Redis store; its key rules are also in `auth`.
    pub revocation: Option<Arc<crate::revocation::RevocationSettings>>,
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
        warnings: Vec::new(),
    };
    let snapshot = v.snapshot(raw);
    match (snapshot, v.errors.is_empty()) {
        (Some(mut s), true) => {
            s.warnings = v.warnings;
            Ok(s)
        }
        _ => Err(ConfigErrors(v.errors)),
    }
}

struct Validator<'a> {
    src: Source<'a>,
    base_dir: &'a Path,
    errors: Vec<ConfigError>,
    /// Accepted but worth fixing (a weak secret): printed by `check`, logged by `serve`.
    warnings: Vec<ConfigError>,
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
        let jwt_checks = raw.jwt.as_ref().map(|j| &j.get_ref().denylist_token_checks);
        let in_revocation = raw
            .revocation
            .as_ref()
            .is_some_and(|r| r.get_ref().token_checks.is_some());
        let jwt_checks =
            self.denylist_token_checks(jwt_checks.and_then(Option::as_ref), in_revocation);
        let revocation = self.revocation(raw.revocation);
        let checks = revocation.as_ref().map(|r| {
            let rules = r.store.as_ref().map(|s| s.rules.clone());
            (r.token_checks, rules)
        });
        let (mut checks, rules) = checks.unwrap_or_default();
        if let Some(Some(jwt_checks)) = jwt_checks {
            checks = jwt_checks;
        }
        let jwt = self.jwt(raw.jwt, server.max_token_bytes, (checks, rules));
        let forward = self.forward(raw.forward);
        let strip_token = forward.as_ref().is_some_and(|f| f.strip_authorization);
        let has_store = revocation.as_ref().is_some_and(|r| r.store.is_some());
        self.route_overrides_need_a_store(&raw.routes, has_store);
        let routes = self.routes(raw.routes, &upstreams, &server, strip_token);
        let jwt = jwt?;
        let revocation = revocation?;
        Some(Snapshot {
            startup: startup?,
            server,
            upstreams,
            auth: jwt.auth,
            routes: routes?,
            secret: jwt.secret,
            denylist_file: jwt.denylist_file,
            warnings: Vec::new(),
            log_subject: raw.log.subject.unwrap_or(true),
            forward: forward?,
            revocation: revocation.store,
        })
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
        "max_connections" | "max_idle_upstream_connections" => 1_000_000,
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
    Ok((Scheme::HTTP, static_authority(authority)))
}

/// `authority` in static memory: each client connection copies its upstream's authority into
/// the key of its kept upstream connection, and a request without `Host` into its `Host`.
fn static_authority(authority: Authority) -> Authority {
    let text = kept(authority.as_str());
    Authority::from_maybe_shared(bytes::Bytes::from_static(text.as_bytes())).unwrap_or(authority)
}

/// `text` in static memory, for what requests copy out of a snapshot: a clone of a static
/// `Bytes` is a pointer copy, where one of a shared `Bytes` is an atomic count on a line that
/// every worker writes. Each distinct text is kept once for the process's life (a reload that
/// keeps its upstreams and claim headers adds nothing).
fn kept(text: &str) -> &'static str {
    static KEPT: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut kept = KEPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(text) = kept.iter().find(|k| **k == text) {
        return text;
    }
    let text: &'static str = Box::leak(text.into());
    kept.push(text);
    text
}

/// `name` in static memory (see [`kept`]): claim headers are set on every forwarded request.
fn static_header(name: &http::HeaderName) -> http::HeaderName {
    // A parsed name is lower case, which is all that `from_static` asks.
    http::HeaderName::from_static(kept(name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_authority_parsed_twice_is_one_static_text() {
        let parse = |url| parse_upstream_url(url).unwrap().1;
        let (first, again) = (
            parse("http://10.0.0.7:8000"),
            parse("http://10.0.0.7:8000/"),
        );
        assert_eq!(first.as_str(), "10.0.0.7:8000");
        assert_eq!(
            first.as_str().as_ptr(),
            again.as_str().as_ptr(),
            "one kept copy"
        );
        assert_ne!(parse("http://10.0.0.7:8001").as_str(), first.as_str());
    }

    #[test]
    fn a_claim_header_name_is_kept_lower_case_and_once() {
        let parsed = http::HeaderName::from_bytes(b"X-Auth-Roles-Encoding").unwrap();
        let (first, again) = (static_header(&parsed), static_header(&parsed));
        assert_eq!(first, parsed, "the same name");
        assert_eq!(
            first.as_str().as_ptr(),
            again.as_str().as_ptr(),
            "one kept copy"
        );
    }
}

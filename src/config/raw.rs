//! serde mirror of the TOML file. Every table denies unknown keys: in an auth gateway a silently
//! ignored key (a typo in `policy`, say) is a security hole. Values that need checking beyond
//! their TOML type are kept as [`Spanned`] so validation can point at the exact line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    pub upstreams: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    pub jwt: Option<Spanned<RawJwt>>,
    #[serde(default, rename = "route")]
    pub routes: Vec<Spanned<RawRoute>>,
    pub admin: Option<RawAdmin>,
    pub forward_auth: Option<RawForwardAuth>,
    #[serde(default)]
    pub forward: RawForward,
    #[serde(default)]
    pub log: RawLog,
    pub revocation: Option<Spanned<super::revocation::RawRevocation>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForwardAuth {
    pub listen: Spanned<String>,
    pub path_prefix: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// Write the token's subject in access-log lines (default true).
    pub subject: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub upstream_timeout: Option<Spanned<String>>,
    pub upstream_connect_timeout: Option<Spanned<String>>,
    pub request_head_timeout: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub idle_park_after: Option<Spanned<String>>,
    pub shutdown_timeout: Option<Spanned<String>>,
    pub max_connections: Option<Spanned<i64>>,
    pub workers: Option<Spanned<i64>>,
    pub max_header_bytes: Option<Spanned<i64>>,
    pub max_headers: Option<Spanned<i64>>,
    pub max_uri_bytes: Option<Spanned<i64>>,
    pub max_token_bytes: Option<Spanned<i64>>,
    pub max_body_bytes: Option<Spanned<i64>>,
    pub path_aliases: Option<Spanned<Vec<Spanned<String>>>>,
    pub allowed_hosts: Option<Spanned<Vec<Spanned<String>>>>,
    pub websocket_reject: Option<Spanned<String>>,
    pub cors_preflight: Option<Spanned<String>>,
    pub trusted_proxies: Option<Spanned<Vec<Spanned<String>>>>,
    pub proxy_protocol: Option<Spanned<String>>,
    pub websocket_idle_timeout: Option<Spanned<String>>,
    pub max_idle_upstream_connections: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwt {
    pub profile: Option<Spanned<String>>,
    pub error_message_key: Option<Spanned<String>>,
    pub query_string_name: Option<Spanned<String>>,
    pub denylist_token_checks: Option<Spanned<Vec<Spanned<String>>>>,
    pub algorithms: Option<Spanned<Vec<Spanned<String>>>>,
    pub secret: Option<Spanned<String>>,
    pub secret_env: Option<Spanned<String>>,
    pub secret_file: Option<Spanned<String>>,
    pub leeway: Option<Spanned<String>>,
    pub issuer: Option<Spanned<String>>,
    pub audience: Option<Spanned<Vec<Spanned<String>>>>,
    pub header_name: Option<Spanned<String>>,
    pub header_type: Option<Spanned<String>>,
    pub public_key_file: Option<Spanned<OneOrMany>>,
    pub jwks_file: Option<Spanned<String>>,
    pub jwks_url: Option<Spanned<String>>,
    pub oidc_issuer: Option<Spanned<String>>,
    pub jwks_refresh: Option<Spanned<String>>,
    pub jwks_cooldown: Option<Spanned<String>>,
    pub jwks_max_stale: Option<Spanned<String>>,
    pub jwks_timeout: Option<Spanned<String>>,
    pub jwks_max_bytes: Option<Spanned<i64>>,
    pub jwks_ca_file: Option<Spanned<String>>,
    pub jwks_wait: Option<Spanned<String>>,
    /// `[[jwt.provider]]`: further issuers, each with its own keys.
    #[serde(default, rename = "provider")]
    pub providers: Vec<Spanned<RawProvider>>,
    pub token_location: Option<Spanned<Vec<Spanned<String>>>>,
    pub websocket_token_param: Option<Spanned<String>>,
    pub websocket_csrf_param: Option<Spanned<String>>,
    pub access_cookie: Option<Spanned<String>>,
    pub refresh_cookie: Option<Spanned<String>>,
    pub csrf_protect: Option<bool>,
    pub csrf_header: Option<Spanned<String>>,
    pub access_csrf_header: Option<Spanned<String>>,
    pub refresh_csrf_header: Option<Spanned<String>>,
    pub csrf_methods: Option<Spanned<Vec<Spanned<String>>>>,
    pub denylist_file: Option<Spanned<String>>,
}

impl RawJwt {
    /// Keys come (also) from a provider: `jwks_url`, `oidc_issuer` or `[[jwt.provider]]`.
    pub fn has_remote_keys(&self) -> bool {
        self.jwks_url.is_some() || self.oidc_issuer.is_some() || !self.providers.is_empty()
    }
}

/// One `[[jwt.provider]]`: an issuer and its key source, audience and algorithms; the remote
/// tuning (`jwks_refresh`, ...) and `leeway` come from `[jwt]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub issuer: Option<Spanned<String>>,
    pub jwks_url: Option<Spanned<String>>,
    /// Find the keys by OpenID Connect discovery from `issuer`.
    pub discovery: Option<bool>,
    pub jwks_file: Option<Spanned<String>>,
    pub public_key_file: Option<Spanned<OneOrMany>>,
    pub audience: Option<Spanned<Vec<Spanned<String>>>>,
    pub algorithms: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A path, or a list of paths.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    /// Header name -> dotted claim path.
    pub claims: Option<Spanned<std::collections::BTreeMap<Spanned<String>, Spanned<String>>>>,
    pub strip_authorization: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub path: Option<Spanned<String>>,
    pub prefix: Option<Spanned<String>>,
    pub methods: Option<Spanned<Vec<Spanned<String>>>>,
    pub policy: Option<Spanned<String>>,
    pub upstream: Option<Spanned<String>>,
    pub max_body_bytes: Option<Spanned<i64>>,
    pub mode: Option<Spanned<String>>,
    pub max_age: Option<Spanned<String>>,
    pub strip_authorization: Option<bool>,
    pub websocket: Option<Spanned<String>>,
    pub close_at_expiry: Option<Spanned<bool>>,
    /// Claim requirements: claim path (dotted, or nested tables) -> a string or a list of them.
    pub require: Option<Spanned<toml::Table>>,
    pub acr: Option<Spanned<Vec<Spanned<String>>>>,
    pub revocation_unavailable: Option<Spanned<String>>,
}

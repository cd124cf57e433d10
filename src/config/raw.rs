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
    #[serde(default)]
    pub log: RawLog,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Spanned<String>,
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
    pub shutdown_timeout: Option<Spanned<String>>,
    pub max_connections: Option<Spanned<i64>>,
    pub max_header_bytes: Option<Spanned<i64>>,
    pub max_headers: Option<Spanned<i64>>,
    pub max_uri_bytes: Option<Spanned<i64>>,
    pub max_token_bytes: Option<Spanned<i64>>,
    pub max_body_bytes: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwt {
    pub algorithms: Option<Spanned<Vec<Spanned<String>>>>,
    pub secret: Option<Spanned<String>>,
    pub secret_env: Option<Spanned<String>>,
    pub secret_file: Option<Spanned<String>>,
    pub leeway: Option<Spanned<String>>,
    pub issuer: Option<Spanned<String>>,
    pub audience: Option<Spanned<Vec<Spanned<String>>>>,
    pub header_name: Option<Spanned<String>>,
    pub header_type: Option<Spanned<String>>,
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
}

//! The one test harness: every helper the integration tests share, written once. Everything
//! talks over real sockets on 127.0.0.1 port 0.
//!
//! - [`upstream`]: a real echo upstream that answers with what it received;
//! - [`client`]: a plain HTTP/1.1 client that follows no redirects, and raw-bytes exchanges;
//! - [`gateway`]: the gateway in this process, from TOML text or a config file;
//! - [`config`]: a temporary config file a test can rewrite;
//! - [`process`]: the real `freshgate` binary, its log lines and signals;
//! - [`metrics`]: the OpenMetrics text read back into samples;
//! - [`redis`]: a real `redis-server` on a free port, for `[revocation]`;
//! - [`forge`]: tokens, from honest ones to hand-built headers, payloads and signatures;
//! - [`wait`]: polling a condition with a deadline, instead of sleeping;
//! - [`peer`]: real HAProxy, nginx and Caddy processes beside the gateway;
//! - [`provider`]: a local HTTPS key provider (JWKS and OIDC discovery) with a test CA.
//!
//! A test binary uses part of it, so unused parts are not warnings here.
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod config;
pub mod forge;
pub mod gateway;
pub mod metrics;
pub mod peer;
pub mod process;
pub mod provider;
pub mod redis;
pub mod upstream;
pub mod wait;
pub mod websocket;

pub use client::{bearer, raw, raw_exchange, send, send_body, try_get, Connection, Reply};
pub use config::ConfigFile;
pub use forge::{now, sign_claims, token, ClaimsExt};
pub use gateway::{start_with_echo, TestGateway};
pub use metrics::{counter, metric, parse_metrics, Sample};
pub use peer::{free_port, PeerProcess};
pub use process::{freshgate_command, message, Process};
pub use redis::RedisServer;
pub use upstream::{dead_port, Upstream};
pub use wait::{eventually, poll_until};

/// The HMAC secret every test config uses.
pub const SECRET: &str = "test-secret-not-for-production";

/// The example app's route table, `tests/fixtures/routes.toml`: one file shared by the tests,
/// the load harness and the fuzz targets.
pub const ROUTES: &str = include_str!("../fixtures/routes.toml");

/// A config with the example app's routes ([`ROUTES`]) in front of `{upstream}`, plus public
/// prefixes for the echo upstream's own paths: `/public` (anything), `/slow/<ms>` and
/// `/bytes/<n>`.
pub const EXAMPLE_ROUTES: &str = concat!(
    r#"
[upstreams]
app = "http://{upstream}"

[jwt]
secret = "test-secret-not-for-production"

"#,
    include_str!("../fixtures/routes.toml"),
    r#"
[[route]]
prefix = "/public"
policy = "public"

[[route]]
prefix = "/slow"
policy = "public"

[[route]]
prefix = "/bytes"
policy = "public"
"#
);

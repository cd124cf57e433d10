//! Operating freshgate (issue 5), through real sockets. Library level: hot reload under a steady
//! stream of requests, invalid reloads, report mode, `X-Request-Id`, and the metrics after known
//! traffic. Binary level (the real `freshgate` process): the admin listener, reload on a file
//! edit and on SIGHUP, graceful shutdown on SIGTERM, and the logs (one access line per request,
//! no secrets, request ids that join lines, no colour codes in a pipe).
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

#[path = "../support/mod.rs"]
mod support;

mod binary_reload;
mod library_reload;
mod logs;
mod metrics;
mod report_mode;
mod request_id;
mod runtime;
mod shutdown;
mod workers;

use std::net::SocketAddr;

use support::SECRET;

const FRESH_REQUIRED: &str = r#"{"detail":"Fresh token required"}"#;
const MISSING_HEADER: &str = r#"{"detail":"Missing Authorization Header"}"#;
const NOT_FOUND: &str = r#"{"detail":"Not Found"}"#;

/// The echo upstream, the test secret, and `/switch` under `policy`.
fn switch_routes(upstream: SocketAddr, policy: &str) -> String {
    format!(
        r#"[upstreams]
app = "http://{upstream}"

[jwt]
secret = "{SECRET}"

[[route]]
path = "/switch"
policy = "{policy}"
"#
    )
}

/// A config for the binary: both listeners on port 0, `/switch` under `policy`, `/slow` public,
/// and `extra_server` lines in `[server]`.
fn binary_config(upstream: SocketAddr, policy: &str, extra_server: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
{extra_server}

[admin]
listen = "127.0.0.1:0"

{}
[[route]]
prefix = "/slow"
policy = "public"
"#,
        switch_routes(upstream, policy)
    )
}

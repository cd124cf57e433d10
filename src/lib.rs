//! freshgate: an edge gateway that enforces fastapi-jwt-auth's fresh-token policies.
//!
//! A request walks one straight line (see the README's architecture section):
//! [`server`] accepts the connection, [`handler`] takes the request, [`pipeline`] checks it,
//! canonicalises its [`path`], looks up its [`routes`] entry and runs the [`auth`] decision;
//! [`headers`] rewrites it, [`proxy`] forwards it, and [`error`] turns any failure into the JSON
//! answer the app's library would have given. [`config`] builds the immutable snapshot that
//! [`state`] holds and [`reload`] replaces; [`runtime`] is the process around it.

pub mod admin;
pub mod aliases;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod explain;
pub mod forward_auth;
pub mod framing;
pub mod fs;
pub mod handler;
pub mod headers;
pub mod host;
pub mod keys;
pub mod logging;
pub mod method;
pub mod metrics;
pub mod path;
pub mod pipeline;
pub mod proxy;
pub mod proxy_protocol;
pub mod reload;
pub mod request_id;
pub mod revocation;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod state;
pub mod token;
pub mod websocket;

pub use config::Snapshot;
pub use server::serve;
pub use state::Gateway;

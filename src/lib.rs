//! freshgate: an edge gateway that enforces fastapi-jwt-auth's fresh-token policies.
//!
//! A request walks one straight line: [`server`] accepts it, [`routes`] picks the route,
//! [`auth`] decides on the token, [`headers`] rewrites the headers, [`proxy`] forwards it, and
//! [`error`] turns any failure into the JSON answer the app's library would have given.

pub mod admin;
pub mod aliases;
pub mod auth;
pub mod config;
pub mod error;
pub mod explain;
pub mod framing;
pub mod headers;
pub mod host;
pub mod method;
pub mod metrics;
pub mod path;
pub mod pipeline;
pub mod proxy;
pub mod reload;
pub mod routes;
pub mod server;
pub mod token;

pub use config::Snapshot;
pub use server::{serve, Gateway};

//! The record of one request ([`Exchange`]): what the handler learned on its way, and what
//! became of it ([`Decision`]); logged and counted once by the outer handler.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Response, StatusCode};

use crate::config::Snapshot;
use crate::error::{Body, GatewayError};
use crate::routes::Route;

/// What became of a request, for the access log and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Forwarded, and the upstream answered.
    Forwarded,
    /// Report mode: forwarded although enforcement would have rejected it.
    Reported,
    /// Answered by freshgate with a 4xx: the client's doing.
    Rejected,
    /// The upstream could not be reached, broke the exchange or timed out.
    UpstreamError,
    /// A CORS preflight, forwarded without a token check.
    Preflight,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Forwarded => "forwarded",
            Decision::Reported => "reported",
            Decision::Rejected => "rejected",
            Decision::UpstreamError => "upstream_error",
            Decision::Preflight => "preflight",
        }
    }
}

/// The record of one request: what the handler learned on its way, logged and counted once by
/// the outer handler.
#[derive(Debug)]
pub struct Exchange<'s> {
    pub started: Instant,
    /// The snapshot this request uses from start to end.
    pub snapshot: &'s Snapshot,
    pub request_id: HeaderValue,
    pub method: Method,
    /// The canonical path and the untouched query, once the target was accepted.
    pub target: Option<PathAndQuery>,
    pub route: Option<&'s Route>,
    pub decision: Decision,
    /// A stable label: the rejection's reason, or report mode's would-be reason; `-` otherwise.
    pub reason: &'static str,
    /// The token's subject, for the access log (`[log] subject`).
    pub subject: Option<String>,
    pub upstream_latency: Option<Duration>,
    pub status: StatusCode,
    /// The framing guard refused the request: the connection closes after the answer.
    pub close: bool,
    /// The client's address (behind trusted proxies, from `X-Forwarded-For`).
    pub client: Option<IpAddr>,
}

impl<'s> Exchange<'s> {
    pub(crate) fn new(snapshot: &'s Snapshot, request_id: HeaderValue, method: Method) -> Self {
        Exchange {
            started: Instant::now(),
            snapshot,
            request_id,
            method,
            target: None,
            route: None,
            decision: Decision::Forwarded,
            reason: "-",
            subject: None,
            upstream_latency: None,
            status: StatusCode::OK,
            close: false,
            client: None,
        }
    }

    /// The request's path for logs, `-` before the target was accepted.
    pub fn path(&self) -> &str {
        self.target.as_ref().map_or("-", PathAndQuery::path)
    }

    /// What a forwarded request is: a preflight, or report mode's would-be rejection.
    pub(super) fn decide(&mut self, preflight: bool, reported: Option<&crate::auth::AuthError>) {
        if preflight {
            self.decision = Decision::Preflight;
        }
        if let Some(reported) = reported {
            self.decision = Decision::Reported;
            self.reason = reported.reason();
        }
    }

    /// Report mode's would-be rejection reason, for the `X-Auth-Reported` marker.
    pub(super) fn reported(&self) -> Option<&'static str> {
        (self.decision == Decision::Reported).then_some(self.reason)
    }

    /// Turns an error into its response and records it as the decision.
    pub(crate) fn fail(&mut self, error: GatewayError) -> Response<Body> {
        self.reason = error.reason();
        self.decision = match error.is_client_error() {
            true => Decision::Rejected,
            false => {
                tracing::warn!(request.id = self.request_id.to_str().unwrap_or("-"), http.path = self.path(), %error, "upstream exchange failed");
                Decision::UpstreamError
            }
        };
        error.into_response(self.route.and_then(|r| r.rule.max_age), &self.snapshot.auth)
    }

    /// The access-log line (target `freshgate::access`).
    pub(crate) fn log(&self, latency: Duration) {
        tracing::event!(
            target: "freshgate::access",
            tracing::Level::INFO,
            request.id = self.request_id.to_str().unwrap_or("-"),
            client.address = self
                .client
                .map(|ip| tracing::field::display(crate::logging::Address(ip))),
            http.method = self.method.as_str(),
            http.path = self.path(),
            route.id = self.route.map_or("-", |r| &*r.name),
            route.policy = self.route.map_or("-", |r| r.policy().as_str()),
            auth.decision = self.decision.as_str(),
            auth.reason = self.reason,
            http.status = self.status.as_u16(),
            latency_us = latency.as_micros() as u64,
            upstream.latency_us = self.upstream_latency.map(|d| d.as_micros() as u64),
            auth.subject = self.subject.as_deref(),
        );
    }
}

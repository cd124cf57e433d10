//! The admin listener (`[admin] listen`, off when absent, never the public listener):
//! `/healthz` (the process is up), `/readyz` (a valid snapshot is loaded, the gateway is not
//! draining, and a `[revocation]` store under `unavailable = "deny"` is reachable) and `/metrics` (Prometheus, OpenMetrics text).

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::state::Gateway;

/// Set when shutdown begins, so `/readyz` turns 503 and load balancers stop sending.
#[derive(Debug, Default)]
pub struct Draining(AtomicBool);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn answer(
    request: &Request<Incoming>,
    gateway: &Gateway,
    draining: &Draining,
) -> Response<Full<Bytes>> {
    const JSON: &str = "application/json";
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            JSON,
            r#"{"detail":"Method Not Allowed"}"#,
        );
    }
    match request.uri().path() {
        "/healthz" => reply(StatusCode::OK, JSON, r#"{"status":"ok"}"#),
        "/readyz" if draining.is_draining() => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            JSON,
            r#"{"status":"draining"}"#,
        ),
        "/readyz" if !crate::keys::ready(&gateway.snapshot()) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            JSON,
            r#"{"status":"waiting for keys"}"#,
        ),
        "/readyz" if revocation_down(gateway) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            JSON,
            r#"{"status":"revocation store unreachable"}"#,
        ),
        "/readyz" => {
            let routes = gateway.snapshot().routes.routes().len();
            reply(
                StatusCode::OK,
                JSON,
                format!(r#"{{"status":"ready","routes":{routes}}}"#),
            )
        }
        "/metrics" => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            crate::keys::with_metrics(&gateway.snapshot(), gateway.metrics().encode()),
        ),
        _ => reply(StatusCode::NOT_FOUND, JSON, r#"{"detail":"Not Found"}"#),
    }
}

/// The `[revocation]` store is unreachable and its policy is `deny`: this replica would
/// answer 503 to every checked token, so it is not ready. Under `allow` it still serves.
fn revocation_down(gateway: &Gateway) -> bool {
    let snapshot = gateway.snapshot();
    let deny = snapshot
        .revocation
        .as_ref()
        .is_some_and(|r| r.unavailable == crate::revocation::Unavailable::Deny);
    deny && gateway.revocation().reachable(&snapshot) == Some(false)
}

/// Serves the admin endpoints until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    draining: Arc<Draining>,
    shutdown: impl Future<Output = ()>,
) {
    crate::server::accept_until(listener, "admin", shutdown, |stream| {
        let gateway = gateway.clone();
        let draining = draining.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = answer(&request, &gateway, &draining);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    })
    .await;
}

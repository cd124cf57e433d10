//! The forward-auth listener (`[forward_auth] listen`): authorization subrequests from a proxy
//! that is already in front (nginx `auth_request`, ingress-nginx `auth-url`, Caddy
//! `forward_auth`, Traefik `forwardAuth`, Envoy `ext_authz`), answered by the same
//! [`pipeline::evaluate`] the proxy runs: route table, policies, tokens, CSRF, freshness,
//! report mode.
//!
//! The original request is read from, in this order:
//! 1. `X-Forwarded-Method` + `X-Forwarded-Uri` (+ `X-Forwarded-Host`): Traefik, Caddy;
//! 2. `X-Original-URI` + `X-Original-Method` (+ `X-Forwarded-Host` or `Host`): nginx's convention;
//! 3. the check request itself, less `[forward_auth] path_prefix`: Envoy `ext_authz`'s HTTP
//!    service.
//!
//! The original headers (`Authorization`, `Cookie`, the CSRF header) come as sent. Allowed:
//! `200` with `X-Auth-Subject`, `X-Auth-Fresh`, `X-Auth-Token-Type` (always present, empty when
//! anonymous, so a proxy's copy never writes a placeholder) and the claim headers. Refused: the
//! library's status, JSON body and `WWW-Authenticate`, plus `X-Auth-Status`, `X-Auth-Detail` and
//! `X-Auth-Body` (the exact JSON) for proxies that rewrite bodies. nginx's `auth_request` turns
//! anything but 401 and 403 into its own 500, so under nginx's convention every refusal other
//! than 401 and 403 is answered 403 (the library's status stays in `X-Auth-Status`).
//!
//! freshgate cannot rewrite the path the proxy sends upstream, so a URI whose canonical form
//! differs from what was sent (encoded characters, dot segments, merged slashes) is refused
//! (400), never judged on a form the upstream does not use.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use http::header::HOST;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::auth::Outcome;
use crate::error::{json_response, Body, GatewayError};
use crate::handler::{Decision, Exchange, RequestIds};
use crate::headers::{self, X_AUTH_FRESH, X_AUTH_SUBJECT, X_AUTH_TOKEN_TYPE};
use crate::pipeline::{Evaluation, RequestHead};
use crate::state::Gateway;
use crate::{clock, path};

const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_AUTH_STATUS: HeaderName = HeaderName::from_static("x-auth-status");
const X_AUTH_DETAIL: HeaderName = HeaderName::from_static("x-auth-detail");
const X_AUTH_BODY: HeaderName = HeaderName::from_static("x-auth-body");

/// Whose convention a subrequest follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Convention {
    /// Traefik, Caddy: `X-Forwarded-Method` / `X-Forwarded-Uri`.
    Forwarded,
    /// nginx: `X-Original-Method` / `X-Original-URI`; only 401 and 403 pass through it.
    Nginx,
    /// Envoy `ext_authz`: the check request is the original, behind a path prefix.
    Envoy,
}

/// The original request a subrequest describes.
#[derive(Debug)]
struct Original {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    convention: Convention,
}

/// Whose convention a subrequest follows, by the headers it carries. With nginx's headers the
/// answer follows nginx's convention (only 401 and 403 pass it), also for a subrequest that
/// carries both conventions' headers and is refused: 403 is a refusal under every convention.
fn convention(headers: &HeaderMap) -> Convention {
    if headers.contains_key(X_ORIGINAL_URI) {
        Convention::Nginx
    } else if headers.contains_key(X_FORWARDED_URI) {
        Convention::Forwarded
    } else {
        Convention::Envoy
    }
}

/// Reads the original request; `Err` is the detail of a 400.
fn original(request: &Request<Incoming>, prefix: Option<&str>) -> Result<Original, &'static str> {
    let h = request.headers();
    let text = |name: &HeaderName| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    // A proxy sends one convention; both at once means the client added the other one's
    // headers (nginx and Caddy pass client headers on), so the request is not judged at all.
    let forwarded = h.contains_key(&X_FORWARDED_URI) || h.contains_key(&X_FORWARDED_METHOD);
    if forwarded && (h.contains_key(&X_ORIGINAL_URI) || h.contains_key(&X_ORIGINAL_METHOD)) {
        return Err("Ambiguous subrequest: X-Forwarded-* and X-Original-* both sent");
    }
    let (method, uri, convention) = if let Some(uri) = text(&X_FORWARDED_URI) {
        let method = text(&X_FORWARDED_METHOD).ok_or("Missing X-Forwarded-Method")?;
        (method.to_owned(), uri.to_owned(), Convention::Forwarded)
    } else if let Some(uri) = text(&X_ORIGINAL_URI) {
        let method = text(&X_ORIGINAL_METHOD).ok_or("Missing X-Original-Method")?;
        (method.to_owned(), uri.to_owned(), Convention::Nginx)
    } else {
        let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let target = match prefix {
            Some(prefix) => target
                .strip_prefix(prefix)
                .filter(|rest| rest.starts_with('/'))
                .ok_or("The check path lacks the forward-auth path prefix")?,
            None => target,
        };
        (
            request.method().to_string(),
            target.to_owned(),
            Convention::Envoy,
        )
    };
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| "Invalid original method")?;
    let uri: Uri = uri.parse().map_err(|_| "Invalid original URI")?;
    if uri.scheme().is_some() || !uri.path().starts_with('/') {
        return Err("The original URI must be an absolute path");
    }
    // The upstream gets the path as the proxy forwards it; it must already be canonical.
    match path::canonicalize(uri.path()) {
        Ok(Cow::Borrowed(_)) => {}
        Ok(Cow::Owned(_)) | Err(_) => return Err("Non-canonical path"),
    }
    let mut headers = h.clone();
    if let Some(host) = h.get(headers::X_FORWARDED_HOST).cloned() {
        headers.insert(HOST, host);
    }
    Ok(Original {
        method,
        uri,
        headers,
        convention,
    })
}

/// Answers one subrequest, counting and logging it like a proxied request.
async fn answer(
    gateway: &Gateway,
    ids: &RequestIds,
    request: &Request<Incoming>,
    prefix: Option<&str>,
) -> Response<Body> {
    let snapshot = gateway.snapshot();
    let id = ids.for_request(request);
    let mut exchange = Exchange::new(&snapshot, id, request.method().clone());
    let started = Instant::now();
    let response = match original(request, prefix) {
        Err(detail) => {
            let convention = convention(request.headers());
            refusal(&mut exchange, GatewayError::BadRequest(detail), convention)
        }
        Ok(original) => judge(gateway, &mut exchange, &original).await,
    };
    exchange.status = response.status();
    let latency = started.elapsed();
    gateway.metrics().record_request(&exchange, latency);
    exchange.log(latency);
    response
}

/// The proxy's decision on the original request (with the `[revocation]` lookup, as the proxy
/// makes it).
async fn judge(
    gateway: &Gateway,
    exchange: &mut Exchange<'_>,
    original: &Original,
) -> Response<Body> {
    let snapshot = exchange.snapshot;
    exchange.method = original.method.clone();
    let head = RequestHead {
        method: &original.method,
        uri: &original.uri,
        version: Version::HTTP_11,
        headers: &original.headers,
    };
    let now = clock::now_ms();
    let revocation = gateway
        .revocation()
        .answer(snapshot, &head, now, gateway.metrics())
        .await;
    let (target, route, outcome, reported) =
        // With remote keys, an unknown kid waits for one shared refetch (see `keys`).
        match crate::keys::evaluate(snapshot, &head, now, &revocation).await {
            Evaluation::Refuse {
                target,
                route,
                error,
                ..
            } => {
                (exchange.target, exchange.route) = (target, route);
                return refusal(exchange, error, original.convention);
            }
            Evaluation::Forward {
                target,
                route,
                outcome,
                reported,
                ..
            } => (target, route, outcome, reported),
        };
    (exchange.target, exchange.route) = (Some(target), Some(route));
    let mut response = json_response(StatusCode::OK, exchange.snapshot.auth.body("OK"));
    let h = response.headers_mut();
    for name in [X_AUTH_SUBJECT, X_AUTH_FRESH, X_AUTH_TOKEN_TYPE] {
        h.insert(name, HeaderValue::from_static(""));
    }
    if let Outcome::Authenticated(identity) = &outcome {
        headers::set_identity(h, identity);
        headers::set_claims(h, identity, &snapshot.forward.claims);
    }
    if let Some(reported) = reported {
        exchange.decision = Decision::Reported;
        exchange.reason = reported.reason();
        h.insert(
            headers::X_AUTH_REPORTED,
            HeaderValue::from_static(reported.reason()),
        );
    }
    response
}

/// A refusal as the proxy in front can pass it on.
fn refusal(
    exchange: &mut Exchange<'_>,
    error: GatewayError,
    convention: Convention,
) -> Response<Body> {
    let auth = &exchange.snapshot.auth;
    let (status, detail) = (
        error.status_in(auth.profile()),
        error.detail_in(auth.profile()),
    );
    let body = auth.body(&detail);
    // Header-safe: printable ASCII as is, anything else percent-encoded.
    let (detail, _) = headers::subject_header_value(&detail);
    let mut response = exchange.fail(error);
    let h = response.headers_mut();
    h.insert(X_AUTH_STATUS, HeaderValue::from(status.as_u16()));
    h.insert(X_AUTH_DETAIL, detail);
    if let Ok(body) = HeaderValue::from_str(&body) {
        h.insert(X_AUTH_BODY, body);
    }
    let passes = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
    if convention == Convention::Nginx && !passes {
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
    response
}

/// Serves forward-auth subrequests until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    prefix: Option<String>,
    shutdown: impl Future<Output = ()>,
) {
    let ids = Arc::new(RequestIds::default());
    let prefix: Option<Arc<str>> = prefix.map(Arc::from);
    crate::server::accept_until(listener, "forward-auth", shutdown, |stream| {
        let (gateway, ids, prefix) = (gateway.clone(), ids.clone(), prefix.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (gateway, ids, prefix) = (gateway.clone(), ids.clone(), prefix.clone());
                async move {
                    let response = answer(&gateway, &ids, &request, prefix.as_deref()).await;
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    })
    .await;
}

//! The one place where a failed request becomes a response. Every variant maps to a status and
//! a fixed `detail` in an exhaustive match, so a new variant cannot silently become a 500.

use bytes::Bytes;
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use crate::auth::{AuthError, AuthSettings, Profile};

/// The body of every response freshgate sends: the upstream's, streamed, or its own JSON.
pub type Body = Either<Incoming, Full<Bytes>>;

/// Why a request was not (successfully) forwarded.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request target cannot be served as written (client side); the text is the detail.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A case variant of a standard method, such as `delete` (client side).
    #[error("method not in upper case")]
    NonCanonicalMethod,
    /// `Host`, or the authority of an absolute-form target, is not a valid `host[:port]`
    /// (client side; RFC 9112 section 3.2).
    #[error("invalid Host")]
    InvalidHost,
    /// `Host` names no host in `[server] allowed_hosts` (client side).
    #[error("host not allowed")]
    MisdirectedRequest,
    /// A spelling of the path that a lenient backend reads as a stricter route (client side).
    #[error("ambiguous path")]
    AmbiguousPath,
    /// An alias of the path cannot be formed safely; the text is the detail (client side).
    #[error("unsafe path alias: {0}")]
    UnsafeAlias(&'static str),
    /// No route matches the method and path (client side).
    #[error("no route matches")]
    NotFound,
    /// The request target is longer than `max_uri_bytes` (client side).
    #[error("URI too long")]
    UriTooLong,
    /// The request head is larger than `max_header_bytes`, or the token than
    /// `max_token_bytes` (client side).
    #[error("request header fields too large")]
    HeadersTooLarge,
    /// The client's request body stalled for longer than `request_head_timeout` (client side).
    #[error("request body stalled")]
    RequestTimeout,
    /// The request body is larger than the route's `max_body_bytes` (client side).
    #[error("payload too large")]
    PayloadTooLarge,
    /// `CONNECT` and `TRACE` are never relayed by a reverse proxy (client side).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The token decision rejected the request (client side).
    #[error("rejected: {}", .0.reason())]
    Auth(AuthError),
    /// The upstream could not be reached or broke the exchange (upstream side).
    #[error("upstream unavailable: {0}")]
    BadGateway(#[source] crate::proxy::UpstreamFailure),
    /// The upstream did not answer in `upstream_timeout` (upstream side).
    #[error("upstream timed out")]
    GatewayTimeout,
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest(_)
            | GatewayError::NonCanonicalMethod
            | GatewayError::InvalidHost
            | GatewayError::AmbiguousPath
            | GatewayError::UnsafeAlias(_) => StatusCode::BAD_REQUEST,
            GatewayError::MisdirectedRequest => StatusCode::MISDIRECTED_REQUEST,
            GatewayError::NotFound => StatusCode::NOT_FOUND,
            GatewayError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::UriTooLong => StatusCode::URI_TOO_LONG,
            GatewayError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            GatewayError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            GatewayError::Auth(e) => e.status(),
            GatewayError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            GatewayError::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The client-facing `detail`: fixed strings, never library error text.
    pub fn detail(&self) -> std::borrow::Cow<'static, str> {
        match self {
            GatewayError::BadRequest(detail) | GatewayError::UnsafeAlias(detail) => {
                (*detail).into()
            }
            GatewayError::NonCanonicalMethod => crate::method::DETAIL.into(),
            GatewayError::InvalidHost => crate::host::DETAIL.into(),
            GatewayError::MisdirectedRequest => "Misdirected Request".into(),
            GatewayError::AmbiguousPath => "Ambiguous path".into(),
            GatewayError::NotFound => "Not Found".into(),
            GatewayError::MethodNotAllowed => "Method Not Allowed".into(),
            GatewayError::UriTooLong => "URI Too Long".into(),
            GatewayError::HeadersTooLarge => "Request Header Fields Too Large".into(),
            GatewayError::PayloadTooLarge => "Request Entity Too Large".into(),
            GatewayError::RequestTimeout => "Request Timeout".into(),
            GatewayError::Auth(e) => e.detail(),
            GatewayError::BadGateway(_) => "Bad Gateway".into(),
            GatewayError::GatewayTimeout => "Gateway Timeout".into(),
        }
    }

    /// The status under `profile`: a token rejection's is the profile's.
    pub fn status_in(&self, profile: &Profile) -> StatusCode {
        match self {
            GatewayError::Auth(e) => profile.status(e),
            _ => self.status(),
        }
    }

    /// The message under `profile`: a token rejection's is the profile's.
    pub fn detail_in(&self, profile: &Profile) -> std::borrow::Cow<'static, str> {
        match self {
            GatewayError::Auth(e) => profile.detail(e),
            _ => self.detail(),
        }
    }

    /// A short stable label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            GatewayError::BadRequest(_) => "bad_request",
            GatewayError::NonCanonicalMethod => "method_case",
            GatewayError::InvalidHost => "invalid_host",
            GatewayError::MisdirectedRequest => "host_not_allowed",
            GatewayError::AmbiguousPath => "ambiguous_path",
            GatewayError::UnsafeAlias(_) => "unsafe_alias",
            GatewayError::NotFound => "no_route",
            GatewayError::MethodNotAllowed => "method_not_allowed",
            GatewayError::UriTooLong => "uri_too_long",
            GatewayError::HeadersTooLarge => "headers_too_large",
            GatewayError::PayloadTooLarge => "payload_too_large",
            GatewayError::RequestTimeout => "body_timeout",
            GatewayError::Auth(e) => e.reason(),
            GatewayError::BadGateway(_) => "upstream_unavailable",
            GatewayError::GatewayTimeout => "upstream_timeout",
        }
    }

    /// The kind of an upstream failure, for metrics (`unavailable`, `timeout`); `None` for the
    /// client's failures, including those during the exchange (a body over its limit, a
    /// stalled upload).
    pub fn upstream_kind(&self) -> Option<&'static str> {
        match self {
            GatewayError::BadGateway(_) => Some("unavailable"),
            GatewayError::GatewayTimeout => Some("timeout"),
            GatewayError::BadRequest(_)
            | GatewayError::NonCanonicalMethod
            | GatewayError::InvalidHost
            | GatewayError::MisdirectedRequest
            | GatewayError::AmbiguousPath
            | GatewayError::UnsafeAlias(_)
            | GatewayError::NotFound
            | GatewayError::MethodNotAllowed
            | GatewayError::UriTooLong
            | GatewayError::HeadersTooLarge
            | GatewayError::PayloadTooLarge
            | GatewayError::RequestTimeout
            | GatewayError::Auth(_) => None,
        }
    }

    /// True when the client caused it (logged at debug), false for upstream trouble (warn).
    pub fn is_client_error(&self) -> bool {
        self.upstream_kind().is_none()
    }

    /// The response in the profile's format (`{"detail": ...}` by default), plus the
    /// `WWW-Authenticate` challenge of a 401 (with the route's freshness window, if any, for a
    /// step-up challenge).
    pub fn into_response(self, max_age: Option<Duration>, auth: &AuthSettings) -> Response<Body> {
        let profile = auth.profile();
        let (status, detail) = (self.status_in(profile), self.detail_in(profile));
        let mut response = json_response(status, auth.body(&detail));
        if let Some(challenge) = self.challenge_in(max_age, profile) {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        if let GatewayError::Auth(AuthError::RevocationUnavailable) = self {
            // RFC 9110 section 10.2.3: the revocation store is expected back shortly.
            let retry = HeaderValue::from_static(crate::revocation::RETRY_AFTER_SECONDS);
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, retry);
        }
        response
    }

    /// The `WWW-Authenticate` value of a 401 or 403 under `profile`, per RFC 6750 and RFC 9470.
    pub fn challenge_in(
        &self,
        max_age: Option<Duration>,
        profile: &Profile,
    ) -> Option<HeaderValue> {
        match self {
            GatewayError::Auth(e) => e.challenge_in(max_age, profile),
            GatewayError::BadRequest(_)
            | GatewayError::NonCanonicalMethod
            | GatewayError::InvalidHost
            | GatewayError::MisdirectedRequest
            | GatewayError::AmbiguousPath
            | GatewayError::UnsafeAlias(_)
            | GatewayError::NotFound
            | GatewayError::MethodNotAllowed
            | GatewayError::UriTooLong
            | GatewayError::HeadersTooLarge
            | GatewayError::PayloadTooLarge
            | GatewayError::RequestTimeout
            | GatewayError::BadGateway(_)
            | GatewayError::GatewayTimeout => None,
        }
    }
}

/// A JSON `body` (see [`json_body`], [`AuthSettings::body`]) with
/// `content-type: application/json`.
pub fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `{"<key>": "..."}` byte-identical to what FastAPI's `JSONResponse` writes for the same
/// text (`key` is `detail` but for flask-jwt-extended's `msg`; see [`AuthSettings::body`]).
pub fn json_body(key: &str, detail: &str) -> String {
    let mut body = serde_json::Map::new();
    body.insert(key.to_owned(), detail.into());
    serde_json::Value::Object(body).to_string()
}

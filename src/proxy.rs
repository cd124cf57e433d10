//! Forwarding to upstreams. Each client connection owns its upstream keep-alive connection
//! ([`Link`]), driven in its own task; bodies stream in both directions and nothing is
//! buffered whole.

mod link;
mod sending;

use std::time::{Duration, Instant};

use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Uri};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Version};
use http_body::Body;
use http_body_util::{Either, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::config::Upstream;
use crate::error::GatewayError;
use crate::headers;

use hyper::client::conn::http1::SendRequest;
use link::{Conn, Held};
pub use link::{Idle, Link};
pub use sending::{BodyStalled, Sending};

/// A request body on its way upstream: as received, or cut off at the route's size limit.
pub type UpstreamBody = Either<Incoming, Limited<Incoming>>;

/// Why an upstream could not be reached or broke the exchange.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamFailure {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error(transparent)]
    Exchange(hyper::Error),
}

/// One accept loop's upstream client: how to open a connection. The connections themselves
/// belong to the client connections ([`Link`]).
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    connect_timeout: Duration,
    /// Connections this worker's client connections keep between requests.
    idle: Idle,
}

/// What bounds one exchange: the time for the response head after the body was sent
/// (`upstream_timeout`), how long the client's body may stall (`request_head_timeout`), and
/// how many connections this worker keeps between requests.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeout: Duration,
    pub body_idle: Duration,
    pub keep: usize,
}

/// The parts of a request kept to send it again.
struct Retry {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Retry {
    fn of(request: &Request<Sending>) -> Self {
        Retry {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
        }
    }

    fn into_request(self, body_idle: Duration) -> Request<Sending> {
        let mut request = Request::new(Sending::new(None, body_idle).0);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.headers_mut() = self.headers;
        request
    }
}

/// What one exchange is sent with: the deadline, and the signal that the client's body has
/// been sent (the deadline runs from then on).
struct Deadline<'l> {
    timeout: Duration,
    sent: Option<oneshot::Receiver<()>>,
    /// When the request started: the kept connection's age is judged by it, and a request
    /// without a body has its first deadline run from it, without reading the clock again.
    start: Instant,
    /// `start` is yet to be used as a deadline's beginning.
    start_unused: bool,
    /// The client connection's timer.
    link: &'l Link,
}

impl Deadline<'_> {
    /// Resolves `timeout` after the body has been sent. If the body ends without a signal (the
    /// exchange failed first), the exchange's own result decides; the timer then never matters.
    async fn elapsed(&mut self) {
        if let Some(sent) = self.sent.as_mut() {
            if sent.await.is_err() {
                std::future::pending::<()>().await;
            }
            self.sent = None;
        }
        let from = match std::mem::take(&mut self.start_unused) {
            true => self.start,
            false => Instant::now(),
        };
        let at = tokio::time::Instant::from_std(from) + self.timeout;
        std::future::poll_fn(|cx| self.link.poll_deadline(at, cx)).await;
    }
}

impl UpstreamClient {
    pub fn new(connect_timeout: Duration) -> Self {
        UpstreamClient {
            connect_timeout,
            idle: Idle::default(),
        }
    }

    /// The upstream side of a new client connection.
    pub fn link(&self) -> Link {
        Link::new(self.idle.clone())
    }

    /// Sends `request` (whose headers are already rewritten) to `upstream` on the client
    /// connection's `link`, keeping its path and query, and returns the response head within
    /// `timeout` of the client's body having been sent; a body that stalls for `body_idle`
    /// ends the exchange with 408. A WebSocket handshake (`upgrade`) goes on a connection of
    /// its own, which becomes the relayed socket.
    ///
    /// The keep-alive race: an upstream may close an idle kept connection just as a request is
    /// written on it (uvicorn and gunicorn close after their keep-alive timeout without
    /// `Connection: close`). A request that was not yet written (hyper hands it back) is sent
    /// on a fresh connection; an idempotent request without a body (RFC 9110 section 9.2.2)
    /// whose connection fails before any response byte is sent once more on a fresh
    /// connection, as nginx's `proxy_next_upstream error` does; any other request gets the 502.
    pub async fn forward(
        &self,
        (link, upstream): (&Link, &Upstream),
        path_and_query: PathAndQuery,
        request: Request<UpstreamBody>,
        limits: Limits,
        upgrade: bool,
    ) -> Result<Response<Incoming>, GatewayError> {
        let (mut parts, body) = request.into_parts();
        // Origin form on the wire; the client's `Host` is kept (HTTP/1.0 may lack one).
        parts.uri = Uri::from(path_and_query);
        parts.version = Version::HTTP_11;
        if !parts.headers.contains_key(HOST) {
            if let Ok(host) = HeaderValue::from_str(upstream.authority.as_str()) {
                parts.headers.insert(HOST, host);
            }
        }
        let (body, sent) = Sending::new(Some(body), limits.body_idle);
        let request = Request::from_parts(parts, body);
        let mut deadline = Deadline {
            timeout: limits.timeout,
            start_unused: sent.is_none(),
            sent,
            start: Instant::now(),
            link,
        };
        let result = match upgrade {
            true => self.handshake(upstream, request, &mut deadline).await,
            false => {
                self.on_link(link, upstream, request, &mut deadline, limits)
                    .await
            }
        };
        let mut response = result.map_err(Failed::into_error)?;
        headers::remove_hop_by_hop(response.headers_mut());
        if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            headers::set_upgrade(response.headers_mut());
        }
        Ok(response)
    }

    /// The exchange on the kept connection, or on a new one; see [`UpstreamClient::forward`]
    /// for when it is sent again.
    async fn on_link(
        &self,
        link: &Link,
        upstream: &Upstream,
        request: Request<Sending>,
        deadline: &mut Deadline<'_>,
        limits: Limits,
    ) -> Result<Response<Incoming>, Failed> {
        let authority = &upstream.authority;
        let retry = (is_idempotent(request.method()) && request.body().is_end_stream())
            .then(|| Retry::of(&request));
        let (held, kept) = match link.checkout(authority, deadline.start) {
            Some(held) => (held, true),
            None => (self.open(link, authority).await?, false),
        };
        let keep = limits.keep;
        let again = match attempt(link, (held, kept, keep), request, deadline).await {
            Ok(response) => return Ok(response),
            Err((Failed::Exchange(error), Some(unsent))) => {
                tracing::debug!(%error, "upstream connection closed before the request was written; sending it on a fresh connection");
                *unsent
            }
            Err((Failed::Exchange(error), None)) => match retry {
                Some(retry) if before_response(&error) => {
                    tracing::debug!(%error, "upstream connection failed before a response; retrying once on a fresh connection");
                    retry.into_request(limits.body_idle)
                }
                _ => return Err(Failed::Exchange(error)),
            },
            Err((failed, _)) => return Err(failed),
        };
        let held = self.open(link, authority).await?;
        attempt(link, (held, false, keep), again, deadline)
            .await
            .map_err(|(f, _)| f)
    }

    /// A WebSocket handshake, on a connection of its own driven by a task of its own: after a
    /// `101` the connection is handed to the relay.
    async fn handshake(
        &self,
        upstream: &Upstream,
        request: Request<Sending>,
        deadline: &mut Deadline<'_>,
    ) -> Result<Response<Incoming>, Failed> {
        let (mut sender, conn) = self.dial(&upstream.authority).await?;
        tokio::spawn(async move {
            if let Err(error) = conn.with_upgrades().await {
                tracing::debug!(%error, "upstream handshake connection ended with an error");
            }
        });
        tokio::select! {
            biased;
            result = sender.send_request(request) => result.map_err(Failed::Exchange),
            () = deadline.elapsed() => Err(Failed::TimedOut),
        }
    }

    /// A new connection to `authority`, driven by `link`.
    async fn open(&self, link: &Link, authority: &Authority) -> Result<Held, Failed> {
        let (sender, conn) = self.dial(authority).await?;
        Ok(link.install(authority, sender, conn))
    }

    /// A new HTTP/1.1 connection to `authority`: its sender and its driver.
    async fn dial(&self, authority: &Authority) -> Result<(SendRequest<Sending>, Conn), Failed> {
        let stream = self.connect(authority).await?;
        http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Failed::Exchange)
    }

    /// A TCP connection within the connect timeout (every address the name resolves to is
    /// tried in turn).
    async fn connect(&self, authority: &Authority) -> Result<TcpStream, Failed> {
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = authority.port_u16().unwrap_or(80);
        let connecting = TcpStream::connect((host, port));
        let stream = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return Err(Failed::Connect(UpstreamFailure::Connect(error))),
            Err(_) => return Err(Failed::Connect(UpstreamFailure::ConnectTimeout)),
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// One exchange on `held` (`kept`: used before): the response head within the deadline. On
/// success the connection is kept for the next request (if the worker keeps fewer than
/// `keep`, as of the request's start); on failure it is closed, and a request it never
/// wrote is handed back. A fresh connection needs no readiness wait (its first request is
/// queued).
async fn attempt(
    link: &Link,
    (mut held, kept, keep): (Held, bool, usize),
    request: Request<Sending>,
    deadline: &mut Deadline<'_>,
) -> Result<Response<Incoming>, (Failed, Option<Box<Request<Sending>>>)> {
    // The request handed back is boxed: the result, moved at every await on its way out, is
    // then about the size of a response rather than of a response and a request.
    let sender = &mut held.sender;
    let exchange = async move {
        if kept {
            if let Err(error) = sender.ready().await {
                return Err((Failed::Exchange(error), Some(Box::new(request))));
            }
        }
        sender.try_send_request(request).await.map_err(|mut error| {
            let unsent = error.take_message().map(Box::new);
            (Failed::Exchange(error.into_error()), unsent)
        })
    };
    // The exchange first: when its answer is there, the timer is not looked at.
    let result = tokio::select! {
        biased;
        result = exchange => result,
        () = deadline.elapsed() => Err((Failed::TimedOut, None)),
    };
    match result {
        Ok(_) => link.checkin(held, keep, deadline.start),
        Err(_) => link.discard(held.id),
    }
    result
}

/// How an exchange failed.
enum Failed {
    Connect(UpstreamFailure),
    Exchange(hyper::Error),
    TimedOut,
}

impl Failed {
    fn into_error(self) -> GatewayError {
        match self {
            Failed::Connect(failure) => GatewayError::BadGateway(failure),
            Failed::Exchange(error) => classify(error),
            Failed::TimedOut => GatewayError::GatewayTimeout,
        }
    }
}

/// RFC 9110 section 9.2.2.
fn is_idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// The connection broke before a whole response head arrived: closed, reset, or canceled.
/// Not a parse error (the upstream answered garbage) or the client's body.
fn before_response(error: &hyper::Error) -> bool {
    let chain = std::iter::successors(Some(error as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    });
    for e in chain {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() {
                return true;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            if matches!(io.kind(), ConnectionReset | BrokenPipe | ConnectionAborted) {
                return true;
            }
        }
    }
    false
}

/// Sorts a failed exchange by who caused it: the client's body passing its limit (413) or
/// being malformed, e.g. a bad chunk size (400), or the upstream (502).
fn classify(error: hyper::Error) -> GatewayError {
    let chain = || {
        std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| {
            e.source()
        })
    };
    if chain().any(|e| e.is::<http_body_util::LengthLimitError>()) {
        return GatewayError::PayloadTooLarge;
    }
    if chain().any(|e| e.is::<BodyStalled>()) {
        return GatewayError::RequestTimeout;
    }
    // hyper reports an error of the body we were sending as a "user body" error; that body is
    // the client's request, so the client is at fault.
    if chain().any(|e| {
        e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_user)
    }) {
        return GatewayError::BadRequest("Invalid request body");
    }
    GatewayError::BadGateway(UpstreamFailure::Exchange(error))
}

//! Forwarding to upstreams over one shared pool of keep-alive connections. Bodies stream in
//! both directions; nothing is buffered whole.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

use http::uri::{PathAndQuery, Uri};
use http::{HeaderMap, Method, Request, Response, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use http_body_util::{Either, Limited};

use crate::config::Upstream;
use crate::error::GatewayError;
use crate::headers;

/// A request body on its way upstream: as received, or cut off at the route's size limit.
pub type UpstreamBody = Either<Incoming, Limited<Incoming>>;

/// The client's request body as it is sent upstream. It tells [`UpstreamClient::forward`]
/// when the client has finished sending, so `upstream_timeout` measures only the upstream
/// (a slow upload is not the upstream's fault), and it cuts off a client whose body stalls
/// for longer than `idle` (408).
pub struct Sending {
    /// `None`: no body (a retried request).
    inner: Option<UpstreamBody>,
    done: Option<oneshot::Sender<()>>,
    idle: Duration,
    /// The stall timer, allocated at the body's first wait and reset at each next one.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The body is waiting for the client: the stall timer runs.
    stalling: bool,
}

impl std::fmt::Debug for Sending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sending")
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

/// The client stopped sending its body for longer than allowed.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled")]
pub struct BodyStalled;

impl Sending {
    /// The body, and a signal of its end; `None` when it has already ended (no body: the
    /// usual case, which then needs no channel).
    fn new(inner: Option<UpstreamBody>, idle: Duration) -> (Self, Option<oneshot::Receiver<()>>) {
        let mut body = Sending {
            inner,
            done: None,
            idle,
            stall: None,
            stalling: false,
        };
        if body.is_end_stream() {
            return (body, None);
        }
        let (tx, rx) = oneshot::channel();
        body.done = Some(tx);
        (body, Some(rx))
    }

    /// The stall timer, (re)started when the body begins to wait for the client.
    fn stall_timer(&mut self) -> &mut Pin<Box<tokio::time::Sleep>> {
        let restart = !std::mem::replace(&mut self.stalling, true);
        let idle = self.idle;
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        if restart {
            stall.as_mut().reset(tokio::time::Instant::now() + idle);
        }
        stall
    }

    fn check_end(&mut self) {
        if self.is_end_stream() {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
}

impl Body for Sending {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stalling = false;
                match &frame {
                    None => {
                        if let Some(done) = this.done.take() {
                            let _ = done.send(());
                        }
                    }
                    Some(_) => this.check_end(),
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let stall = this.stall_timer();
                match stall.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}

/// One accept loop's upstream client: a pool of keep-alive connections, and a client that
/// always opens a fresh connection, for the one retry of a request whose pooled connection
/// failed before any response byte.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    pooled: Client<HttpConnector, Sending>,
    fresh: Client<HttpConnector, Sending>,
}

/// The parts of a request kept to send it again.
struct Retry {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl UpstreamClient {
    pub fn new(connect_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        connector.enforce_http(true);
        let pooled = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector.clone());
        let fresh = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        UpstreamClient { pooled, fresh }
    }

    /// Sends `request` (whose headers are already rewritten) to `upstream`, keeping its path and
    /// query, and returns the response head within `timeout` of the client's body having been
    /// sent; a body that stalls for `body_idle` ends the exchange with 408.
    ///
    /// The keep-alive race: an upstream may close an idle pooled connection just as a request is
    /// written on it (uvicorn and gunicorn close after their keep-alive timeout without
    /// `Connection: close`). An idempotent request without a body (RFC 9110 section 9.2.2) whose
    /// connection fails before any response byte is sent once more on a fresh connection, as
    /// nginx's `proxy_next_upstream error` does; any other request gets the 502.
    pub async fn forward(
        &self,
        upstream: &Upstream,
        path_and_query: PathAndQuery,
        request: Request<UpstreamBody>,
        timeout: Duration,
        body_idle: Duration,
    ) -> Result<Response<Incoming>, GatewayError> {
        let (mut parts, body) = request.into_parts();
        parts.uri = Uri::builder()
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| GatewayError::BadRequest("Invalid request target"))?;
        parts.version = Version::HTTP_11;
        let retry = (is_idempotent(&parts.method) && body.is_end_stream()).then(|| Retry {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        });
        let request = Request::from_parts(parts, Some(body));
        let first = exchange(&self.pooled, request, timeout, body_idle).await;
        let mut response = match (first, retry) {
            (Err(Failed::Exchange(error)), Some(retry)) if before_response(&error) => {
                tracing::debug!(%error, "upstream connection failed before a response; retrying once on a fresh connection");
                let mut request = Request::new(None);
                *request.method_mut() = retry.method;
                *request.uri_mut() = retry.uri;
                *request.headers_mut() = retry.headers;
                exchange(&self.fresh, request, timeout, body_idle).await
            }
            (first, _) => first,
        }
        .map_err(Failed::into_error)?;
        headers::remove_hop_by_hop(response.headers_mut());
        if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            headers::set_upgrade(response.headers_mut());
        }
        Ok(response)
    }
}

/// How an exchange failed.
enum Failed {
    Exchange(hyper_util::client::legacy::Error),
    TimedOut,
}

impl Failed {
    fn into_error(self) -> GatewayError {
        match self {
            Failed::Exchange(error) => classify(error),
            Failed::TimedOut => GatewayError::GatewayTimeout,
        }
    }
}

/// One exchange on `client`: the response head, within `timeout` of the body having been sent.
async fn exchange(
    client: &Client<HttpConnector, Sending>,
    request: Request<Option<UpstreamBody>>,
    timeout: Duration,
    body_idle: Duration,
) -> Result<Response<Incoming>, Failed> {
    let (parts, body) = request.into_parts();
    let (body, sent) = Sending::new(body, body_idle);
    let exchange = client.request(Request::from_parts(parts, body));
    let deadline = async {
        // If the body ends without a signal (the exchange failed first), the exchange's own
        // result decides; the timer then never matters.
        let sent = match sent {
            Some(sent) => sent.await.is_ok(),
            None => true,
        };
        if sent {
            tokio::time::sleep(timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = exchange => result.map_err(Failed::Exchange),
        () = deadline => Err(Failed::TimedOut),
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

/// The connection broke before a whole response head arrived: closed, reset, or canceled by
/// the pool. Not a connect failure (a fresh connection would fail the same way), a parse error
/// (the upstream answered garbage) or the client's body.
fn before_response(error: &hyper_util::client::legacy::Error) -> bool {
    if error.is_connect() {
        return false;
    }
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
fn classify(error: hyper_util::client::legacy::Error) -> GatewayError {
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
    GatewayError::BadGateway(error)
}

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
use http::{Request, Response, Version};
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
    inner: UpstreamBody,
    done: Option<oneshot::Sender<()>>,
    idle: Duration,
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
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
    fn new(inner: UpstreamBody, idle: Duration) -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let mut body = Sending {
            inner,
            done: Some(tx),
            idle,
            stall: None,
        };
        body.check_end();
        (body, rx)
    }

    fn check_end(&mut self) {
        if self.inner.is_end_stream() {
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
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stall = None;
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
                let idle = this.idle;
                let stall = this
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match stall.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The shared upstream client.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    client: Client<HttpConnector, Sending>,
}

impl UpstreamClient {
    pub fn new(connect_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        UpstreamClient { client }
    }

    /// Sends `request` (whose headers are already rewritten) to `upstream`, keeping its path and
    /// query, and returns the response head within `timeout` of the client's body having been
    /// sent; a body that stalls for `body_idle` ends the exchange with 408.
    pub async fn forward(
        &self,
        upstream: &Upstream,
        path_and_query: PathAndQuery,
        request: Request<UpstreamBody>,
        timeout: Duration,
        body_idle: Duration,
    ) -> Result<Response<Incoming>, GatewayError> {
        let (parts, body) = request.into_parts();
        let (body, sent) = Sending::new(body, body_idle);
        let mut request = Request::from_parts(parts, body);
        let uri = Uri::builder()
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| GatewayError::BadRequest("Invalid request target"))?;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        let exchange = self.client.request(request);
        let deadline = async {
            // If the body ends without a signal (the exchange failed first), the exchange's
            // own result decides; the timer then never matters.
            if sent.await.is_ok() {
                tokio::time::sleep(timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let mut response = tokio::select! {
            result = exchange => result.map_err(classify)?,
            () = deadline => return Err(GatewayError::GatewayTimeout),
        };
        headers::remove_hop_by_hop(response.headers_mut());
        Ok(response)
    }
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

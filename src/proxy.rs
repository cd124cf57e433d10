//! Forwarding to upstreams over one shared pool of keep-alive connections. Bodies stream in
//! both directions; nothing is buffered whole.

use std::time::Duration;

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

/// The shared upstream client.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    client: Client<HttpConnector, UpstreamBody>,
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
    /// query, and returns the response head within `timeout`.
    pub async fn forward(
        &self,
        upstream: &Upstream,
        path_and_query: PathAndQuery,
        mut request: Request<UpstreamBody>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, GatewayError> {
        let uri = Uri::builder()
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| GatewayError::BadRequest("Invalid request target"))?;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        let mut response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| GatewayError::GatewayTimeout)?
            .map_err(classify)?;
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

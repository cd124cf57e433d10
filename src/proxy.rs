//! Forwarding to upstreams over one shared pool of keep-alive connections. Bodies stream in
//! both directions; nothing is buffered whole.

use std::time::Duration;

use http::uri::{PathAndQuery, Uri};
use http::{Request, Response, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::Upstream;
use crate::error::GatewayError;
use crate::headers;

/// The shared upstream client.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    client: Client<HttpConnector, Incoming>,
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
        mut request: Request<Incoming>,
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
            .map_err(GatewayError::BadGateway)?;
        headers::remove_hop_by_hop(response.headers_mut());
        Ok(response)
    }
}

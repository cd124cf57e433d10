//! One HTTPS `GET` to a key provider: rustls (the system's roots, or a private CA), one
//! connection per fetch (fetches are minutes apart, a pool would only hold sockets open), a
//! deadline over the whole exchange, a cap on the body, and redirects not followed (a 3xx is a
//! failure: a key set must come from where the config says).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, HOST};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Why a fetch failed; the text goes to logs (never to clients).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("connecting to {0} failed: {1}")]
    Connect(String, String),
    #[error("TLS with {0} failed: {1}")]
    Tls(String, String),
    #[error("the HTTP exchange failed: {0}")]
    Http(String),
    #[error("the provider answered {0} (redirects are not followed)")]
    Status(StatusCode),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the answer is not usable: {0}")]
    Invalid(String),
}

impl FetchError {
    /// A short stable label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            FetchError::Connect(..) | FetchError::Tls(..) | FetchError::Http(_) => "unreachable",
            FetchError::Status(_) => "status",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Timeout(_) => "timeout",
            FetchError::Invalid(_) => "invalid",
        }
    }
}

/// A fetched body and the `max-age` of its `Cache-Control`, if any.
#[derive(Debug)]
pub struct Fetched {
    pub body: Bytes,
    pub max_age: Option<Duration>,
}

/// The TLS settings and limits of every fetch from one provider.
#[derive(Clone)]
pub struct Fetcher {
    tls: TlsConnector,
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Trusts the PEM certificates in `ca_pem` when given, else the system's roots.
    pub fn new(ca_pem: Option<&[u8]>, timeout: Duration, max_bytes: usize) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        match ca_pem {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| format!("not a PEM certificate file ({e})"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("a certificate is not usable as a CA ({e})"))?;
                }
                if roots.is_empty() {
                    return Err("the file holds no PEM certificate".into());
                }
            }
            None => {
                // Unreadable system certificates are skipped; an empty store fails every fetch,
                // which is logged and counted.
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed ({e})"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Fetcher {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
            max_bytes,
        })
    }

    /// `GET url` (an `https` URL), within the deadline and the size cap.
    pub async fn get(&self, url: &Uri) -> Result<Fetched, FetchError> {
        match tokio::time::timeout(self.timeout, self.exchange(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(self.timeout)),
        }
    }

    async fn exchange(&self, url: &Uri) -> Result<Fetched, FetchError> {
        let authority = url
            .authority()
            .ok_or_else(|| FetchError::Invalid("the URL has no host".into()))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(443);
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| FetchError::Invalid(format!("{host:?} is not a TLS server name ({e})")))?;
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| FetchError::Connect(authority.to_string(), e.to_string()))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::Tls(authority.to_string(), e.to_string()))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        // The connection task ends with the exchange (or with the deadline's drop).
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let path = url.path_and_query().map_or("/", |p| p.as_str());
        let request = Request::get(path)
            .header(HOST, authority.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "freshgate")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        if response.status() != StatusCode::OK {
            return Err(FetchError::Status(response.status()));
        }
        let max_age = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let body = Limited::new(response.into_body(), self.max_bytes)
            .collect()
            .await
            .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
                Ok(_) => FetchError::TooLarge(self.max_bytes),
                Err(e) => FetchError::Http(e.to_string()),
            })?
            .to_bytes();
        Ok(Fetched { body, max_age })
    }
}

/// The `max-age` directive of a `Cache-Control` value (RFC 9111 section 5.2.2.1); `no-cache`
/// and `no-store` count as zero.
fn max_age(value: &str) -> Option<Duration> {
    let mut found = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            found = secs.trim_matches('"').parse().ok().map(Duration::from_secs);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        let rows = [
            ("max-age=600", Some(600)),
            ("public, max-age=60, must-revalidate", Some(60)),
            ("Max-Age=\"5\"", Some(5)),
            ("no-store", Some(0)),
            ("public", None),
            ("max-age=soon", None),
        ];
        for (value, want) in rows {
            assert_eq!(max_age(value), want.map(Duration::from_secs), "{value}");
        }
    }
}

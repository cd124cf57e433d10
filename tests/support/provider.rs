//! A local HTTPS key provider on 127.0.0.1:0, with a test CA made at start (rcgen) and served
//! with tokio-rustls: `/.well-known/openid-configuration` (discovery, naming itself as the
//! issuer) and `/jwks`, whose answer a test sets ([`Answer`]); every request is counted by
//! path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What `/jwks` answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with this body and, if given, this `Cache-Control`.
    Keys(String, Option<String>),
    /// 503: the provider is down.
    Down,
    /// 200 with a body that is not a key set.
    Garbage,
    /// 200 with this many bytes of JSON-looking padding.
    Huge(usize),
    /// 302 to another path (which must not be followed).
    Redirect,
}

#[derive(Debug)]
struct State {
    answer: Answer,
    hits: HashMap<String, usize>,
}

pub struct Provider {
    pub addr: SocketAddr,
    /// The test CA's certificate, as a PEM file for `jwks_ca_file`.
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Provider {
    /// Starts a provider answering `answer` on `/jwks`.
    pub async fn start(answer: Answer) -> Provider {
        let (ca_pem, acceptor) = tls();
        let dir = tempfile::tempdir().expect("temporary directory");
        let ca_file = dir.path().join("test-ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("write the CA file");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind provider");
        let addr = listener.local_addr().expect("provider addr");
        let state = Arc::new(Mutex::new(State {
            answer,
            hits: HashMap::new(),
        }));
        let task = tokio::spawn(serve(listener, acceptor, state.clone(), addr));
        Provider {
            addr,
            ca_file,
            _dir: dir,
            state,
            task,
        }
    }

    /// `https://127.0.0.1:<port>`: the issuer discovery names.
    pub fn issuer(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    pub fn set(&self, answer: Answer) {
        self.state.lock().unwrap().answer = answer;
    }

    /// Requests for `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        *self.state.lock().unwrap().hits.get(path).unwrap_or(&0)
    }
}

/// A fresh CA and a certificate for 127.0.0.1 signed by it: the CA's PEM and the acceptor.
fn tls() -> (String, TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server params");
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server TLS config");
    (ca_cert.pem(), TlsAcceptor::from(Arc::new(config)))
}

async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, state) = (acceptor.clone(), state.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = answer(&state, request.uri().path(), addr);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn answer(state: &Mutex<State>, path: &str, addr: SocketAddr) -> Response<Full<Bytes>> {
    let mut state = state.lock().unwrap();
    *state.hits.entry(path.to_owned()).or_default() += 1;
    let issuer = format!("https://127.0.0.1:{}", addr.port());
    let reply = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    };
    match path {
        "/.well-known/openid-configuration" => reply(
            StatusCode::OK,
            serde_json::json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks") })
                .to_string(),
        ),
        "/jwks" => match &state.answer {
            Answer::Keys(body, cache_control) => {
                let mut r = reply(StatusCode::OK, body.clone());
                if let Some(cc) = cache_control {
                    r.headers_mut()
                        .insert(http::header::CACHE_CONTROL, cc.parse().unwrap());
                }
                r
            }
            Answer::Down => reply(StatusCode::SERVICE_UNAVAILABLE, "down".into()),
            Answer::Garbage => reply(StatusCode::OK, "<html>maintenance</html>".into()),
            Answer::Huge(n) => reply(
                StatusCode::OK,
                format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(*n)),
            ),
            Answer::Redirect => {
                let mut r = reply(StatusCode::FOUND, String::new());
                r.headers_mut()
                    .insert(http::header::LOCATION, "/elsewhere".parse().unwrap());
                r
            }
        },
        _ => reply(StatusCode::NOT_FOUND, String::new()),
    }
}

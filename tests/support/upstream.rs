//! A real HTTP upstream on 127.0.0.1:0 that answers with what it received, so a test asserts
//! what the upstream saw; and a port with nothing behind it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The echo upstream. Every request is answered with JSON describing it: `method`, `path`
/// (with query), `headers` (a list of `[name, value]` pairs, in order), `body_len`. Special
/// paths: `/slow/<ms>` waits before answering; `/bytes/<n>` streams `n` bytes back in 64 KiB
/// chunks.
pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let counter = hits.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                    _ = &mut stopped => break,
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        echo(req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream {
            addr,
            hits,
            connections,
            _stop: stop,
        }
    }

    /// How many connections this upstream accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// How many requests reached this upstream so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

type EchoBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn echo(req: Request<Incoming>) -> Result<Response<EchoBody>, Infallible> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    if let Some(ms) = path.strip_prefix("/slow/") {
        let ms: u64 = ms.parse().unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(ms) = path.strip_prefix("/pause/") {
        // A streamed body with a pause of `ms` between its two chunks.
        let ms: u64 = ms.parse().unwrap_or(1000);
        let frames = futures_util::stream::unfold(0u8, move |step| async move {
            let chunk: &'static [u8] = match step {
                0 => b"before the pause\n",
                1 => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    b"after the pause\n"
                }
                _ => return None,
            };
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(chunk))),
                step + 1,
            ))
        });
        return Ok(Response::new(BodyExt::boxed(StreamBody::new(frames))));
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        let total: usize = n.parse().unwrap_or(0);
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let frames = (0..total.div_ceil(chunk.len())).map(move |i| {
            let len = chunk.len().min(total - i * chunk.len());
            Ok::<_, Infallible>(Frame::data(chunk.slice(..len)))
        });
        let body = StreamBody::new(futures_util::stream::iter(frames));
        return Ok(Response::new(BodyExt::boxed(body)));
    }
    let method = req.method().to_string();
    let headers: Vec<Value> = req
        .headers()
        .iter()
        .map(|(n, v)| json!([n.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let mut body = req.into_body();
    let mut body_len = 0usize;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => body_len += f.data_ref().map_or(0, |d| d.len()),
            Err(_) => break,
        }
    }
    let description =
        json!({ "method": method, "path": path, "headers": headers, "body_len": body_len });
    let mut response = Response::new(Full::new(Bytes::from(description.to_string())).boxed());
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert("x-upstream", HeaderValue::from_static("echo"));
    Ok(response)
}

/// A port with nothing behind it: bound, then released.
pub fn dead_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

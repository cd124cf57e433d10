//! The bare-hyper peer: a minimal hyper 1 forwarder, the floor under what any gateway built on
//! hyper can cost. One current-thread runtime per CPU, each with its own accept loop on one
//! shared socket; each client connection gets one upstream connection, driven in the client
//! connection's task; every request is sent on it with `X-Forwarded-For` added. No routing, no
//! token, no limits, no logs. (This bench binary re-executed with `--baseline LISTEN`.)

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1 as client;
use hyper::server::conn::http1 as server;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

pub fn serve(listen: SocketAddr, upstream: SocketAddr, workers: usize) -> ExitCode {
    let listener = match std::net::TcpListener::bind(listen).and_then(|l| {
        l.set_nonblocking(true)?;
        Ok(l)
    }) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("baseline: cannot listen on {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    let threads: Vec<_> = (0..workers.max(1))
        .filter_map(|_| listener.try_clone().ok())
        .map(|listener| std::thread::spawn(move || worker(listener, upstream)))
        .collect();
    eprintln!("baseline: listening on {listen}, forwarding to {upstream}");
    for thread in threads {
        let _ = thread.join();
    }
    ExitCode::SUCCESS
}

fn worker(listener: std::net::TcpListener, upstream: SocketAddr) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        while let Ok((stream, peer)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            // A current-thread runtime: the task stays on this thread.
            tokio::spawn(connection(stream, peer, upstream));
        }
    });
}

async fn connection(stream: TcpStream, peer: SocketAddr, upstream: SocketAddr) {
    let Ok(upstream) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let Ok((sender, conn)) = client::handshake(TokioIo::new(upstream)).await else {
        return;
    };
    let sender = Arc::new(Mutex::new(sender));
    let forwarded_for = HeaderValue::from_str(&peer.ip().to_string()).ok();
    let service = service_fn(move |mut request: Request<Incoming>| {
        let sender = sender.clone();
        let forwarded_for = forwarded_for.clone();
        async move {
            if let Some(ip) = forwarded_for {
                request.headers_mut().insert("x-forwarded-for", ip);
            }
            let mut sender = sender.lock().await;
            sender.ready().await?;
            let response: Response<Incoming> = sender.send_request(request).await?;
            Ok::<_, hyper::Error>(response)
        }
    });
    let serving = server::Builder::new().serve_connection(TokioIo::new(stream), service);
    // The upstream connection is driven in this task too.
    let _ = tokio::join!(serving, conn);
}

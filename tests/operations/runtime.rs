//! The process topology (`freshgate::runtime::run`) in-process, without spawning the binary:
//! workers serve on the configured listener until the shutdown future resolves, then drain and
//! report success.

use std::time::Duration;

use crate::support::{eventually, free_port, ConfigFile, Upstream, SECRET};

#[tokio::test]
async fn the_runtime_serves_on_its_workers_until_its_shutdown_future_resolves() {
    let upstream = Upstream::start().await;
    let port = free_port();
    let config = ConfigFile::new(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nworkers = 2\nshutdown_timeout = \"2s\"\n\n\
         [upstreams]\napp = \"http://{}\"\n\n[jwt]\nsecret = \"{SECRET}\"\n\n\
         [[route]]\nprefix = \"/\"\npolicy = \"public\"\n",
        upstream.addr
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let path = config.path.clone();
    let running = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(freshgate::runtime::run(&path, async move {
            let _ = stopped.await;
        }))
    });
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let reply = eventually(Duration::from_secs(10), "the runtime serves", || async {
        crate::support::try_get(addr, "/hello", &[]).await
    })
    .await;
    assert_eq!(reply.status, 200, "a request through the runtime's workers");
    assert_eq!(upstream.hits(), 1, "it reached the upstream");
    stop.send(()).unwrap();
    let code = tokio::task::spawn_blocking(move || running.join().unwrap())
        .await
        .unwrap();
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::SUCCESS),
        "a requested shutdown exits 0"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after the drain"
    );
}

//! The library's own Redis denylist example (`denylist_redis_app.py` of each suite, after the
//! library's `examples/denylist_redis.py`) behind two freshgate replicas sharing its Redis, with
//! the suite's profile: a logout the app records through replica A is refused on the next
//! request through replica B, with the library's own answer (the same request sent to the app
//! directly agrees). Shared by tests/compat and tests/compat_pyjwt2.

use bytes::Bytes;

use crate::app::App;
use crate::judge::show;
use crate::reference;
use crate::support::{send, send_body, RedisServer, Reply, TestGateway, SECRET};

/// The example's routes, and `[revocation]` as the example writes its keys.
fn replica_config(redis: &RedisServer) -> String {
    format!(
        r#"
[upstreams]
app = "http://{{upstream}}"

[jwt]
secret = "{SECRET}"
{profile}

[revocation]
redis = "{url}"
key = "{{jti}}"
revoked_when = "equals:true"
token_checks = ["access", "refresh"]

[[route]]
path = "/login"
methods = ["POST"]
policy = "public"

[[route]]
path = "/refresh"
methods = ["POST"]
policy = "refresh"

[[route]]
path = "/access-revoke"
methods = ["DELETE"]
policy = "access"

[[route]]
path = "/refresh-revoke"
methods = ["DELETE"]
policy = "refresh"

[[route]]
path = "/protected"
policy = "access"
"#,
        url = redis.url(),
        profile = reference::profile_line()
    )
}

async fn call(addr: std::net::SocketAddr, method: &str, path: &str, token: &str) -> Reply {
    let header = format!("Bearer {token}");
    send(addr, method, path, &[("authorization", header.as_bytes())]).await
}

/// The request through `replica` and to the app directly: the same status and body, and the
/// status `want`.
async fn agree(app: &App, replica: &TestGateway, method: &str, path: &str, token: &str, want: u16) {
    let direct = call(app.addr, method, path, token).await;
    let through = call(replica.addr, method, path, token).await;
    let what = format!("{method} {path}");
    assert_eq!(
        through.status.as_u16(),
        want,
        "{what} through freshgate: {}",
        show(&through.body)
    );
    assert_eq!(
        direct.status,
        through.status,
        "{what}: app {} vs freshgate {}",
        show(&direct.body),
        show(&through.body)
    );
    assert_eq!(direct.json(), through.json(), "{what}: the same body");
}

#[tokio::test]
async fn a_logout_through_one_replica_is_refused_by_the_other_on_its_next_request() {
    let redis = RedisServer::start().await;
    let port = redis.port.to_string();
    let app =
        reference::start_script("denylist_redis_app.py", &[("COMPAT_REDIS_PORT", &port)]).await;
    let a = TestGateway::start(&replica_config(&redis), app.addr).await;
    let b = TestGateway::start(&replica_config(&redis), app.addr).await;

    let credentials = Bytes::from_static(br#"{"username":"test","password":"test"}"#);
    let json = [("content-type", &b"application/json"[..])];
    let login = send_body(a.addr, "POST", "/login", &json, credentials).await;
    assert_eq!(login.status, 200, "login through A: {}", show(&login.body));
    let tokens = login.json();
    let access = tokens["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();

    agree(&app, &b, "GET", "/protected", &access, 200).await;
    let logout = call(a.addr, "DELETE", "/access-revoke", &access).await;
    assert_eq!(
        logout.status,
        200,
        "the app revokes through A: {}",
        show(&logout.body)
    );
    agree(&app, &b, "GET", "/protected", &access, 401).await;
    agree(&app, &a, "GET", "/protected", &access, 401).await;

    // The refresh token is still good until it is revoked too, through B this time.
    let renewed = call(a.addr, "POST", "/refresh", &refresh).await;
    assert_eq!(
        renewed.status,
        200,
        "refresh through A: {}",
        show(&renewed.body)
    );
    let logout = call(b.addr, "DELETE", "/refresh-revoke", &refresh).await;
    assert_eq!(
        logout.status,
        200,
        "the app revokes the refresh token through B: {}",
        show(&logout.body)
    );
    agree(&app, &a, "POST", "/refresh", &refresh, 401).await;
    // A revoked refresh token on an access route: revoked comes before the type check.
    agree(&app, &a, "GET", "/protected", &refresh, 401).await;
    let new_access = renewed.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    agree(&app, &b, "GET", "/protected", &new_access, 200).await;
}

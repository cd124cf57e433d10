//! The WebSocket part: the fork's own WebSocket endpoints, written in the library's documented
//! pattern (accept, check, then "Successfully Login!" and the subject, or the exception's
//! message; then close), reached directly and through freshgate (with the profile) in front of
//! the same app. The fork keeps 0.5.0's WebSocket modes and texts; PyJWT 2's decode answers
//! (a future `iat`, an integer `sub`, a null `jti` or `exp`, strict base64) show here too. Each row is one handshake; the client must receive the same text
//! frames both ways. The close differs only where freshgate refused the handshake itself: the
//! app closes with 1000 after its message, freshgate with 1008 (policy violation), as the
//! library's own exception status says (documented in the README).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::app::App;
use crate::fork;
use crate::gateway::profile_line;
use crate::support::{ClaimsExt, TestGateway, SECRET};
use crate::{access, OTHER_SECRET};

/// The gateway in front of the app itself, with its WebSocket endpoints as routes.
async fn gateway(app: &App, token_location: &str) -> TestGateway {
    let mut config = format!(
        "[upstreams]\napp = \"http://{{upstream}}\"\n\n[jwt]\nsecret = \"{SECRET}\"\n{}\ntoken_location = {token_location}\n",
        profile_line()
    );
    for (mode, source) in [("query", "query"), ("cookies", "cookies")] {
        for (name, policy) in [
            ("access", "access"),
            ("fresh", "fresh"),
            ("optional", "optional"),
            ("refresh", "refresh"),
        ] {
            config.push_str(&format!(
                "\n[[route]]\npath = \"/ws/{mode}/{name}\"\npolicy = \"{policy}\"\nwebsocket = \"{source}\"\n"
            ));
        }
    }
    TestGateway::start(&config, app.addr).await
}

/// What a client receives on one handshake: the text frames, then the close code (`None`: the
/// handshake itself was refused, or the connection ended without a close frame).
#[derive(Debug, PartialEq)]
struct Received {
    texts: Vec<String>,
    close: Option<CloseCode>,
}

async fn handshake(addr: SocketAddr, target: &str, cookie: Option<&str>) -> Received {
    let mut request = format!("ws://{addr}{target}")
        .into_client_request()
        .unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
    }
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
        return Received {
            texts: vec!["(handshake refused)".into()],
            close: None,
        };
    };
    let (texts, close) =
        crate::support::websocket::frames_until_close(&mut socket, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("{target}: {e}"));
    Received { texts, close }
}

/// Each row: a name, the request target, the cookie; every row is sent to the app and through
/// the gateway, and the text frames must agree.
async fn assert_same(app: &App, gw: &TestGateway, rows: &[(&str, String, Option<String>)]) {
    let mut mismatches = Vec::new();
    for (name, target, cookie) in rows {
        let direct = handshake(app.addr, target, cookie.as_deref()).await;
        let through = handshake(gw.addr, target, cookie.as_deref()).await;
        let success = direct.texts.first().map(String::as_str) == Some("Successfully Login!");
        let close_ok = match success {
            // The app's own close, relayed.
            true => through.close == direct.close,
            // The app closes after its message with 1000; freshgate refuses with 1008.
            false => {
                direct.close == Some(CloseCode::Normal) && through.close == Some(CloseCode::Policy)
            }
        };
        if direct.texts != through.texts || !close_ok {
            mismatches.push(format!(
                "{name} ({target}):\n  app:       {direct:?}\n  freshgate: {through:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} WebSocket handshakes disagree:\n{}",
        mismatches.len(),
        rows.len(),
        mismatches.join("\n")
    );
}

/// Tokens PyJWT 2.15 refuses and 0.5.0 accepted (or refused with another text).
fn pyjwt2_tokens() -> Vec<(&'static str, String)> {
    let hour = crate::support::now() + 3600;
    let padded_header = crate::support::forge::sign_input(&format!(
        "{}=.{}",
        crate::support::forge::b64(crate::support::forge::HS256_HEADER),
        crate::support::forge::b64(access(true).text())
    ));
    vec![
        (
            "an iat an hour ahead",
            access(true).set("iat", json!(hour)).token(),
        ),
        ("an integer sub", access(true).set("sub", json!(42)).token()),
        ("a null jti", access(true).set("jti", Value::Null).token()),
        ("a null exp", access(true).set("exp", Value::Null).token()),
        ("a header segment with an `=` after it", padded_header),
    ]
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_query_token_handshakes_on_every_policy() {
    let app = fork::start(&[]).await;
    let gw = gateway(&app, "[\"headers\"]").await;
    let (fresh, refresh) = app.login().await;
    let stale = app.refresh(&refresh).await;
    let expired = access(true)
        .set("exp", json!(crate::support::now() - 60))
        .token();
    let foreign = crate::support::forge::raw_token(
        crate::support::forge::HS256_HEADER,
        &access(true).text(),
        jsonwebtoken::Algorithm::HS256,
        OTHER_SECRET,
    );
    let other_alg = crate::support::forge::raw_token(
        r#"{"typ":"JWT","alg":"HS512"}"#,
        &access(true).text(),
        jsonwebtoken::Algorithm::HS512,
        SECRET,
    );
    let not_yet = access(true)
        .set("nbf", json!(crate::support::now() + 3600))
        .token();
    let pyjwt2 = pyjwt2_tokens();
    let q = |policy: &str, token: &str| format!("/ws/query/{policy}?token={token}");
    let mut rows = Vec::new();
    for policy in ["access", "fresh", "optional", "refresh"] {
        let decided_by_pyjwt2 = pyjwt2
            .iter()
            .map(|(what, token)| (*what, Some(token.as_str())));
        for (what, token) in [
            ("no token", None),
            ("an empty token", Some("")),
            ("a fresh access token from /login", Some(fresh.as_str())),
            ("a stale access token from /refresh", Some(stale.as_str())),
            ("a refresh token", Some(refresh.as_str())),
            ("garbage", Some("not-a-token")),
            ("an expired token", Some(expired.as_str())),
            ("another secret's token", Some(foreign.as_str())),
            (
                "an HS512 token (algorithm not allowed)",
                Some(other_alg.as_str()),
            ),
            (
                "a token not valid before an hour from now",
                Some(not_yet.as_str()),
            ),
        ]
        .into_iter()
        .chain(decided_by_pyjwt2)
        {
            let target = match token {
                None => format!("/ws/query/{policy}"),
                Some(token) => q(policy, token),
            };
            rows.push((what, target, None));
        }
    }
    // Tokens the library crashes on (no `type`, say) end its socket handler without a message;
    // freshgate refuses them with its 4xx detail instead, as over HTTP (the crash rows there).
    assert_same(&app, &gw, &rows).await;
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_cookie_handshakes_including_csrf() {
    let app = fork::start(&[("AUTHJWT_TOKEN_LOCATION", "cookies")]).await;
    let gw = gateway(&app, "[\"cookies\"]").await;
    let jar = app.login_cookies().await;
    let access_cookie = format!("access_token_cookie={}", jar.access);
    let refresh_cookie = format!("refresh_token_cookie={}", jar.refresh);
    let integer_sub = format!(
        "access_token_cookie={}",
        access(true)
            .set("sub", json!(42))
            .set("csrf", json!("c"))
            .token()
    );
    let mut rows = Vec::new();
    for policy in ["access", "fresh", "optional"] {
        let path = format!("/ws/cookies/{policy}");
        rows.push(("no cookie", path.clone(), None));
        rows.push((
            "a cookie without the CSRF value",
            path.clone(),
            Some(access_cookie.clone()),
        ));
        rows.push((
            "a cookie with a wrong CSRF value",
            format!("{path}?csrf_token=wrong"),
            Some(access_cookie.clone()),
        ));
        rows.push((
            "a cookie with its CSRF value",
            format!("{path}?csrf_token={}", jar.csrf_access),
            Some(access_cookie.clone()),
        ));
        rows.push((
            "a refresh cookie only",
            format!("{path}?csrf_token={}", jar.csrf_refresh),
            Some(refresh_cookie.clone()),
        ));
        rows.push((
            "a cookie with an integer sub and its CSRF value",
            format!("{path}?csrf_token=c"),
            Some(integer_sub.clone()),
        ));
    }
    let path = "/ws/cookies/refresh";
    rows.push(("refresh: no cookie", path.to_string(), None));
    rows.push((
        "refresh: without the CSRF value",
        path.to_string(),
        Some(refresh_cookie.clone()),
    ));
    rows.push((
        "refresh: with its CSRF value",
        format!("{path}?csrf_token={}", jar.csrf_refresh),
        Some(refresh_cookie.clone()),
    ));
    rows.push((
        "refresh: an access cookie",
        format!("{path}?csrf_token={}", jar.csrf_access),
        Some(access_cookie.clone()),
    ));
    assert_same(&app, &gw, &rows).await;
}

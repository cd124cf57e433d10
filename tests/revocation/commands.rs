//! `explain` shows the lookup (and skips it offline with `--no-revocation`); `check` validates
//! `[revocation]` with positioned errors.

use crate::support::*;
use crate::*;

fn explain(config: &ConfigFile, token: &str, extra: &[&str]) -> (i32, String) {
    let out = freshgate_command()
        .args(["explain", "--config"])
        .arg(&config.path)
        .args(["GET", "/protected", "--token", token])
        .args(extra)
        .output()
        .expect("run freshgate explain");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn explain_shows_the_lookup_and_skips_it_offline() {
    let mut redis = RedisServer::start().await;
    let file = ConfigFile::new(&config(&redis, "").replace("{upstream}", "127.0.0.1:9"));
    let (token, jti) = access_with_jti("alice");
    let (code, out) = explain(&file, &token, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "revocation: redis://127.0.0.1:{}/0 GET \"{jti}\" -> not revoked",
            redis.port
        )),
        "{out}"
    );
    redis.set(&jti, "true").await;
    let (code, out) = explain(&file, &token, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("-> revoked") && out.contains(REVOKED), "{out}");
    redis.stop();
    let (code, out) = explain(&file, &token, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unavailable") && out.contains(UNAVAILABLE),
        "{out}"
    );
    let (code, out) = explain(&file, &token, &["--no-revocation"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("revocation: skipped (--no-revocation)"),
        "{out}"
    );
}

#[test]
fn check_refuses_bad_revocation_settings_with_positions() {
    #[rustfmt::skip]
    let rows = [
        (r#"key = "{user}""#, "revocation.key", "unknown placeholder {user}"),
        (r#"key = """#, "revocation.key", "empty"),
        (r#"key = "revoked""#, "revocation.key", "no placeholder"),
        (r#"subject_cutoff_key = "all:{jti}""#, "revocation.subject_cutoff_key", "unknown placeholder {jti}"),
        (r#"revoked_when = "present""#, "revocation.revoked_when", "is not a rule"),
        (r#"unavailable = "maybe""#, "revocation.unavailable", "is not a policy"),
        (r#"token_checks = ["id"]"#, "revocation.token_checks", "is not a token type"),
        (r#"timeout = "0s""#, "revocation.timeout", "zero timeout"),
        (r#"redis_password_env = "FRESHGATE_TEST_UNSET_VARIABLE""#, "revocation.redis_password_env", "is not set"),
        (r#"kee = "{jti}""#, "kee", "unknown field"),
    ];
    for (line, key, message) in rows {
        let text = format!("[upstreams]\napp = \"http://127.0.0.1:9\"\n[jwt]\nsecret = \"s\"\n[revocation]\nredis = \"redis://127.0.0.1:1/0\"\n{line}\n");
        let file = ConfigFile::new(&text);
        let out = freshgate_command()
            .arg("check")
            .arg("--config")
            .arg(&file.path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line}: check must fail");
        assert!(
            err.contains(key) && err.contains(message) && err.contains(":7:"),
            "{line}: {err}"
        );
    }
    let text = "[upstreams]\napp = \"http://127.0.0.1:9\"\n[jwt]\nsecret = \"s\"\n[[route]]\nprefix = \"/\"\npolicy = \"access\"\nrevocation_unavailable = \"allow\"\n";
    let file = ConfigFile::new(text);
    let out = freshgate_command()
        .arg("check")
        .arg("--config")
        .arg(&file.path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("route[1].revocation_unavailable") && err.contains(":8:"),
        "an override without a store is refused: {err}"
    );
    let text = "[upstreams]\napp = \"http://127.0.0.1:9\"\n[jwt]\nsecret = \"s\"\n[revocation]\nredis = \"http://x\"\n";
    let file = ConfigFile::new(text);
    let out = freshgate_command()
        .arg("check")
        .arg("--config")
        .arg(&file.path)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a Redis URL"),
        "a non-Redis URL is refused"
    );
}

//! Operations with remote keys through the real binary: `check --online` fetches every set
//! once and says what it found, `explain` names the issuer's keys and the key that verified.

use std::process::Output;

use jsonwebtoken::Algorithm;

use crate::keys::{access, sign};
use crate::support::provider::{Answer, Provider};
use crate::support::*;
use crate::{keys_answer, url_config};

/// Runs the binary on `config` with `args`, off the runtime so the provider keeps answering.
async fn freshgate(config: &str, args: &[&str]) -> (ConfigFile, Output) {
    let file = ConfigFile::new(&config.replace("{upstream}", "127.0.0.1:1"));
    let path = file.path.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        freshgate_command()
            .arg("--config")
            .arg(&path)
            .args(&args)
            .env("RUST_LOG", "error")
            .output()
            .expect("run freshgate")
    })
    .await
    .unwrap();
    (file, output)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn check_online_fetches_each_key_set_once_and_reports_it() {
    let provider = Provider::start(keys_answer(&["rsa-1", "p256-1"])).await;
    let config = url_config(&provider, "");
    let (_file, output) = freshgate(&config, &["check"]).await;
    assert!(output.status.success(), "check: {}", stdout(&output));
    assert_eq!(provider.hits("/jwks"), 0, "plain check fetches nothing");
    let (_file, output) = freshgate(&config, &["check", "--online"]).await;
    let text = stdout(&output);
    assert!(output.status.success(), "check --online: {text}");
    let line = format!(
        "{}: 2 key(s): rsa-1 [RS256], p256-1 [ES256]",
        provider.jwks_url()
    );
    assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
    assert_eq!(provider.hits("/jwks"), 1, "one fetch");

    provider.set(Answer::Garbage);
    let (_file, output) = freshgate(&config, &["check", "--online"]).await;
    let text = stdout(&output);
    assert!(
        !output.status.success(),
        "a failed fetch fails check --online: {text}"
    );
    assert!(
        text.contains("fetch failed: the answer is not usable"),
        "{text}"
    );
}

#[tokio::test]
async fn explain_names_the_key_that_verified_the_token() {
    let provider = Provider::start(keys_answer(&["rsa-1"])).await;
    let config = url_config(&provider, &format!("secret = \"{SECRET}\"")).replace(
        "algorithms = [\"RS256\", \"ES256\"]",
        "algorithms = [\"RS256\", \"ES256\", \"HS256\"]",
    );
    let token = sign(Algorithm::RS256, Some("rsa-1"), &access("alice"));
    let (_file, output) = freshgate(
        &config,
        &["explain", "GET", "/protected", "--token", &token],
    )
    .await;
    let text = stdout(&output);
    let line = format!(
        "verified:   [jwt]: a key fetched from {} (kid rsa-1, RS256)",
        provider.jwks_url()
    );
    assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
    let token = crate::keys::hs256(&access("alice"));
    let (_file, output) = freshgate(
        &config,
        &["explain", "GET", "/protected", "--token", &token],
    )
    .await;
    let text = stdout(&output);
    let line = "verified:   [jwt]: key 1 of the config (kid -, HS256)";
    assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
}

//! `freshgate revoke`: writes a revocation the way `[revocation]` reads it, so an operator can
//! cut a token (or every token of a subject) off in an incident, from any machine that
//! reaches the store.

use std::time::Duration;

use crate::auth::revocation::RevokedWhen;
use crate::config::Snapshot;

/// What to revoke.
#[derive(Debug, Clone)]
pub enum RevokeTarget {
    /// A token: its key, with a TTL of its remaining lifetime.
    Token(String),
    /// A `jti` (the key template must need nothing else), for `refresh_lifetime`.
    Jti(String),
    /// Every token of a subject issued until now: the subject's cutoff, for `refresh_lifetime`.
    Subject(String),
}

impl RevokeTarget {
    /// From the command line's mutually exclusive `--token`, `--jti`, `--subject`.
    pub fn of(token: Option<String>, jti: Option<String>, subject: Option<String>) -> Self {
        match (token, jti) {
            (Some(token), _) => RevokeTarget::Token(token),
            (None, Some(jti)) => RevokeTarget::Jti(jti),
            (None, None) => RevokeTarget::Subject(subject.unwrap_or_default()),
        }
    }
}

/// Writes the revocation; `Ok` is the line to print.
pub fn revoke(snapshot: &Snapshot, target: &RevokeTarget, now_ms: i64) -> Result<String, String> {
    let settings = snapshot
        .revocation
        .as_ref()
        .ok_or("the config has no [revocation] redis store")?;
    let rules = &settings.rules;
    let (key, value, ttl, what) = match target {
        RevokeTarget::Token(token) => match token_key(snapshot, settings, token, now_ms)? {
            Some((key, ttl)) => (key, primary_value(&rules.revoked_when), ttl, "token"),
            None => return Ok("the token has already expired; nothing written\n".into()),
        },
        RevokeTarget::Jti(jti) => {
            let key = rules
                .key
                .render_with(Some(jti), None, None)
                .ok_or_else(|| {
                    format!(
                        "the key template {:?} needs more than a jti; revoke with --token",
                        rules.key.as_str()
                    )
                })?;
            (
                key,
                primary_value(&rules.revoked_when),
                settings.refresh_lifetime,
                "jti",
            )
        }
        RevokeTarget::Subject(sub) => {
            let template = rules
                .cutoff
                .as_ref()
                .ok_or("the config has no [revocation] subject_cutoff_key")?;
            let key = template
                .render_with(None, Some(sub), None)
                .ok_or("subject_cutoff_key can only use {sub}")?;
            let now = (now_ms / 1000).to_string().into_bytes();
            (key, Some(now), settings.refresh_lifetime, "subject cutoff")
        }
    };
    write(settings, &key, value.as_deref(), ttl)?;
    let action = match value {
        Some(_) => format!("wrote the {what} key, expiring in {}s", ttl.as_secs()),
        None => format!("deleted the {what} key from the allowlist"),
    };
    Ok(format!("{action} ({})\n", settings.address()))
}

/// A token's key and its remaining lifetime, after verifying it with the configured keys;
/// `None` when it has already expired.
fn token_key(
    snapshot: &Snapshot,
    settings: &super::RevocationSettings,
    token: &str,
    now_ms: i64,
) -> Result<Option<(Vec<u8>, Duration)>, String> {
    let claims = snapshot
        .auth
        .decoder()
        .verify(token.as_bytes())
        .map_err(|e| {
            format!(
                "the token does not verify with the configured keys: {}",
                e.detail()
            )
        })?;
    let key = settings
        .rules
        .key
        .render(&claims, token.as_bytes())
        .map_err(|e| format!("the token cannot be revoked: {}", e.detail()))?;
    let exp = claims.get("exp").and_then(serde_json::Value::as_f64);
    let ttl = match exp.map(|exp| exp - now_ms as f64 / 1000.0) {
        Some(left) if left <= 0.0 => return Ok(None),
        Some(left) => Duration::from_secs_f64(left.ceil()),
        None => settings.refresh_lifetime,
    };
    Ok(Some((key, ttl)))
}

/// The value a revoked primary key holds; `None`: an allowlist, where revoking deletes.
fn primary_value(rule: &RevokedWhen) -> Option<Vec<u8>> {
    match rule {
        // flask-jwt-extended's recipe writes an empty string.
        RevokedWhen::Exists => Some(Vec::new()),
        RevokedWhen::Equals(value) => Some(value.clone()),
        RevokedWhen::Missing => None,
    }
}

fn write(
    settings: &super::RevocationSettings,
    key: &[u8],
    value: Option<&[u8]>,
    ttl: Duration,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let unreachable = |e: redis::RedisError| format!("{}: {e}", settings.address());
    runtime.block_on(async {
        let connect = settings.client.get_multiplexed_async_connection();
        let mut connection = tokio::time::timeout(Duration::from_secs(5), connect)
            .await
            .map_err(|_| format!("{}: no connection within 5s", settings.address()))?
            .map_err(unreachable)?;
        let command = match value {
            Some(value) => {
                let mut set = redis::cmd("SET");
                set.arg(key).arg(value).arg("EX").arg(ttl.as_secs().max(1));
                set
            }
            None => {
                let mut del = redis::cmd("DEL");
                del.arg(key);
                del
            }
        };
        command
            .query_async::<redis::Value>(&mut connection)
            .await
            .map(drop)
            .map_err(unreachable)
    })
}

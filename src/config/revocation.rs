//! Validation of `[revocation]`: the Redis store (URL, password, timeout, what to do when it
//! cannot answer), the key templates and how their values read, and `token_checks`, which
//! also governs `[jwt] denylist_file`.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::raw::RawRoute;
use super::{Secret, Validator};
use crate::auth::revocation::{KeyTemplate, RevokedWhen, TokenChecks};
use crate::auth::RevocationRules;
use crate::revocation::{RevocationSettings, Unavailable};

/// serde mirror of `[revocation]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRevocation {
    pub redis: Option<Spanned<String>>,
    pub redis_password_env: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub revoked_when: Option<Spanned<String>>,
    pub subject_cutoff_key: Option<Spanned<String>>,
    pub token_checks: Option<Spanned<Vec<Spanned<String>>>>,
    pub timeout: Option<Spanned<String>>,
    pub unavailable: Option<Spanned<String>>,
    pub negative_cache: Option<Spanned<String>>,
    pub refresh_lifetime: Option<Spanned<String>>,
}

/// What `[revocation]` produced: the types checked (by the file denylist too) and the store.
#[derive(Debug, Default)]
pub(super) struct Revocation {
    pub token_checks: TokenChecks,
    pub store: Option<Arc<RevocationSettings>>,
}

/// The keys that only make sense with a store.
const STORE_KEYS: &str = "key, revoked_when, subject_cutoff_key, timeout, unavailable, negative_cache, refresh_lifetime, redis_password_env";

impl Validator<'_> {
    pub(super) fn revocation(&mut self, raw: Option<Spanned<RawRevocation>>) -> Option<Revocation> {
        let Some(raw) = raw else {
            return Some(Revocation::default());
        };
        let (span, raw) = (raw.span(), raw.into_inner());
        let token_checks = self.token_checks(raw.token_checks.as_ref(), "revocation.token_checks");
        let Some(url) = &raw.redis else {
            let store_only = raw.key.is_some()
                || raw.revoked_when.is_some()
                || raw.subject_cutoff_key.is_some()
                || raw.timeout.is_some()
                || raw.unavailable.is_some()
                || raw.negative_cache.is_some()
                || raw.refresh_lifetime.is_some()
                || raw.redis_password_env.is_some();
            if store_only {
                self.err(
                    span,
                    "revocation.redis",
                    "the store's settings are given without a store",
                    format!("add redis = \"redis://127.0.0.1:6379/0\", or remove {STORE_KEYS}"),
                );
            }
            return Some(Revocation {
                token_checks: token_checks?,
                store: None,
            });
        };
        let store = self.store(&raw, url, span);
        Some(Revocation {
            token_checks: token_checks?,
            store: Some(Arc::new(store?)),
        })
    }

    /// `[revocation]` with `redis`: the connection, the rules, the timeouts and policies.
    fn store(
        &mut self,
        raw: &RawRevocation,
        url: &Spanned<String>,
        span: Range<usize>,
    ) -> Option<RevocationSettings> {
        let password = self.redis_password(raw.redis_password_env.as_ref());
        let client = self.redis_url(url, password.as_ref().and_then(Option::as_ref));
        let rules = self.rules(raw);
        let unavailable = self.unavailable(raw.unavailable.as_ref(), "revocation.unavailable");
        let timeout = self.duration(
            raw.timeout.as_ref(),
            "revocation.timeout",
            Duration::from_millis(50),
        );
        if timeout.is_zero() {
            let span = raw.timeout.as_ref().map_or(span, Spanned::span);
            self.err(
                span,
                "revocation.timeout",
                "a zero timeout never lets Redis answer",
                "write a duration such as \"50ms\"",
            );
        }
        let negative_cache = raw
            .negative_cache
            .as_ref()
            .map(|v| self.duration(Some(v), "revocation.negative_cache", Duration::ZERO))
            .filter(|d| !d.is_zero());
        let thirty_days = Duration::from_secs(30 * 24 * 3600);
        let refresh_lifetime = self.duration(
            raw.refresh_lifetime.as_ref(),
            "revocation.refresh_lifetime",
            thirty_days,
        );
        let client = client?;
        Some(RevocationSettings {
            store_key: RevocationSettings::store_key(&client),
            client,
            rules: Arc::new(rules?),
            timeout,
            unavailable: unavailable?,
            negative_cache,
            refresh_lifetime,
        })
    }

    /// `key`, `revoked_when` and `subject_cutoff_key`.
    fn rules(&mut self, raw: &RawRevocation) -> Option<RevocationRules> {
        let key = self.key_template(
            raw.key.as_ref(),
            "revocation.key",
            "{jti}",
            &["jti", "sub", "token"],
        );
        let cutoff = raw
            .subject_cutoff_key
            .as_ref()
            .map(|k| self.key_template(Some(k), "revocation.subject_cutoff_key", "", &["sub"]));
        let revoked_when = self.revoked_when(raw.revoked_when.as_ref());
        let cutoff = match cutoff {
            Some(c) => Some(c?),
            None => None,
        };
        Some(RevocationRules {
            key: key?,
            revoked_when: revoked_when?,
            cutoff,
        })
    }

    /// `[jwt] denylist_token_checks`, fastapi-jwt-auth's `authjwt_denylist_token_checks`
    /// spelled as the library does: the same setting as `[revocation] token_checks`, so only
    /// one of the two may be written. `Some(None)` when absent.
    pub(super) fn denylist_token_checks(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
        also_in_revocation: bool,
    ) -> Option<Option<TokenChecks>> {
        let Some(raw) = raw else { return Some(None) };
        if also_in_revocation {
            self.err(
                raw.span(),
                "jwt.denylist_token_checks",
                "the token types are set twice: here and as [revocation] token_checks",
                "keep one of the two (they are the same setting)",
            );
            return None;
        }
        self.token_checks(Some(raw), "jwt.denylist_token_checks")
            .map(Some)
    }

    fn token_checks(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
        key: &str,
    ) -> Option<TokenChecks> {
        let Some(raw) = raw else {
            return Some(TokenChecks::default());
        };
        let mut checks = TokenChecks {
            access: false,
            refresh: false,
        };
        let mut ok = true;
        for kind in raw.get_ref() {
            match kind.get_ref().as_str() {
                "access" => checks.access = true,
                "refresh" => checks.refresh = true,
                other => {
                    ok = false;
                    self.err(
                        kind.span(),
                        key,
                        format!("{other:?} is not a token type"),
                        "list \"access\", \"refresh\" or both",
                    );
                }
            }
        }
        ok.then_some(checks)
    }

    /// `Some(None)`: no password configured.
    fn redis_password(&mut self, raw: Option<&Spanned<String>>) -> Option<Option<Secret>> {
        let Some(var) = raw else { return Some(None) };
        match std::env::var(var.get_ref()) {
            Ok(value) if !value.is_empty() => Some(Some(Secret(value.into_bytes()))),
            _ => {
                self.err(
                    var.span(),
                    "revocation.redis_password_env",
                    format!(
                        "the environment variable {:?} is not set (or empty)",
                        var.get_ref()
                    ),
                    "export it before starting freshgate, or remove redis_password_env",
                );
                None
            }
        }
    }

    fn redis_url(
        &mut self,
        url: &Spanned<String>,
        password: Option<&Secret>,
    ) -> Option<redis::Client> {
        let text = url.get_ref();
        let scheme_ok = text.starts_with("redis://") || text.starts_with("rediss://");
        let info = redis::IntoConnectionInfo::into_connection_info(text.as_str())
            .ok()
            .filter(|_| scheme_ok);
        let Some(info) = info else {
            // The URL is not echoed: it may carry a password.
            self.err(url.span(), "revocation.redis", "not a Redis URL", "write redis://HOST:PORT/DB or rediss://HOST:PORT/DB (a password via redis_password_env)");
            return None;
        };
        let mut info = info;
        if let Some(secret) = password {
            info.redis.password = Some(String::from_utf8_lossy(secret.expose()).into_owned());
        }
        match redis::Client::open(info) {
            Ok(client) => Some(client),
            Err(_) => {
                self.err(
                    url.span(),
                    "revocation.redis",
                    "this Redis URL cannot be used",
                    "write redis://HOST:PORT/DB or rediss://HOST:PORT/DB",
                );
                None
            }
        }
    }

    fn key_template(
        &mut self,
        raw: Option<&Spanned<String>>,
        key: &str,
        default: &str,
        allowed: &[&str],
    ) -> Option<KeyTemplate> {
        let (text, span) = match raw {
            Some(raw) => (raw.get_ref().as_str(), raw.span()),
            None => (default, 0..0),
        };
        KeyTemplate::parse(text, allowed)
            .map_err(|e| {
                let names: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
                let fix = format!(
                    "write a key using {}, e.g. \"revoked:{}\"",
                    names.join(", "),
                    names[0]
                );
                self.err(span, key, format!("{text:?}: {e}"), fix);
            })
            .ok()
    }

    fn revoked_when(&mut self, raw: Option<&Spanned<String>>) -> Option<RevokedWhen> {
        let Some(raw) = raw else {
            return Some(RevokedWhen::Equals(b"true".to_vec()));
        };
        match raw.get_ref().as_str() {
            "exists" => Some(RevokedWhen::Exists),
            "missing" => Some(RevokedWhen::Missing),
            text => match text.strip_prefix("equals:") {
                Some(value) => Some(RevokedWhen::Equals(value.as_bytes().to_vec())),
                None => {
                    self.err(raw.span(), "revocation.revoked_when", format!("{text:?} is not a rule"), "write \"exists\" (flask-jwt-extended), \"equals:true\" (fastapi-jwt-auth) or \"missing\" (an allowlist)");
                    None
                }
            },
        }
    }

    /// A route's `revocation_unavailable` without a `[revocation]` store would do nothing.
    pub(super) fn route_overrides_need_a_store(
        &mut self,
        routes: &[Spanned<RawRoute>],
        has_store: bool,
    ) {
        if has_store {
            return;
        }
        for (index, route) in routes.iter().enumerate() {
            if let Some(value) = &route.get_ref().revocation_unavailable {
                let key = format!("route[{}].revocation_unavailable", index + 1);
                self.err(
                    value.span(),
                    key,
                    "there is no [revocation] store to be unavailable",
                    "add [revocation] with redis = \"redis://...\", or remove the key",
                );
            }
        }
    }

    /// `unavailable` and the routes' `revocation_unavailable`.
    pub(super) fn unavailable(
        &mut self,
        raw: Option<&Spanned<String>>,
        key: &str,
    ) -> Option<Unavailable> {
        let Some(raw) = raw else {
            return Some(Unavailable::Deny);
        };
        match raw.get_ref().as_str() {
            "deny" => Some(Unavailable::Deny),
            "allow" => Some(Unavailable::Allow),
            other => {
                self.err(raw.span(), key, format!("{other:?} is not a policy"), "write \"deny\" (503 while Redis cannot answer) or \"allow\" (forward, counted and logged)");
                None
            }
        }
    }
}

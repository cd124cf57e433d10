//! Validation of `[jwt]`: algorithms, keys (each pinned to the algorithms it may verify), token
//! locations, cookies and CSRF, revocation.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use toml::Spanned;

use super::profile::ProfileParts;
use super::raw::{OneOrMany, RawJwt};
use super::{Secret, Validator};
use crate::auth::jws::algorithm_from_name;
use crate::auth::keys::{parse_jwks, VerifyKey};
use crate::auth::profile::DecodeRules;
use crate::auth::revocation::TokenChecks;
use crate::auth::{AuthSettings, CookieSettings, Decoder, Location, RevocationRules};
use crate::fs::DenylistFile;

/// What the token settings are built from, once validated.
struct SettingsParts {
    header: (Spanned<String>, String),
    max_token_bytes: usize,
    profile: ProfileParts,
    locations: Vec<Location>,
    cookies: CookieSettings,
    denylist: Option<Arc<crate::auth::Denylist>>,
    revocation: (TokenChecks, Option<Arc<RevocationRules>>),
}

/// What `[jwt]` produced.
pub(super) struct Jwt {
    pub auth: AuthSettings,
    pub secret: Option<Secret>,
    pub denylist_file: Option<Arc<DenylistFile>>,
}

impl Validator<'_> {
    /// `max_token_bytes` comes from `[server]`.
    pub(super) fn jwt(
        &mut self,
        raw: Option<Spanned<RawJwt>>,
        max_token_bytes: usize,
        revocation: (TokenChecks, Option<Arc<RevocationRules>>),
    ) -> Option<Jwt> {
        let Some((span, mut raw)) = raw.map(|r| (r.span(), r.into_inner())) else {
            self.err(0..0, "jwt", "the [jwt] table is missing", "add [jwt] with a key: secret, secret_env, secret_file, public_key_file or jwks_file");
            return None;
        };
        let (secret, remote) = (self.secret(&raw), self.remote_keys(&raw));
        // With providers, [jwt]'s own keys are optional (tokens of other issuers have none);
        // a remote source that failed validation is reported once, not also as "no key".
        let has_remote = raw.has_remote_keys();
        let (keys, keys_ok) = self.keys(&raw, secret.as_ref(), has_remote, span.clone());
        let algorithms = self.algorithms(raw.algorithms.as_ref(), &keys, has_remote, span.clone());
        let profile = self.profile_and_locations(&raw);
        let cookies = self.cookies(&raw);
        let leeway = self.duration(raw.leeway.as_ref(), "jwt.leeway", Duration::ZERO);
        let leeway_ms = i64::try_from(leeway.as_millis()).unwrap_or(i64::MAX);
        let providers = self.issuers(&mut raw, leeway_ms);
        let audience = self.audience(raw.audience.take());
        let header = self.header(&mut raw, span);
        let denylist_file = self.denylist_file(raw.denylist_file.as_ref());
        let (secret, algorithms, (profile, locations)) = (secret?, algorithms?, profile?);
        let (cookies, denylist_file, remote) = (cookies?, denylist_file?, remote?);
        if !keys_ok {
            return None;
        }
        let decoder = profile.profile.rules.decoder(Decoder {
            algorithms,
            keys,
            leeway_ms,
            issuer: raw.issuer.take().map(Spanned::into_inner),
            audience,
            remote,
            providers: providers?,
            pyjwt: DecodeRules::PyJwt1_7,
            payload_first: false,
        });
        let parts = SettingsParts {
            header,
            max_token_bytes,
            profile,
            locations,
            cookies,
            denylist: denylist_file.as_ref().map(|f| f.denylist().clone()),
            revocation,
        };
        let auth = self.settings(decoder, &raw, parts)?;
        Some(Jwt {
            auth,
            secret,
            denylist_file,
        })
    }

    /// The token settings from the validated parts; `None` when the header name is refused.
    fn settings(
        &mut self,
        decoder: Decoder,
        raw: &RawJwt,
        parts: SettingsParts,
    ) -> Option<AuthSettings> {
        let (header_name, header_type) = parts.header;
        let param = |p: &Option<Spanned<String>>, default: &'static str| {
            p.as_ref()
                .map_or(default.to_owned(), |p| p.get_ref().clone())
        };
        let (token_param, csrf_param) = (
            param(&raw.websocket_token_param, "token"),
            param(&raw.websocket_csrf_param, "csrf_token"),
        );
        let (checks, rules) = parts.revocation;
        let built = AuthSettings::builder(decoder)
            .header(header_name.get_ref(), &header_type)
            .max_token_bytes(parts.max_token_bytes)
            .profile(parts.profile.profile, parts.profile.message_key)
            .location_list(parts.locations)
            .query_string_name(&parts.profile.query_string_name)
            .cookies(parts.cookies)
            .denylist(parts.denylist)
            .revocation(checks, rules)
            .websocket_params(&token_param, &csrf_param)
            .build();
        let Ok(auth) = built else {
            let message = format!("{:?} is not a valid header name", header_name.get_ref());
            let fix = "write a header name such as \"Authorization\"";
            self.err(header_name.span(), "jwt.header_name", message, fix);
            return None;
        };
        Some(auth)
    }

    /// Every verification key: the HMAC secret, PEM public keys and the JWKS, and whether
    /// every key source loaded (a failure is already reported).
    pub(super) fn keys(
        &mut self,
        raw: &RawJwt,
        secret: Option<&Option<Secret>>,
        remote: bool,
        span: Range<usize>,
    ) -> (Vec<VerifyKey>, bool) {
        let mut keys: Vec<VerifyKey> = Vec::new();
        if let Some(Some(secret)) = secret {
            keys.extend(VerifyKey::hmac(secret.expose()));
        }
        let public_ok = self.public_keys(raw, &mut keys);
        let jwks_ok = self.jwks(raw, &mut keys);
        if keys.is_empty() && !remote && secret.is_some() && public_ok && jwks_ok {
            self.err(span, "jwt", "no key is configured", "set one of secret, secret_env or secret_file (HMAC), public_key_file (PEM) or jwks_file (JWKS)");
        }
        (keys, public_ok && jwks_ok)
    }

    pub(super) fn audience(
        &mut self,
        raw: Option<Spanned<Vec<Spanned<String>>>>,
    ) -> Option<Vec<String>> {
        match raw {
            Some(a) if a.get_ref().is_empty() => {
                self.err(
                    a.span(),
                    "jwt.audience",
                    "the audience list is empty",
                    "list at least one audience, or remove the key",
                );
                None
            }
            Some(a) => Some(
                a.into_inner()
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
            ),
            None => None,
        }
    }

    /// `header_name` (with its span, for the error the builder may raise) and `header_type`.
    fn header(&mut self, raw: &mut RawJwt, span: Range<usize>) -> (Spanned<String>, String) {
        let header_type_span = raw.header_type.as_ref().map_or(span.clone(), Spanned::span);
        let header_type = raw
            .header_type
            .take()
            .map_or_else(|| "Bearer".to_owned(), Spanned::into_inner);
        let header_name = raw
            .header_name
            .take()
            .unwrap_or_else(|| Spanned::new(span, "Authorization".to_owned()));
        if header_type.chars().any(char::is_whitespace) {
            self.err(
                header_type_span,
                "jwt.header_type",
                format!("{header_type:?} contains whitespace"),
                "write a single word such as \"Bearer\", or \"\" for a bare token",
            );
        }
        (header_name, header_type)
    }

    /// `Some(None)`: no denylist; `None`: the file could not be read (reported).
    fn denylist_file(
        &mut self,
        path: Option<&Spanned<String>>,
    ) -> Option<Option<Arc<DenylistFile>>> {
        let Some(path) = path else {
            return Some(None);
        };
        match DenylistFile::load(&self.resolve(path.get_ref())) {
            Ok(file) => Some(Some(file)),
            Err(message) => {
                self.err(path.span(), "jwt.denylist_file", message, "point denylist_file at a readable file with one jti per line (relative paths are relative to the config file)");
                None
            }
        }
    }

    /// `public_key_file`: one PEM file or a list. Returns false after reporting an error.
    fn public_keys(&mut self, raw: &RawJwt, keys: &mut Vec<VerifyKey>) -> bool {
        let Some(files) = &raw.public_key_file else {
            return true;
        };
        let paths: Vec<&String> = match files.get_ref() {
            OneOrMany::One(p) => vec![p],
            OneOrMany::Many(ps) => ps.iter().collect(),
        };
        let mut ok = true;
        for path in paths {
            let resolved = self.resolve(path);
            let result = crate::fs::read_file(&resolved, 64 << 10)
                .map_err(|e| format!("cannot read {}: {e}", resolved.display()))
                .and_then(|pem| {
                    VerifyKey::from_pem(&pem)
                        .map_err(|why| format!("{}: {why}", resolved.display()))
                });
            match result {
                Ok(key) => keys.push(key),
                Err(message) => {
                    ok = false;
                    self.err(files.span(), "jwt.public_key_file", message, "point public_key_file at the app's public key in PEM (-----BEGIN PUBLIC KEY-----); relative paths are relative to the config file");
                }
            }
        }
        ok
    }

    /// `jwks_file`: a JSON Web Key Set. Returns false after reporting an error.
    fn jwks(&mut self, raw: &RawJwt, keys: &mut Vec<VerifyKey>) -> bool {
        let Some(path) = &raw.jwks_file else {
            return true;
        };
        let resolved = self.resolve(path.get_ref());
        let fix = "point jwks_file at a JSON Web Key Set ({\"keys\": [...]}) with at least one RSA, EC (P-256/P-384), Ed25519 or oct signing key";
        let parsed = crate::fs::read_file(&resolved, 1 << 20)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| format!("cannot read {}: {e}", resolved.display()))
            .and_then(|text| {
                parse_jwks(&text).map_err(|why| format!("{}: {why}", resolved.display()))
            });
        match parsed {
            Ok((found, _)) if !found.is_empty() => {
                keys.extend(found);
                true
            }
            Ok((_, skipped)) => {
                let why = match skipped.is_empty() {
                    true => "the set has no keys".to_owned(),
                    false => skipped.join("; "),
                };
                self.err(
                    path.span(),
                    "jwt.jwks_file",
                    format!("{}: no usable key ({why})", resolved.display()),
                    fix,
                );
                false
            }
            Err(message) => {
                self.err(path.span(), "jwt.jwks_file", message, fix);
                false
            }
        }
    }

    /// `algorithms` (default `["HS256"]`), each with at least one key pinned to it.
    pub(super) fn algorithms(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
        keys: &[VerifyKey],
        remote: bool,
        table: Range<usize>,
    ) -> Option<Vec<Algorithm>> {
        let default = [Spanned::new(table.clone(), "HS256".to_owned())];
        let (names, span) = raw.map_or((&default[..], table), |r| (r.get_ref(), r.span()));
        if names.is_empty() {
            self.err(
                span,
                "jwt.algorithms",
                "the list is empty",
                "list at least one algorithm, e.g. [\"HS256\"]",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for name in names {
            let Some(alg) = algorithm_from_name(name.get_ref()) else {
                ok = false;
                let why = match name.get_ref().eq_ignore_ascii_case("none") {
                    true => "unsigned tokens (\"none\") are never accepted".to_owned(),
                    false => format!("{:?} is not a JWT algorithm", name.get_ref()),
                };
                self.err(name.span(), "jwt.algorithms", why, "use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 or EdDSA (names are case-sensitive)");
                continue;
            };
            if keys.is_empty() && !remote {
                // Reported once, as "no key is configured".
                continue;
            }
            // A provider's keys are known only once fetched: any algorithm may find its key.
            if !remote && !keys.iter().any(|k| k.algorithms.contains(&alg)) {
                ok = false;
                let fix = match alg.family() {
                    AlgorithmFamily::Hmac => "add secret, secret_env or secret_file, or remove the algorithm",
                    _ => "add public_key_file or jwks_file with a key of this type, or remove the algorithm",
                };
                let implicit = if raw.is_none() { " (the default)" } else { "" };
                self.err(
                    name.span(),
                    "jwt.algorithms",
                    format!(
                        "{:?}{implicit} is accepted but no configured key can verify it",
                        name.get_ref()
                    ),
                    fix,
                );
                continue;
            }
            if !out.contains(&alg) {
                out.push(alg);
            }
        }
        ok.then_some(out)
    }
}
